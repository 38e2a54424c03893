//! Reconcile scenarios against a mock API server (tower-test): one per
//! branch, asserting every request's method, path and body in order.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use http::{Request, Response};
use k8s_openapi::api::core::v1::Secret;
use kube::api::PartialObjectMeta;
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::runtime::reflector;
use kube::runtime::watcher;
use serde_json::{Value, json};

use super::alias_controller::{self, AliasContext};
use super::key_secret::{self, KeySecret};
use super::metrics::Metrics;
use super::{Context, key_controller, sweeper};
use crate::api::ArnConfig;
use crate::audit::{AuditLog, Destination, Rotation};
use crate::crypto::{CacheConfig, LocalCryptoService};
use crate::key::{DAY_MS, Deletion, KeyRecord, Millis};
use crate::resource::{KmsAlias, KmsKey};
use crate::root::FileRootKey;

const NOW: Millis = 1_700_000_000_000;
const KEYS: &str = "/apis/kubekms.io/v1alpha1/namespaces/team-a/kmskeys";
const SECRETS: &str = "/api/v1/namespaces/team-a/secrets";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/team-a/events";

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// The API server side of a scenario.
struct ApiServer(Handle);

struct Seen {
    query: String,
    body: Value,
}

impl ApiServer {
    /// Takes the next request, asserts its method and path, answers it.
    async fn expect(&mut self, method: &str, path: &str, status: u16, reply: Value) -> Seen {
        self.expect_within(Duration::from_secs(2), method, path, status, reply)
            .await
    }

    /// `expect`, for a request that may come only after `wait`.
    async fn expect_within(
        &mut self,
        wait: Duration,
        method: &str,
        path: &str,
        status: u16,
        reply: Value,
    ) -> Seen {
        self.answer_within(wait, method, path, status, |_| reply)
            .await
    }

    /// `expect_within`, answering with what `reply` makes of the request's
    /// body (the object as stored, for a create).
    async fn answer_within(
        &mut self,
        wait: Duration,
        method: &str,
        path: &str,
        status: u16,
        reply: impl FnOnce(&Value) -> Value,
    ) -> Seen {
        let (request, send) = tokio::time::timeout(wait, self.0.next_request())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {method} {path}"))
            .expect("the client is gone");
        assert_eq!(
            (request.method().as_str(), request.uri().path()),
            (method, path),
            "unexpected request"
        );
        let query = request.uri().query().unwrap_or("").to_owned();
        let bytes = request.into_body().collect_bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        send.send_response(
            Response::builder()
                .status(status)
                .body(Body::from(serde_json::to_vec(&reply(&body)).unwrap()))
                .unwrap(),
        );
        Seen { query, body }
    }

    /// Answers the GET of the key Secret `kmskey-app` with `record`, as
    /// the KmsKey `uid-1` wrote it.
    async fn expect_key_secret(&mut self, record: &KeyRecord) {
        self.expect(
            "GET",
            &format!("{SECRETS}/kmskey-app"),
            200,
            secret_json(record.clone(), "uid-1"),
        )
        .await;
    }

    /// Answers the GET of `kmskey-app` with `record`, then its replacement
    /// with 200; returns the replacement.
    async fn expect_key_secret_replaced(&mut self, record: &KeyRecord) -> Seen {
        self.expect_key_secret(record).await;
        self.expect("PUT", &format!("{SECRETS}/kmskey-app"), 200, json!({}))
            .await
    }

    /// Answers the GET of the KmsKey `app` with 404, then that of its
    /// Secret `kmskey-app` with `secret`: what is read of a key whose
    /// KmsKey is gone.
    async fn expect_orphan(&mut self, secret: Value) {
        self.expect("GET", &format!("{KEYS}/app"), 404, not_found())
            .await;
        self.expect("GET", &format!("{SECRETS}/kmskey-app"), 200, secret)
            .await;
    }

    /// Answers the patch of the KmsKey `app`'s finalizers with `key`.
    async fn expect_finalizers_patch(&mut self, key: &KmsKey) -> Seen {
        self.expect(
            "PATCH",
            &format!("{KEYS}/app"),
            200,
            serde_json::to_value(key).unwrap(),
        )
        .await
    }

    /// Answers the status patch of the KmsKey `app` with `key`.
    async fn expect_status(&mut self, key: &KmsKey) -> Seen {
        self.expect(
            "PATCH",
            &format!("{KEYS}/app/status"),
            200,
            serde_json::to_value(key).unwrap(),
        )
        .await
    }

    async fn expect_event(&mut self, reason: &str) -> Value {
        let seen = self.expect("POST", EVENTS, 201, json!({})).await;
        assert_eq!(seen.body["reason"], reason, "{}", seen.body);
        seen.body
    }

    /// No request may follow.
    async fn expect_nothing_more(&mut self) {
        let next = tokio::time::timeout(Duration::from_millis(200), self.0.next_request()).await;
        if let Ok(Some((request, _))) = next {
            panic!("unexpected request {} {}", request.method(), request.uri());
        }
    }
}

fn not_found() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"})
}

fn conflict() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "AlreadyExists", "code": 409, "message": "exists"})
}

fn context() -> (Arc<Context>, ApiServer) {
    context_with_root(&[1])
}

/// Root key version N is N+8 repeated (version 1: bytes of 9).
fn root_key(versions: &[u32]) -> Arc<FileRootKey> {
    Arc::new(
        FileRootKey::from_keys(
            versions
                .iter()
                .map(|&v| (v, crate::secret::SecretBytes::new(vec![v as u8 + 8; 32]))),
        )
        .unwrap(),
    )
}

fn context_with_root(versions: &[u32]) -> (Arc<Context>, ApiServer) {
    context_auditing(versions, None)
}

/// A context whose lifecycle actions go to an audit trail in `dir`, and
/// that trail's records, read after a flush.
fn audited_context(dir: &std::path::Path) -> (Arc<Context>, ApiServer) {
    let destination = Destination::File(dir.join("audit.jsonl"), Rotation::NEVER);
    let audit = AuditLog::open(&destination, ArnConfig::default()).unwrap();
    context_auditing(&[1], Some(audit))
}

async fn audit_records(ctx: &Context, dir: &std::path::Path) -> Vec<Value> {
    ctx.audit.as_ref().unwrap().flush().await;
    std::fs::read_to_string(dir.join("audit.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn context_auditing(versions: &[u32], audit: Option<AuditLog>) -> (Arc<Context>, ApiServer) {
    context_scoped(versions, audit, None)
}

/// A context for a controller watching `scope` only (`None`: all).
fn context_scoped(
    versions: &[u32],
    audit: Option<AuditLog>,
    scope: Option<&str>,
) -> (Arc<Context>, ApiServer) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let root = root_key(versions);
    let crypto = Arc::new(LocalCryptoService::new(root, CacheConfig::default()));
    let ctx = Context::new(
        client,
        crypto,
        ArnConfig::default(),
        Arc::new(|| NOW),
        Arc::new(Metrics::unregistered()),
        audit,
        crate::cluster::scope::Scope::parse(scope).expect("a valid scope"),
    );
    (ctx, ApiServer(handle))
}

/// The KmsKey `team-a/app` (UID `uid-1`), already carrying our finalizer.
fn key(spec: Value) -> KmsKey {
    serde_json::from_value(json!({
        "apiVersion": "kubekms.io/v1alpha1",
        "kind": "KmsKey",
        "metadata": {
            "name": "app", "namespace": "team-a", "uid": "uid-1", "generation": 1,
            "resourceVersion": "10", "finalizers": [super::FINALIZER]
        },
        "spec": spec,
    }))
    .unwrap()
}

fn stored_record() -> KeyRecord {
    let mut record = KeyRecord::test(NOW - 100 * DAY_MS);
    record.namespace = "team-a".into();
    record
}

fn secret_json(record: KeyRecord, owner: &str) -> Value {
    let stored = KeySecret {
        record,
        owner_uid: Some(owner.into()),
        rotate_handled: None,
        material_handled: None,
        resource_version: Some("20".into()),
        others: Default::default(),
    };
    serde_json::to_value(key_secret::build("app", owner, &stored)).unwrap()
}

/// The stored record, scheduled for deletion at `deletion_date` with a
/// 7-day window.
fn scheduled_for(deletion_date: Millis) -> KeyRecord {
    let mut record = stored_record();
    record.deletion = Some(Deletion {
        window_days: 7,
        deletion_date,
    });
    record
}

/// `key`, being deleted (since NOW).
fn being_deleted_key(mut key: KmsKey) -> KmsKey {
    key.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::from_millisecond(NOW).unwrap(),
    ));
    key
}

/// The record inside a Secret body the controller sent.
fn record_in(secret: &Value) -> Value {
    let data = secret["data"]["key.json"].as_str().unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()["record"].clone()
}

async fn reconcile_key(
    key: KmsKey,
    ctx: &Arc<Context>,
) -> tokio::task::JoinHandle<Result<Action, super::Error>> {
    let ctx = ctx.clone();
    tokio::spawn(async move { key_controller::reconcile(Arc::new(key), ctx).await })
}

async fn finish(task: tokio::task::JoinHandle<Result<Action, super::Error>>) -> Action {
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("reconcile finishes")
        .unwrap()
        .expect("reconcile succeeds")
}

/// The watch's view of the key Secret holding `record` (resourceVersion 20).
fn pending_meta(record: &KeyRecord) -> Arc<PartialObjectMeta<Secret>> {
    meta_of(&secret_json(record.clone(), "uid-1"))
}

/// The (metadata-only) watch's view of `secret`.
fn meta_of(secret: &Value) -> Arc<PartialObjectMeta<Secret>> {
    let secret: Secret = serde_json::from_value(secret.clone()).unwrap();
    Arc::new(PartialObjectMeta::<Secret> {
        types: None,
        metadata: secret.metadata,
        _phantom: Default::default(),
    })
}

/// The KmsKey `app` showing the status the controller writes for
/// `record`, as `edit` leaves it.
fn showing_status(
    record: &KeyRecord,
    edit: impl FnOnce(&mut crate::resource::KmsKeyStatus),
) -> KmsKey {
    let mut key = key(json!({}));
    let mut status = super::key_status::reconciled(&key, record, &ArnConfig::default(), None, NOW);
    edit(&mut status);
    key.status = Some(status);
    key
}

fn sweep(
    meta: &Arc<PartialObjectMeta<Secret>>,
    ctx: &Arc<Context>,
) -> tokio::task::JoinHandle<Result<Action, super::Error>> {
    let (meta, ctx) = (meta.clone(), ctx.clone());
    tokio::spawn(async move { sweeper::reconcile(meta, ctx).await })
}

/// Reconciles `key`, new: answers the look for its Secret (none) and the
/// Secret's creation; the reconcile and what it created.
async fn minting(
    key: &KmsKey,
    ctx: &Arc<Context>,
    server: &mut ApiServer,
) -> (tokio::task::JoinHandle<Result<Action, super::Error>>, Seen) {
    let task = reconcile_key(key.clone(), ctx).await;
    server
        .expect("GET", &format!("{SECRETS}/kmskey-app"), 404, not_found())
        .await;
    let created = server.expect("POST", SECRETS, 201, json!({})).await;
    (task, created)
}

mod alias;
mod deletion;
mod grant;
mod import;
mod key;
mod key_move;
mod pinned;
mod replica;
mod replica_deletion;
mod reseal;
mod root_probe;
mod usage;
