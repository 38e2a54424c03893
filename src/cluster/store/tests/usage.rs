//! Key usage through the API server: a key's use goes to its `KmsKey`
//! status at once, then at most once an hour; reads come from there.

use super::*;
use crate::request_id::RequestId;
use crate::usage::UsedFor;

const STATUS: &str = "/apis/kubekms.io/v1alpha1/namespaces/default/kmskeys/app/status";

fn used(at: Millis) -> KeyUsage {
    KeyUsage {
        operation: UsedFor::Decrypt,
        at,
        request_id: RequestId::next(),
    }
}

/// How the API server answers a status apply.
#[derive(Clone, Copy)]
enum Answer {
    Applied,
    /// A 500 any API server can send.
    Failed,
    /// A 500 from a KmsKey CRD that predates `status.lastUsage`.
    OldCrd,
}

const KEY: &str = "/apis/kubekms.io/v1alpha1/namespaces/default/kmskeys/app";

/// The `KmsKey` as the API server holds it, with `last` in its status.
fn kms_key(last: Option<&KeyUsage>) -> Value {
    let mut key = json!({"apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
        "metadata": {"name": "app", "namespace": "default"},
        "spec": {"keySpec": "SYMMETRIC_DEFAULT", "keyUsage": "ENCRYPT_DECRYPT"}});
    if let Some(last) = last {
        key["status"] = crate::cluster::usage::status_patch(last)["status"].clone();
    }
    key
}

/// A 500 from the API server saying `message`.
fn failure(message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 500,
           "message": message})
}

/// What the API server holds when a write looks at the `KmsKey` first.
enum Stored<'a> {
    /// The key, with this use in its status, if any.
    Holding(Option<&'a KeyUsage>),
    /// Nothing: the read fails (a 500).
    Failed,
}

/// Takes the next request: the read of the `KmsKey` a write looks at
/// first, answered with what is `stored`.
async fn expect_key_read(handle: &mut MockHandle, stored: Stored<'_>) {
    let asked = mock_api::next(handle, "GET", KEY).await;
    match stored {
        Stored::Holding(last) => asked.answer(200, &kms_key(last)),
        Stored::Failed => asked.answer(500, &failure("etcd is sulking")),
    };
}

/// Takes the next request: the status apply of `used`, answered so.
async fn expect_status_apply(handle: &mut MockHandle, used: &KeyUsage, answer: Answer) {
    let asked = mock_api::next(handle, "PATCH", STATUS).await;
    let query = &asked.query;
    assert!(
        query.contains("fieldManager=kube-kms-api") && query.contains("force=true"),
        "{query}"
    );
    assert_eq!(
        asked.headers["content-type"],
        "application/apply-patch+yaml"
    );
    assert_eq!(asked.body, crate::cluster::usage::status_patch(used));
    let (code, body) = match answer {
        Answer::Applied => (200, kms_key(None)),
        Answer::Failed => (500, failure("etcd is sulking")),
        Answer::OldCrd => (
            500,
            failure(
                "failed to create typed patch object (/; kubekms.io/v1alpha1, Kind=KmsKey): .status.lastUsage: field not declared in schema",
            ),
        ),
    };
    asked.answer(code, &body);
}

/// A store on a mock API server holding one key: the store, the key's id
/// and the server.
fn holding_one_key() -> (Arc<KubeStore>, KeyId, MockHandle) {
    let live = record();
    let (store, _index, handle) = store_holding(&live);
    (Arc::new(store), live.key_id, handle)
}

/// `record_usage(uses)` in a task, for the server to answer.
fn recording(
    store: &Arc<KubeStore>,
    uses: Vec<(KeyId, KeyUsage)>,
) -> tokio::task::JoinHandle<Result<Vec<KeyId>, StoreError>> {
    let store = store.clone();
    tokio::spawn(async move { store.record_usage(uses).await })
}

async fn no_request(handle: &mut MockHandle) {
    let asked = tokio::time::timeout(std::time::Duration::from_millis(100), handle.next_request());
    assert!(asked.await.is_err(), "no request to the API server");
}

#[tokio::test]
async fn a_keys_first_use_is_written_at_once_and_the_next_ones_wait_for_the_hour() {
    let (store, id, mut handle) = holding_one_key();
    let now = now_millis();

    let first = used(now);
    let write = recording(&store, vec![(id, first)]);
    expect_key_read(&mut handle, Stored::Holding(None)).await;
    expect_status_apply(&mut handle, &first, Answer::Applied).await;
    assert_eq!(write.await.unwrap().unwrap(), Vec::<KeyId>::new());

    // Within the hour: nothing is written, whatever the batches hold.
    let later = used(now + 5);
    assert_eq!(store.record_usage(vec![(id, later)]).await.unwrap(), []);
    no_request(&mut handle).await;

    // A clean stop writes what waits.
    let flush = tokio::spawn({
        let store = store.clone();
        async move { store.flush_usage().await }
    });
    expect_key_read(&mut handle, Stored::Holding(Some(&first))).await;
    expect_status_apply(&mut handle, &later, Answer::Applied).await;
    flush.await.unwrap().unwrap();
    store.flush_usage().await.unwrap();
    no_request(&mut handle).await;
}

#[tokio::test]
async fn a_failed_write_is_an_error_and_the_use_goes_with_the_next_call() {
    let (store, id, mut handle) = holding_one_key();
    let first = used(now_millis());
    let write = recording(&store, vec![(id, first)]);
    expect_key_read(&mut handle, Stored::Holding(None)).await;
    expect_status_apply(&mut handle, &first, Answer::Failed).await;
    assert!(matches!(
        write.await.unwrap(),
        Err(StoreError::Backend(message)) if message.contains("KmsKey default/app status")
    ));
    let again = recording(&store, vec![]);
    expect_key_read(&mut handle, Stored::Holding(None)).await;
    expect_status_apply(&mut handle, &first, Answer::Applied).await;
    assert_eq!(again.await.unwrap().unwrap(), []);
}

#[tokio::test]
async fn a_use_of_a_key_the_caches_do_not_hold_is_dropped_as_gone() {
    let (store, _index, mut handle) = store_holding(&record());
    let mut other = record();
    other.key_id = KeyId::random();
    let gone = store
        .record_usage(vec![(other.key_id, used(now_millis()))])
        .await
        .unwrap();
    assert_eq!(gone, [other.key_id]);
    no_request(&mut handle).await;
}

#[tokio::test]
async fn a_keys_usage_is_read_from_its_kmskey() {
    let live = record();
    let (store, _index, mut handle) = store_holding(&live);
    let id = live.key_id;
    let read = tokio::spawn(async move {
        let stored = store.key_usage(id).await;
        (store, stored)
    });
    let asked = mock_api::next(&mut handle, "GET", KEY).await;
    let request_id = RequestId::next();
    let key = json!({"apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
        "metadata": {"name": "app", "namespace": "default"},
        "spec": {"keySpec": "SYMMETRIC_DEFAULT", "keyUsage": "ENCRYPT_DECRYPT"},
        "status": {"usageTrackedSince": "2023-11-14T00:00:00Z",
                   "lastUsage": {"operation": "Sign", "timestamp": "2023-11-14T22:13:20.500Z",
                                 "requestId": request_id.to_string()}}});
    asked.answer(200, &key);
    let (store, stored) = read.await.unwrap();
    let stored = stored.unwrap();
    assert_eq!(stored.since, Some(1_699_920_000_000));
    assert_eq!(
        stored.last,
        Some(KeyUsage {
            operation: UsedFor::Sign,
            at: 1_700_000_000_500,
            request_id,
        })
    );
    // Asked again within the minute: answered without the API server.
    assert_eq!(store.key_usage(id).await.unwrap(), stored);
    no_request(&mut handle).await;
}

/// A KmsKey CRD from before usage tracking refuses the field: the use is
/// kept in memory only, and not tried again within the hour (no warning
/// every 10 s, no error to the writer's loop).
#[tokio::test]
async fn a_crd_without_the_usage_field_keeps_uses_in_memory_only() {
    let (store, id, mut handle) = holding_one_key();
    let first = used(now_millis());
    let write = recording(&store, vec![(id, first)]);
    expect_key_read(&mut handle, Stored::Holding(None)).await;
    expect_status_apply(&mut handle, &first, Answer::OldCrd).await;
    assert_eq!(write.await.unwrap().unwrap(), Vec::<KeyId>::new());
    let next = used(now_millis() + 1);
    assert_eq!(store.record_usage(vec![(id, next)]).await.unwrap(), []);
    no_request(&mut handle).await;
}

/// Replicas write in turn: one holding an older use back for the hour
/// must not replace a later one another replica wrote meanwhile.
#[tokio::test]
async fn a_later_use_another_replica_wrote_is_left_in_place() {
    let (store, id, mut handle) = holding_one_key();
    let now = now_millis();
    let ours = used(now);
    let theirs = used(now + 1_000);
    let write = recording(&store, vec![(id, ours)]);
    expect_key_read(&mut handle, Stored::Holding(Some(&theirs))).await;
    assert_eq!(write.await.unwrap().unwrap(), Vec::<KeyId>::new());
    // No write now, none within the hour, and the read answers
    // GetKeyLastUsage for the minute.
    assert_eq!(
        store.record_usage(vec![(id, used(now + 2))]).await.unwrap(),
        []
    );
    no_request(&mut handle).await;
    assert_eq!(store.key_usage(id).await.unwrap().last, Some(theirs));
    no_request(&mut handle).await;
}

#[tokio::test]
async fn a_failed_read_before_a_write_is_an_error_and_the_use_goes_with_the_next_call() {
    let (store, id, mut handle) = holding_one_key();
    let first = used(now_millis());
    let write = recording(&store, vec![(id, first)]);
    expect_key_read(&mut handle, Stored::Failed).await;
    assert!(matches!(
        write.await.unwrap(),
        Err(StoreError::Backend(message)) if message.contains("KmsKey default/app")
    ));
    let again = recording(&store, vec![]);
    expect_key_read(&mut handle, Stored::Holding(None)).await;
    expect_status_apply(&mut handle, &first, Answer::Applied).await;
    assert_eq!(again.await.unwrap().unwrap(), []);
}
