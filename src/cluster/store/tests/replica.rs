//! A multi-Region key's replica in a cluster: the endpoint's changes of its
//! Regions and versions are a `kubekms.io/material` Replicate request the
//! controller carries out, and what the Regions move in the spec
//! (`primaryRegion`, rotation) a patch after it.

use std::time::Duration;

use super::*;
use crate::key::{Regions, Replica};
use crate::resource::{MATERIAL_ANNOTATION, MaterialChange, MaterialRequest};

fn replica_of(primary: &str) -> Regions {
    Regions::test_replica(primary, &["eu-west-1"])
}

/// MovePrimary making the replica here the primary: the Regions go to the
/// controller (and are waited for), then `primaryRegion` is removed and the
/// rotation it takes over declared.
#[tokio::test]
async fn a_replica_made_primary_asks_the_controller_then_declares_it() {
    let mut live = record();
    live.key_id = KeyId::random_multi_region();
    live.regions = Some(replica_of("us-east-1"));
    let (store, index, mut handle) = store_holding(&live);
    let store = Arc::new(store);
    let path = "/apis/kubekms.io/v1alpha1/namespaces/default/kmskeys/app";
    let object = json!({"apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
        "metadata": {"name": "app", "namespace": "default", "resourceVersion": "12"},
        "spec": {"multiRegion": true, "keyId": live.key_id, "primaryRegion": "us-east-1"}});
    let mut answer = async |method: &str| answer(&mut handle, (method, path), object.clone()).await;
    let mut primary = live.clone();
    primary.regions = Some(Regions {
        primary: "eu-west-1".into(),
        replica: false,
        replicas: vec![Replica {
            region: "us-east-1".into(),
            synced: 0,
            shared: String::new(),
            pending_imported: String::new(),
        }],
        pending: None,
    });
    primary.rotation.enabled = true;
    primary.rotation.period_days = 180;
    let task = {
        let (store, primary) = (store.clone(), primary.clone());
        tokio::spawn(async move { store.update_key(primary).await })
    };
    answer("GET").await;
    let patch = answer("PATCH").await;
    let request = MaterialRequest::from_annotation(
        patch["metadata"]["annotations"][MATERIAL_ANNOTATION]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        request.change,
        MaterialChange::Replicate {
            imported: Vec::new(),
            regions: primary.regions.clone().unwrap(),
            sealed: vec![],
        }
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!task.is_finished(), "it waits for the controller");
    // The controller writes the Regions (the rotation is the spec's to say).
    let mut written = live.clone();
    written.regions = primary.regions.clone();
    watch_brings(&index, &written);
    let declared = answer("PATCH").await;
    assert_eq!(
        declared,
        json!({"spec": {"primaryRegion": null, "rotation": {"enabled": true, "periodDays": 180}}})
    );
    let mut shown = written.clone();
    shown.rotation = primary.rotation.clone();
    watch_brings(&index, &shown);
    let done = tokio::time::timeout(Duration::from_secs(6), task)
        .await
        .expect("returns once both show");
    assert_eq!(done.unwrap().unwrap().regions, primary.regions);
    let asked = tokio::time::timeout(Duration::from_millis(100), handle.next_request());
    assert!(asked.await.is_err(), "nothing more");
}

/// ReplicateKey into a namespace where a `KmsKey` of another name already
/// declares the replica (applied from Git first): the delivery becomes that
/// object's request; no second object pins the id.
#[tokio::test]
async fn a_delivered_replica_goes_to_the_kmskey_declaring_it() {
    let mut replica = record();
    replica.key_id = KeyId::random_multi_region();
    replica.regions = Some(replica_of("us-east-1"));
    let other = {
        let mut other = record();
        other.key_id = KeyId::random();
        other
    };
    let (store, index, mut handle) = store_holding(&other);
    let store = Arc::new(store);
    let keys = "/apis/kubekms.io/v1alpha1/namespaces/default/kmskeys";
    let declared = |primary: Option<&str>| {
        let mut spec = json!({"multiRegion": true, "keyId": replica.key_id});
        if let Some(primary) = primary {
            spec["primaryRegion"] = json!(primary);
        }
        json!({"apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
            "metadata": {"name": "orders", "namespace": "default", "resourceVersion": "12"},
            "spec": spec})
    };
    let list = |item: Value| {
        json!({"apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKeyList",
            "metadata": {"resourceVersion": "12"}, "items": [item]})
    };
    let mut answer = async |method: &str, path: &str, reply: Value| {
        answer(&mut handle, (method, path), reply).await
    };
    let task = {
        let (store, replica) = (store.clone(), replica.clone());
        tokio::spawn(async move { store.create_key(replica).await })
    };
    let object = declared(Some("us-east-1"));
    answer("GET", keys, list(object.clone())).await;
    let orders = format!("{keys}/orders");
    answer("GET", &orders, object.clone()).await;
    let patch = answer("PATCH", &orders, object).await;
    let request = MaterialRequest::from_annotation(
        patch["metadata"]["annotations"][MATERIAL_ANNOTATION]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        request.change,
        MaterialChange::Replicate {
            imported: Vec::new(),
            regions: replica.regions.clone().unwrap(),
            sealed: vec![crate::b64::encode(replica.materials[0].sealed.as_bytes())],
        }
    );
    watch_brings(&index, &replica);
    let created = tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("returns once the Secret shows");
    assert_eq!(created.unwrap().unwrap().key_id, replica.key_id);

    // Declared as something else (not a replica of that Region): refused,
    // nothing written.
    let task = {
        let (store, replica) = (store.clone(), replica.clone());
        tokio::spawn(async move { store.create_key(replica).await })
    };
    answer("GET", keys, list(declared(None))).await;
    let refused = task.await.unwrap().unwrap_err();
    assert!(
        matches!(&refused, StoreError::AlreadyExists(m) if m.contains("KmsKey orders")),
        "{refused:?}"
    );
    let asked = tokio::time::timeout(Duration::from_millis(100), handle.next_request());
    assert!(asked.await.is_err(), "nothing more");
}

/// CancelKeyDeletion of a primary waiting for its replicas: its KmsKey is
/// held Terminating by the controller's finalizer, which the store takes
/// off (at the version read, other finalizers kept), waits for the object
/// to go, then declares the key again as for any cancel.
#[tokio::test]
async fn cancelling_a_wait_for_replicas_lets_go_of_the_held_object_first() {
    let mut waiting = record();
    waiting.key_id = KeyId::random_multi_region();
    let mut regions = Regions::test_replica("eu-west-1", &["us-east-1"]);
    regions.replica = false;
    waiting.regions = Some(regions);
    waiting.deletion = Some(crate::key::Deletion {
        window_days: 7,
        deletion_date: crate::key::Deletion::AFTER_REPLICAS,
    });
    let (store, index, mut handle) = store_holding(&waiting);
    let mut cancelled = waiting.clone();
    crate::lifecycle::cancel_deletion(&mut cancelled);
    let task = tokio::spawn(async move { store.update_key(cancelled).await });
    let path = "/apis/kubekms.io/v1alpha1/namespaces/default/kmskeys/app";
    let held = json!({"apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
        "metadata": {"name": "app", "namespace": "default", "resourceVersion": "12",
                     "deletionTimestamp": "2026-01-01T00:00:00Z",
                     "finalizers": [crate::operator::FINALIZER, "example.com/other"]},
        "spec": {"multiRegion": true, "keyId": waiting.key_id}});
    answer(&mut handle, ("GET", path), held.clone()).await;
    let released = answer(&mut handle, ("PATCH", path), held).await;
    assert_eq!(
        released,
        json!({"metadata": {"resourceVersion": "12", "finalizers": ["example.com/other"]}})
    );
    // Gone (the other finalizer's owner let go too).
    let gone = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                      "reason": "NotFound", "code": 404});
    mock_api::next(&mut handle, "GET", path)
        .await
        .answer(404, &gone);
    let keys = "/apis/kubekms.io/v1alpha1/namespaces/default/kmskeys";
    let declared = json!({"apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
        "metadata": {"name": "app", "namespace": "default", "resourceVersion": "13"},
        "spec": {"multiRegion": true, "keyId": waiting.key_id}});
    let created = answer(&mut handle, ("POST", keys), declared).await;
    assert_eq!(created["spec"]["keyId"], json!(waiting.key_id));
    assert_eq!(created["spec"]["enabled"], false, "cancelled into Disabled");
    let mut shown = waiting.clone();
    crate::lifecycle::cancel_deletion(&mut shown);
    watch_brings(&index, &shown);
    let done = tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("returns once the cancel shows");
    assert_eq!(done.unwrap().unwrap().deletion, None);
}

/// The replicas declared here awaiting material are listed from the API
/// server (every namespace, or the watched one): a replica whose key the
/// index holds is not among them.
#[tokio::test]
async fn awaited_replicas_are_the_declared_kmskeys_without_a_key() {
    let mut live = record();
    live.key_id = KeyId::random_multi_region();
    live.regions = Some(replica_of("us-east-1"));
    let waiting: KeyId = "mrk-0123456789abcdeff0123456789abcde".parse().unwrap();
    let object = |name: &str, id: KeyId| {
        json!({"apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
            "metadata": {"name": name, "namespace": "kube-kms"},
            "spec": {"multiRegion": true, "keyId": id, "primaryRegion": "us-east-1"}})
    };
    let list = json!({"apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKeyList",
        "metadata": {"resourceVersion": "7"},
        "items": [object("held", live.key_id), object("orders", waiting)]});
    let empty = json!({"apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKeyList",
        "metadata": {"resourceVersion": "7"}, "items": []});
    for (scope, lists) in [
        (
            "",
            vec![("/apis/kubekms.io/v1alpha1/kmskeys", list.clone())],
        ),
        (
            "kube-kms",
            vec![(
                "/apis/kubekms.io/v1alpha1/namespaces/kube-kms/kmskeys",
                list.clone(),
            )],
        ),
        // Several namespaces: one list each.
        (
            "team-b,kube-kms",
            vec![
                (
                    "/apis/kubekms.io/v1alpha1/namespaces/kube-kms/kmskeys",
                    list.clone(),
                ),
                (
                    "/apis/kubekms.io/v1alpha1/namespaces/team-b/kmskeys",
                    empty.clone(),
                ),
            ],
        ),
    ] {
        let (store, _index, mut handle) = store_holding(&live);
        let store = store.scoped(Scope::parse(Some(scope)).unwrap());
        let task = tokio::spawn(async move { store.awaited_replicas().await });
        for (path, list) in lists {
            answer(&mut handle, ("GET", path), list).await;
        }
        assert_eq!(
            task.await.unwrap().unwrap(),
            [AwaitedReplica {
                key_id: waiting,
                primary_region: "us-east-1".into(),
                namespace: "kube-kms".into(),
                name: "orders".into(),
            }],
            "{scope}"
        );
    }
}

/// The primary's answer to a declared replica is written to its status
/// when it changes, not at every sync.
#[tokio::test]
async fn a_declared_replica_s_refusal_is_written_when_it_changes() {
    let (store, _index, mut handle) = store_holding(&record());
    let store = Arc::new(store);
    let replica = AwaitedReplica {
        key_id: "mrk-0123456789abcdeff0123456789abcde".parse().unwrap(),
        primary_region: "us-east-1".into(),
        namespace: "kube-kms".into(),
        name: "orders".into(),
    };
    let path = "/apis/kubekms.io/v1alpha1/namespaces/kube-kms/kmskeys/orders/status";
    let object = json!({"apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
        "metadata": {"name": "orders", "namespace": "kube-kms"}, "spec": {}});
    let note = |refusal: Option<&'static str>| {
        let (store, replica) = (store.clone(), replica.clone());
        tokio::spawn(async move { store.note_replica_answer(&replica, refusal).await })
    };
    let task = note(Some("Region us-east-1 refused: no"));
    let sent = answer(&mut handle, ("PATCH", path), object.clone()).await;
    task.await.unwrap().unwrap();
    assert_eq!(
        sent["status"]["replicationRefusal"]["message"],
        "Region us-east-1 refused: no"
    );
    // The same answer again: nothing sent.
    note(Some("Region us-east-1 refused: no"))
        .await
        .unwrap()
        .unwrap();
    // Asked without refusal: the field is taken away.
    let task = note(None);
    let sent = answer(&mut handle, ("PATCH", path), object).await;
    task.await.unwrap().unwrap();
    assert_eq!(sent["status"], json!({}));
    drop(store);
    assert!(handle.next_request().await.is_none(), "no other request");
}

/// A refusal the listed status already shows (written before a restart,
/// or by the endpoint that held the Lease before) is not written again
/// with a new `since`; another answer is.
#[tokio::test]
async fn a_refusal_the_status_shows_is_not_written_again() {
    let (store, _index, mut handle) = store_holding(&record());
    let store = Arc::new(store);
    let waiting: KeyId = "mrk-0123456789abcdeff0123456789abcde".parse().unwrap();
    let object = json!({"apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
        "metadata": {"name": "orders", "namespace": "kube-kms"},
        "spec": {"multiRegion": true, "keyId": waiting, "primaryRegion": "us-east-1"},
        "status": {"replicationRefusal": {"since": "2026-12-01T00:00:00Z",
            "message": "Region us-east-1 refused: no"}}});
    let list = json!({"apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKeyList",
        "metadata": {"resourceVersion": "7"}, "items": [object.clone()]});
    let task = tokio::spawn({
        let store = store.clone();
        async move { store.awaited_replicas().await }
    });
    answer(
        &mut handle,
        ("GET", "/apis/kubekms.io/v1alpha1/kmskeys"),
        list,
    )
    .await;
    let awaited = task.await.unwrap().unwrap();
    assert_eq!(awaited.len(), 1);
    let note = |refusal: Option<&'static str>| {
        let (store, replica) = (store.clone(), awaited[0].clone());
        tokio::spawn(async move { store.note_replica_answer(&replica, refusal).await })
    };
    // Nothing sent: a request would wait for an answer no one gives.
    tokio::time::timeout(
        Duration::from_secs(5),
        note(Some("Region us-east-1 refused: no")),
    )
    .await
    .expect("the refusal the status shows sent again")
    .unwrap()
    .unwrap();
    let task = note(Some("Region us-east-1 refused: another reason"));
    let path = "/apis/kubekms.io/v1alpha1/namespaces/kube-kms/kmskeys/orders/status";
    let sent = answer(&mut handle, ("PATCH", path), object).await;
    task.await.unwrap().unwrap();
    assert_eq!(
        sent["status"]["replicationRefusal"]["message"],
        "Region us-east-1 refused: another reason"
    );
    drop(store);
    assert!(handle.next_request().await.is_none(), "no other request");
}
