//! Running Terraform with the AWS provider against an endpoint: the
//! configuration in `main.tf`, a working directory of its own, the provider
//! from a filesystem mirror (no registry is reachable here).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

const CONFIG: &str = include_str!("main.tf");

pub struct Terraform {
    bin: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Terraform {
    /// Terraform and a mirror holding the AWS provider, if this machine has
    /// them.
    pub fn find() -> Result<Terraform, String> {
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

    pub fn run(&self, args: &[&str]) -> Output {
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
    pub fn run_with(&self, args: &[&str], vars: &[String]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(vars.iter().map(String::as_str));
        self.run(&all)
    }

    /// `run_with`, asserting success.
    pub fn ok(&self, args: &[&str], vars: &[String]) -> Output {
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

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The configuration's variables: where, as whom (access key id and
/// secret), and the settings of the key `app` that a test changes.
pub fn vars(
    endpoint: &str,
    (access_key, secret_key): (&str, &str),
    description: &str,
    rotation_days: u32,
    team: &str,
) -> Vec<String> {
    [
        ("endpoint", endpoint),
        ("access_key", access_key),
        ("secret_key", secret_key),
        ("description", description),
        ("rotation_days", &rotation_days.to_string()),
        ("team", team),
    ]
    .iter()
    .flat_map(|(k, v)| ["-var".to_owned(), format!("{k}={v}")])
    .collect()
}
