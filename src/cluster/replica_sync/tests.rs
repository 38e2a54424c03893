use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use super::*;
use crate::cluster::mock_api::{self, Handle};

const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/kms/leases/kube-kms-replica-sync";

fn config(identity: &str) -> LeaseConfig {
    LeaseConfig {
        namespace: "kms".into(),
        name: LEASE_NAME.into(),
        identity: identity.into(),
        duration: lease_duration(Duration::from_secs(60)),
        renew_every: Duration::from_secs(60),
    }
}

/// The sync, counting its turns, on a mock API server.
fn started(identity: &str) -> (Arc<AtomicUsize>, Handle) {
    let (turns, _, handle) = started_taking(identity, Duration::ZERO);
    (turns, handle)
}

/// The sync, each turn taking `length`, counting the turns begun and those
/// finished, on a mock API server.
fn started_taking(
    identity: &str,
    length: Duration,
) -> (Arc<AtomicUsize>, Arc<AtomicUsize>, Handle) {
    let (client, handle) = mock_api::client("kms");
    let leases: Api<Lease> = Api::namespaced(client, "kms");
    let begun = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let (counted_begun, counted_finished) = (begun.clone(), finished.clone());
    spawn(
        leases,
        config(identity),
        Duration::from_secs(60),
        move || {
            let (begun, finished) = (counted_begun.clone(), counted_finished.clone());
            async move {
                begun.fetch_add(1, Ordering::SeqCst);
                if !length.is_zero() {
                    tokio::time::sleep(length).await;
                }
                finished.fetch_add(1, Ordering::SeqCst);
            }
        },
    );
    (begun, finished, handle)
}

/// Takes the next request, which must be `method` on `path`; answers
/// `status` with `reply`, and returns the request's body.
async fn answer(handle: &mut Handle, method: &str, path: &str, status: u16, reply: Value) -> Value {
    mock_api::next(handle, method, path)
        .await
        .answer(status, &reply)
}

fn lease_held_by(identity: &str) -> Value {
    let now = k8s_openapi::jiff::Timestamp::now();
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": LEASE_NAME, "namespace": "kms", "resourceVersion": "7"},
        "spec": {"holderIdentity": identity, "leaseDurationSeconds": 180,
                 "renewTime": now.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
                 "acquireTime": now.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
                 "leaseTransitions": 0}})
}

fn status(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code})
}

async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn the_replica_holding_the_lease_syncs_and_renews_it_each_turn() {
    let (turns, mut handle) = started("api-1");
    answer(&mut handle, "GET", LEASE, 404, status(404, "NotFound")).await;
    let leases = "/apis/coordination.k8s.io/v1/namespaces/kms/leases";
    let created = answer(&mut handle, "POST", leases, 201, lease_held_by("api-1")).await;
    assert_eq!(created["spec"]["holderIdentity"], "api-1");
    assert_eq!(created["spec"]["leaseDurationSeconds"], 180, "three turns");
    settle().await;
    assert_eq!(turns.load(Ordering::SeqCst), 1);

    tokio::time::advance(Duration::from_secs(60)).await;
    answer(&mut handle, "GET", LEASE, 200, lease_held_by("api-1")).await;
    let renewed = answer(&mut handle, "PUT", LEASE, 200, lease_held_by("api-1")).await;
    assert_eq!(
        renewed["metadata"]["resourceVersion"], "7",
        "at the version read"
    );
    settle().await;
    assert_eq!(turns.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn another_replica_holding_it_syncs_instead() {
    let (turns, mut handle) = started("api-2");
    answer(&mut handle, "GET", LEASE, 200, lease_held_by("api-1")).await;
    settle().await;
    tokio::time::advance(Duration::from_secs(60)).await;
    answer(&mut handle, "GET", LEASE, 200, lease_held_by("api-1")).await;
    settle().await;
    assert_eq!(turns.load(Ordering::SeqCst), 0, "no write, no sync");
}

#[tokio::test(start_paused = true)]
async fn without_the_right_to_the_lease_every_replica_syncs() {
    let (turns, mut handle) = started("api-2");
    answer(&mut handle, "GET", LEASE, 403, status(403, "Forbidden")).await;
    settle().await;
    assert_eq!(turns.load(Ordering::SeqCst), 1);
}

/// A sync longer than the Lease lasts (three turns) keeps it: renewed each
/// turn's length while the sync runs, so no other replica takes it and
/// syncs beside this one.
#[tokio::test(start_paused = true)]
async fn a_sync_longer_than_the_lease_renews_it_while_it_runs() {
    let (begun, finished, mut handle) = started_taking("api-1", Duration::from_secs(200));
    answer(&mut handle, "GET", LEASE, 200, lease_held_by("api-1")).await;
    answer(&mut handle, "PUT", LEASE, 200, lease_held_by("api-1")).await;
    settle().await;
    assert_eq!(begun.load(Ordering::SeqCst), 1);
    for turn in 1..=3 {
        tokio::time::advance(Duration::from_secs(60)).await;
        answer(&mut handle, "GET", LEASE, 200, lease_held_by("api-1")).await;
        let renewed = answer(&mut handle, "PUT", LEASE, 200, lease_held_by("api-1")).await;
        assert_eq!(renewed["spec"]["holderIdentity"], "api-1", "turn {turn}");
        settle().await;
        assert_eq!(
            finished.load(Ordering::SeqCst),
            0,
            "still syncing at turn {turn}"
        );
        assert_eq!(begun.load(Ordering::SeqCst), 1, "one sync at a time");
    }
    tokio::time::advance(Duration::from_secs(20)).await;
    settle().await;
    assert_eq!(finished.load(Ordering::SeqCst), 1);
}

/// A renewal the API server is slow to answer holds up the renewal only:
/// the sync runs on and ends meanwhile.
#[tokio::test(start_paused = true)]
async fn a_slow_renewal_does_not_hold_up_the_sync() {
    let (_, finished, mut handle) = started_taking("api-1", Duration::from_secs(90));
    answer(&mut handle, "GET", LEASE, 200, lease_held_by("api-1")).await;
    answer(&mut handle, "PUT", LEASE, 200, lease_held_by("api-1")).await;
    tokio::time::advance(Duration::from_secs(60)).await;
    let (renewal, _unanswered) = handle.next_request().await.expect("a renewal");
    assert_eq!(
        (renewal.method().as_str(), renewal.uri().path()),
        ("GET", LEASE)
    );
    tokio::time::advance(Duration::from_secs(40)).await;
    settle().await;
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "the sync ended while the renewal waited"
    );
}
