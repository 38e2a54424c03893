//! The Helm chart, linted and rendered by a real helm (`KUBE_KMS_HELM`, which
//! `scripts/test` installs): properties every install must have, for several
//! value sets. With a cluster (`KUBE_KMS_E2E_KUBECONFIG`), every rendered
//! object is also sent to the API server as a server-side dry run. The plain
//! manifests of `config/kustomize`, as kustomize builds them, in
//! `chart/kustomize.rs`; every container's command line parsed by the
//! binary, in `chart/commands.rs`.

mod cluster;
#[path = "chart/commands.rs"]
mod commands;
#[path = "chart/kustomize.rs"]
mod kustomize;
mod skip;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use cluster::manifests::CHART;

fn helm() -> Option<PathBuf> {
    match std::env::var_os("KUBE_KMS_HELM") {
        Some(path) => Some(PathBuf::from(path)),
        None => {
            skip::skipped(format_args!(
                "KUBE_KMS_HELM is not set (scripts/test installs helm and sets it)"
            ));
            None
        }
    }
}

fn render(helm: &Path, sets: &[&str]) -> Vec<Value> {
    cluster::manifests::render(helm, "kms", "kube-kms", sets)
}

/// Whether helm refuses to render the chart with `set` (values.schema.json
/// is enforced by helm itself).
fn refused(helm: &Path, set: &str) -> bool {
    let out = Command::new(helm)
        .args(["template", "kms", CHART, "--set", set])
        .output()
        .unwrap();
    !out.status.success()
}

/// What a scoped install's RBAC makes in each namespace it serves.
const NAMESPACED_RBAC: [(&str, &str); 6] = [
    ("Role", "kms-controller"),
    ("Role", "kms-api"),
    ("Role", "kms-key-user"),
    ("Role", "kms-key-admin"),
    ("RoleBinding", "kms-controller"),
    ("RoleBinding", "kms-api"),
];

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn the_chart_lints_and_renders_safe_defaults() {
    let Some(helm) = helm() else { return };
    let lint = Command::new(&helm)
        .args(["lint", "--strict", CHART])
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "{}",
        String::from_utf8_lossy(&lint.stdout)
    );

    let objects = render(&helm, &[]);
    // The root key: generated once, kept on uninstall.
    let root = find(&objects, "Secret", "kube-kms-root-key");
    assert_eq!(
        root["metadata"]["annotations"]["helm.sh/resource-policy"],
        "keep"
    );
    let v1 = root["data"]["v1"].as_str().unwrap();
    assert_eq!(base64_len(v1), 32, "32 random bytes");
    // Only crypto containers see it; every container is locked down.
    for deployment in objects.iter().filter(|o| o["kind"] == "Deployment") {
        let pod = &deployment["spec"]["template"]["spec"];
        for container in pod["containers"].as_array().unwrap() {
            let mounts_root = container["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["name"] == "root-key");
            assert_eq!(
                mounts_root,
                container["name"] == "crypto",
                "{}",
                container["name"]
            );
            let security = &container["securityContext"];
            assert_eq!(security["runAsNonRoot"], true);
            assert_eq!(security["readOnlyRootFilesystem"], true);
            assert_eq!(security["allowPrivilegeEscalation"], false);
        }
    }
    // CRDs are not templates: Helm installs crds/ once and never deletes it.
    assert!(
        objects
            .iter()
            .all(|o| o["kind"] != "CustomResourceDefinition")
    );
    // The endpoint's metrics: their own port and Service, reachable from
    // the monitoring namespace only.
    let api = &find(&objects, "Deployment", "kms-api")["spec"]["template"]["spec"]["containers"][0];
    assert!(
        api["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "KUBE_KMS_METRICS_LISTEN" && e["value"] == "0.0.0.0:9090"),
        "{api}"
    );
    assert_eq!(api["livenessProbe"]["httpGet"]["path"], "/livez");
    assert_eq!(api["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(api["readinessProbe"]["httpGet"]["port"], "metrics");
    let metrics = find(&objects, "Service", "kms-api-metrics");
    assert_eq!(metrics["spec"]["ports"][0]["port"], 9090);
    assert_eq!(
        find(&objects, "Service", "kms")["spec"]["ports"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let ingress = &find(&objects, "NetworkPolicy", "kms-api")["spec"]["ingress"];
    assert_eq!(ingress[1]["ports"][0]["port"], 9090);
    assert_eq!(
        ingress[1]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "monitoring"
    );
    // The endpoint's RBAC cannot write Secrets.
    let api_role = find(&objects, "ClusterRole", "kms-api");
    for rule in api_role["rules"].as_array().unwrap() {
        if rule["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "secrets")
        {
            assert_eq!(rule["verbs"], serde_json::json!(["list", "watch"]));
        }
    }
    // Of the keys' status, it writes only its own field (lastUsage), by
    // server-side apply: a patch, nothing more, and no alias status.
    let status_rules: Vec<&Value> = api_role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|rule| {
            rule["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r.as_str().is_some_and(|r| r.ends_with("/status")))
        })
        .collect();
    assert_eq!(
        status_rules,
        [
            &serde_json::json!({"apiGroups": ["kubekms.io"], "resources": ["kmskeys/status"], "verbs": ["patch"]})
        ]
    );
}

fn base64_len(text: &str) -> usize {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
        .len()
}

#[test]
fn chart_options_render() {
    let Some(helm) = helm() else { return };
    let tls = render(
        &helm,
        &[
            "api.tlsSecretName=kms-tls",
            "serviceMonitor.enabled=true",
            "api.maxConnections=100",
            "controller.maxConcurrentReconciles=2",
        ],
    );
    let controller_env = &find(&tls, "Deployment", "kms-controller")["spec"]["template"]["spec"]["containers"]
        [0]["env"];
    let concurrency = controller_env
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "KUBE_KMS_MAX_CONCURRENT_RECONCILES");
    assert_eq!(concurrency.map(|e| &e["value"]), Some(&Value::from("2")));
    let env =
        &find(&tls, "Deployment", "kms-api")["spec"]["template"]["spec"]["containers"][0]["env"];
    let max = env
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "KUBE_KMS_MAX_CONNECTIONS");
    assert_eq!(max.map(|e| &e["value"]), Some(&Value::from("100")));
    assert_eq!(
        find(&tls, "Service", "kms")["spec"]["ports"][0]["port"],
        443
    );
    let monitors: Vec<_> = tls
        .iter()
        .filter(|o| o["kind"] == "ServiceMonitor")
        .collect();
    assert_eq!(monitors.len(), 2, "the controller's and the endpoint's");
    let api_monitor = find(&tls, "ServiceMonitor", "kms-api");
    assert_eq!(
        api_monitor["spec"]["selector"]["matchLabels"]["kubekms.io/metrics"], "true",
        "selects the metrics Service, not the KMS one"
    );
    // Request quotas: AWS's by default, rates changed as a list.
    let quota = |objects: &[Value], name: &str| {
        find(objects, "Deployment", "kms-api")["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].clone())
    };
    assert_eq!(
        quota(&tls, "KUBE_KMS_REQUEST_QUOTAS"),
        Some(Value::from("aws"))
    );
    assert_eq!(quota(&tls, "KUBE_KMS_REQUEST_QUOTA"), None);
    let changed = render(
        &helm,
        &[
            "api.requestQuota={CreateKey=50,cryptographic=20000,ml-dsa=100,GenerateDataKeyPair/RSA_4096=0.5}",
        ],
    );
    assert_eq!(
        quota(&changed, "KUBE_KMS_REQUEST_QUOTA"),
        Some(Value::from(
            "CreateKey=50,cryptographic=20000,ml-dsa=100,GenerateDataKeyPair/RSA_4096=0.5"
        ))
    );
    // Peers (multi-Region keys): one Secret mounted into the endpoint and
    // its crypto sidecar, both told where; the peers' port allowed out.
    let peered = render(
        &helm,
        &["api.peersSecretName=kms-peers", "api.peerPorts={4600}"],
    );
    let pod = &find(&peered, "Deployment", "kms-api")["spec"]["template"]["spec"];
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 2);
    for container in containers {
        let env = container["env"].as_array().unwrap();
        let peers = env.iter().find(|e| e["name"] == "KUBE_KMS_PEERS");
        assert_eq!(
            peers.map(|e| &e["value"]),
            Some(&Value::from("/var/run/kube-kms/peers/peers.yaml")),
            "{}",
            container["name"]
        );
        let mounts = container["volumeMounts"].as_array().unwrap();
        assert!(
            mounts
                .iter()
                .any(|m| m["name"] == "peers" && m["mountPath"] == "/var/run/kube-kms/peers"),
            "{}",
            container["name"]
        );
    }
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "peers");
    assert_eq!(volume.unwrap()["secret"]["secretName"], "kms-peers");
    let egress = &find(&peered, "NetworkPolicy", "kms-api")["spec"]["egress"][0]["ports"];
    assert!(
        egress.as_array().unwrap().iter().any(|p| p["port"] == 4600),
        "{egress}"
    );
    // One endpoint replica runs the replica sync: it holds a Lease in the
    // release namespace, as the controller's leader does.
    let binding = find(&peered, "RoleBinding", "kms-replica-sync");
    assert_eq!(binding["roleRef"]["name"], "kms-leader");
    assert_eq!(binding["subjects"][0]["name"], "kms-api");
    let api_env = containers[0]["env"].as_array().unwrap();
    assert!(
        api_env.iter().any(|e| e["name"] == "POD_NAMESPACE"
            && e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"),
        "{api_env:?}"
    );
    let unpeered = serde_json::to_string(&render(&helm, &[])).unwrap();
    assert!(!unpeered.contains("KUBE_KMS_PEERS"));
    assert!(!unpeered.contains("kms-replica-sync"));
    // Scoped to one namespace: both roles watch only it.
    let scoped = render(&helm, &["watchNamespace=team-a"]);
    for deployment in ["kms-api", "kms-controller"] {
        let env = &find(&scoped, "Deployment", deployment)["spec"]["template"]["spec"]["containers"]
            [0]["env"];
        let scope = |objects: &Value| {
            objects
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == "KUBE_KMS_WATCH_NAMESPACE")
                .map(|e| e["value"].clone())
        };
        assert_eq!(scope(env), Some(Value::from("team-a")), "{deployment}");
        let unscoped = &find(&tls, "Deployment", deployment)["spec"]["template"]["spec"]["containers"]
            [0]["env"];
        assert_eq!(scope(unscoped), None, "{deployment}");
    }
    // A scoped install's RBAC reaches that namespace only; TokenReview and
    // SubjectAccessReview, cluster-scoped, stay a ClusterRole.
    let kinds = |objects: &[Value], kind: &str| -> Vec<(String, String)> {
        objects
            .iter()
            .filter(|o| o["kind"] == kind)
            .map(|o| {
                let meta = &o["metadata"];
                let name = meta["name"].as_str().unwrap().to_owned();
                (name, meta["namespace"].as_str().unwrap_or("").to_owned())
            })
            .collect()
    };
    assert_eq!(
        kinds(&scoped, "ClusterRole"),
        [("kms-api".to_owned(), String::new())]
    );
    let api_rules = &find(&scoped, "ClusterRole", "kms-api")["rules"];
    assert_eq!(api_rules.as_array().unwrap().len(), 2, "{api_rules}");
    assert_eq!(api_rules[0]["resources"][0], "tokenreviews");
    assert_eq!(api_rules[1]["resources"][0], "subjectaccessreviews");
    for (kind, name) in NAMESPACED_RBAC {
        assert_eq!(
            find(&scoped, kind, name)["metadata"]["namespace"],
            "team-a",
            "{kind} {name}"
        );
    }
    assert!(
        kinds(&scoped, "ClusterRoleBinding")
            .iter()
            .all(|(name, _)| name == "kms-api")
    );
    assert_eq!(
        kinds(&tls, "ClusterRole").len(),
        4,
        "unscoped: the controller's, the endpoint's and the two for its callers"
    );
    // Several namespaces: each Role and RoleBinding once in each, the
    // deployments told the list, the schema refusing what names none.
    let several = render(&helm, &["watchNamespace=team-a\\,team-b"]);
    for (kind, name) in NAMESPACED_RBAC {
        let mut namespaces: Vec<String> = kinds(&several, kind)
            .into_iter()
            .filter(|(n, _)| n == name)
            .map(|(_, namespace)| namespace)
            .collect();
        namespaces.sort();
        assert_eq!(namespaces, ["team-a", "team-b"], "{kind} {name}");
    }
    assert_eq!(
        kinds(&several, "ClusterRole"),
        [("kms-api".to_owned(), String::new())]
    );
    for deployment in ["kms-api", "kms-controller"] {
        let env = &find(&several, "Deployment", deployment)["spec"]["template"]["spec"]["containers"]
            [0]["env"];
        assert!(
            env.as_array()
                .unwrap()
                .iter()
                .any(|e| e["name"] == "KUBE_KMS_WATCH_NAMESPACE" && e["value"] == "team-a,team-b"),
            "{deployment}: {env}"
        );
    }
    assert!(
        refused(&helm, "watchNamespace=team-a\\,Team-B"),
        "Team-B names no namespace"
    );
    let lean = render(
        &helm,
        &[
            "api.enabled=false",
            "networkPolicy.enabled=false",
            "podDisruptionBudget.enabled=false",
            "rootKey.create=false",
        ],
    );
    let kinds: Vec<&str> = lean.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "Deployment").count(), 1);
    assert!(!kinds.contains(&"NetworkPolicy") && !kinds.contains(&"Secret"));
    // values.schema.json is enforced by helm itself.
    assert!(
        refused(&helm, "arn.account=12"),
        "a 2-digit account must be refused"
    );
    assert!(
        refused(&helm, "api.maxConnections=0"),
        "no connections at all must be refused"
    );
    assert!(
        refused(&helm, "api.requestQuota={CreateKey}"),
        "a quota without a rate must be refused"
    );
    // The endpoint's crypto sidecar writes the ciphertext format asked
    // (format 1 through a rolling upgrade from a version before format 2).
    let format = |objects: &[Value]| {
        let containers =
            &find(objects, "Deployment", "kms-api")["spec"]["template"]["spec"]["containers"];
        let crypto = containers
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "crypto");
        let env = crypto.unwrap()["env"].as_array().unwrap().clone();
        env.into_iter()
            .find(|e| e["name"] == "KUBE_KMS_CIPHERTEXT_FORMAT")
            .map(|e| e["value"].clone())
    };
    assert_eq!(format(&render(&helm, &[])), Some("2".into()));
    let held_back = render(&helm, &["crypto.ciphertextFormat=1"]);
    assert_eq!(format(&held_back), Some("1".into()));
    assert!(
        refused(&helm, "crypto.ciphertextFormat=3"),
        "no format 3 exists"
    );
}

/// What a set of RBAC rules grants, one (group, resource, verb) at a time.
fn grants(rules: &Value) -> std::collections::BTreeSet<(String, String, String)> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    let mut grants = std::collections::BTreeSet::new();
    for rule in rules.as_array().unwrap() {
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    grants.insert((group.clone(), resource.clone(), verb));
                }
            }
        }
    }
    grants
}

/// The verbs callers are bound to are the endpoint's actions in lower case:
/// together the key-user and key-admin roles name each action the endpoint
/// asks, and nothing else; the endpoint may ask RBAC unless told not to.
#[test]
fn the_key_roles_name_every_action_the_endpoint_asks() {
    let Some(helm) = helm() else { return };
    let objects = render(&helm, &[]);
    let verbs = |name: &str| -> std::collections::BTreeSet<String> {
        grants(&find(&objects, "ClusterRole", name)["rules"])
            .into_iter()
            .map(|(group, resource, verb)| {
                assert_eq!(
                    (group.as_str(), resource.as_str()),
                    ("kubekms.io", "kmskeys")
                );
                verb
            })
            .collect()
    };
    let (user, admin) = (verbs("kms-key-user"), verbs("kms-key-admin"));
    let actions: std::collections::BTreeSet<String> = kube_kms::api::OPERATIONS
        .iter()
        .flat_map(|op| match *op {
            "ReEncrypt" => vec!["reencryptfrom".to_owned(), "reencryptto".to_owned()],
            op => vec![op.to_ascii_lowercase()],
        })
        .collect();
    assert_eq!(&user | &admin, actions);
    assert!(user.contains("encrypt") && !admin.contains("encrypt"));
    assert!(admin.contains("putkeypolicy") && !user.contains("putkeypolicy"));
    let reviews = serde_json::json!({"apiGroups": ["authorization.k8s.io"],
        "resources": ["subjectaccessreviews"], "verbs": ["create"]});
    let asks = |objects: &[Value]| {
        let env = &find(objects, "Deployment", "kms-api")["spec"]["template"]["spec"]["containers"]
            [0]["env"];
        let value = env
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "KUBE_KMS_ACCOUNT_ACCESS")
            .map(|e| e["value"].clone());
        let rules = find(objects, "ClusterRole", "kms-api")["rules"].clone();
        (value, rules.as_array().unwrap().contains(&reviews))
    };
    assert_eq!(asks(&objects), (Some("rbac".into()), true));
    let open = render(&helm, &["api.accountAccess=any-caller"]);
    assert_eq!(asks(&open), (Some("any-caller".into()), false));
}

#[tokio::test]
async fn rendered_manifests_are_accepted_by_the_api_server() {
    let Some(helm) = helm() else { return };
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    dry_run(
        &cluster,
        render(&helm, &["serviceMonitor.enabled=false"]),
        &cluster.namespace,
    )
    .await;
    let scoped = format!("watchNamespace={}", cluster.namespace);
    dry_run(
        &cluster,
        render(&helm, &["serviceMonitor.enabled=false", &scoped]),
        &cluster.namespace,
    )
    .await;
    // The KMS v2 plugin's static pod, as its mirror pod would be created.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/kms-plugin/static-pod.yaml"
    ))
    .unwrap();
    let pod =
        serde_json::to_value(serde_yaml::from_str::<serde_yaml::Value>(&text).unwrap()).unwrap();
    // A cluster without kube-controller-manager (a bare test apiserver)
    // has no default ServiceAccount for admission to look up.
    let accounts: kube::Api<k8s_openapi::api::core::v1::ServiceAccount> =
        kube::Api::namespaced(cluster.client.clone(), "kube-system");
    let default =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "default"}})).unwrap();
    let _ = accounts.create(&Default::default(), &default).await;
    dry_run(&cluster, vec![pod], "kube-system").await;
}

/// The samples a README walk-through applies pass the CRDs' schemas and
/// rules (moved into the test's namespace).
#[tokio::test]
async fn the_samples_are_accepted_by_the_api_server() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/samples");
    let mut samples = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        samples.extend(cluster::manifests::yaml_objects(&text));
    }
    assert!(samples.len() >= 5, "{samples:?}");
    dry_run(&cluster, samples, &cluster.namespace).await;
}

/// Sends each object as a server-side dry-run create: the API server's
/// own validation, with nothing stored.
async fn dry_run(cluster: &cluster::Cluster, objects: Vec<Value>, namespace: &str) {
    cluster::manifests::create(cluster, objects, namespace, true).await;
}
