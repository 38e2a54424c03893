//! The chart's roles are all the controller and the endpoint need: both run
//! with ServiceAccount tokens bound to exactly what `helm template` renders
//! (scoped to the test's namespace, as `watchNamespace` makes it), and keys
//! go through their life through them. Every other cluster test runs both
//! as the cluster's admin, where a missing grant would never show. The
//! caller is let in by the chart's roles for callers.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::*;
use crate::clients::{caller, kms_client};

/// The RBAC objects (ServiceAccounts, roles, bindings) of the chart for
/// release `release` in namespace `ns`, scoped to `ns`.
fn rendered_rbac(helm: &Path, release: &str, ns: &str) -> Vec<Value> {
    let scoped = format!("watchNamespace={ns}");
    cluster::manifests::render(
        helm,
        release,
        ns,
        &[&scoped, "serviceMonitor.enabled=false"],
    )
    .into_iter()
    .filter(|o| {
        let kind = o["kind"].as_str().unwrap_or_default();
        kind == "ServiceAccount" || kind.ends_with("Role") || kind.ends_with("RoleBinding")
    })
    .collect()
}

/// A kubeconfig in `dir` for the cluster's API server, authenticating as
/// ServiceAccount `account` of the test's namespace.
async fn kubeconfig_of(cluster: &cluster::Cluster, account: &str, dir: &Path) -> PathBuf {
    let accounts: Api<ServiceAccount> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let request: TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 3600}}))
            .unwrap();
    let token = accounts
        .create_token_request(account, &PostParams::default(), &request)
        .await
        .unwrap()
        .status
        .unwrap()
        .token
        .expect("a token");
    let mut config = kube::config::Kubeconfig::read_from(&cluster.kubeconfig).unwrap();
    for user in &mut config.auth_infos {
        user.auth_info = Some(kube::config::AuthInfo {
            token: Some(token.clone().into()),
            ..Default::default()
        });
    }
    let path = dir.join(format!("{account}.kubeconfig"));
    std::fs::write(&path, serde_yaml::to_string(&config).unwrap()).unwrap();
    path
}

#[tokio::test]
async fn the_charts_roles_are_all_the_controller_and_the_endpoint_need() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let Some(helm) = std::env::var_os("KUBE_KMS_HELM") else {
        skip::skipped(format_args!(
            "KUBE_KMS_HELM is not set (scripts/test installs helm and sets it)"
        ));
        return;
    };
    let ns = cluster.namespace.clone();
    // Cluster-scoped names (the endpoint's TokenReview role) unique per run.
    let release = format!("kms-{}", &ns[ns.len() - 8..]);
    let rbac = rendered_rbac(Path::new(&helm), &release, &ns);
    cluster::manifests::create(&cluster, rbac.clone(), &ns, false).await;
    let dir = tempfile::tempdir().unwrap();
    let as_account = |kubeconfig| cluster.viewed_as(kubeconfig, &ns);
    let controller_account =
        as_account(kubeconfig_of(&cluster, &format!("{release}-controller"), dir.path()).await);
    let api_account =
        as_account(kubeconfig_of(&cluster, &format!("{release}-api"), dir.path()).await);
    let controller = Controller::start(&controller_account);
    let (mut api, api_log) = controller.spawn_api(&api_account);
    let endpoint = api_log.endpoint();

    // A key applied as GitOps applies it: minted, Ready, with an event.
    let keys: Api<KmsKey> = Api::namespaced(cluster.client.clone(), &ns);
    let key = ready_key(&keys, "app", json!({"description": "rbac"})).await;
    let key_id = key.status.unwrap().key_id.unwrap();
    // Events are best effort (a refused one is logged, at warning level once
    // an hour), so the one the controller records is looked for as well.
    let events: Api<Event> = Api::namespaced(cluster.client.clone(), &ns);
    wait_for("the controller's Created event", READY, || async {
        let events = events.list(&Default::default()).await.ok()?.items;
        events.into_iter().find(|e| {
            e.reason.as_deref() == Some("Created")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("app")
        })
    })
    .await;

    // The endpoint: a caller bound to the chart's roles for callers, a
    // round trip, the key's use in its status.
    let user = cluster::callers::access_key_user(&cluster, "akidrbac");
    for role in ["key-user", "key-admin"] {
        let chart_role = format!("{release}-{role}");
        cluster::callers::bind(&cluster, &chart_role, &chart_role, user.clone()).await;
    }
    let (access_key_id, secret_key) = caller(&cluster, &endpoint, "AKIDRBAC").await;
    let kms = kms_client(&endpoint, &access_key_id, &secret_key);
    let blob = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(aws_sdk_kms::primitives::Blob::new(&b"least privilege"[..]))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let plain = kms.decrypt().ciphertext_blob(blob).send().await.unwrap();
    assert_eq!(plain.plaintext.unwrap().as_ref(), b"least privilege");
    let used = wait_for("KmsKey status lastUsage", READY, || async {
        keys.get("app").await.ok()?.status?.last_usage
    })
    .await;
    assert_eq!(used.operation, "Decrypt");

    // Changes through the API become objects the controller carries out.
    let made = kms
        .create_key()
        .description("made through the API")
        .send()
        .await
        .unwrap();
    let made_id = made.key_metadata.unwrap().key_id;
    kms.create_alias()
        .alias_name("alias/rbac")
        .target_key_id(&made_id)
        .send()
        .await
        .unwrap();
    let deleting = kms
        .schedule_key_deletion()
        .key_id(&made_id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(
        deleting.key_state,
        Some(aws_sdk_kms::types::KeyState::PendingDeletion)
    );
    let _ = api.kill();
    let _ = api.wait();
    // Nothing either process did was refused by RBAC.
    for (name, log) in [
        ("controller", controller.log.text()),
        ("api", api_log.text()),
    ] {
        assert!(
            !log.contains("forbidden") && !log.contains("Forbidden"),
            "{name} was refused something:\n{log}"
        );
    }
    // The namespace goes with the test (`cluster::cleanup`); what the chart
    // made outside it goes now.
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
    let named = |kind: &str| {
        rbac.iter()
            .filter(|o| o["kind"] == kind)
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let bindings: Api<ClusterRoleBinding> = Api::all(cluster.client.clone());
    for name in named("ClusterRoleBinding") {
        bindings
            .delete(&name, &DeleteParams::default())
            .await
            .unwrap();
    }
    let roles: Api<ClusterRole> = Api::all(cluster.client.clone());
    for name in named("ClusterRole") {
        roles.delete(&name, &DeleteParams::default()).await.unwrap();
    }
}
