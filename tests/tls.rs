//! `kube-kms serve --tls-cert --tls-key`: HTTPS that boto3 verifies, and no
//! plain HTTP on the same port.

mod support;

use std::io::{Read, Write};

use support::{Server, run};

#[test]
fn boto3_over_https_with_a_verified_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let (cert_path, key_path) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let server = Server::start_with(
        dir,
        &[
            "--tls-cert".into(),
            cert_path.clone().into(),
            "--tls-key".into(),
            key_path.into(),
        ],
    );
    assert!(
        server.endpoint.starts_with("https://"),
        "{}",
        server.endpoint
    );

    let mut cmd = std::process::Command::new(support::python());
    cmd.arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/tls_check.py"));
    server.client_env(&mut cmd);
    cmd.env("KUBE_KMS_CA", &cert_path);
    assert!(run(cmd, "tls_check.py").contains("tls ok"));

    // Plain HTTP to the TLS port gets no HTTP answer.
    let addr = server.endpoint.trim_start_matches("https://").to_owned();
    let mut plain = std::net::TcpStream::connect(addr).unwrap();
    plain
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    plain
        .write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/1.1 200"),
        "plain HTTP was served over the TLS port"
    );
}
