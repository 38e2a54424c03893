//! Where a request's CPU goes, measured in-process without HTTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use kube_kms::auth::sigv4;

use super::{ACCESS_KEY, SECRET_KEY, encrypt_body, signed_request};

/// Where a request's time goes without HTTP: SigV4 verification of the
/// Encrypt request, SHA-256 of its body (part of that), and `Api::respond`
/// (JSON, key lookup, AES-GCM, response) in-process.
pub async fn breakdown(body: &str) {
    use kube_kms::api::{Api, ArnConfig, Caller, system_clock};
    use kube_kms::auth::{Credential, Credentials};
    use kube_kms::crypto::{CacheConfig, LocalCryptoService};
    use sha2::Digest;
    let per_op = |start: Instant, n: u32| start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    let n = 20_000;

    let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let raw = signed_request(addr, "Encrypt", body);
    let text = String::from_utf8(raw).unwrap();
    let (head, _) = text.split_once("\r\n\r\n").unwrap();
    let headers: Vec<(&str, &str)> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(": "))
        .collect();
    let credentials = Credentials::new([Credential {
        access_key_id: ACCESS_KEY.into(),
        secret_access_key: zeroize::Zeroizing::new(SECRET_KEY.into()),
        principal: "bench".into(),
        namespace: "default".into(),
    }]);
    let request = sigv4::SignedRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body: body.as_bytes(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    sigv4::verify(&request, &credentials, "us-east-1", now).expect("the bench request verifies");
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(sigv4::verify(&request, &credentials, "us-east-1", now).unwrap());
    }
    let sigv4_us = per_op(t, n);
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(sha2::Sha256::digest(body.as_bytes()));
    }
    let sha_us = per_op(t, n);

    let dir = tempfile::tempdir().unwrap();
    let root = Arc::new(
        kube_kms::root::FileRootKey::from_keys([(1, kube_kms::material::random_bytes(32))])
            .unwrap(),
    );
    let crypto = Arc::new(LocalCryptoService::new(root, CacheConfig::default()));
    let store = Arc::new(kube_kms::store::LocalStore::open(dir.path()).unwrap());
    let api = Api::new(store, crypto, ArnConfig::default(), system_clock());
    let caller = Caller::new("default", "bench");
    let created = api.call(&caller, "CreateKey", b"{}").await.unwrap();
    let key = created["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let request = encrypt_body(&key);
    let t = Instant::now();
    for _ in 0..n {
        let reply = api
            .respond(&caller, "Encrypt", request.as_bytes())
            .await
            .unwrap();
        std::hint::black_box(reply.into_body());
    }
    let api_us = per_op(t, n);

    // What the audit writer does per call, off the request path but on
    // the same cores.
    let call = kube_kms::audit::Call {
        event_source: kube_kms::audit::record::ENDPOINT,
        time: 1_800_000_000_000,
        operation: "Encrypt".into(),
        request_id: kube_kms::request_id::RequestId::next(),
        caller: Some(("default".into(), "bench".into())),
        source: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        user_agent: Some("kube-kms-bench".into()),
        parameters: kube_kms::audit::RequestParameters::of_accepted_body(request.as_bytes()),
        keys: vec![key.parse().unwrap()],
        error: None,
    };
    let arn = ArnConfig::default();
    let mut written = Vec::new();
    let t = Instant::now();
    for _ in 0..n {
        written.clear();
        call.parameters.write(&mut written);
        std::hint::black_box(&written);
    }
    let parameters_us = per_op(t, n);
    let mut link = kube_kms::audit::chain::Link::genesis();
    let mut line = Vec::new();
    let t = Instant::now();
    for _ in 0..n {
        line.clear();
        let time = "2027-01-15T08:00:00Z";
        kube_kms::audit::record::write(&call, &arn, time, link.fields(), &mut line);
        link.advance(&line);
    }
    let audit_us = per_op(t, n);
    println!(
        "per request without HTTP: SigV4 verify {sigv4_us:.1} µs (of which SHA-256 of the body {sha_us:.1} µs), Api::respond Encrypt with its reply body {api_us:.1} µs, its audit record {audit_us:.1} µs (of which request parameters {parameters_us:.1} µs)"
    );
}
