//! Grants against a mock API server: the exact object created and deleted,
//! and the call returning once the watch cache shows it.

use std::sync::{Arc, RwLock};

use kube::runtime::watcher::Event;
use serde_json::{Value, json};

use super::*;
use crate::cluster::ClusterIndex;
use crate::cluster::mock_api::{self, Handle};
use crate::grant::Constraints;
use crate::key::KeyRecord;
use crate::operator::key_secret::{KeySecret, build};
use crate::spec::GrantOperation;
use crate::store::KeyStore;

const GRANTS: &str = "/apis/kubekms.io/v1alpha1/namespaces/default/kmsgrants";

/// A store whose watch holds `KmsKey` `app`'s Secret.
fn store() -> (Arc<KubeStore>, Arc<RwLock<ClusterIndex>>, Handle, KeyRecord) {
    let (client, handle) = mock_api::client("default");
    let record = KeyRecord::test(0);
    let secret = build("app", "uid", &KeySecret::of(record.clone()));
    let index = Arc::new(RwLock::new(ClusterIndex::default()));
    index
        .write()
        .unwrap()
        .key_secret_event(&Event::Apply(secret));
    let store = KubeStore::new(index.clone(), client);
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
    mock_api::next_within(handle, method, path, std::time::Duration::from_secs(5))
        .await
        .answer(if method == "POST" { 201 } else { 200 }, reply)
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

/// A grant token names its `KmsGrant`; a replica whose watch has not
/// brought the grant reads the object, checks it declares the token's
/// grant on this key, and remembers for a while an object that does not.
#[tokio::test]
async fn a_token_reads_the_grant_object_the_watch_has_not_brought() {
    let (store, index, mut handle, key) = store();
    let object = json!({
        "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsGrant",
        "metadata": {"name": "grant-x7k2p", "namespace": "default", "uid": "u-1",
                     "creationTimestamp": "2026-12-01T00:00:00Z"},
        "spec": {"keyRef": {"name": "app"}, "granteePrincipal": "arn:aws:iam::111122223333:role/default/app",
                 "operations": ["Encrypt"]},
    });
    let path = format!("{GRANTS}/grant-x7k2p");
    let token = |grant_id: &str, object: Option<&str>| TokenRef {
        grant_id: grant_id.to_owned(),
        object: object.map(str::to_owned),
    };
    let id = grants::grant_id("u-1");
    let read = |token: TokenRef| {
        let store = store.clone();
        tokio::spawn(async move { store.unseen_grant(key.key_id, &token).await })
    };

    let task = read(token(&id, Some("grant-x7k2p")));
    answer(&mut handle, "GET", &path, &object).await;
    let grant = task.await.unwrap().unwrap().expect("the grant");
    assert_eq!(
        (grant.grant_id.as_str(), grant.key_id),
        (id.as_str(), key.key_id)
    );
    assert_eq!(grant.operations, [GrantOperation::Encrypt]);

    // A token whose grant id is not the object's: nothing, and the object
    // is not asked for again for a while.
    let task = read(token(&"0".repeat(64), Some("grant-x7k2p")));
    answer(&mut handle, "GET", &path, &object).await;
    assert_eq!(task.await.unwrap().unwrap(), None);
    assert_eq!(
        store
            .unseen_grant(key.key_id, &token(&id, Some("grant-x7k2p")))
            .await
            .unwrap(),
        None,
        "remembered as not declaring it"
    );
    // An object on another KmsKey is not this key's grant.
    let mut elsewhere = object.clone();
    elsewhere["metadata"]["name"] = json!("grant-other");
    elsewhere["spec"]["keyRef"]["name"] = json!("other");
    let task = read(token(&id, Some("grant-other")));
    answer(
        &mut handle,
        "GET",
        &format!("{GRANTS}/grant-other"),
        &elsewhere,
    )
    .await;
    assert_eq!(task.await.unwrap().unwrap(), None);
    // A token naming no object asks nothing.
    assert_eq!(
        store
            .unseen_grant(key.key_id, &token(&id, None))
            .await
            .unwrap(),
        None
    );
    let none = tokio::time::timeout(std::time::Duration::from_millis(50), handle.next_request());
    assert!(none.await.is_err(), "no request to the API server");

    // CreateGrant's token names the object once the watch shows it.
    let grant: KmsGrant = serde_json::from_value(object).unwrap();
    index.write().unwrap().grant_event(&Event::Apply(grant));
    assert_eq!(
        store.grant_object_name(key.key_id, &id).as_deref(),
        Some("grant-x7k2p")
    );
}

/// Through the endpoint: an Encrypt by a grantee that the key's policy
/// does not name succeeds with CreateGrant's token although this replica's
/// watch has not brought the grant, and is refused without it.
#[tokio::test]
async fn a_grant_token_lets_its_grantee_in_before_the_watch_brings_the_grant() {
    use crate::api::{Api, ArnConfig, Caller};
    use crate::crypto::{CacheConfig, CryptoService, LocalCryptoService};
    use crate::seal::MaterialId;
    let (client, mut handle) = mock_api::client("default");
    let root = Arc::new(
        crate::root::FileRootKey::from_keys([(1, crate::material::random_bytes(32))]).unwrap(),
    );
    let crypto = Arc::new(LocalCryptoService::new(root, CacheConfig::default()));
    let mut record = KeyRecord::test(0);
    record.materials[0].sealed = crypto
        .generate_material(MaterialId {
            key_id: record.key_id,
            version: 1,
            spec: record.spec,
            usage: record.usage,
        })
        .await
        .unwrap();
    let admin = "arn:aws:iam::111122223333:user/default/admin";
    record.policy = Some(
        format!(r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{admin}"}},"Action":"kms:*","Resource":"*"}}]}}"#)
            .into(),
    );
    let index = Arc::new(RwLock::new(ClusterIndex::default()));
    let secret = build("app", "uid", &KeySecret::of(record.clone()));
    index
        .write()
        .unwrap()
        .key_secret_event(&Event::Apply(secret));
    let store = Arc::new(KubeStore::new(index, client));
    let api = Arc::new(Api::new(
        store,
        crypto,
        ArnConfig::default(),
        Arc::new(|| 1_800_000_000_000),
    ));
    let id = grants::grant_id("u-9");
    let token = crate::grant::token_naming(&id, "grant-k8s9q", [7; 16]).unwrap();
    let encrypt = |tokens: serde_json::Value| {
        let api = api.clone();
        let body =
            json!({"KeyId": record.key_id.to_string(), "Plaintext": "eA==", "GrantTokens": tokens});
        tokio::spawn(async move {
            api.call(
                &Caller::new("default", "app"),
                "Encrypt",
                body.to_string().as_bytes(),
            )
            .await
        })
    };

    let refused = encrypt(json!([])).await.unwrap().unwrap_err();
    assert_eq!(refused.aws_type(), "AccessDeniedException");
    let task = encrypt(json!([token]));
    let object = json!({
        "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsGrant",
        "metadata": {"name": "grant-k8s9q", "namespace": "default", "uid": "u-9",
                     "creationTimestamp": "2026-12-01T00:00:00Z"},
        "spec": {"keyRef": {"name": "app"}, "granteePrincipal": "arn:aws:iam::111122223333:user/default/app",
                 "operations": ["Encrypt"]},
    });
    answer(
        &mut handle,
        "GET",
        &format!("{GRANTS}/grant-k8s9q"),
        &object,
    )
    .await;
    let encrypted = task.await.unwrap().unwrap();
    assert!(encrypted["CiphertextBlob"].is_string(), "{encrypted}");
}
