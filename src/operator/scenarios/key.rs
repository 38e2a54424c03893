//! A `KmsKey`'s own branches: minted once, rotated, disabled, written
//! without losing another writer's metadata, left alone when unchanged,
//! refused when its Secret is not ours, given its finalizer first.

use super::*;

#[tokio::test]
async fn new_key_mints_one_secret_then_reports_ready() {
    let (ctx, mut server) = context();
    let key = key(json!({"description": "app data"}));
    let (task, created) = minting(&key, &ctx, &mut server).await;
    let secret = &created.body;
    assert_eq!(secret["metadata"]["name"], "kmskey-app");
    assert_eq!(secret["type"], key_secret::SECRET_TYPE);
    assert_eq!(
        secret["metadata"]["labels"][key_secret::MANAGED_BY_LABEL],
        "kube-kms"
    );
    assert_eq!(
        secret["metadata"]["annotations"][key_secret::OWNER_UID_ANNOTATION],
        "uid-1"
    );
    assert!(
        secret["metadata"]["ownerReferences"].is_null(),
        "no owner: GC must never delete key material"
    );
    assert!(
        secret["metadata"]["resourceVersion"].is_null(),
        "a create, never an apply"
    );
    let record = record_in(secret);
    assert_eq!(record["description"], "app data");
    assert_eq!(record["materials"].as_array().unwrap().len(), 1);
    let key_id = record["key_id"].as_str().unwrap().to_owned();
    assert_eq!(
        secret["metadata"]["labels"][key_secret::KEY_ID_LABEL],
        key_id.as_str()
    );
    server.expect_event("Created").await;
    let status = server.expect_status(&key).await;
    assert!(
        status.query.contains("fieldManager=kube-kms-controller")
            && status.query.contains("force=true")
    );
    let status = &status.body["status"];
    assert_eq!(status["keyId"], key_id.as_str());
    assert_eq!(
        (
            status["keyState"].as_str(),
            status["currentVersion"].as_u64()
        ),
        (Some("Enabled"), Some(1))
    );
    assert_eq!(status["conditions"][0]["type"], "Ready");
    assert_eq!(status["conditions"][0]["status"], "True");
    assert_eq!(finish(task).await, Action::requeue(super::super::RESYNC));
    server.expect_nothing_more().await;
}

#[tokio::test]
async fn conflict_on_create_retries_from_what_was_stored_without_a_second_key() {
    let (ctx, mut server) = context();
    let key = key(json!({}));
    let task = reconcile_key(key.clone(), &ctx).await;
    server
        .expect("GET", &format!("{SECRETS}/kmskey-app"), 404, not_found())
        .await;
    server.expect("POST", SECRETS, 409, conflict()).await;
    assert_eq!(finish(task).await, Action::requeue(Duration::from_secs(1)));
    // The retry finds the Secret the other writer stored and uses it.
    let theirs = stored_record();
    let task = reconcile_key(key.clone(), &ctx).await;
    server.expect_key_secret(&theirs).await;
    let status = server.expect_status(&key).await;
    assert_eq!(status.body["status"]["keyId"], theirs.key_id.to_string());
    finish(task).await;
    server.expect_nothing_more().await;
}

#[tokio::test]
async fn rotation_due_adds_a_version_with_a_conditional_replace() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, mut server) = audited_context(dir.path());
    let key = key(json!({"rotation": {"enabled": true, "periodDays": 90}}));
    let mut record = stored_record();
    record.rotation.enabled = true;
    record.rotation.period_days = 90;
    record.rotation.next = Some(NOW - 1);
    let task = reconcile_key(key.clone(), &ctx).await;
    let put = server.expect_key_secret_replaced(&record).await;
    assert_eq!(
        put.body["metadata"]["resourceVersion"], "20",
        "conditional on what was read"
    );
    let written = record_in(&put.body);
    let types: Vec<&str> = written["materials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["rotation_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["Initial", "Automatic"]);
    assert_eq!(written["rotation"]["next"], NOW + 90 * DAY_MS);
    server.expect_event("Rotated").await;
    let status = server.expect_status(&key).await;
    assert_eq!(status.body["status"]["currentVersion"], 2);
    assert_eq!(
        finish(task).await,
        Action::requeue(Duration::from_millis((90 * DAY_MS) as u64).min(super::super::RESYNC))
    );
    server.expect_nothing_more().await;
    // Recorded as AWS records its own rotations.
    let trail = audit_records(&ctx, dir.path()).await;
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(trail[0]["eventName"], "RotateKey");
    assert_eq!(trail[0]["userIdentity"]["principalId"], "kube-kms");
    assert_eq!(trail[0]["userIdentity"]["namespace"], "team-a");
    assert_eq!(
        trail[0]["resources"][0]["ARN"],
        ArnConfig::default().key_arn(record.key_id)
    );
}

#[tokio::test]
async fn disabling_writes_the_record_and_the_state() {
    let (ctx, mut server) = context();
    let key = key(json!({"enabled": false}));
    let task = reconcile_key(key.clone(), &ctx).await;
    server.expect_key_secret(&stored_record()).await;
    let put = server
        .expect("PUT", &format!("{SECRETS}/kmskey-app"), 200, json!({}))
        .await;
    assert_eq!(record_in(&put.body)["enabled"], false);
    server.expect_event("Disabled").await;
    let status = server.expect_status(&key).await;
    assert_eq!(status.body["status"]["keyState"], "Disabled");
    finish(task).await;
    server.expect_nothing_more().await;
}

/// The replace that writes a change keeps what other writers put on the
/// Secret (a backup tool's label, a policy engine's finalizer).
#[tokio::test]
async fn a_write_keeps_another_writers_labels_annotations_and_finalizers() {
    let (ctx, mut server) = context();
    let key = key(json!({"enabled": false}));
    let task = reconcile_key(key.clone(), &ctx).await;
    let mut found = secret_json(stored_record(), "uid-1");
    let meta = &mut found["metadata"];
    meta["labels"]["velero.io/include"] = json!("true");
    meta["annotations"]["team.example.com/owner"] = json!("payments");
    meta["finalizers"] = json!(["policy.example.com/hold", key_secret::MATERIAL_FINALIZER]);
    server
        .expect("GET", &format!("{SECRETS}/kmskey-app"), 200, found)
        .await;
    let put = server
        .expect("PUT", &format!("{SECRETS}/kmskey-app"), 200, json!({}))
        .await;
    let meta = &put.body["metadata"];
    assert_eq!(record_in(&put.body)["enabled"], false);
    assert_eq!(meta["labels"]["velero.io/include"], "true");
    assert_eq!(meta["labels"][key_secret::MANAGED_BY_LABEL], "kube-kms");
    assert_eq!(meta["annotations"]["team.example.com/owner"], "payments");
    assert_eq!(
        meta["annotations"][key_secret::OWNER_UID_ANNOTATION],
        "uid-1"
    );
    assert_eq!(
        meta["finalizers"],
        json!(["policy.example.com/hold", key_secret::MATERIAL_FINALIZER])
    );
    server.expect_event("Disabled").await;
    server.expect_status(&key).await;
    finish(task).await;
    server.expect_nothing_more().await;
}

#[tokio::test]
async fn an_unchanged_key_with_current_status_makes_no_writes() {
    let (ctx, mut server) = context();
    let record = stored_record();
    let key = showing_status(&record, |_| {});
    let task = reconcile_key(key, &ctx).await;
    server.expect_key_secret(&record).await;
    finish(task).await;
    server.expect_nothing_more().await;
}

#[tokio::test]
async fn a_foreign_secret_is_refused_and_never_written() {
    let (ctx, mut server) = context();
    let key = key(json!({}));
    let task = reconcile_key(key.clone(), &ctx).await;
    let foreign = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "kmskey-app", "namespace": "team-a", "resourceVersion": "5"}, "data": {"password": "aHVudGVyMg=="}});
    server
        .expect("GET", &format!("{SECRETS}/kmskey-app"), 200, foreign)
        .await;
    let event = server.expect_event("SecretConflict").await;
    assert_eq!(event["type"], "Warning");
    let status = server.expect_status(&key).await;
    let ready = &status.body["status"]["conditions"][0];
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("False"), Some("SecretConflict"))
    );
    assert_eq!(
        finish(task).await,
        Action::requeue(super::super::REFUSED_RETRY)
    );
    server.expect_nothing_more().await;
}

#[tokio::test]
async fn a_new_key_object_first_gets_its_finalizer() {
    let (ctx, mut server) = context();
    let mut fresh = key(json!({}));
    fresh.metadata.finalizers = None;
    let task = reconcile_key(fresh.clone(), &ctx).await;
    let patch = server.expect_finalizers_patch(&fresh).await;
    assert!(patch.body.to_string().contains(super::super::FINALIZER));
    assert_eq!(finish(task).await, Action::await_change());
    server.expect_nothing_more().await;
}

/// Events are best effort: one the API server refuses (the role lacks
/// its grant, an admission policy) fails nothing, and is counted.
#[tokio::test]
async fn a_refused_event_is_counted_and_the_reconcile_goes_on() {
    let (ctx, mut server) = context();
    let key = key(json!({}));
    let (task, _) = minting(&key, &ctx, &mut server).await;
    let forbidden = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "reason": "Forbidden", "code": 403,
        "message": "events.events.k8s.io is forbidden: User \"system:serviceaccount:kms:controller\" cannot create resource \"events\""});
    let refused = server.expect("POST", EVENTS, 403, forbidden).await;
    assert_eq!(refused.body["reason"], "Created");
    server.expect_status(&key).await;
    assert_eq!(finish(task).await, Action::requeue(super::super::RESYNC));
    server.expect_nothing_more().await;
    assert_eq!(ctx.metrics.events_refused.get(), 1);
}
