//! `config/kustomize`, built by a real kustomize (`KUBE_KMS_KUSTOMIZE`,
//! which `scripts/test` installs) as `kubectl apply -k` builds it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::cluster::manifests::{printed_objects, yaml_objects};
use super::{cluster, dry_run, find, grants, helm, skip};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/kustomize");

/// The namespace the kustomization puts everything in.
const NAMESPACE: &str = "kube-kms";

/// The files of `DIR` the kustomization lists, besides its CRDs.
const FILES: [&str; 5] = [
    "namespace.yaml",
    "rbac.yaml",
    "controller.yaml",
    "api.yaml",
    "key-roles.yaml",
];

/// The overlay serving one namespace, and the namespace it names.
const NAMESPACED_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/kustomize-namespaced");
const SERVED: &str = "team-a";

/// `kustomize build config/kustomize`, one JSON value per object; `None`
/// (saying so) without a kustomize.
pub fn build() -> Option<Vec<Value>> {
    build_dir(DIR)
}

/// `kustomize build <dir>`, as [`build`].
fn build_dir(dir: &str) -> Option<Vec<Value>> {
    let Some(kustomize) = std::env::var_os("KUBE_KMS_KUSTOMIZE").map(PathBuf::from) else {
        skip::skipped(format_args!(
            "KUBE_KMS_KUSTOMIZE is not set (scripts/test installs kustomize and sets it)"
        ));
        return None;
    };
    let mut cmd = Command::new(kustomize);
    cmd.args(["build", dir]);
    Some(printed_objects(cmd, &format!("kustomize build {dir}")))
}

fn kind_and_name(object: &Value) -> (String, String) {
    (
        object["kind"].as_str().unwrap().to_owned(),
        object["metadata"]["name"].as_str().unwrap().to_owned(),
    )
}

/// `value` with every number as a float: kustomize writes the CRDs'
/// `minimum: 0.0` as `0`, the same number in YAML.
fn numbers_as_floats(value: &mut Value) {
    match value {
        Value::Number(n) => *value = n.as_f64().unwrap().into(),
        Value::Array(items) => items.iter_mut().for_each(numbers_as_floats),
        Value::Object(members) => members.values_mut().for_each(numbers_as_floats),
        _ => {}
    }
}

fn cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Namespace" | "CustomResourceDefinition" | "ClusterRole" | "ClusterRoleBinding"
    )
}

/// What `kubectl apply -k config/kustomize` applies: every object of the
/// files it lists and the CRDs as this version generates them, the
/// namespaced ones in `kube-kms`, the images at this version, and otherwise
/// the objects as written. A workload runs as a ServiceAccount of the build.
#[test]
fn the_kustomization_builds_every_plain_manifest_into_its_namespace() {
    let Some(built) = build() else { return };
    let mut expected: Vec<Value> = FILES
        .iter()
        .flat_map(|file| yaml_objects(&std::fs::read_to_string(Path::new(DIR).join(file)).unwrap()))
        .collect();
    expected.extend(
        kube_kms::resource::crd_files()
            .iter()
            .flat_map(|(_, yaml)| yaml_objects(yaml)),
    );
    assert_eq!(
        built.iter().map(kind_and_name).collect::<BTreeSet<_>>(),
        expected.iter().map(kind_and_name).collect::<BTreeSet<_>>(),
        "the objects kustomize builds against the files' and the CRDs"
    );
    assert_eq!(built.len(), expected.len(), "an object built twice");

    let tagged = format!("kube-kms:{}", env!("CARGO_PKG_VERSION"));
    let mut workloads = 0;
    for object in &built {
        let (kind, name) = kind_and_name(object);
        let mut object = object.clone();
        let namespace = object["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("namespace");
        if cluster_scoped(&kind) {
            assert_eq!(namespace, None, "{kind} {name} is cluster-scoped");
        } else {
            assert_eq!(namespace, Some(NAMESPACE.into()), "{kind} {name}");
        }
        if kind == "Deployment" {
            workloads += 1;
            let spec = object["spec"]["template"]["spec"].as_object_mut().unwrap();
            let account = spec["serviceAccountName"].as_str().unwrap();
            find(&built, "ServiceAccount", account);
            for list in ["initContainers", "containers"] {
                for container in spec
                    .get_mut(list)
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    assert_eq!(container["image"], tagged, "{kind} {name}'s images");
                    container["image"] = "kube-kms".into();
                }
            }
        }
        let mut written = find(&expected, &kind, &name).clone();
        numbers_as_floats(&mut object);
        numbers_as_floats(&mut written);
        assert_eq!(object, written, "{kind} {name} as built and as written");
    }
    assert_eq!(workloads, 2, "the controller's and the endpoint's");

    // The bindings name the ServiceAccounts where the build puts them (as
    // the workloads do, above).
    for binding in built.iter().filter(|o| {
        matches!(
            o["kind"].as_str(),
            Some("RoleBinding" | "ClusterRoleBinding")
        )
    }) {
        for subject in binding["subjects"].as_array().unwrap() {
            if subject["kind"] == "ServiceAccount" {
                assert_eq!(subject["namespace"], NAMESPACE, "{binding}");
                find(&built, "ServiceAccount", subject["name"].as_str().unwrap());
            }
        }
    }
}

/// Labels the chart sets for Helm's bookkeeping; the kustomization selects
/// by name and component instead.
const HELM_LABELS: [&str; 4] = [
    "app.kubernetes.io/instance",
    "app.kubernetes.io/name",
    "app.kubernetes.io/version",
    "helm.sh/chart",
];

/// `value` without Helm's labels wherever they are (selectors too).
fn without_helm_labels(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(without_helm_labels),
        Value::Object(members) => {
            members.retain(|key, _| !HELM_LABELS.contains(&key.as_str()));
            members.values_mut().for_each(without_helm_labels);
        }
        _ => {}
    }
}

/// What the chart and the kustomization must agree on of `object`: its
/// kind, name and namespace, and all but its metadata, Helm's labels left
/// out, numbers as floats, a role's rules as the grants they make (the two
/// group them differently) and environments by name (neither refers to
/// another variable, so their order says nothing).
fn comparable(object: &Value) -> Value {
    let mut object = object.clone();
    let metadata = &object["metadata"];
    let kept = serde_json::json!({"name": metadata["name"], "namespace": metadata["namespace"]});
    object["metadata"] = kept;
    if let Some(rules) = object.get_mut("rules") {
        *rules = serde_json::to_value(grants(rules)).unwrap();
    }
    for container in object["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if let Some(env) = container.get_mut("env").and_then(Value::as_array_mut) {
            env.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        }
    }
    without_helm_labels(&mut object);
    numbers_as_floats(&mut object);
    object
}

fn kind_name_namespace(object: &Value) -> (&str, &str, &str) {
    let metadata = &object["metadata"];
    (
        object["kind"].as_str().unwrap(),
        metadata["name"].as_str().unwrap(),
        metadata["namespace"].as_str().unwrap_or(""),
    )
}

/// `plain`, as kustomize built `what`, is `chart` object for object, but
/// the root key Secret, which kustomize users create by hand
/// (kustomization.yaml says how); beside those, it has only the namespace
/// and the CRDs (which Helm installs from the chart's `crds/`).
fn assert_as_the_chart_renders(plain: &[Value], chart: &[Value], what: &str) {
    let mut compared = BTreeSet::new();
    for object in chart {
        let (kind, name, namespace) = kind_name_namespace(object);
        if (kind, name) == ("Secret", "kube-kms-root-key") {
            continue;
        }
        let built = plain
            .iter()
            .find(|o| kind_name_namespace(o) == (kind, name, namespace))
            .unwrap_or_else(|| panic!("{what} has no {kind} {namespace}/{name}"));
        assert_eq!(
            comparable(built),
            comparable(object),
            "{kind} {namespace}/{name}: {what} against the chart"
        );
        compared.insert(kind);
    }
    for kind in [
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ClusterRole",
    ] {
        assert!(compared.contains(kind), "no {kind} compared: {compared:?}");
    }
    for object in plain {
        let (kind, name, namespace) = kind_name_namespace(object);
        if matches!(kind, "Namespace" | "CustomResourceDefinition") {
            continue;
        }
        assert!(
            chart
                .iter()
                .any(|o| kind_name_namespace(o) == (kind, name, namespace)),
            "{what} has {kind} {namespace}/{name}, which the chart does not render"
        );
    }
}

/// The plain manifests for kustomize are what the chart renders with its
/// defaults: workloads, probes, Services, disruption budgets, network
/// policies and roles.
#[test]
fn the_kustomization_is_what_the_chart_renders_by_default() {
    let Some(helm) = helm() else { return };
    let Some(plain) = build() else { return };
    let chart = cluster::manifests::render(&helm, "kube-kms", NAMESPACE, &[]);
    assert_as_the_chart_renders(&plain, &chart, "config/kustomize");
}

/// The overlay serving one namespace is what the chart renders with
/// `watchNamespace` naming it: Roles there, not ClusterRoles, but the
/// endpoint's reviews.
#[test]
fn the_namespaced_kustomization_is_what_the_chart_renders_for_one_namespace() {
    let Some(helm) = helm() else { return };
    let Some(plain) = build_dir(NAMESPACED_DIR) else {
        return;
    };
    let scoped = format!("watchNamespace={SERVED}");
    let chart = cluster::manifests::render(&helm, "kube-kms", NAMESPACE, &[&scoped]);
    assert_as_the_chart_renders(&plain, &chart, "config/kustomize-namespaced");
    let cluster_roles: Vec<&str> = plain
        .iter()
        .filter(|o| o["kind"] == "ClusterRole")
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(cluster_roles, ["kube-kms-api"]);
}

/// The whole build, CRDs and namespace included (those an earlier run or
/// the suite created are let be), as a server-side dry run; and the
/// overlay serving one namespace.
#[tokio::test]
async fn the_kustomization_is_accepted_by_the_api_server() {
    let Some(plain) = build() else { return };
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    dry_run(&cluster, plain, &cluster.namespace).await;
    let Some(namespaced) = build_dir(NAMESPACED_DIR) else {
        return;
    };
    dry_run(&cluster, namespaced, &cluster.namespace).await;
}
