//! A multi-Region primary with replicas, deleted: its KmsKey stays,
//! Terminating, held by the finalizer, until the endpoint reports the last
//! replica deleted (a `replicate` request); then the window starts and the
//! object goes, as for any key.

use std::collections::BTreeMap;

use super::*;
use crate::key::Regions;
use crate::resource::{MATERIAL_ANNOTATION, MaterialChange, MaterialRequest};

const MRK: &str = "mrk-1234abcd12ab34cdf6ef1234567890ab";

/// The `KmsKey` of a primary, being deleted, with `request` on it.
fn deleted_primary(request: Option<&MaterialRequest>) -> KmsKey {
    let mut key = key(json!({"keyId": MRK, "multiRegion": true, "pendingWindowDays": 7}));
    key.metadata.annotations =
        request.map(|r| BTreeMap::from([(MATERIAL_ANNOTATION.to_owned(), r.to_annotation())]));
    being_deleted_key(key)
}

/// The Regions of the primary here, with replicas in `replicas`.
fn primary_regions(replicas: &[&str]) -> Regions {
    let mut regions = Regions::test_replica("us-east-1", replicas);
    regions.replica = false;
    regions
}

/// The stored primary, waiting for its replicas (`Some`) or not deleted.
fn primary_record(replicas: &[&str], waiting: bool) -> KeyRecord {
    let mut record = stored_record();
    record.key_id = MRK.parse().unwrap();
    record.regions = Some(primary_regions(replicas));
    record.deletion = waiting.then_some(Deletion {
        window_days: 7,
        deletion_date: Deletion::AFTER_REPLICAS,
    });
    record
}

/// A `replicate` request leaving the primary with `replicas`.
fn forgetting(replicas: &[&str]) -> MaterialRequest {
    let change = MaterialChange::Replicate {
        imported: Vec::new(),
        regions: primary_regions(replicas),
        sealed: Vec::new(),
    };
    MaterialRequest::new(change, NOW)
}

#[tokio::test]
async fn deleting_a_primary_with_replicas_keeps_its_object_until_they_are_gone() {
    let (ctx, mut server) = context();
    let deleting = deleted_primary(None);
    let task = reconcile_key(deleting.clone(), &ctx).await;
    server
        .expect_key_secret(&primary_record(&["eu-west-1"], false))
        .await;
    let put = server
        .expect("PUT", &format!("{SECRETS}/kmskey-app"), 200, json!({}))
        .await;
    assert_eq!(
        record_in(&put.body)["deletion"],
        json!({"window_days": 7, "deletion_date": i64::MAX}),
        "no date yet, and one no older reader reaches"
    );
    let event = server.expect_event("DeletionScheduled").await;
    let note = event["note"].as_str().unwrap();
    assert!(
        note.contains("pending replica deletion") && note.contains("eu-west-1"),
        "{note}"
    );
    let status = server.expect_status(&deleting).await;
    assert_eq!(status.body["status"]["keyState"], "PendingReplicaDeletion");
    assert!(status.body["status"]["deletionDate"].is_null());
    // No finalizer patch: the object stays.
    assert_eq!(finish(task).await, Action::requeue(super::super::RESYNC));
    server.expect_nothing_more().await;

    // Looked at again with nothing new: read, nothing written, still held.
    let task = reconcile_key(deleting, &ctx).await;
    server
        .expect_key_secret(&primary_record(&["eu-west-1"], true))
        .await;
    assert_eq!(finish(task).await, Action::requeue(super::super::RESYNC));
    server.expect_nothing_more().await;
}

#[tokio::test]
async fn one_replica_of_two_gone_is_recorded_and_the_object_still_held() {
    let (ctx, mut server) = context();
    let request = forgetting(&["ap-south-1"]);
    let deleting = deleted_primary(Some(&request));
    let task = reconcile_key(deleting.clone(), &ctx).await;
    server
        .expect_key_secret(&primary_record(&["eu-west-1", "ap-south-1"], true))
        .await;
    let put = server
        .expect("PUT", &format!("{SECRETS}/kmskey-app"), 200, json!({}))
        .await;
    let record = record_in(&put.body);
    assert_eq!(
        record["regions"]["replicas"],
        json!([{"region": "ap-south-1"}])
    );
    assert_eq!(record["deletion"]["deletion_date"], i64::MAX);
    assert_eq!(
        put.body["metadata"]["annotations"][key_secret::MATERIAL_HANDLED_ANNOTATION],
        request.request.as_str()
    );
    let cleared = server.expect_finalizers_patch(&deleting).await;
    assert_eq!(
        cleared.body,
        json!({"metadata": {"resourceVersion": "10", "annotations": {MATERIAL_ANNOTATION: null}}})
    );
    let status = server.expect_status(&deleting).await;
    assert_eq!(status.body["status"]["keyState"], "PendingReplicaDeletion");
    assert_eq!(finish(task).await, Action::requeue(super::super::RESYNC));
    server.expect_nothing_more().await;
}

#[tokio::test]
async fn the_last_replica_gone_starts_the_window_and_lets_the_object_go() {
    let (ctx, mut server) = context();
    let request = forgetting(&[]);
    let deleting = deleted_primary(Some(&request));
    let task = reconcile_key(deleting.clone(), &ctx).await;
    server
        .expect_key_secret(&primary_record(&["eu-west-1"], true))
        .await;
    let put = server
        .expect("PUT", &format!("{SECRETS}/kmskey-app"), 200, json!({}))
        .await;
    let date = NOW + 7 * DAY_MS;
    let record = record_in(&put.body);
    assert_eq!(
        record["deletion"]["deletion_date"], date,
        "seven days from now"
    );
    assert_eq!(record["regions"]["replicas"], json!([]));
    assert_eq!(
        put.body["metadata"]["annotations"][key_secret::DELETION_DATE_ANNOTATION],
        date.to_string()
    );
    let event = server.expect_event("DeletionScheduled").await;
    assert!(
        event["note"]
            .as_str()
            .unwrap()
            .contains("will be destroyed at")
    );
    server.expect_finalizers_patch(&deleting).await; // the request removed
    let status = server.expect_status(&deleting).await;
    assert_eq!(status.body["status"]["keyState"], "PendingDeletion");
    assert!(status.body["status"]["deletionDate"].is_string());
    // Then the finalizer goes, and with it the object.
    let patch = server.expect_finalizers_patch(&deleting).await;
    assert_eq!(patch.body[1]["op"], "remove", "{}", patch.body);
    assert_eq!(finish(task).await, Action::await_change());
    server.expect_nothing_more().await;
}

#[tokio::test]
async fn a_request_carried_out_before_a_crash_is_removed_and_nothing_else_changes() {
    let (ctx, mut server) = context();
    let request = forgetting(&["eu-west-1"]);
    let deleting = deleted_primary(Some(&request));
    let task = reconcile_key(deleting.clone(), &ctx).await;
    let mut stored = secret_json(primary_record(&["eu-west-1"], true), "uid-1");
    stored["metadata"]["annotations"][key_secret::MATERIAL_HANDLED_ANNOTATION] =
        json!(request.request.as_str());
    server
        .expect("GET", &format!("{SECRETS}/kmskey-app"), 200, stored)
        .await;
    let put = server
        .expect("PUT", &format!("{SECRETS}/kmskey-app"), 200, json!({}))
        .await;
    assert_eq!(record_in(&put.body)["deletion"]["deletion_date"], i64::MAX);
    let cleared = server.expect_finalizers_patch(&deleting).await;
    assert!(cleared.body["metadata"]["annotations"][MATERIAL_ANNOTATION].is_null());
    server.expect_status(&deleting).await;
    assert_eq!(finish(task).await, Action::requeue(super::super::RESYNC));
    server.expect_nothing_more().await;
}
