//! Key usage in a `KmsKey`'s status: the controller says since when it is
//! tracked, and leaves the endpoint's `lastUsage` alone.

use super::*;
use crate::operator::key_status::rfc3339;
use crate::resource::KeyLastUsage;

fn last_usage() -> KeyLastUsage {
    KeyLastUsage {
        operation: "Encrypt".into(),
        timestamp: "2023-11-14T22:13:20.123Z".into(),
        request_id: "5e3f0e8a-0b8e-4c1e-9d4f-0a1b2c3d4e5f".into(),
    }
}

#[tokio::test]
async fn a_new_key_is_tracked_from_its_first_status() {
    let (ctx, mut server) = context();
    let key = key(json!({}));
    let (task, _) = minting(&key, &ctx, &mut server).await;
    server.expect_event("Created").await;
    let status = server.expect_status(&key).await;
    assert_eq!(status.body["status"]["usageTrackedSince"], rfc3339(NOW));
    assert!(status.body["status"]["lastUsage"].is_null());
    finish(task).await;
    server.expect_nothing_more().await;
}

/// The endpoint's `lastUsage` is not a difference the controller writes
/// away, nor a field it ever sends: its server-side apply would take the
/// field over, and a later apply without it would remove it.
#[tokio::test]
async fn the_endpoints_last_usage_is_neither_compared_nor_sent() {
    let (ctx, mut server) = context();
    let record = stored_record();
    let mut key = showing_status(&record, |status| {
        status.usage_tracked_since = Some(rfc3339(NOW - DAY_MS));
        status.last_usage = Some(last_usage());
    });
    let task = reconcile_key(key.clone(), &ctx).await;
    server.expect_key_secret(&record).await;
    finish(task).await;
    server.expect_nothing_more().await;

    // A change the controller does write: the status it sends has no
    // lastUsage, and keeps the tracking start it found.
    key.spec.enabled = false;
    let task = reconcile_key(key.clone(), &ctx).await;
    server.expect_key_secret(&record).await;
    server
        .expect("PUT", &format!("{SECRETS}/kmskey-app"), 200, json!({}))
        .await;
    server.expect_event("Disabled").await;
    let sent = server.expect_status(&key).await;
    assert_eq!(sent.body["status"]["keyState"], "Disabled");
    assert_eq!(
        sent.body["status"]["usageTrackedSince"],
        rfc3339(NOW - DAY_MS)
    );
    assert!(
        sent.body["status"].get("lastUsage").is_none(),
        "{}",
        sent.body
    );
    finish(task).await;
    server.expect_nothing_more().await;
}

/// The CRD in the cluster predates usage tracking (`helm upgrade` does not
/// upgrade CRDs) and the API server refuses a status naming the field:
/// the status is written without it, and not asked for again, instead of
/// every status write (and every deletion behind one) failing.
#[tokio::test]
async fn a_crd_without_the_tracking_field_gets_status_without_it() {
    let (ctx, mut server) = context();
    let record = stored_record();
    // As an old CRD stores it: everything but the tracking start.
    let key = showing_status(&record, |status| status.usage_tracked_since = None);
    let task = reconcile_key(key.clone(), &ctx).await;
    server.expect_key_secret(&record).await;
    let refused = server
        .expect(
            "PATCH",
            &format!("{KEYS}/app/status"),
            500,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 500,
                   "message": "failed to create typed patch object (/; kubekms.io/v1alpha1, Kind=KmsKey): .status.usageTrackedSince: field not declared in schema"}),
        )
        .await;
    assert_eq!(refused.body["status"]["usageTrackedSince"], rfc3339(NOW));
    // Without the field, the status is what the key shows: nothing to send.
    assert_eq!(finish(task).await, Action::requeue(super::super::RESYNC));
    server.expect_nothing_more().await;

    let task = reconcile_key(key.clone(), &ctx).await;
    server.expect_key_secret(&record).await;
    finish(task).await;
    server.expect_nothing_more().await;
}
