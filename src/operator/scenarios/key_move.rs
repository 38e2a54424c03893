//! Moving a key pending deletion out of a namespace being deleted.

use super::*;
use crate::key_id::KeyId;
use crate::operator::key_move::tests::request;
use crate::operator::key_move::{self, MoveError};

const TEAM_B_SECRETS: &str = "/api/v1/namespaces/team-b/secrets";

/// The key Secret of a key pending deletion in `team-a`, whose namespace
/// is being deleted (so the Secret is too, held by the finalizer).
fn terminating() -> (KeyRecord, Value) {
    let record = scheduled_for(NOW + 20 * DAY_MS);
    let mut secret = secret_json(record.clone(), "uid-1");
    secret["metadata"]["uid"] = json!("s-1");
    secret["metadata"]["deletionTimestamp"] = json!("2023-11-14T22:00:00Z");
    (record, secret)
}

/// Answers the reads every move starts with: the original, the target
/// place (free), the key Secrets holding the key id (the original alone),
/// the target KmsKey (none); takes the create and answers it as stored.
async fn reads_then_copy(server: &mut ApiServer, original: &Value, key_id: &str) -> Value {
    server
        .expect(
            "GET",
            &format!("{SECRETS}/kmskey-app"),
            200,
            original.clone(),
        )
        .await;
    server
        .expect(
            "GET",
            &format!("{TEAM_B_SECRETS}/kmskey-app"),
            404,
            not_found(),
        )
        .await;
    let list = server
        .expect(
            "GET",
            "/api/v1/secrets",
            200,
            json!({"apiVersion": "v1", "kind": "SecretList", "metadata": {}, "items": [original]}),
        )
        .await;
    assert!(list.query.contains(key_id), "{}", list.query);
    server
        .expect(
            "GET",
            "/apis/kubekms.io/v1alpha1/namespaces/team-b/kmskeys/app",
            404,
            not_found(),
        )
        .await;
    let stored = |sent: &Value| {
        let mut stored = sent.clone();
        stored["metadata"]["uid"] = json!("s-2");
        stored["metadata"]["resourceVersion"] = json!("30");
        stored
    };
    let created = server
        .answer_within(Duration::from_secs(2), "POST", TEAM_B_SECRETS, 201, stored)
        .await;
    assert!(
        created.body["metadata"]["resourceVersion"].is_null(),
        "a create"
    );
    stored(&created.body)
}

fn run(ctx: &Arc<Context>) -> tokio::task::JoinHandle<Result<KeyId, MoveError>> {
    let client = ctx.client.clone();
    tokio::spawn(async move { key_move::move_key(client, &request(), NOW).await })
}

#[tokio::test]
async fn a_key_moves_out_of_a_namespace_being_deleted_and_lets_the_namespace_go() {
    let (ctx, mut server) = context();
    let (record, original) = terminating();
    let task = run(&ctx);
    let created = reads_then_copy(&mut server, &original, &record.key_id.to_string()).await;
    // The copy: the same key, in team-b, no longer pending deletion.
    let mut expected = record.clone();
    expected.namespace = "team-b".into();
    expected.deletion = None;
    let copied: KeyRecord = serde_json::from_value(record_in(&created)).unwrap();
    assert_eq!(copied, expected);
    let meta = &created["metadata"];
    assert_eq!(meta["namespace"], "team-b");
    assert_eq!(meta["name"], "kmskey-app");
    assert_eq!(
        meta["labels"][key_secret::KEY_ID_LABEL],
        record.key_id.to_string()
    );
    assert!(meta["annotations"][key_secret::DELETION_DATE_ANNOTATION].is_null());
    assert_eq!(meta["finalizers"], json!([key_secret::MATERIAL_FINALIZER]));
    assert!(meta["deletionTimestamp"].is_null());
    // Then the original goes: the finalizer off, in the version read; the
    // namespace's deletion does the rest (no DELETE).
    let release = server
        .expect(
            "PUT",
            &format!("{SECRETS}/kmskey-app"),
            200,
            original.clone(),
        )
        .await;
    assert_eq!(release.body["metadata"]["resourceVersion"], "20");
    assert_eq!(release.body["metadata"]["finalizers"], json!([]));
    assert_eq!(record_in(&release.body), record_in(&original), "untouched");
    let moved = tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(moved.unwrap(), record.key_id);
    server.expect_nothing_more().await;
}

/// The original changed after it was read (its KmsKey applied again, which
/// cancels the deletion): it is not let go, and the copy is withdrawn.
#[tokio::test]
async fn a_move_that_cannot_let_go_of_the_original_withdraws_its_copy() {
    let (ctx, mut server) = context();
    let (record, original) = terminating();
    let task = run(&ctx);
    let created = reads_then_copy(&mut server, &original, &record.key_id.to_string()).await;
    server
        .expect("PUT", &format!("{SECRETS}/kmskey-app"), 409, conflict())
        .await;
    let release = server
        .expect(
            "PUT",
            &format!("{TEAM_B_SECRETS}/kmskey-app"),
            200,
            created.clone(),
        )
        .await;
    assert_eq!(release.body["metadata"]["resourceVersion"], "30");
    assert_eq!(release.body["metadata"]["finalizers"], json!([]));
    let delete = server
        .expect(
            "DELETE",
            &format!("{TEAM_B_SECRETS}/kmskey-app"),
            200,
            created,
        )
        .await;
    assert_eq!(delete.body["preconditions"]["uid"], "s-2");
    let failed = tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&failed, Err(MoveError::Withdrawn(_, ns)) if ns == "team-a"),
        "{failed:?}"
    );
    server.expect_nothing_more().await;
}

/// `move-key --all` moves every key Secret of the namespace, one whose
/// key-name annotation was lost included (its name says its key).
#[tokio::test]
async fn every_key_secret_of_a_namespace_is_listed_for_move_all() {
    let (ctx, mut server) = context();
    let (_, annotated) = terminating();
    let mut bare = secret_json(scheduled_for(NOW + 20 * DAY_MS), "uid-2");
    bare["metadata"]["name"] = json!("kmskey-db");
    let annotations = bare["metadata"]["annotations"].as_object_mut().unwrap();
    annotations.remove(key_secret::KEY_NAME_ANNOTATION);
    let task = tokio::spawn({
        let client = ctx.client.clone();
        async move { key_move::key_names(client, "team-a").await }
    });
    let list = server
        .expect(
            "GET",
            SECRETS,
            200,
            json!({"apiVersion": "v1", "kind": "SecretList", "metadata": {}, "items": [bare, annotated]}),
        )
        .await;
    assert!(
        list.query.contains("kubekms.io%2Fkey-id"),
        "key Secrets only: {}",
        list.query
    );
    assert_eq!(task.await.unwrap().unwrap(), ["app", "db"]);
    server.expect_nothing_more().await;
}
