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

use std::path::PathBuf;
use std::process::{Command, Output};

use aws_sdk_kms::types::KeyState;
use serde_json::Value;
use support::{ACCESS_KEY, SECRET_KEY, Server};

const CONFIG: &str = include_str!("terraform/main.tf");

struct Terraform {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl Terraform {
    /// Terraform and a mirror holding the AWS provider, if this machine has
    /// them.
    fn find() -> Result<Terraform, String> {
        let bin = match std::env::var_os("KUBE_KMS_TERRAFORM") {
            Some(bin) => PathBuf::from(bin),
            None => which("terraform").ok_or("no terraform on PATH (KUBE_KMS_TERRAFORM)")?,
        };
        let plugins = std::env::var_os("KUBE_KMS_TERRAFORM_PLUGINS")
            .map(PathBuf::from)
            .unwrap_or_else(|| "/opt/tf-plugins".into());
        let provider = plugins.join("registry.terraform.io/hashicorp/aws");
        if !provider.is_dir() {
            return Err(format!(
                "no AWS provider under {} (KUBE_KMS_TERRAFORM_PLUGINS)",
                plugins.display()
            ));
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.tf"), CONFIG).unwrap();
        std::fs::write(
            dir.path().join("cli.tfrc"),
            format!(
                "provider_installation {{\n  filesystem_mirror {{\n    path = \"{}\"\n  }}\n}}\n",
                plugins.display()
            ),
        )
        .unwrap();
        Ok(Terraform { bin, dir })
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.bin)
            .args(args)
            .arg("-no-color")
            .current_dir(self.dir.path())
            .env("TF_CLI_CONFIG_FILE", self.dir.path().join("cli.tfrc"))
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .output()
            .expect("run terraform")
    }

    /// `args`, then the configuration's variables.
    fn run_with(&self, args: &[&str], vars: &[String]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(vars.iter().map(String::as_str));
        self.run(&all)
    }

    /// `run_with`, asserting success.
    fn ok(&self, args: &[&str], vars: &[String]) -> Output {
        let out = self.run_with(args, vars);
        assert!(out.status.success(), "terraform {args:?}:\n{}", text(&out));
        out
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn vars(endpoint: &str, description: &str, rotation_days: u32, team: &str) -> Vec<String> {
    [
        ("endpoint", endpoint),
        ("access_key", ACCESS_KEY),
        ("secret_key", SECRET_KEY),
        ("description", description),
        ("rotation_days", &rotation_days.to_string()),
        ("team", team),
    ]
    .iter()
    .flat_map(|(k, v)| ["-var".to_owned(), format!("{k}={v}")])
    .collect()
}

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

    let first = vars(&server.endpoint, "first", 180, "a");
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

    tf.ok(
        &["apply", "-auto-approve"],
        &vars(&server.endpoint, "second", 365, "b"),
    );
    assert_key(&kms, app, "second", 365, "b").await;

    tf.ok(
        &["destroy", "-auto-approve"],
        &vars(&server.endpoint, "second", 365, "b"),
    );
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
