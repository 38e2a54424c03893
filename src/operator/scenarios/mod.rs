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
    assert_eq!(finish(task).await, Action::requeue(super::RESYNC));
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
        Action::requeue(Duration::from_millis((90 * DAY_MS) as u64).min(super::RESYNC))
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
    assert_eq!(finish(task).await, Action::requeue(super::REFUSED_RETRY));
    server.expect_nothing_more().await;
}

#[tokio::test]
async fn a_new_key_object_first_gets_its_finalizer() {
    let (ctx, mut server) = context();
    let mut fresh = key(json!({}));
    fresh.metadata.finalizers = None;
    let task = reconcile_key(fresh.clone(), &ctx).await;
    let patch = server.expect_finalizers_patch(&fresh).await;
    assert!(patch.body.to_string().contains(super::FINALIZER));
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
    assert_eq!(finish(task).await, Action::requeue(super::RESYNC));
    server.expect_nothing_more().await;
    assert_eq!(ctx.metrics.events_refused.get(), 1);
}

mod alias;
mod deletion;
mod grant;
mod import;
mod key_move;
mod pinned;
mod replica;
mod replica_deletion;
mod reseal;
mod root_probe;
mod usage;
