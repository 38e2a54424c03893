//! Hostile HTTP requests: a validly signed Encrypt with its method, path,
//! body or headers changed (signature parts cut or swapped, dates and
//! targets of every wrong shape, values that are not UTF-8, headers
//! repeated). Whatever arrives, the answer is below 500 and, unless it is a
//! success, an AWS JSON error.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::*;
use crate::api::http::{Authentication, Endpoint};
use crate::auth::{Credential, Credentials, sigv4};

const ACCESS_KEY: &str = "AKIDHOSTILE";
const SECRET: &str = "hostile-secret";

fn endpoint(h: &Harness) -> Arc<Endpoint> {
    let credentials = Credentials::new([Credential {
        access_key_id: ACCESS_KEY.into(),
        secret_access_key: zeroize::Zeroizing::new(SECRET.into()),
        principal: "hostile".into(),
        namespace: "default".into(),
    }]);
    Arc::new(Endpoint {
        api: Arc::new(Api::new(
            h.api.store.clone(),
            h.api.crypto.clone(),
            ArnConfig::default(),
            system_clock(),
        )),
        auth: Authentication::SigV4(credentials),
        tokens: None,
        metrics: None,
        quotas: None,
        audit: None,
    })
}

/// A signed Encrypt: its headers, with `authorization` last.
fn signed(key: &str) -> (Vec<(String, Vec<u8>)>, String) {
    let body = json!({ "KeyId": key, "Plaintext": b64(b"hostile") }).to_string();
    let headers = sigv4::signed_kms_headers(
        "Encrypt",
        "localhost",
        body.as_bytes(),
        "us-east-1",
        ACCESS_KEY,
        SECRET,
    );
    let headers = headers
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into_bytes()))
        .collect();
    (headers, body)
}

/// Headers to change, the signature's most often.
const NAMES: &[&str] = &[
    "authorization",
    "authorization",
    "authorization",
    "x-amz-date",
    "x-amz-date",
    "x-amz-target",
    "content-type",
    "host",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "date",
    "transfer-encoding-x",
];

fn values(authorization: &str) -> Vec<Vec<u8>> {
    let cut = |n: usize| authorization.as_bytes()[..n.min(authorization.len())].to_vec();
    let mut values: Vec<Vec<u8>> = [
        "",
        " ",
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 ",
        "AWS4-HMAC-SHA256 Credential=",
        "AWS4-HMAC-SHA256 Credential=,,,, SignedHeaders=, Signature=",
        "AWS4-HMAC-SHA256 Credential=AKIDHOSTILE/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKIDHOSTILE/x/y/z, SignedHeaders=host;host, Signature=zz",
        "AWS4-HMAC-SHA256 Credential=AKIDHOSTILE/20260101/us-east-1/kms/aws4_request/extra, SignedHeaders=HOST, Signature=ABCDEF",
        "AWS4-HMAC-SHA512 Credential=AKIDHOSTILE/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKIDHOSTILE/20260101/us-east-1/kms/aws4_request,Credential=X,SignedHeaders=host,Signature=00,Signature=11",
        "Bearer ",
        "Bearer a.b.c",
        "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
        "Basic YTpi",
        "20261203T000000Z",
        "20261203T999999Z",
        "2026-12-03T00:00:00Z",
        "99991231T235959Z",
        "00000000T000000Z",
        "TrentService.",
        "TrentService.Encrypt",
        "TrentService.Decrypt",
        "TrentService.CreateGrant",
        "TrentService.Frobnicate",
        "trentservice.encrypt",
        "Kinesis_20131202.PutRecord",
        "application/json",
        "application/x-amz-json-1.0",
        "text/plain; charset=utf-8",
        "UNSIGNED-PAYLOAD",
        "localhost:4600",
        "é",
    ]
    .iter()
    .map(|v| v.as_bytes().to_vec())
    .collect();
    values.push(vec![0x80, 0xff, b'a']);
    values.push(b"a".repeat(8192));
    for n in [10, 30, 60, 100, 150, 200] {
        values.push(cut(n));
    }
    values.push(authorization.replace("us-east-1", "eu-west-1").into_bytes());
    values.push(authorization.replace(ACCESS_KEY, "AKIDNOBODY").into_bytes());
    values.push(
        authorization
            .replace("Signature=", "Signature=0")
            .into_bytes(),
    );
    values.push(authorization.replace(", ", ",").into_bytes());
    values.push(authorization.to_lowercase().into_bytes());
    values
}

#[derive(Debug, Clone)]
enum Change {
    Remove(usize),
    Set(usize, usize),
    Add(usize, usize),
}

#[test]
fn hostile_requests_get_aws_errors_below_500() {
    let runtime = super::hostile::runtime();
    let h = harness();
    let key = runtime.block_on(h.key(json!({})));
    let endpoint = endpoint(&h);
    let (headers, body) = signed(&key);
    let authorization = String::from_utf8(headers.last().unwrap().1.clone()).unwrap();
    let values = values(&authorization);
    // The unchanged request succeeds: the changes below start from a valid one.
    let send = |method: &str, path: &str, headers: &[(String, Vec<u8>)], body: &str| {
        let mut request = ::http::Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_slice());
        }
        let request = request
            .body(http_body_util::Full::new(bytes::Bytes::from(
                body.to_owned(),
            )))
            .unwrap();
        runtime.block_on(async {
            let (parts, body) = endpoint.serve(request, None).await.into_parts();
            let body = http_body_util::BodyExt::collect(body).await.unwrap();
            ::http::Response::from_parts(parts, body.to_bytes())
        })
    };
    let ok = send("POST", "/", &headers, &body);
    assert_eq!(ok.status(), 200, "{:?}", ok.body());

    let change = prop_oneof![
        any::<usize>().prop_map(Change::Remove),
        (any::<usize>(), any::<usize>()).prop_map(|(n, v)| Change::Set(n, v)),
        (any::<usize>(), any::<usize>()).prop_map(|(n, v)| Change::Add(n, v)),
    ];
    let methods = ["POST", "GET", "PUT", "DELETE"];
    let paths = ["/", "/x", "//", "/?Action=Encrypt", "/healthz"];
    let bodies = [
        body.clone(),
        String::new(),
        "{".into(),
        "[]".into(),
        "x".repeat(70_000),
    ];
    let strategy = (
        proptest::collection::vec(change, 1..4),
        prop_oneof![9 => Just(0usize), 1 => 0..methods.len()],
        prop_oneof![9 => Just(0usize), 1 => 0..paths.len()],
        prop_oneof![4 => Just(0usize), 1 => 0..bodies.len()],
    );
    let mut runner = super::hostile::runner(2000);
    let outcomes = std::cell::RefCell::new(std::collections::BTreeMap::<String, usize>::new());
    runner
        .run(&strategy, |(changes, method, path, body)| {
            let mut headers = headers.clone();
            for change in &changes {
                match *change {
                    Change::Remove(i) if !headers.is_empty() => {
                        headers.remove(i % headers.len());
                    }
                    Change::Remove(_) => {}
                    Change::Set(n, v) => {
                        let name = NAMES[n % NAMES.len()];
                        headers.retain(|(k, _)| k != name);
                        headers.push((name.into(), values[v % values.len()].clone()));
                    }
                    Change::Add(n, v) => headers.push((
                        NAMES[n % NAMES.len()].into(),
                        values[v % values.len()].clone(),
                    )),
                }
            }
            let response = send(methods[method], paths[path], &headers, &bodies[body]);
            let status = response.status().as_u16();
            prop_assert!(status < 500, "{status} {:?}", response.body());
            let outcome = if status == 200 {
                "ok".to_owned()
            } else {
                let error: Value = serde_json::from_slice(response.body())
                    .map_err(|e| TestCaseError::fail(format!("{e}: {:?}", response.body())))?;
                prop_assert!(error["__type"].is_string(), "{error}");
                format!("{status} {}", error["__type"].as_str().unwrap_or_default())
            };
            *outcomes.borrow_mut().entry(outcome).or_default() += 1;
            Ok(())
        })
        .unwrap();
    let outcomes = outcomes.into_inner();
    println!("{outcomes:?}");
    // The changes reach past the first check: successes and several refusals.
    assert!(outcomes.len() >= 6, "{outcomes:?}");
}
