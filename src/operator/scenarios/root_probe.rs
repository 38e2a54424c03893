//! The root key check before leading: every page of key Secrets read, and
//! a root key that opens none of their material refused.

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use super::*;
use crate::crypto::CryptoService;
use crate::key::{MaterialVersion, RotationType};
use crate::key_id::KeyId;
use crate::operator::root_probe;
use crate::seal::MaterialId;
use crate::secret::SecretBytes;
use crate::spec::{KeySpec, KeyUsage};

/// Longer than the check's longest wait between attempts.
const MINUTE: Duration = Duration::from_secs(60);

/// The root key `context()`'s crypto service holds.
const ROOT: [u8; 32] = [9u8; 32];

/// The Secret of key `name`, its material sealed under `root` (version 1).
async fn sealed_secret(name: &str, root: [u8; 32]) -> Value {
    let root = FileRootKey::from_keys([(1, SecretBytes::new(root.to_vec()))]).unwrap();
    let sealer = LocalCryptoService::new(Arc::new(root), CacheConfig::default());
    let mut record = stored_record();
    record.key_id = KeyId::random();
    let id = MaterialId {
        key_id: record.key_id,
        version: 1,
        spec: KeySpec::SymmetricDefault,
        usage: KeyUsage::EncryptDecrypt,
    };
    record.materials = vec![MaterialVersion {
        version: 1,
        created: NOW,
        rotation_type: RotationType::Initial,
        sealed: sealer.generate_material(id).await.unwrap(),
    }];
    let stored = KeySecret {
        record,
        owner_uid: Some(format!("uid-{name}")),
        rotate_handled: None,
        material_handled: None,
        resource_version: Some("20".into()),
        others: Default::default(),
    };
    serde_json::to_value(key_secret::build(name, &format!("uid-{name}"), &stored)).unwrap()
}

fn page(items: Vec<Value>, next: &str) -> Value {
    json!({"kind": "SecretList", "apiVersion": "v1", "metadata": {"continue": next, "resourceVersion": "30"}, "items": items})
}

/// The query of a list of key Secrets, `then` a continue token.
fn list_query(then: Option<&str>) -> String {
    let selector = "labelSelector=app.kubernetes.io%2Fmanaged-by%3Dkube-kms%2Ckubekms.io%2Fkey-id";
    match then {
        None => format!("&{selector}&limit=250"),
        Some(token) => format!("&{selector}&limit=250&continue={token}"),
    }
}

fn start(
    ctx: &Arc<Context>,
) -> tokio::task::JoinHandle<Result<crate::root_check::RootKeyCheck, String>> {
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), "team-a");
        root_probe::ensure(&[secrets], ctx.crypto.as_ref()).await
    })
}

/// A labelled Secret that is not ours to read: left to the reconciler.
fn unreadable() -> Value {
    json!({"metadata": {"name": "kmskey-odd", "namespace": "team-a", "labels": {
        key_secret::MANAGED_BY_LABEL: key_secret::MANAGED_BY, key_secret::KEY_ID_LABEL: "x"}},
        "type": key_secret::SECRET_TYPE, "data": {"key.json": "bm90IGpzb24="}})
}

#[tokio::test]
async fn the_root_key_that_sealed_every_page_of_key_secrets_is_accepted() {
    let (ctx, mut server) = context();
    let check = start(&ctx);
    let first = vec![sealed_secret("a", ROOT).await, unreadable()];
    let seen = server
        .expect("GET", SECRETS, 200, page(first, "next-page"))
        .await;
    assert_eq!(seen.query, list_query(None));
    let second = vec![sealed_secret("b", ROOT).await];
    let seen = server.expect("GET", SECRETS, 200, page(second, "")).await;
    assert_eq!(seen.query, list_query(Some("next-page")));
    let check = check
        .await
        .unwrap()
        .expect("the store's root key is accepted");
    assert_eq!(check.versions, vec![1]);
    assert!(check.damaged.is_empty(), "{:?}", check.damaged);
    server.expect_nothing_more().await;
}

#[tokio::test]
async fn another_root_key_is_refused_before_anything_is_written() {
    let (ctx, mut server) = context();
    let check = start(&ctx);
    let items = vec![
        sealed_secret("a", [3u8; 32]).await,
        sealed_secret("b", [3u8; 32]).await,
    ];
    server.expect("GET", SECRETS, 200, page(items, "")).await;
    let error = check
        .await
        .unwrap()
        .expect_err("another root key is refused");
    assert!(error.contains("does not open"), "{error}");
    assert!(error.contains("root key version 1"), "{error}");
    server.expect_nothing_more().await;
}

#[tokio::test]
async fn no_key_secrets_yet_is_nothing_to_check() {
    let (ctx, mut server) = context();
    let check = start(&ctx);
    server.expect("GET", SECRETS, 200, page(vec![], "")).await;
    assert_eq!(check.await.unwrap().unwrap().versions, Vec::<u32>::new());
}

#[tokio::test(start_paused = true)]
async fn an_api_server_not_answering_yet_is_waited_for_not_taken_as_a_pass() {
    let (ctx, mut server) = context();
    let check = start(&ctx);
    let unavailable = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "ServiceUnavailable", "code": 503, "message": "etcd is starting"});
    for _ in 0..3 {
        server
            .expect_within(MINUTE, "GET", SECRETS, 503, unavailable.clone())
            .await;
    }
    assert!(!check.is_finished(), "no verdict without the Secrets");
    let items = vec![sealed_secret("a", [3u8; 32]).await];
    server
        .expect_within(MINUTE, "GET", SECRETS, 200, page(items, ""))
        .await;
    let error = check
        .await
        .unwrap()
        .expect_err("another root key is refused");
    assert!(error.contains("does not open"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn a_crypto_service_not_reachable_yet_is_waited_for() {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let mut server = ApiServer(handle);
    let dir = tempfile::tempdir().unwrap();
    let crypto =
        crate::crypto::grpc::GrpcCryptoClient::connect_lazy(&dir.path().join("absent.sock"))
            .unwrap();
    let secrets: Api<Secret> = Api::namespaced(kube::Client::new(service, "default"), "team-a");
    let check = tokio::spawn(async move { root_probe::ensure(&[secrets], &crypto).await });
    for _ in 0..3 {
        let items = vec![sealed_secret("a", ROOT).await];
        server
            .expect_within(MINUTE, "GET", SECRETS, 200, page(items, ""))
            .await;
    }
    assert!(
        !check.is_finished(),
        "no verdict without the crypto service"
    );
    check.abort();
}
