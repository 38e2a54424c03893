//! `kube-kms serve --tls-cert --tls-key`: HTTPS that boto3, SOPS (the AWS
//! SDK for Go), the AWS SDK for JavaScript and curl (each over HTTP/1.1 and
//! HTTP/2) and the AWS SDKs for Ruby and Rust verify, and no plain HTTP on
//! the same port.

mod support;

use std::io::{Read, Write};
use std::path::PathBuf;

use support::{Server, python_command, run};

/// `serve` over HTTPS with a self-signed certificate for 127.0.0.1; the
/// certificate's file (a client's trusted CA) and its PEM.
fn https_server() -> (Server, PathBuf, String) {
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
    (server, cert_path, cert.cert.pem())
}

#[test]
fn boto3_and_sops_over_https_with_a_verified_certificate() {
    let (server, cert_path, _) = https_server();
    let mut cmd = python_command(&server, "tls_check.py");
    cmd.env("KUBE_KMS_CA", &cert_path)
        .env("PATH", support::venv_first_on_path());
    assert!(run(cmd, "tls_check.py").contains("tls ok"));
}

#[test]
fn the_javascript_sdk_over_https_with_http1_and_http2() {
    let (server, cert_path, _) = https_server();
    let mut cmd = support::node_command(&server, "tls_check.mjs");
    cmd.env("NODE_EXTRA_CA_CERTS", &cert_path);
    let out = run(cmd, "tls_check.mjs");
    assert!(out.contains("tls ok: HTTP/1.1, HTTP/2"), "{out}");
}

#[test]
fn curl_signs_over_https_with_http1_and_http2() {
    let (server, cert_path, _) = https_server();
    // curl's own SigV4 signer.
    for (flag, version) in [("--http1.1", "1.1"), ("--http2", "2")] {
        let mut curl = std::process::Command::new("curl");
        curl.args(["-sS", flag, "--cacert"])
            .arg(&cert_path)
            .args(["--aws-sigv4", "aws:amz:us-east-1:kms", "--user"])
            .arg(format!("{}:{}", support::ACCESS_KEY, support::SECRET_KEY))
            .args([
                "-H",
                "X-Amz-Target: TrentService.GenerateRandom",
                "-H",
                "Content-Type: application/x-amz-json-1.1",
                "-d",
                r#"{"NumberOfBytes": 8}"#,
                "-w",
                "\nHTTP/%{http_version} %{http_code}",
            ])
            .arg(&server.endpoint);
        let out = run(curl, "curl --aws-sigv4");
        assert!(
            out.contains("\"Plaintext\"") && out.ends_with(&format!("HTTP/{version} 200")),
            "curl {flag}: {out}"
        );
    }
}

/// The AWS SDK for Ruby (Net::HTTP on OpenSSL), which connects to an
/// address with the address as its SNI host name: RFC 6066 says not to,
/// rustls ignores it, and it must not cost a warning in the log for every
/// connection.
#[test]
fn the_ruby_sdk_over_https_without_a_warning_per_connection() {
    let (server, cert_path, _) = https_server();
    let mut cmd = support::ruby_command(&server, "kms_suite.rb");
    cmd.env("AWS_CA_BUNDLE", &cert_path);
    let out = run(cmd, "kms_suite.rb over HTTPS");
    assert!(
        out.contains("checks passed") && out.contains(", https)"),
        "{out}"
    );
    let log = server.log();
    let serving = log.split("kube-kms endpoint on").nth(1).unwrap_or_default();
    let warnings: Vec<_> = serving.lines().filter(|l| l.contains(" WARN ")).collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
}

/// The AWS SDK for Rust, whose client offers HTTP/2 and HTTP/1.1.
#[test]
fn the_rust_sdk_over_https() {
    use aws_smithy_http_client::tls;
    let (server, _, pem) = https_server();
    let trust = tls::TrustStore::empty().with_pem_certificate(pem);
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(
            tls::TlsContext::builder()
                .with_trust_store(trust)
                .build()
                .unwrap(),
        )
        .build_https();
    let config = support::sdk_config(&server.endpoint, support::SECRET_KEY)
        .http_client(http)
        .build();
    let kms = aws_sdk_kms::Client::from_conf(config);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let key = kms.create_key().send().await.unwrap();
        let key = key.key_metadata().unwrap().key_id();
        let message = aws_sdk_kms::primitives::Blob::new("over TLS from Rust");
        let sealed = kms
            .encrypt()
            .key_id(key)
            .plaintext(message.clone())
            .send()
            .await
            .unwrap();
        let opened = kms
            .decrypt()
            .ciphertext_blob(sealed.ciphertext_blob().unwrap().clone())
            .send()
            .await
            .unwrap();
        assert_eq!(opened.plaintext().unwrap().as_ref(), message.as_ref());
    });
}

/// A certificate renewed in place (as cert-manager renews the Secret the
/// chart mounts) is served from the next handshake on, without a restart.
#[test]
fn a_renewed_certificate_is_served_without_a_restart() {
    let (server, cert_path, _) = https_server();
    let dir = cert_path.parent().unwrap().to_owned();
    let renewed =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let renewed_ca = dir.join("renewed-ca.crt");
    std::fs::write(&renewed_ca, renewed.cert.pem()).unwrap();
    // curl trusting only the renewed certificate: refused until it is served.
    let health = || {
        let out = std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&renewed_ca)
            .arg(format!("{}/healthz", server.endpoint))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(health(), "000", "the renewed certificate is not served yet");
    // Written beside and renamed over, key first, as a volume update swaps
    // its files.
    for (name, pem) in [
        ("tls.key", renewed.signing_key.serialize_pem()),
        ("tls.crt", renewed.cert.pem()),
    ] {
        std::fs::write(dir.join("next"), pem).unwrap();
        std::fs::rename(dir.join("next"), dir.join(name)).unwrap();
    }
    // The files are checked every 10 s.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    while health() != "200" {
        assert!(
            std::time::Instant::now() < deadline,
            "the renewed certificate was never served:\n{}",
            server.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert!(server.log().contains("TLS certificate reloaded"));
}

#[test]
fn plain_http_to_the_https_port_gets_no_answer() {
    let (server, _, _) = https_server();
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
