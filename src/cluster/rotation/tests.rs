//! On-demand rotation requests against a mock API server (tower-test),
//! asserting each request and its body.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::cluster::mock_api::{self, Handle};

const NOW: Millis = 1_800_000_000_000;
const KEY: &str = "/apis/kubekms.io/v1alpha1/namespaces/team-a/kmskeys/app";

/// The KmsKey `team-a/app` at `resource_version`, with the rotate
/// annotation `requested` and the status's `handled`.
fn key(resource_version: &str, requested: Option<&str>, handled: Option<&str>) -> Value {
    let mut key = json!({
        "apiVersion": "kubekms.io/v1alpha1",
        "kind": "KmsKey",
        "metadata": {"name": "app", "namespace": "team-a", "resourceVersion": resource_version},
        "spec": {"keySpec": "SYMMETRIC_DEFAULT", "keyUsage": "ENCRYPT_DECRYPT"},
        "status": {},
    });
    if let Some(value) = requested {
        key["metadata"]["annotations"] = json!({ ROTATE_ANNOTATION: value });
    }
    if let Some(value) = handled {
        key["status"]["lastRotateRequest"] = json!(value);
    }
    key
}

fn parsed(key: Value) -> KmsKey {
    serde_json::from_value(key).unwrap()
}

/// Takes the next request, asserts its method and path, answers `status`
/// with `reply`; returns the request's body.
async fn expect(handle: &mut Handle, method: &str, status: u16, reply: Value) -> Value {
    mock_api::next_within(handle, method, KEY, Duration::from_secs(5))
        .await
        .answer(status, &reply)
}

async fn expect_nothing_more(handle: &mut Handle) {
    let next = tokio::time::timeout(Duration::from_millis(200), handle.next_request()).await;
    if let Ok(Some((request, _))) = next {
        panic!("unexpected request {} {}", request.method(), request.uri());
    }
}

fn requesting() -> (Handle, tokio::task::JoinHandle<Result<(), StoreError>>) {
    let (client, handle) = mock_api::client("default");
    let keys: Api<KmsKey> = Api::namespaced(client, "team-a");
    (
        handle,
        tokio::spawn(async move { request(&keys, "app", NOW).await }),
    )
}

/// The annotation a request patch sets, checked to say when it was made.
fn requested_value(patch: &Value, resource_version: &str) -> String {
    assert_eq!(
        patch["metadata"]["resourceVersion"], resource_version,
        "{patch}"
    );
    let value = patch["metadata"]["annotations"][ROTATE_ANNOTATION]
        .as_str()
        .unwrap_or_else(|| panic!("{patch}"))
        .to_owned();
    assert_eq!(requested_at(&value), Some(NOW), "{value}");
    value
}

#[test]
fn a_rotation_is_pending_until_the_status_says_its_value_was_handled() {
    let value = request_value(NOW);
    assert_ne!(value, request_value(NOW), "each request its own value");
    assert_eq!(requested_at(&value), Some(NOW));
    assert_eq!(pending(&parsed(key("1", None, None))), None);
    assert_eq!(pending(&parsed(key("1", None, Some("old")))), None);
    let since = Some(PendingRotation { since: Some(NOW) });
    assert_eq!(pending(&parsed(key("1", Some(&value), None))), since);
    assert_eq!(pending(&parsed(key("1", Some(&value), Some("old")))), since);
    assert_eq!(pending(&parsed(key("1", Some(&value), Some(&value)))), None);
    // Set by hand: pending, since an unknown time.
    for by_hand in ["2", "api-", "api-soon-1", "now"] {
        let unknown = Some(PendingRotation { since: None });
        assert_eq!(
            pending(&parsed(key("1", Some(by_hand), None))),
            unknown,
            "{by_hand}"
        );
    }
}

#[tokio::test]
async fn a_request_patches_a_fresh_value_on_the_version_it_read() {
    let (mut server, task) = requesting();
    expect(
        &mut server,
        "GET",
        200,
        key("7", Some("done"), Some("done")),
    )
    .await;
    let patch = expect(&mut server, "PATCH", 200, key("8", None, None)).await;
    requested_value(&patch, "7");
    expect_nothing_more(&mut server).await;
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_request_while_one_is_pending_is_refused_and_writes_nothing() {
    let (mut server, task) = requesting();
    let earlier = request_value(NOW - 60_000);
    expect(&mut server, "GET", 200, key("7", Some(&earlier), None)).await;
    expect_nothing_more(&mut server).await;
    let refused = task.await.unwrap().unwrap_err();
    let StoreError::InProgress(message) = &refused else {
        panic!("{refused:?}");
    };
    assert!(
        message.contains("KmsKey app") && message.contains(&rfc3339(NOW - 60_000)),
        "{message}"
    );
}

#[tokio::test]
async fn a_request_that_lost_a_race_reads_again_and_finds_the_winner_pending() {
    let (mut server, task) = requesting();
    expect(&mut server, "GET", 200, key("7", None, None)).await;
    let conflict = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "reason": "Conflict", "code": 409, "message": "the object has been modified"});
    let lost = expect(&mut server, "PATCH", 409, conflict).await;
    requested_value(&lost, "7");
    // Another replica's request won: the key now asks for its rotation.
    let winner = request_value(NOW);
    expect(&mut server, "GET", 200, key("8", Some(&winner), None)).await;
    expect_nothing_more(&mut server).await;
    assert!(matches!(
        task.await.unwrap(),
        Err(StoreError::InProgress(_))
    ));
}

#[tokio::test]
async fn a_request_that_lost_a_race_to_another_change_writes_on_the_new_version() {
    let (mut server, task) = requesting();
    expect(&mut server, "GET", 200, key("7", None, None)).await;
    let conflict = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "reason": "Conflict", "code": 409, "message": "the object has been modified"});
    expect(&mut server, "PATCH", 409, conflict).await;
    // A description change came in between: no rotation pending.
    expect(&mut server, "GET", 200, key("9", None, None)).await;
    let patch = expect(&mut server, "PATCH", 200, key("10", None, None)).await;
    requested_value(&patch, "9");
    expect_nothing_more(&mut server).await;
    task.await.unwrap().unwrap();
}
