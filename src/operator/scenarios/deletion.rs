//! Scheduled deletion: the finalizer schedules, the sweeper waits out the
//! window and destroys, applying the key again cancels.

use super::*;

#[tokio::test]
async fn deleting_schedules_deletion_then_the_sweeper_destroys_at_window_end() {
    let (ctx, mut server) = context();
    let mut deleting = key(json!({"pendingWindowDays": 7}));
    deleting.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::from_millisecond(NOW).unwrap(),
        ));
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
    let patch = server
        .expect(
            "PATCH",
            &format!("{KEYS}/app"),
            200,
            serde_json::to_value(&deleting).unwrap(),
        )
        .await;
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
    let mut scheduled = stored_record();
    scheduled.deletion = Some(Deletion {
        window_days: 7,
        deletion_date: date,
    });
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
    // Secret, delete exactly the version read.
    let dir = tempfile::tempdir().unwrap();
    let (late, mut server) = context_at(date, dir.path());
    let sweeping = late.clone();
    let task = tokio::spawn(async move { sweeper::reconcile(meta, sweeping).await });
    server
        .expect("GET", &format!("{KEYS}/app"), 404, not_found())
        .await;
    server.expect_key_secret(&scheduled).await;
    let delete = server
        .expect("DELETE", &format!("{SECRETS}/kmskey-app"), 200, json!({}))
        .await;
    assert_eq!(delete.body["preconditions"]["resourceVersion"], "20");
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

/// A context whose clock reads `now`, auditing into `audit_dir`.
fn context_at(now: Millis, audit_dir: &std::path::Path) -> (Arc<Context>, ApiServer) {
    let (ctx, server) = audited_context(audit_dir);
    let ctx = Arc::new(Context {
        client: ctx.client.clone(),
        crypto: ctx.crypto.clone(),
        arn: ctx.arn.clone(),
        recorder: ctx.recorder.clone(),
        clock: Arc::new(move || now),
        metrics: ctx.metrics.clone(),
        pending_sealed: Default::default(),
        audit: ctx.audit.clone(),
    });
    (ctx, server)
}

#[tokio::test]
async fn re_applying_within_the_window_adopts_and_cancels() {
    let (ctx, mut server) = context();
    let mut record = stored_record();
    record.deletion = Some(Deletion {
        window_days: 7,
        deletion_date: NOW + DAY_MS,
    });
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
