//! The audit trail `kube-kms serve` writes: a CloudTrail-shaped record per
//! call through the AWS SDK for Rust, no data in it, and a hash chain that
//! `kube-kms audit verify` checks, across restarts.

mod support;

use std::path::Path;
use std::process::Command;

use aws_sdk_kms::operation::RequestId;
use aws_sdk_kms::primitives::Blob;
use base64::Engine;
use serde_json::Value;
use support::{SECRET_KEY, Server};

const PLAINTEXT: &[u8] = b"a secret the audit trail must never hold";

fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The records a running server has written whole: the writer may be
/// half-way through the last line.
fn records_so_far(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn verify(path: &Path) -> (bool, String) {
    verify_files(&[path])
}

/// `kube-kms audit verify` over `files`, in order.
fn verify_files(files: &[&Path]) -> (bool, String) {
    verify_files_holding(files, None)
}

/// [`verify_files`], with `--kept-hash` if one is given.
fn verify_files_holding(files: &[&Path], kept: Option<&str>) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kube-kms"))
        .args(["audit", "verify"])
        .args(kept.map(|hash| format!("--kept-hash={hash}")))
        .args(files)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn every_call_is_recorded_without_its_data_and_the_chain_shows_tampering() {
    let server = Server::start();
    let kms = support::kms_client(&server.endpoint, SECRET_KEY);
    let created = kms
        .create_key()
        .description("audited")
        .send()
        .await
        .unwrap();
    let key_id = created.key_metadata().unwrap().key_id().to_owned();
    kms.create_alias()
        .alias_name("alias/audited")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();
    let sealed = kms
        .encrypt()
        .key_id("alias/audited")
        .plaintext(Blob::new(PLAINTEXT))
        .encryption_context("tenant", "a")
        .send()
        .await
        .unwrap();
    let encrypt_id = sealed.request_id().unwrap().to_owned();
    // Refused: the context differs.
    kms.decrypt()
        .ciphertext_blob(sealed.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .expect_err("no context");
    let dir = server.stop();
    let path = dir.path().join("data/audit.jsonl");
    let trail = records(&path);
    let names: Vec<_> = trail
        .iter()
        .map(|r| r["eventName"].as_str().unwrap())
        .collect();
    // First what the fixture manifests made, as their manifests' calls.
    assert_eq!(
        names,
        [
            "CreateKey",
            "CreateKey",
            "CreateKey",
            "CreateAlias",
            "CreateAlias",
            "CreateAlias",
            "CreateKey",
            "CreateAlias",
            "Encrypt",
            "Decrypt"
        ]
    );
    for applied in &trail[..6] {
        assert_eq!(applied["userIdentity"]["principalId"], "manifest");
        assert_eq!(applied["userIdentity"]["namespace"], "default");
        assert_eq!(applied["userAgent"], "kube-kms manifests");
    }
    assert_eq!(trail[3]["requestParameters"]["aliasName"], "alias/fixture");
    let trail = &trail[6..];

    let text = std::fs::read_to_string(&path).unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode(PLAINTEXT);
    assert!(
        !text.contains("never hold") && !text.contains(&encoded),
        "data in the trail"
    );
    let ciphertext =
        base64::engine::general_purpose::STANDARD.encode(sealed.ciphertext_blob().unwrap());
    assert!(!text.contains(&ciphertext), "ciphertext in the trail");

    let arn = format!("arn:aws:kms:us-east-1:111122223333:key/{key_id}");
    let encrypt = &trail[2];
    assert_eq!(encrypt["requestID"], encrypt_id.as_str());
    assert_eq!(encrypt["eventSource"], "kms.amazonaws.com");
    assert_eq!(encrypt["readOnly"], true);
    assert_eq!(encrypt["requestParameters"]["keyId"], "alias/audited");
    assert_eq!(
        encrypt["requestParameters"]["encryptionContext"]["tenant"],
        "a"
    );
    assert_eq!(
        encrypt["resources"][0]["ARN"],
        arn.as_str(),
        "the alias resolved"
    );
    assert_eq!(encrypt["userIdentity"]["principalId"], "tester");
    assert_eq!(encrypt["userIdentity"]["namespace"], "default");
    // As key policies name the caller.
    assert_eq!(
        encrypt["userIdentity"]["arn"],
        "arn:aws:iam::111122223333:user/default/tester"
    );
    assert_eq!(encrypt["sourceIPAddress"], "127.0.0.1");
    assert!(
        encrypt["userAgent"]
            .as_str()
            .unwrap()
            .contains("aws-sdk-rust"),
        "{encrypt}"
    );
    assert!(encrypt.get("errorCode").is_none());
    assert_eq!(trail[0]["readOnly"], false);
    assert_eq!(
        trail[0]["resources"][0]["ARN"],
        arn.as_str(),
        "the key created"
    );
    let decrypt = &trail[3];
    assert_eq!(decrypt["errorCode"], "InvalidCiphertextException");
    assert_eq!(
        decrypt["resources"][0]["ARN"],
        arn.as_str(),
        "named by the ciphertext"
    );

    let (ok, out) = verify(&path);
    assert!(ok && out.contains("10 records, sequence 1 to 10"), "{out}");
    let kept = out
        .split("the last record's hash is ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    assert_eq!(kept.len(), 64, "{out}");

    // A restart goes on with the same chain.
    let server = Server::start_in(dir);
    let kms = support::kms_client(&server.endpoint, SECRET_KEY);
    kms.describe_key().key_id(&key_id).send().await.unwrap();
    let dir = server.stop();
    let (ok, out) = verify(&path);
    assert!(ok && out.contains("11 records, sequence 1 to 11"), "{out}");
    // The hash kept at ten records covers them still; cut back to three,
    // the trail verifies on its own, and the kept hash shows the cut.
    let (ok, out) = verify_files_holding(&[&path], Some(&kept));
    assert!(ok, "{out}");
    let cut = dir.path().join("cut.jsonl");
    let whole = std::fs::read_to_string(&path).unwrap();
    let three: Vec<&str> = whole.lines().take(3).collect();
    std::fs::write(&cut, three.join("\n") + "\n").unwrap();
    assert!(verify(&cut).0);
    let (ok, out) = verify_files_holding(&[&cut], Some(&kept));
    assert!(!ok && out.contains("cut from the end"), "{out}");

    // A record removed, then one altered: verify names where it breaks.
    let all = std::fs::read_to_string(&path).unwrap();
    let mut removed: Vec<&str> = all.lines().collect();
    removed.remove(1);
    let tampered = dir.path().join("tampered.jsonl");
    std::fs::write(&tampered, removed.join("\n") + "\n").unwrap();
    let (ok, out) = verify(&tampered);
    assert!(!ok && out.contains("line 2"), "{out}");
    let altered = all.replacen(
        "\"errorCode\":\"InvalidCiphertextException\"",
        "\"errorCode\":null",
        1,
    );
    assert_ne!(altered, all);
    std::fs::write(&tampered, altered).unwrap();
    let (ok, out) = verify(&tampered);
    assert!(!ok && out.contains("line 11"), "{out}");

    // A trail in several files (as rotation leaves it) is one chain read
    // in order; a file missing between two is named where it shows.
    let lines: Vec<&str> = all.lines().collect();
    let part = |name: &str, lines: &[&str]| {
        let path = dir.path().join(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    };
    let (first, second, third) = (
        part("audit.jsonl.1", &lines[..2]),
        part("audit.jsonl.2", &lines[2..3]),
        part("audit.jsonl", &lines[3..]),
    );
    let (ok, out) = verify_files(&[&first, &second, &third]);
    assert!(ok && out.contains("11 records, sequence 1 to 11"), "{out}");
    let (ok, out) = verify_files(&[&second, &third]);
    assert!(ok && out.contains("9 records, sequence 3 to 11"), "{out}");
    let (ok, out) = verify_files(&[&first, &third]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "{}: the chain breaks at line 1: sequence 4 where 3 was due",
            third.display()
        )),
        "{out}"
    );
}

#[tokio::test]
async fn audit_log_off_writes_no_trail() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir, &["--audit-log".into(), "off".into()]);
    let kms = support::kms_client(&server.endpoint, SECRET_KEY);
    kms.list_keys().send().await.unwrap();
    let dir = server.stop();
    assert!(!dir.path().join("data/audit.jsonl").exists());
}

/// Sends `head` (and no body) on a fresh connection; returns the answer's
/// status line.
async fn status_of(addr: &str, head: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    answer.lines().next().unwrap_or_default().to_owned()
}

/// A call refused before it could be read (its body over the limit) is
/// still a call: it gets a record, with no caller (nothing was verified)
/// and no parameters (nothing was read). A request that is no API call
/// (not a POST) gets none.
#[tokio::test]
async fn a_call_refused_for_its_size_is_recorded_and_other_requests_are_not() {
    let server = Server::start();
    let addr = server.endpoint.trim_start_matches("http://").to_owned();
    let too_large = format!(
        "POST / HTTP/1.1\r\nhost: {addr}\r\nuser-agent: refused-test\r\n\
         x-amz-target: TrentService.Encrypt\r\ncontent-length: {}\r\n\r\n",
        256 * 1024 + 1
    );
    assert!(
        status_of(&addr, &too_large)
            .await
            .starts_with("HTTP/1.1 400")
    );
    let get = format!("GET /favicon.ico HTTP/1.1\r\nhost: {addr}\r\n\r\n");
    assert!(status_of(&addr, &get).await.starts_with("HTTP/1.1 400"));
    let dir = server.stop();
    let path = dir.path().join("data/audit.jsonl");
    let trail = records(&path);
    // After the fixture manifests' six.
    assert_eq!(trail.len(), 7, "{trail:?}");
    let refused = &trail[6];
    assert_eq!(refused["eventName"], "Encrypt");
    assert_eq!(refused["errorCode"], "ValidationException");
    assert_eq!(refused["errorMessage"], "Request body exceeds 262144 bytes");
    assert!(refused["userIdentity"].is_null(), "{refused}");
    assert!(refused["requestParameters"].is_null(), "{refused}");
    assert_eq!(refused["sourceIPAddress"], "127.0.0.1");
    assert_eq!(refused["userAgent"], "refused-test");
    assert!(verify(&path).0);
}

/// A manifest changed while serve runs is applied, and the change is in
/// the trail as the calls that would have made it.
#[tokio::test]
async fn a_changed_manifest_is_recorded_as_the_calls_that_change_the_key() {
    let server = Server::start();
    let fixtures = server.manifests_path().join("fixtures.yaml");
    let changed = support::FIXTURES.replacen(
        "description: deterministic test key",
        "description: changed by its manifest\n  tags: {team: a}",
        1,
    );
    assert_ne!(changed, support::FIXTURES);
    std::fs::write(&fixtures, changed).unwrap();
    let path = server.manifests_path().join("../data/audit.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let applied = loop {
        let trail = records_so_far(&path);
        let found: Vec<Value> = trail
            .into_iter()
            .skip(6)
            .filter(|r| r["userIdentity"]["principalId"] == "manifest")
            .collect();
        if found.len() >= 2 || std::time::Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let calls: Vec<(&str, &Value)> = applied
        .iter()
        .map(|r| (r["eventName"].as_str().unwrap(), &r["requestParameters"]))
        .collect();
    let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
    assert_eq!(
        calls,
        [
            (
                "UpdateKeyDescription",
                &serde_json::json!({"keyId": id, "description": "changed by its manifest"})
            ),
            (
                "TagResource",
                &serde_json::json!({"keyId": id, "tags": [{"tagKey": "team", "tagValue": "a"}]})
            ),
        ]
    );
    let dir = server.stop();
    assert!(verify(&dir.path().join("data/audit.jsonl")).0);
}

/// A record is one line of the trail whatever the layout of the request:
/// an encryption context sent across lines (JSON allows any whitespace
/// between tokens) once split its call's record into several lines, and
/// the chain broke at the next record.
#[tokio::test]
async fn a_request_laid_out_across_lines_is_one_record() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = Server::start();
    let addr = server.endpoint.trim_start_matches("http://").to_owned();
    let body = "{\n  \"KeyId\": \"alias/fixture\",\n  \"Plaintext\": \"c2VjcmV0\",\n  \
                \"EncryptionContext\": {\n    \"purpose\": \"line\\nbreak\",\r\n    \"team\" : \"a b\"\n  }\n}\n";
    let headers = kube_kms::auth::sigv4::signed_kms_headers(
        "Encrypt",
        &addr,
        body.as_bytes(),
        "us-east-1",
        support::ACCESS_KEY,
        SECRET_KEY,
    );
    let mut request = "POST / HTTP/1.1\r\nconnection: close\r\n".to_owned();
    for (name, value) in &headers {
        request += &format!("{name}: {value}\r\n");
    }
    request += &format!("content-length: {}\r\n\r\n{body}", body.len());
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // One more call after it, whose link vouches for it.
    let kms = support::kms_client(&server.endpoint, SECRET_KEY);
    kms.list_aliases().send().await.unwrap();
    let dir = server.stop();
    let path = dir.path().join("data/audit.jsonl");
    // After the fixture manifests' six: every line a record.
    let trail = records(&path);
    assert_eq!(trail.len(), 8, "{trail:?}");
    assert_eq!(trail[6]["eventName"], "Encrypt");
    assert_eq!(
        trail[6]["requestParameters"],
        serde_json::json!({
            "keyId": "alias/fixture",
            "encryptionContext": {"purpose": "line\nbreak", "team": "a b"},
        })
    );
    assert_eq!(trail[7]["eventName"], "ListAliases");
    let (intact, text) = verify(&path);
    assert!(intact, "{text}");
    assert!(
        text.contains("8 records") && !text.contains("other lines"),
        "{text}"
    );
}

/// A trail the first version with one wrote (tests/vectors/trail-a0d2e97,
/// made by the make.py there) goes on under this version in the same
/// chain: `audit verify` checks the old records and the new as one.
#[tokio::test]
async fn a_trail_an_older_version_wrote_goes_on_in_one_chain() {
    let old = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/trail-a0d2e97/audit.jsonl"
    );
    let (intact, said) = verify(Path::new(old));
    assert!(
        intact && said.contains(": 7 records, sequence 1 to 7, chain intact"),
        "{said}"
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::copy(old, data.join("audit.jsonl")).unwrap();

    let server = Server::start_in(dir);
    let kms = support::kms_client(&server.endpoint, SECRET_KEY);
    kms.list_keys().send().await.unwrap();
    let dir = server.stop();
    let trail = dir.path().join("data/audit.jsonl");
    let (intact, said) = verify(&trail);
    let written = records(&trail);
    assert!(written.len() > 8, "{written:?}");
    let last = written.last().unwrap();
    assert_eq!(last["eventName"], "ListKeys");
    assert_eq!(last["kubeKmsChain"]["sequence"], written.len());
    let whole = format!(
        ": {n} records, sequence 1 to {n}, chain intact",
        n = written.len()
    );
    assert!(intact && said.contains(&whole), "{said}");
}
