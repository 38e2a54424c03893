//! Grants against a mock API server: the exact object created and deleted,
//! and the call returning once the watch cache shows it.

use std::sync::{Arc, RwLock};

use http::{Request, Response};
use kube::client::Body;
use kube::runtime::watcher::Event;
use serde_json::{Value, json};

use super::*;
use crate::cluster::ClusterIndex;
use crate::grant::Constraints;
use crate::key::KeyRecord;
use crate::operator::key_secret::{KeySecret, build};
use crate::spec::GrantOperation;
use crate::store::KeyStore;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

const GRANTS: &str = "/apis/kubekms.io/v1alpha1/namespaces/default/kmsgrants";

/// A store whose watch holds `KmsKey` `app`'s Secret.
fn store() -> (Arc<KubeStore>, Arc<RwLock<ClusterIndex>>, Handle, KeyRecord) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let record = KeyRecord::test(0);
    let secret = build("app", "uid", &KeySecret::of(record.clone()));
    let index = Arc::new(RwLock::new(ClusterIndex::default()));
    index
        .write()
        .unwrap()
        .key_secret_event(&Event::Apply(secret));
    let store = KubeStore::new(index.clone(), kube::Client::new(service, "default"));
    (Arc::new(store), index, handle, record)
}

fn asked(key: &KeyRecord) -> GrantRecord {
    GrantRecord {
        grant_id: "0".repeat(64),
        key_id: key.key_id,
        name: Some("web".into()),
        grantee: "arn:aws:iam::111122223333:role/default/app".into(),
        retiring: None,
        operations: vec![GrantOperation::Decrypt, GrantOperation::Encrypt],
        constraints: Constraints {
            encryption_context_subset: Some([("app".to_owned(), "web".to_owned())].into()),
            encryption_context_equals: None,
        },
        created: 0,
        issuer: "arn:aws:iam::111122223333:user/default/admin".into(),
    }
}

/// Answers the next request, which must be `method` on `path`, with
/// `reply`; returns its body.
async fn answer(handle: &mut Handle, method: &str, path: &str, reply: &Value) -> Value {
    let (request, send) = handle.next_request().await.expect("a request");
    assert_eq!(
        (request.method().as_str(), request.uri().path()),
        (method, path)
    );
    let body = request.into_body().collect_bytes().await.unwrap();
    send.send_response(
        Response::builder()
            .status(if method == "POST" { 201 } else { 200 })
            .body(Body::from(serde_json::to_vec(reply).unwrap()))
            .unwrap(),
    );
    serde_json::from_slice(&body).unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_grant_is_a_kmsgrant_made_once_and_deleted() {
    let (store, index, mut handle, key) = store();
    let task = tokio::spawn({
        let store = store.clone();
        let asked = asked(&key);
        async move { store.create_grant(asked).await }
    });
    let mut object = json!({
        "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsGrant",
        "metadata": {"name": "grant-x7k2p", "namespace": "default", "uid": "u-1",
                     "creationTimestamp": "2026-12-01T00:00:00Z",
                     "annotations": {"kubekms.io/issuer": "arn:aws:iam::111122223333:user/default/admin"}},
        "spec": {"keyRef": {"name": "app"}, "granteePrincipal": "arn:aws:iam::111122223333:role/default/app",
                 "operations": ["Decrypt", "Encrypt"],
                 "constraints": {"encryptionContextSubset": {"app": "web"}}, "grantName": "web"},
    });
    let sent = answer(&mut handle, "POST", GRANTS, &object).await;
    assert_eq!(
        sent,
        json!({
            "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsGrant",
            "metadata": {"generateName": "grant-",
                         "annotations": {"kubekms.io/issuer": "arn:aws:iam::111122223333:user/default/admin"}},
            "spec": object["spec"],
        })
    );
    tokio::time::sleep(std::time::Duration::from_millis(120)).await;
    assert!(
        !task.is_finished(),
        "it waits for the watch to show the grant"
    );
    let grant: KmsGrant = serde_json::from_value(object.clone()).unwrap();
    index
        .write()
        .unwrap()
        .grant_event(&Event::Apply(grant.clone()));
    let made = task.await.unwrap().unwrap();
    assert_eq!(made.grant_id, grants::grant_id("u-1"));
    assert_eq!(made.key_id, key.key_id);
    assert_eq!(made.created, 1_796_083_200_000);
    assert_eq!(
        GrantRecord {
            grant_id: made.grant_id.clone(),
            created: made.created,
            ..asked(&key)
        },
        made
    );

    // The same named request: the grant made before, nothing asked.
    assert_eq!(store.create_grant(asked(&key)).await.unwrap(), made);
    let none = tokio::time::timeout(std::time::Duration::from_millis(50), handle.next_request());
    assert!(none.await.is_err(), "no request to the API server");

    let task = tokio::spawn({
        let store = store.clone();
        let id = made.grant_id.clone();
        async move { store.delete_grant(key.key_id, &id).await }
    });
    object["status"] = json!({});
    answer(
        &mut handle,
        "DELETE",
        &format!("{GRANTS}/grant-x7k2p"),
        &object,
    )
    .await;
    index.write().unwrap().grant_event(&Event::Delete(grant));
    task.await.unwrap().unwrap();
    assert!(store.grants(key.key_id).await.unwrap().is_empty());
    assert!(matches!(
        store.delete_grant(key.key_id, &made.grant_id).await,
        Err(StoreError::NotFound(_))
    ));
}
