//! Terraform's AWS provider against `kube-kms api` in a cluster, where
//! every change becomes an object the controller carries out and every read
//! comes from a watch cache: the provider's waits for AWS's eventual
//! consistency must find what it wrote.

use super::*;
use crate::tf::{Terraform, text, vars};

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
    let ns = &cluster.namespace;
    let keys: Api<KmsKey> = Api::namespaced(cluster.client.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), ns);
    let access_key_id = format!("AKIDTF{}", &ns[ns.len() - 8..].to_uppercase());
    let secret_key = "e2e-terraform-secret";
    let caller: Secret = serde_json::from_value(json!({
        "metadata": {"name": "terraform-caller", "labels": {"kubekms.io/credentials": "true"}},
        "type": "Opaque",
        "stringData": {"accessKeyId": access_key_id, "secretAccessKey": secret_key},
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &caller)
        .await
        .unwrap();
    let kms = aws_sdk_kms::Client::from_conf(
        support::sdk_config(&endpoint, secret_key)
            .credentials_provider(aws_sdk_kms::config::Credentials::new(
                &access_key_id,
                secret_key,
                None,
                None,
                "test",
            ))
            .build(),
    );
    // The endpoint learns of the access key through its watch.
    wait_for("the access key to be known", READY, || async {
        kms.list_keys().send().await.ok()
    })
    .await;
    let access = (access_key_id.as_str(), secret_key);

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
