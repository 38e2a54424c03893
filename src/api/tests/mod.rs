//! The endpoint's operations through `Api::call`, JSON in and out, over the
//! real local store and in-process crypto service, with a movable clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::*;
use crate::crypto::{CacheConfig, LocalCryptoService};
use crate::key::DAY_MS;
use crate::material::random_bytes;
use crate::root::FileRootKey;
use crate::store::LocalStore;

const T0: i64 = 1_800_000_000_000;

struct Harness {
    api: Api,
    clock: Arc<AtomicI64>,
    _dir: tempfile::TempDir,
}

fn harness() -> Harness {
    harness_with(None)
}

/// A harness whose account access (RBAC in a cluster) is `account`.
fn harness_with(account: Option<Arc<dyn crate::api::delegation::AccountAccess>>) -> Harness {
    harness_built(|api| api.with_account_access(account))
}

/// A harness whose `Api` is `build` of the usual one.
fn harness_built(build: impl FnOnce(Api) -> Api) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let root = Arc::new(FileRootKey::from_keys([(1, random_bytes(32))]).unwrap());
    let crypto = Arc::new(LocalCryptoService::new(root, CacheConfig::default()));
    // The store began tracking key usage at the harness's T0, not at the
    // system's now: once the system's clock passed T0, it made every key
    // younger than tracking.
    let store = Arc::new(LocalStore::open_at(dir.path(), T0).unwrap());
    let clock = Arc::new(AtomicI64::new(T0));
    let now = clock.clone();
    let api = Api::new(
        store,
        crypto,
        ArnConfig::default(),
        Arc::new(move || now.load(Ordering::SeqCst)),
    );
    let api = build(api);
    Harness {
        api,
        clock,
        _dir: dir,
    }
}

fn caller(namespace: &str) -> Caller {
    Caller::new(namespace, "tester")
}

impl Harness {
    async fn call_as(&self, namespace: &str, op: &str, body: Value) -> Result<Value, ApiError> {
        self.api
            .call(&caller(namespace), op, body.to_string().as_bytes())
            .await
    }

    async fn call(&self, op: &str, body: Value) -> Result<Value, ApiError> {
        self.call_as("default", op, body).await
    }

    async fn ok(&self, op: &str, body: Value) -> Value {
        self.call(op, body)
            .await
            .unwrap_or_else(|e| panic!("{op}: {} {e}", e.aws_type()))
    }

    async fn err(&self, op: &str, body: Value) -> (String, String) {
        let e = self.call(op, body).await.expect_err(op);
        (e.aws_type().to_owned(), e.to_string())
    }

    async fn key(&self, extra: Value) -> String {
        let mut body = json!({ "Description": "test" });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        self.ok("CreateKey", body).await["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn advance(&self, ms: i64) {
        self.clock.fetch_add(ms, Ordering::SeqCst);
    }
}

fn b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

fn arn(id: &str) -> String {
    format!("arn:aws:kms:us-east-1:111122223333:key/{id}")
}

mod access;
mod aliases_and_tags;
mod crypto;
mod declared_replicas;
mod delegation;
mod grants;
mod hostile;
mod hostile_http;
mod import;
mod import_rotation;
mod kem;
mod keys;
mod lifecycle;
mod model;
mod multi_region;
mod policies;
mod re_encrypt_access;
mod resource_aliases;
mod shapes;
mod usage;
