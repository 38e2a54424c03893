//! Scheduled deletion: the finalizer schedules, the sweeper waits out the
//! window and destroys, applying the key again cancels.

use super::*;

#[tokio::test]
async fn deleting_schedules_deletion_then_the_sweeper_destroys_at_window_end() {
    let (ctx, mut server) = context();
    let deleting = being_deleted_key(key(json!({"pendingWindowDays": 7})));
    let task = reconcile_key(deleting.clone(), &ctx).await;
    server.expect_key_secret(&stored_record()).await;
    let put = server
        .expect("PUT", &format!("{SECRETS}/kmskey-app"), 200, json!({}))
        .await;
    let date = NOW + 7 * DAY_MS;
    assert_eq!(record_in(&put.body)["deletion"]["deletion_date"], date);
    assert_eq!(
        put.body["metadata"]["annotations"][key_secret::DELETION_DATE_ANNOTATION],
        date.to_string()
    );
    server.expect_event("DeletionScheduled").await;
    let status = server.expect_status(&deleting).await;
    assert_eq!(status.body["status"]["keyState"], "PendingDeletion");
    assert!(status.body["status"]["deletionDate"].is_string());
    // Only then does the finalizer go, so the object disappears.
    let patch = server.expect_finalizers_patch(&deleting).await;
    assert_eq!(patch.body[0]["op"], "test");
    assert!(
        patch
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|op| op["op"] == "remove")
    );
    assert_eq!(finish(task).await, Action::await_change());
    server.expect_nothing_more().await;

    // The sweeper: before the window ends it reads the Secret once (is the
    // material under the newest root key version?), then only waits.
    let scheduled = scheduled_for(date);
    let meta = pending_meta(&scheduled);
    let task = sweep(&meta, &ctx);
    server.expect_key_secret(&scheduled).await;
    assert_eq!(
        task.await.unwrap().unwrap(),
        Action::requeue(super::super::RESYNC)
    );
    server.expect_nothing_more().await;
    let task = sweep(&meta, &ctx);
    server.expect_nothing_more().await;
    assert_eq!(
        task.await.unwrap().unwrap(),
        Action::requeue(super::super::RESYNC)
    );

    // At the end of the window: confirm the KmsKey is gone, read the
    // Secret, let go of its finalizer in exactly the version read, then
    // delete exactly the version that made.
    let dir = tempfile::tempdir().unwrap();
    let (late, mut server) = context_at(date, dir.path());
    let sweeping = late.clone();
    let task = tokio::spawn(async move { sweeper::reconcile(meta, sweeping).await });
    server
        .expect_orphan(secret_json(scheduled.clone(), "uid-1"))
        .await;
    let released = released(&mut server, &scheduled).await;
    assert!(released.body["metadata"]["deletionTimestamp"].is_null());
    let delete = server
        .expect("DELETE", &format!("{SECRETS}/kmskey-app"), 200, json!({}))
        .await;
    assert_eq!(delete.body["preconditions"]["resourceVersion"], "21");
    assert_eq!(task.await.unwrap().unwrap(), Action::await_change());
    server.expect_nothing_more().await;
    let trail = audit_records(&late, dir.path()).await;
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(trail[0]["eventName"], "DeleteKey");
    assert_eq!(trail[0]["userIdentity"]["namespace"], "team-a");
    assert_eq!(
        trail[0]["resources"][0]["ARN"],
        ArnConfig::default().key_arn(scheduled.key_id)
    );
}

/// A key Secret that lost its key-name annotation (restored or edited by
/// hand) still names its KmsKey by its own name: at the window's end the
/// sweeper finds that KmsKey applied again and leaves the material to its
/// controller, which cancels the deletion, instead of destroying it.
#[tokio::test]
async fn a_key_secret_without_its_name_annotation_is_not_destroyed_under_a_kmskey() {
    let date = NOW + 7 * DAY_MS;
    let mut secret = secret_json(scheduled_for(date), "uid-1");
    let annotations = secret["metadata"]["annotations"].as_object_mut().unwrap();
    assert!(
        annotations
            .remove(key_secret::KEY_NAME_ANNOTATION)
            .is_some()
    );
    let meta = meta_of(&secret);
    let dir = tempfile::tempdir().unwrap();
    let (late, mut server) = context_at(date, dir.path());
    let task = sweep(&meta, &late);
    let key = serde_json::to_value(key(json!({}))).unwrap();
    server.expect("GET", &format!("{KEYS}/app"), 200, key).await;
    assert_eq!(
        task.await.unwrap().unwrap(),
        Action::requeue(super::super::RESYNC)
    );
    server.expect_nothing_more().await;
}

/// Answers the sweeper's replace of the Secret holding `record` that lets
/// go of the finalizer (checking it does only that, in the version read)
/// with that Secret at resourceVersion 21.
async fn released(server: &mut ApiServer, record: &KeyRecord) -> Seen {
    let mut after = secret_json(record.clone(), "uid-1");
    after["metadata"]["finalizers"] = json!([]);
    after["metadata"]["resourceVersion"] = json!("21");
    let put = server
        .expect("PUT", &format!("{SECRETS}/kmskey-app"), 200, after)
        .await;
    assert_eq!(put.body["metadata"]["resourceVersion"], "20");
    assert_eq!(put.body["metadata"]["finalizers"], json!([]));
    assert_eq!(
        record_in(&put.body),
        record_in(&secret_json(record.clone(), "uid-1"))
    );
    put
}

/// Deleting the namespace deletes the key's Secret too: the finalizer
/// holds it, with its material, until the window ends; then the sweeper
/// lets go of the finalizer and the Secret goes (no DELETE of its own).
#[tokio::test]
async fn a_key_secret_being_deleted_with_its_namespace_is_held_until_the_window_ends() {
    let date = NOW + 7 * DAY_MS;
    let scheduled = scheduled_for(date);
    let mut terminating = secret_json(scheduled.clone(), "uid-1");
    terminating["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    assert_eq!(
        terminating["metadata"]["finalizers"],
        json!([key_secret::MATERIAL_FINALIZER])
    );
    let dir = tempfile::tempdir().unwrap();

    // Before the window ends, nothing is destroyed.
    let (early, mut server) = context_at(date - 1, dir.path());
    let meta = pending_meta(&scheduled);
    let task = sweep(&meta, &early);
    server.expect_key_secret(&scheduled).await;
    // (Again in a second: the shortest wait.)
    assert_eq!(
        task.await.unwrap().unwrap(),
        Action::requeue(std::time::Duration::from_secs(1))
    );
    server.expect_nothing_more().await;

    let (late, mut server) = context_at(date, dir.path());
    let task = sweep(&meta, &late);
    server.expect_orphan(terminating).await;
    released(&mut server, &scheduled).await;
    assert_eq!(task.await.unwrap().unwrap(), Action::await_change());
    server.expect_nothing_more().await;
}

/// A key Secret written before the finalizer existed gets it at the next
/// reconcile, though nothing else about the key changed.
#[tokio::test]
async fn a_key_secret_without_the_finalizer_gets_it() {
    let (ctx, mut server) = context();
    let key = key(json!({}));
    let task = reconcile_key(key.clone(), &ctx).await;
    gets_the_finalizer(&mut server, &stored_record()).await;
    server.expect_status(&key).await;
    finish(task).await;
    server.expect_nothing_more().await;
}

/// The same for the Secret of a key pending deletion, which no KmsKey
/// reconciles: the sweeper adds the finalizer while it waits.
#[tokio::test]
async fn a_pending_key_secret_without_the_finalizer_gets_it_from_the_sweeper() {
    let (ctx, mut server) = context();
    let scheduled = scheduled_for(NOW + DAY_MS);
    let task = sweep(&pending_meta(&scheduled), &ctx);
    gets_the_finalizer(&mut server, &scheduled).await;
    task.await.unwrap().unwrap();
    server.expect_nothing_more().await;
}

/// Answers the GET of the Secret holding `record` with that Secret as an
/// older controller wrote it, without the finalizer, and checks that the
/// next request writes the same record back, in that version, with it.
async fn gets_the_finalizer(server: &mut ApiServer, record: &KeyRecord) {
    let mut unguarded = secret_json(record.clone(), "uid-1");
    unguarded["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("finalizers");
    server
        .expect("GET", &format!("{SECRETS}/kmskey-app"), 200, unguarded)
        .await;
    let put = server
        .expect("PUT", &format!("{SECRETS}/kmskey-app"), 200, json!({}))
        .await;
    assert_eq!(
        put.body["metadata"]["finalizers"],
        json!([key_secret::MATERIAL_FINALIZER])
    );
    assert_eq!(put.body["metadata"]["resourceVersion"], "20");
    assert_eq!(
        record_in(&put.body),
        record_in(&secret_json(record.clone(), "uid-1"))
    );
}

/// A context whose clock reads `now`, auditing into `audit_dir`.
fn context_at(now: Millis, audit_dir: &std::path::Path) -> (Arc<Context>, ApiServer) {
    let (ctx, server) = audited_context(audit_dir);
    let ctx = Context::new(
        ctx.client.clone(),
        ctx.crypto.clone(),
        ctx.arn.clone(),
        Arc::new(move || now),
        ctx.metrics.clone(),
        ctx.audit.clone(),
        ctx.scope.clone(),
    );
    (ctx, server)
}

#[tokio::test]
async fn re_applying_within_the_window_adopts_and_cancels() {
    let (ctx, mut server) = context();
    let record = scheduled_for(NOW + DAY_MS);
    let key = key(json!({}));
    let task = reconcile_key(key.clone(), &ctx).await;
    server
        .expect(
            "GET",
            &format!("{SECRETS}/kmskey-app"),
            200,
            secret_json(record, "uid-0"),
        )
        .await;
    let put = server
        .expect("PUT", &format!("{SECRETS}/kmskey-app"), 200, json!({}))
        .await;
    assert!(record_in(&put.body)["deletion"].is_null());
    assert_eq!(
        put.body["metadata"]["annotations"][key_secret::OWNER_UID_ANNOTATION],
        "uid-1"
    );
    assert!(put.body["metadata"]["annotations"][key_secret::DELETION_DATE_ANNOTATION].is_null());
    server.expect_event("Adopted").await;
    server.expect_event("DeletionCancelled").await;
    server.expect_event("Enabled").await;
    let status = server.expect_status(&key).await;
    assert_eq!(status.body["status"]["keyState"], "Enabled");
    finish(task).await;
    server.expect_nothing_more().await;
}

/// The Secret of a live key deleted by hand: held by the finalizer, the key
/// keeps working, and its KmsKey says so, with one Warning event.
#[tokio::test]
async fn a_live_keys_secret_being_deleted_is_reported_once_and_the_key_stays_ready() {
    let (ctx, mut server) = context();
    let mut key = key(json!({}));
    let held = being_deleted("uid-1");
    let task = reconcile_key(key.clone(), &ctx).await;
    server
        .expect("GET", &format!("{SECRETS}/kmskey-app"), 200, held.clone())
        .await;
    let event = server.expect_event("SecretBeingDeleted").await;
    assert_eq!(event["type"], "Warning");
    let status = server.expect_status(&key).await;
    let ready = &status.body["status"]["conditions"][0];
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("True"), Some("SecretBeingDeleted"))
    );
    let message = ready["message"].as_str().unwrap();
    assert!(
        message.starts_with("Enabled; Secret kmskey-app is being deleted")
            && message.contains(key_secret::MATERIAL_FINALIZER),
        "{message}"
    );
    assert_eq!(event["note"], message);
    finish(task).await;
    server.expect_nothing_more().await;

    // Shown already: no second event, no write.
    key.status = serde_json::from_value(status.body["status"].clone()).unwrap();
    let task = reconcile_key(key, &ctx).await;
    server
        .expect("GET", &format!("{SECRETS}/kmskey-app"), 200, held)
        .await;
    finish(task).await;
    server.expect_nothing_more().await;
}

/// A key Secret being deleted that no KmsKey names and whose deletion is
/// not scheduled (moved here, never adopted): the finalizer holds it, and
/// the sweeper says so once, on the Secret, with the ways out.
#[tokio::test]
async fn an_unscheduled_key_secret_being_deleted_is_reported_once_on_the_secret() {
    let (ctx, mut server) = context();
    let orphan = being_deleted("uid-0");
    let meta = meta_of(&orphan);
    let task = sweep(&meta, &ctx);
    server.expect_orphan(orphan).await;
    let event = server.expect_event(sweeper::MATERIAL_HELD).await;
    assert_eq!(event["type"], "Warning");
    assert_eq!(
        (&event["regarding"]["kind"], &event["regarding"]["name"]),
        (&json!("Secret"), &json!("kmskey-app"))
    );
    let note = event["note"].as_str().unwrap();
    let id = stored_record().key_id.to_string();
    for said in [
        &format!("holds key {id}"),
        key_secret::MATERIAL_FINALIZER,
        &format!(
            "apply a KmsKey named app with spec.keyId {id}, keySpec SYMMETRIC_DEFAULT and keyUsage ENCRYPT_DECRYPT"
        ),
        "kube-kms move-key -n team-a --key app",
    ] {
        assert!(note.contains(said), "{said:?} not in {note}");
    }
    assert_eq!(task.await.unwrap().unwrap(), Action::await_change());
    server.expect_nothing_more().await;

    // Said already: nothing more is asked or said.
    let task = sweep(&meta, &ctx);
    assert_eq!(task.await.unwrap().unwrap(), Action::await_change());
    server.expect_nothing_more().await;
}

/// The same Secret while a KmsKey of its name exists: that KmsKey's
/// controller reports it, so the sweeper says nothing.
#[tokio::test]
async fn a_key_secret_being_deleted_under_a_kmskey_is_left_to_its_controller() {
    let (ctx, mut server) = context();
    let meta = meta_of(&being_deleted("uid-0"));
    let task = sweep(&meta, &ctx);
    let key = serde_json::to_value(key(json!({}))).unwrap();
    server.expect("GET", &format!("{KEYS}/app"), 200, key).await;
    assert_eq!(task.await.unwrap().unwrap(), Action::await_change());
    server.expect_nothing_more().await;
}

/// What the report says to do works: a KmsKey pinning the key adopts the
/// held Secret (and reports it held), and deleting that KmsKey schedules
/// the deletion the sweeper then carries out.
#[tokio::test]
async fn a_kmskey_pinning_a_held_key_adopts_it_and_deleting_it_schedules_the_deletion() {
    let (ctx, mut server) = context();
    let orphan = being_deleted("uid-0");
    let id = stored_record().key_id.to_string();
    let key = key(json!({"keyId": id}));
    let task = reconcile_key(key.clone(), &ctx).await;
    server
        .expect("GET", &format!("{SECRETS}/kmskey-app"), 200, orphan.clone())
        .await;
    let put = server
        .expect("PUT", &format!("{SECRETS}/kmskey-app"), 200, orphan.clone())
        .await;
    assert_eq!(
        put.body["metadata"]["annotations"][key_secret::OWNER_UID_ANNOTATION],
        "uid-1"
    );
    server.expect_event("Adopted").await;
    server
        .expect_event(super::super::key_status::SECRET_BEING_DELETED)
        .await;
    let status = server.expect_status(&key).await;
    assert_eq!(status.body["status"]["keyId"], id);
    finish(task).await;
    server.expect_nothing_more().await;

    let mut adopted = orphan;
    adopted["metadata"]["annotations"][key_secret::OWNER_UID_ANNOTATION] = json!("uid-1");
    let deleting = being_deleted_key(key);
    let task = reconcile_key(deleting.clone(), &ctx).await;
    server
        .expect("GET", &format!("{SECRETS}/kmskey-app"), 200, adopted)
        .await;
    let put = server
        .expect("PUT", &format!("{SECRETS}/kmskey-app"), 200, json!({}))
        .await;
    assert_eq!(
        record_in(&put.body)["deletion"]["deletion_date"],
        NOW + 30 * DAY_MS
    );
    assert_eq!(
        put.body["metadata"]["finalizers"],
        json!([key_secret::MATERIAL_FINALIZER])
    );
    server.expect_event("DeletionScheduled").await;
    server.expect_status(&deleting).await;
    server.expect_finalizers_patch(&deleting).await;
    finish(task).await;
    server.expect_nothing_more().await;
}

/// The Secret holding the stored record as the KmsKey `owner` wrote it
/// (`uid-1` is the KmsKey `app` of the scenarios, `uid-0` one gone), being
/// deleted.
fn being_deleted(owner: &str) -> Value {
    let mut secret = secret_json(stored_record(), owner);
    secret["metadata"]["deletionTimestamp"] = json!("2023-11-14T22:00:00Z");
    secret
}

/// `secret` (JSON) as a newer version might have written it: its record's
/// first material has a field this version does not know.
fn written_by_newer_version(secret: Value) -> Value {
    let mut secret: Secret = serde_json::from_value(secret).unwrap();
    key_secret::edit_document(&mut secret, |document| {
        document["record"]["materials"][0]["hsm_slot"] = 7.into();
    });
    serde_json::to_value(secret).unwrap()
}

/// Deleting a KmsKey whose Secret a newer version wrote schedules nothing
/// (that would write the Secret back without what this version does not
/// know): the KmsKey stays, Terminating, with a warning saying why; and at
/// a window's end the sweeper leaves such a Secret as it is.
#[tokio::test]
async fn a_key_secret_a_newer_version_wrote_is_never_written_back() {
    let (ctx, mut server) = context();
    let deleting = being_deleted_key(key(json!({"pendingWindowDays": 7})));
    let task = reconcile_key(deleting.clone(), &ctx).await;
    let newer = written_by_newer_version(secret_json(stored_record(), "uid-1"));
    server
        .expect("GET", &format!("{SECRETS}/kmskey-app"), 200, newer)
        .await;
    let event = server
        .expect_event(crate::operator::key_plan::WRITTEN_BY_NEWER_VERSION)
        .await;
    let note = event["note"].as_str().unwrap();
    assert!(note.contains("`record.materials.0.hsm_slot`"), "{note}");
    assert_eq!(finish(task).await, Action::requeue(super::super::RESYNC));
    server.expect_nothing_more().await;

    let date = NOW + 7 * DAY_MS;
    let newer = written_by_newer_version(secret_json(scheduled_for(date), "uid-1"));
    let meta = meta_of(&newer);
    let dir = tempfile::tempdir().unwrap();
    let (late, mut server) = context_at(date, dir.path());
    let task = sweep(&meta, &late);
    server.expect_orphan(newer).await;
    assert_eq!(finish(task).await, Action::await_change());
    server.expect_nothing_more().await;
    assert!(audit_records(&late, dir.path()).await.is_empty());
}
