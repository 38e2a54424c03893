//! Real AWS clients against `kube-kms serve` on loopback: boto3, the aws
//! CLI, Ansible, the AWS Encryption SDKs for Python and JavaScript, the AWS
//! SDKs for JavaScript, Ruby and Rust, and independent implementations
//! (OpenSSL through Python `cryptography` and Node.js, Python's hmac)
//! checking what the endpoint makes.

mod support;

use support::{Server, python_command, run, run_node, run_python, venv_first_on_path};

#[test]
fn boto3_every_operation_and_error() {
    let server = Server::start();
    let out = run_python(&server, "boto3_suite.py");
    assert!(out.contains("checks passed"), "{out}");
}

/// Ansible's `amazon.aws.kms_key` and `kms_key_info` (PyPI `ansible`):
/// create, stay idempotent, change, disable and delete keys.
#[test]
fn ansible_manages_keys_idempotently() {
    let server = Server::start();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = support::ansible_playbook("kms_keys.yml", home.path());
    server.client_env(&mut cmd);
    let out = run(cmd, "ansible kms_keys.yml");
    assert!(
        out.contains("ok=14 ") && out.contains("changed=4 ") && out.contains("failed=0 "),
        "{out}"
    );
}

/// Every constraint of AWS's API model as botocore ships it: a request
/// breaking one is a ValidationException, a request within them never is.
#[test]
fn requests_are_checked_as_aws_s_api_model_says() {
    let server = Server::start();
    let out = run_python(&server, "model_conformance.py");
    assert!(out.contains("model conformance: "), "{out}");
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

/// The SDK's other keyrings: multi, discovery, MRK-aware, RSA (Decrypt with
/// RSAES_OAEP), ECDH (DeriveSharedSecret) and the legacy master key provider.
#[test]
fn aws_encryption_sdk_keyrings_of_every_kind() {
    let server = Server::start();
    let out = run_python(&server, "encryption_sdk_keyrings.py");
    assert!(out.contains("keyrings: 19 checks passed"), "{out}");
}

#[test]
fn aws_sdk_for_javascript_every_operation_and_error() {
    let server = Server::start();
    let out = run_node(&server, "kms_suite.mjs", &[]);
    assert!(out.contains("checks passed"), "{out}");
}

/// The AWS SDK for Ruby as Debian packages it: another SigV4 signer, and
/// an older KMS model than the endpoint's replies.
#[test]
fn aws_sdk_for_ruby_every_operation_it_knows_and_errors() {
    let server = Server::start();
    let out = run(
        support::ruby_command(&server, "kms_suite.rb"),
        "kms_suite.rb",
    );
    assert!(out.contains("checks passed"), "{out}");
}

/// Each language's SDK opens the other's messages: the message format and
/// the KMS calls behind both keyrings agree.
#[test]
fn aws_encryption_sdks_for_python_and_javascript_open_each_others_messages() {
    let server = Server::start();
    let exchange = tempfile::tempdir().unwrap();
    let dir = exchange.path().as_os_str();
    let python = |what| {
        let mut cmd = python_command(&server, "encryption_sdk.py");
        cmd.arg(dir);
        run(cmd, what)
    };
    python("encryption_sdk.py (first)");
    let js = run_node(&server, "encryption_sdk.mjs", &[dir]);
    assert!(
        js.contains("round trip ok") && js.contains("decrypted the Python SDK's message"),
        "{js}"
    );
    let py = python("encryption_sdk.py (second)");
    assert!(
        py.contains("decrypted the JavaScript SDK's message"),
        "{py}"
    );
}

#[test]
fn aws_cli_walkthrough() {
    let server = Server::start();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/awscli_suite.sh");
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(script);
    server.client_env(&mut cmd);
    cmd.env("PATH", venv_first_on_path());
    let out = run(cmd, "awscli_suite.sh");
    assert!(out.contains("aws cli suite ok"), "{out}");
}

/// SOPS, which GitOps repositories use to keep secrets files encrypted
/// with KMS keys; its AWS SDK for Go finds the endpoint in
/// AWS_ENDPOINT_URL.
#[test]
fn sops_keeps_secrets_files_encrypted_with_our_keys() {
    let server = Server::start();
    let mut cmd = python_command(&server, "sops_suite.py");
    cmd.env("PATH", venv_first_on_path());
    let out = run(cmd, "sops_suite.py");
    assert!(out.contains("checks passed"), "{out}");
}

#[test]
fn manifests_seed_every_asymmetric_key_spec_with_fixed_material() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    let mut write = std::process::Command::new(support::python());
    write
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/fixture_material.py"
        ))
        .arg("write")
        .arg(&manifests);
    run(write, "fixture_material.py write");
    // The server applies every manifest in the directory, ours beside the suite's.
    let server = Server::start_with(dir, &[]);
    let mut check = python_command(&server, "fixture_material.py");
    check.arg("check").arg(&manifests);
    let out = run(check, "fixture_material.py check");
    assert!(out.contains("fixture material: 18 checks passed"), "{out}");
}

#[test]
fn request_quotas_throttle_per_namespace_and_boto3_retries_through_them() {
    let server = Server::start_with(
        tempfile::tempdir().unwrap(),
        &[
            "--request-quota".into(),
            "CreateKey=2,cryptographic=1,rsa=0.1,ecc=1,GenerateDataKeyPair/RSA_2048=1".into(),
        ],
    );
    let out = run_python(&server, "quota_suite.py");
    assert!(out.contains("quota suite:"), "{out}");
}

/// A multi-Region key across two deployments, each `kube-kms serve` with its
/// own root key and Region, trusting the other's identity: ReplicateKey
/// from us-east-1 to eu-west-1 (over HTTPS, its certificate checked
/// against the peers file's CA), ciphertexts of either opening in the
/// other (boto3 and the Encryption SDK's MRK-aware keyrings), rotations
/// reaching the replica (docs/multi-region.md).
#[test]
fn multi_region_keys_replicate_between_two_deployments() {
    let (east_dir, west_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let identity = support::root_key_in;
    let ((east_root, east_id), (west_root, west_id)) = (identity(&east_dir), identity(&west_dir));
    // Each Region hears from the other as the test principal, and reaches
    // it with the test access key: the primary moves (UpdatePrimaryRegion)
    // and back. us-east-1 listens where eu-west-1's peers file says.
    let east_listen = support::free_address();
    let west_peers = west_dir.path().join("peers.yaml");
    std::fs::write(
        &west_peers,
        format!(
            "peers:\n  - region: us-east-1\n    identities: [\"{east_id}\"]\n    principal: tester\n    endpoint: http://{east_listen}\n    accessKeyId: {}\n    secretAccessKey: {}\n",
            support::ACCESS_KEY,
            support::SECRET_KEY
        ),
    )
    .unwrap();
    let args = |region: &str,
                root: &std::path::Path,
                peers: &std::path::Path|
     -> Vec<std::ffi::OsString> {
        vec![
            "--region".into(),
            region.into(),
            "--root-key".into(),
            root.into(),
            "--peers".into(),
            peers.into(),
        ]
    };
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let (ca, tls_key) = (
        west_dir.path().join("tls.crt"),
        west_dir.path().join("tls.key"),
    );
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    std::fs::write(&tls_key, cert.signing_key.serialize_pem()).unwrap();
    let mut west_args = args("eu-west-1", &west_root, &west_peers);
    west_args.extend([
        "--tls-cert".into(),
        ca.clone().into(),
        "--tls-key".into(),
        tls_key.into(),
    ]);
    let west = Server::start_with(west_dir, &west_args);
    assert!(west.endpoint.starts_with("https://"), "{}", west.endpoint);
    // eu-central-1 is the same endpoint named with another CA: its
    // certificate does not chain to it, so nothing is sent there.
    let stranger = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let wrong_ca = east_dir.path().join("wrong-ca.crt");
    let (_, third_id) = identity(&tempfile::tempdir().unwrap());
    std::fs::write(&wrong_ca, stranger.cert.pem()).unwrap();
    let east_peers = east_dir.path().join("peers.yaml");
    std::fs::write(
        &east_peers,
        format!(
            "peers:\n  - region: eu-west-1\n    identities: [\"{west_id}\"]\n    endpoint: {}\n    caFile: {}\n    accessKeyId: {}\n    secretAccessKey: {}\n    principal: tester\n\
             \x20 - region: eu-central-1\n    identities: [\"{third_id}\"]\n    endpoint: {}\n    caFile: {}\n    accessKeyId: {}\n    secretAccessKey: {}\n",
            west.endpoint,
            ca.display(),
            support::ACCESS_KEY,
            support::SECRET_KEY,
            west.endpoint,
            wrong_ca.display(),
            support::ACCESS_KEY,
            support::SECRET_KEY
        ),
    )
    .unwrap();
    let east = Server::start_on(
        east_dir,
        &east_listen,
        &args("us-east-1", &east_root, &east_peers),
    );
    let mut cmd = python_command(&east, "multi_region.py");
    cmd.env("KUBE_KMS_REPLICA_ENDPOINT", &west.endpoint)
        .env("KUBE_KMS_REPLICA_CA", &ca);
    let out = run(cmd, "multi_region.py");
    assert!(out.contains("multi-Region: 33 checks passed"), "{out}");
}
