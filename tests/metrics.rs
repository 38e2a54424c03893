//! `serve --metrics-listen`: requests counted by operation and outcome, as
//! Prometheus scrapes them.

mod support;

use std::io::{Read, Write};

use aws_sdk_kms::primitives::Blob;
use support::{SECRET_KEY, Server};

/// A server with metrics on a port of its choosing.
fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    Server::start_with(dir, &["--metrics-listen".into(), "127.0.0.1:0".into()])
}

/// Where `server` serves its metrics.
fn metrics_addr(server: &Server) -> String {
    let url = server
        .metrics
        .as_deref()
        .expect("the server logged its metrics address");
    url.strip_prefix("http://").unwrap().to_owned()
}

/// `GET path` on the metrics port: the whole response.
fn get(addr: &str, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: metrics\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

fn scrape(addr: &str) -> String {
    let text = get(addr, "/metrics");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text
}

/// The value of the sample `series` (name and labels, as exposed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
}

#[tokio::test]
async fn requests_are_counted_by_operation_and_outcome() {
    let server = start();
    let addr = metrics_addr(&server);
    let kms = support::kms_client(&server.endpoint, SECRET_KEY);
    for _ in 0..2 {
        kms.encrypt()
            .key_id("alias/fixture")
            .plaintext(Blob::new(b"counted".to_vec()))
            .send()
            .await
            .unwrap();
    }
    let refused = kms
        .decrypt()
        .ciphertext_blob(Blob::new(vec![1, 2, 3]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        refused.into_service_error().meta().code(),
        Some("InvalidCiphertextException")
    );
    let stranger = support::kms_client(&server.endpoint, "not-the-secret");
    assert!(stranger.list_keys().send().await.is_err());
    // Refused for its size before it is read: counted all the same.
    let endpoint = server.endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(endpoint).unwrap();
    write!(
        stream,
        "POST / HTTP/1.1\r\nhost: {endpoint}\r\nx-amz-target: TrentService.GenerateRandom\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        256 * 1024 + 1
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    let text = scrape(&addr);
    let count = |labels: &str| {
        sample(
            &text,
            &format!("kubekms_api_request_duration_seconds_count{{{labels}}}"),
        )
    };
    assert_eq!(
        count("operation=\"Encrypt\",outcome=\"ok\""),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        count("operation=\"Decrypt\",outcome=\"InvalidCiphertextException\""),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        count("operation=\"ListKeys\",outcome=\"InvalidSignatureException\""),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        count("operation=\"Decrypt\",outcome=\"ok\""),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        count("operation=\"GenerateRandom\",outcome=\"ValidationException\""),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "kubekms_api_requests_in_flight"),
        Some(0.0),
        "{text}"
    );
    // And the crypto service's calls under them: the two encryptions, and
    // the manifests' keys minted at start.
    let calls = |labels: &str| {
        sample(
            &text,
            &format!("kubekms_crypto_call_duration_seconds_count{{{labels}}}"),
        )
    };
    assert_eq!(
        calls("operation=\"Encrypt\",outcome=\"ok\""),
        Some(2.0),
        "{text}"
    );
    assert!(
        calls("operation=\"ImportMaterial\",outcome=\"ok\"").unwrap() >= 1.0,
        "{text}"
    );
}

#[test]
fn the_metrics_port_says_live_and_ready() {
    let server = start();
    let addr = metrics_addr(&server);
    let live = get(&addr, "/livez");
    assert!(
        live.starts_with("HTTP/1.1 200") && live.ends_with("ok"),
        "{live}"
    );
    let ready = get(&addr, "/readyz");
    assert!(
        ready.starts_with("HTTP/1.1 200") && ready.ends_with("ok"),
        "{ready}"
    );
}
