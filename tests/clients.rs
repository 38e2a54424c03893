//! Real AWS clients against `kube-kms serve` on loopback: boto3, the aws
//! CLI, the AWS Encryption SDK for Python, the AWS SDK for Rust, and
//! independent implementations (OpenSSL through Python `cryptography`,
//! Python's hmac) checking what the endpoint makes.

mod support;

use support::{Server, run, run_python};

#[test]
fn boto3_every_operation_and_error() {
    let server = Server::start();
    let out = run_python(&server, "boto3_suite.py");
    assert!(out.contains("checks passed"), "{out}");
}

#[test]
fn independent_implementations_check_what_the_endpoint_makes() {
    let server = Server::start();
    let out = run_python(&server, "interop.py");
    assert!(out.contains("checks passed"), "{out}");
}

#[test]
fn aws_encryption_sdk_round_trip_through_a_kms_keyring() {
    let server = Server::start();
    let out = run_python(&server, "encryption_sdk.py");
    assert!(out.contains("round trip ok"), "{out}");
}

#[test]
fn aws_cli_walkthrough() {
    let server = Server::start();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/awscli_suite.sh");
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(script);
    server.client_env(&mut cmd);
    // The venv's `aws` first on PATH.
    let venv_bin = support::python()
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let path = format!(
        "{}:{}",
        venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.env("PATH", path);
    let out = run(cmd, "awscli_suite.sh");
    assert!(out.contains("aws cli suite ok"), "{out}");
}
