//! CreateKey through a cluster when the key cannot be made: refused by the
//! namespace's quota, or not minted by the controller in time and withdrawn.

use std::time::Duration;

use super::*;
use crate::cluster::mock_api::{self, Handle};

/// Takes the next request, checks its method and path, answers with
/// what `reply` makes of its body; returns that body.
async fn expect(
    handle: &mut Handle,
    method: &str,
    path: &str,
    reply: impl FnOnce(&Value) -> Value,
) -> Value {
    let asked = mock_api::next_within(handle, method, path, Duration::from_secs(60)).await;
    let answer = reply(&asked.body);
    asked.answer(200, &answer)
}

/// A store on a mock API server, creating a key in namespace team-a in
/// a task: the server's handle, the key's id, and the task.
fn create_key_in_team_a() -> (
    Handle,
    KeyId,
    tokio::task::JoinHandle<Result<KeyRecord, StoreError>>,
) {
    let (client, handle) = mock_api::client("default");
    let store = KubeStore::new(Arc::new(RwLock::new(ClusterIndex::default())), client);
    let mut key = record();
    key.namespace = "team-a".into();
    let id = key.key_id;
    (
        handle,
        id,
        tokio::spawn(async move { store.create_key(key).await }),
    )
}

/// CreateKey in a namespace whose quota is used up: one POST, refused,
/// and nothing to withdraw.
#[tokio::test]
async fn a_key_the_namespace_quota_has_no_room_for_is_refused_as_limit_exceeded() {
    let (mut handle, id, created) = create_key_in_team_a();
    let asked = mock_api::next(
        &mut handle,
        "POST",
        "/apis/kubekms.io/v1alpha1/namespaces/team-a/kmskeys",
    )
    .await;
    let kube::Error::Api(status) = quota_refusal("kmskeys.kubekms.io", &id.to_string()) else {
        unreachable!()
    };
    asked.answer(403, &serde_json::to_value(&status).unwrap());
    let error = created.await.unwrap().unwrap_err();
    assert!(matches!(error, StoreError::LimitExceeded(_)), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("limited: count/kmskeys.kubekms.io=2"),
        "{error}"
    );
    // Nothing more asked of the API server (the store is gone by now:
    // no request, or none waiting).
    let more = tokio::time::timeout(Duration::from_millis(100), handle.next_request()).await;
    assert!(!matches!(more, Ok(Some(_))), "nothing to withdraw");
}

#[tokio::test(start_paused = true)]
async fn a_key_the_controller_does_not_mint_in_time_is_withdrawn_and_the_caller_told_so() {
    let (mut handle, id, created) = create_key_in_team_a();

    let keys = "/apis/kubekms.io/v1alpha1/namespaces/team-a/kmskeys";
    let stored = |object: &Value| {
        let mut object = object.clone();
        object["metadata"]["uid"] = json!("uid-of-the-new-key");
        object
    };
    let object = expect(&mut handle, "POST", keys, stored).await;
    assert_eq!(object["metadata"]["name"], id.to_string());
    // The controller is down: the index never shows the key, and after
    // 30 s the object is patched to the shortest window and deleted.
    let path = format!("{keys}/{id}");
    let patch = expect(&mut handle, "PATCH", &path, |_| stored(&object)).await;
    assert_eq!(patch, json!({"spec": {"pendingWindowDays": 7}}));
    let status = |_: &Value| json!({"kind": "Status", "apiVersion": "v1", "status": "Success"});
    let delete = expect(&mut handle, "DELETE", &path, status).await;
    assert_eq!(delete["preconditions"]["uid"], "uid-of-the-new-key");

    let error = created.await.unwrap().unwrap_err();
    assert!(matches!(error, StoreError::Timeout(_)), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("was not created"), "{message}");
    assert!(message.contains("withdrawn"), "{message}");
}
