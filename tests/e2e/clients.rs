//! Terraform, Ansible and AWS's API model against `kube-kms api` in a
//! cluster, where every change becomes an object the controller carries
//! out and every read comes from a watch cache.

use aws_sdk_kms::error::ProvideErrorMetadata;

use super::*;
use crate::tf::{Terraform, text, vars};

/// A caller's access key as a labelled Secret in the test's namespace
/// (an id unique per run: one defined twice authenticates no one), once the
/// endpoint at `endpoint` knows it: `(access key id, secret)`.
pub(crate) async fn caller(
    cluster: &cluster::Cluster,
    endpoint: &str,
    prefix: &str,
) -> (String, String) {
    caller_in(cluster, endpoint, prefix, "us-east-1").await
}

/// [`caller`] of an endpoint serving `region` (requests are signed for it).
pub(crate) async fn caller_in(
    cluster: &cluster::Cluster,
    endpoint: &str,
    prefix: &str,
    region: &str,
) -> (String, String) {
    let ns = &cluster.namespace;
    let access_key_id = format!("{prefix}{}", &ns[ns.len() - 8..].to_uppercase());
    let secret_key = format!("e2e-{prefix}-secret").to_lowercase();
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": prefix.to_lowercase(), "labels": {"kubekms.io/credentials": "true"}},
        "type": "Opaque",
        "stringData": {"accessKeyId": access_key_id, "secretAccessKey": secret_key},
    }))
    .unwrap();
    Api::<Secret>::namespaced(cluster.client.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let kms = kms_client_in(endpoint, &access_key_id, &secret_key, region);
    // The endpoint learns of the access key through its watch (RBAC may
    // not let it list keys: refused, it is known).
    wait_for("the access key to be known", READY, || async {
        match kms.list_keys().send().await {
            Ok(_) => Some(()),
            Err(e) if e.code() == Some("AccessDeniedException") => Some(()),
            Err(_) => None,
        }
    })
    .await;
    (access_key_id, secret_key)
}

/// A client at `endpoint` for a key administrator: an access key of its
/// own (`prefix`, upper case), bound to the key-user and key-admin roles.
pub(crate) async fn key_admin(
    cluster: &cluster::Cluster,
    endpoint: &str,
    prefix: &str,
) -> aws_sdk_kms::Client {
    key_admin_in(cluster, endpoint, prefix, "us-east-1").await
}

/// [`key_admin`] of an endpoint serving `region`.
pub(crate) async fn key_admin_in(
    cluster: &cluster::Cluster,
    endpoint: &str,
    prefix: &str,
    region: &str,
) -> aws_sdk_kms::Client {
    cluster::callers::key_roles(cluster).await;
    let user = cluster::callers::access_key_user(cluster, &prefix.to_lowercase());
    for role in ["key-user", "key-admin"] {
        let binding = format!("{}-{role}", prefix.to_lowercase());
        cluster::callers::bind(cluster, &binding, role, user.clone()).await;
    }
    let (id, secret) = caller_in(cluster, endpoint, prefix, region).await;
    kms_client_in(endpoint, &id, &secret, region)
}

/// The AWS SDK for Rust at `endpoint` with this access key.
pub(crate) fn kms_client(
    endpoint: &str,
    access_key_id: &str,
    secret_key: &str,
) -> aws_sdk_kms::Client {
    kms_client_in(endpoint, access_key_id, secret_key, "us-east-1")
}

/// [`kms_client`] signing for `region`.
pub(crate) fn kms_client_in(
    endpoint: &str,
    access_key_id: &str,
    secret_key: &str,
    region: &str,
) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::from_conf(
        support::sdk_config(endpoint, secret_key)
            .region(aws_sdk_kms::config::Region::new(region.to_owned()))
            .credentials_provider(aws_sdk_kms::config::Credentials::new(
                access_key_id,
                secret_key,
                None,
                None,
                "test",
            ))
            .build(),
    )
}

/// Ansible's `kms_key` reads a key back right after changing it and
/// reports what it read: every change must show in the endpoint's next
/// read, though the controller carries it out.
#[tokio::test]
async fn ansible_manages_keys_through_the_cluster_endpoint() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let mut controller = Controller::start(&cluster);
    let endpoint = controller.start_api(&cluster);
    cluster::callers::let_namespace_in(&cluster).await;
    let (access_key_id, secret_key) = caller(&cluster, &endpoint, "AKIDANSIBLE").await;
    let home = tempfile::tempdir().unwrap();
    let mut cmd = support::ansible_playbook("kms_keys.yml", home.path());
    cmd.env("KUBE_KMS_ENDPOINT", &endpoint)
        .env("AWS_ACCESS_KEY_ID", &access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &secret_key);
    let out = support::run(cmd, "ansible kms_keys.yml");
    assert!(
        out.contains("ok=14 ") && out.contains("changed=4 ") && out.contains("failed=0 "),
        "{out}"
    );
}

/// The cluster endpoint checks requests and answers as AWS's API model
/// says (tests/python/model_conformance.py), as `serve` does: its store
/// refuses and answers through other code.
#[tokio::test]
async fn the_cluster_endpoint_answers_as_aws_s_api_model_says() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let mut controller = Controller::start(&cluster);
    let endpoint = controller.start_api(&cluster);
    cluster::callers::let_namespace_in(&cluster).await;
    let (access_key_id, secret_key) = caller(&cluster, &endpoint, "AKIDMODEL").await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/model_conformance.py"
    );
    let mut cmd = std::process::Command::new(support::python());
    cmd.arg(script)
        .env("KUBE_KMS_ENDPOINT", &endpoint)
        .env("AWS_ACCESS_KEY_ID", &access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &secret_key)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    let out = support::run(cmd, "model_conformance.py");
    assert!(out.contains("model conformance: "), "{out}");
}

#[tokio::test]
async fn terraform_manages_keys_through_the_cluster_endpoint() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let tf = match Terraform::find() {
        Ok(tf) => tf,
        Err(why) => {
            skip::skipped(format_args!("Terraform test: {why}"));
            return;
        }
    };
    let mut controller = Controller::start(&cluster);
    let endpoint = controller.start_api(&cluster);
    cluster::callers::let_namespace_in(&cluster).await;
    let keys: Api<KmsKey> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let (access_key_id, secret_key) = caller(&cluster, &endpoint, "AKIDTF").await;
    let access = (access_key_id.as_str(), secret_key.as_str());

    tf.ok(&["init", "-input=false"], &[]);
    let first = vars(&endpoint, access, "first", 180, "a");
    tf.ok(&["apply", "-auto-approve"], &first);
    let out = tf.ok(&["output", "-json"], &[]);
    let outputs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outputs["greeting"]["value"], "hello from terraform");
    assert_eq!(
        outputs["alias_target"]["value"],
        outputs["app_arn"]["value"]
    );
    let ids: Vec<String> = serde_json::from_value(outputs["key_ids"]["value"].clone()).unwrap();
    let plan = tf.run_with(&["plan", "-detailed-exitcode"], &first);
    assert_eq!(plan.status.code(), Some(0), "drift:\n{}", text(&plan));

    let second = vars(&endpoint, access, "second", 365, "b");
    tf.ok(&["apply", "-auto-approve"], &second);
    // The change is in the object Argo CD or kubectl would see.
    let app = keys.get(&ids[0]).await.unwrap();
    assert_eq!(app.spec.description, "second");
    assert_eq!(app.spec.tags["team"], "b");
    assert_eq!(app.spec.rotation.period_days, Some(365));
    let plan = tf.run_with(&["plan", "-detailed-exitcode"], &second);
    assert_eq!(plan.status.code(), Some(0), "drift:\n{}", text(&plan));

    tf.ok(&["destroy", "-auto-approve"], &second);
    for id in &ids {
        wait_for("the KmsKey to go", READY, || async {
            keys.get_opt(id).await.unwrap().is_none().then_some(())
        })
        .await;
        let secret = secrets.get(&format!("kmskey-{id}")).await.unwrap();
        assert!(
            secret
                .annotations()
                .contains_key("kubekms.io/deletion-date"),
            "{id} pending deletion"
        );
    }
}
