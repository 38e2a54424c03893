//! Terraform's AWS provider against `kube-kms serve`: keys, an alias, a key
//! policy, a ciphertext and the data sources are created, read back without
//! drift, changed and destroyed, as a team managing keys in Terraform would.
//!
//! Needs `terraform` (`KUBE_KMS_TERRAFORM`, else on PATH) and the AWS
//! provider in a filesystem mirror (`KUBE_KMS_TERRAFORM_PLUGINS`, default
//! `/opt/tf-plugins`); no registry serves either here, so without them the
//! test skips and says why.

mod skip;
mod support;
mod tf;

use aws_sdk_kms::types::KeyState;
use serde_json::Value;
use support::{ACCESS_KEY, SECRET_KEY, Server};
use tf::{Terraform, text, vars};

#[tokio::test]
async fn terraform_manages_keys_through_the_endpoint() {
    let tf = match Terraform::find() {
        Ok(tf) => tf,
        Err(why) => {
            skip::skipped(format_args!("Terraform test: {why}"));
            return;
        }
    };
    let server = Server::start();
    let kms = support::kms_client(&server.endpoint, SECRET_KEY);
    tf.ok(&["init", "-input=false"], &[]);

    let first = vars(
        &server.endpoint,
        (ACCESS_KEY, SECRET_KEY),
        "first",
        180,
        "a",
    );
    tf.ok(&["apply", "-auto-approve"], &first);
    let out = tf.ok(&["output", "-json"], &[]);
    let outputs: Value = serde_json::from_slice(&out.stdout).unwrap();
    let output = |name: &str| outputs[name]["value"].clone();
    assert_eq!(output("greeting"), "hello from terraform");
    assert_eq!(output("app_by_alias"), output("app_arn"));
    assert_eq!(output("alias_target"), output("app_arn"));
    assert!(
        output("public_key")
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    let ids: Vec<String> = serde_json::from_value(output("key_ids")).unwrap();
    let app = &ids[0];
    assert_key(&kms, app, "first", 180, "a").await;

    // Everything Terraform reads back matches what it wrote: no drift.
    let plan = tf.run_with(&["plan", "-detailed-exitcode"], &first);
    assert_eq!(plan.status.code(), Some(0), "drift:\n{}", text(&plan));

    let second = vars(
        &server.endpoint,
        (ACCESS_KEY, SECRET_KEY),
        "second",
        365,
        "b",
    );
    tf.ok(&["apply", "-auto-approve"], &second);
    assert_key(&kms, app, "second", 365, "b").await;

    tf.ok(&["destroy", "-auto-approve"], &second);
    for (id, window_days) in ids.iter().zip([7, 30, 30, 30]) {
        let key = kms.describe_key().key_id(id).send().await.unwrap();
        let key = key.key_metadata().unwrap();
        assert_eq!(key.key_state(), Some(&KeyState::PendingDeletion), "{id}");
        let days = (key.deletion_date().unwrap().secs() - key.creation_date().unwrap().secs())
            as f64
            / 86_400.0;
        assert!(
            (days - f64::from(window_days)).abs() < 0.01,
            "{id}: deleted in {days} days"
        );
    }
    let gone = kms
        .describe_key()
        .key_id("alias/terraform-app")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_kms::error::ProvideErrorMetadata::code(&gone),
        Some("NotFoundException")
    );
}

/// The key `id` as Terraform declared it, read through the AWS SDK for Rust.
async fn assert_key(
    kms: &aws_sdk_kms::Client,
    id: &str,
    description: &str,
    rotation_days: i32,
    team: &str,
) {
    let key = kms.describe_key().key_id(id).send().await.unwrap();
    assert_eq!(key.key_metadata().unwrap().description(), Some(description));
    let rotation = kms
        .get_key_rotation_status()
        .key_id(id)
        .send()
        .await
        .unwrap();
    assert!(rotation.key_rotation_enabled());
    assert_eq!(rotation.rotation_period_in_days(), Some(rotation_days));
    let tags = kms.list_resource_tags().key_id(id).send().await.unwrap();
    let tags: Vec<_> = tags
        .tags()
        .iter()
        .map(|t| (t.tag_key(), t.tag_value()))
        .collect();
    assert_eq!(tags, [("team", team)]);
}
