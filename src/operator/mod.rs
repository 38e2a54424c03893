//! The Kubernetes operator: controllers that turn `KmsKey` and `KmsAlias`
//! objects into sealed key material in Secrets and keep it. Decisions are
//! pure (`key_plan`, `key_status`, `alias_plan`, and below them `lifecycle`
//! and `declared`); the controllers only read, carry out and report.

pub mod alias_controller;
pub mod alias_plan;
pub mod grant_controller;
pub mod grant_plan;
pub mod key_census;
pub mod key_controller;
pub mod key_move;
pub mod key_plan;
pub mod key_secret;
pub mod key_status;
pub mod lease;
pub mod metrics;
pub mod root_probe;
pub mod runtime;
pub mod sweeper;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use crate::api::{ArnConfig, Clock};
use crate::audit::{AuditLog, Call};
use crate::crypto::{CryptoError, CryptoService};
use crate::key_id::KeyId;
use crate::lifecycle;

/// The finalizer that makes deleting a `KmsKey` schedule its deletion.
pub const FINALIZER: &str = "kubekms.io/scheduled-deletion";
/// How often a reconciled object is looked at again with nothing due.
pub const RESYNC: Duration = Duration::from_secs(3600);
/// Retry delay after a refusal (the spec or the cluster must change first).
pub const REFUSED_RETRY: Duration = Duration::from_secs(300);
/// Retry delay after an error.
pub const ERROR_RETRY: Duration = Duration::from_secs(5);
/// Retry delay after a write conflict: someone wrote first; re-read soon.
pub const CONFLICT_RETRY: Duration = Duration::from_secs(1);

/// What every reconcile needs.
pub struct Context {
    pub client: Client,
    pub crypto: Arc<dyn CryptoService>,
    pub arn: ArnConfig,
    pub recorder: Recorder,
    pub clock: Clock,
    pub metrics: Arc<metrics::Metrics>,
    /// The sweeper's memory of the key Secrets pending deletion it found
    /// sealed under the newest root key version: UID → (resourceVersion,
    /// root key version). Spares a read of each one on every wake-up.
    pub pending_sealed: std::sync::Mutex<std::collections::HashMap<String, (String, u32)>>,
    /// UIDs of key Secrets being deleted whose material nothing will
    /// release (no KmsKey, no deletion scheduled) that the sweeper has
    /// reported: one Warning event each per process.
    pub held_reported: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Where the controller's own lifecycle actions are recorded.
    pub audit: Option<AuditLog>,
    /// Until when (ms) status is written without the fields the installed
    /// KmsKey CRD was found to lack; then it is tried again.
    pub old_crd_until: std::sync::atomic::AtomicI64,
    /// The namespaces this controller watches (`--watch-namespace`): what
    /// it may read beyond one object's namespace.
    pub scope: crate::cluster::scope::Scope,
    /// Says, once an hour, that events are being refused.
    events_refused: crate::reminder::Reminder,
}

impl Context {
    pub fn new(
        client: Client,
        crypto: Arc<dyn CryptoService>,
        arn: ArnConfig,
        clock: Clock,
        metrics: Arc<metrics::Metrics>,
        audit: Option<AuditLog>,
        scope: crate::cluster::scope::Scope,
    ) -> Arc<Self> {
        let reporter = Reporter {
            controller: "kube-kms-controller".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Arc::new(Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            crypto,
            arn,
            clock,
            metrics,
            pending_sealed: Default::default(),
            held_reported: Default::default(),
            audit,
            old_crd_until: Default::default(),
            scope,
            events_refused: crate::reminder::Reminder::new(60 * 60 * 1000),
        })
    }

    /// Records an event about `object`. Best effort: a failure to record
    /// one never fails a reconcile.
    pub async fn publish(
        &self,
        object: &ObjectReference,
        type_: EventType,
        reason: &str,
        note: String,
        action: &str,
    ) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: action.into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, object).await {
            self.metrics.events_refused.inc();
            // Refused, an event is lost for good (`kubectl describe` shows
            // none): say so where someone looks, but not for every one.
            if self.events_refused.due((self.clock)()) {
                tracing::warn!(error = %e, "could not record an event (refused events are logged at debug level for the next hour)");
            } else {
                tracing::debug!(error = %e, "could not record an event");
            }
        }
    }

    /// Records a lifecycle action the controller carried out on `key`.
    pub async fn record_lifecycle(&self, key: KeyId, namespace: &str, action: lifecycle::Action) {
        if let Some(audit) = &self.audit {
            let call = Call::lifecycle((self.clock)(), key, action, namespace);
            audit.record(call).await;
        }
    }
}

/// A reconcile that failed; retried after [`ERROR_RETRY`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("crypto service: {0}")]
    Crypto(#[from] CryptoError),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("{0} has no namespace")]
    NotNamespaced(String),
}

impl Error {
    /// A low-cardinality label for metrics.
    pub fn category(&self) -> &'static str {
        use kube::runtime::finalizer::Error as F;
        match self {
            Error::Kube(kube::Error::Api(s)) if s.code == 409 => "conflict",
            Error::Kube(_) => "kubernetes",
            Error::Crypto(_) => "crypto",
            Error::Finalizer(e) => match e.as_ref() {
                F::ApplyFailed(inner) | F::CleanupFailed(inner) => inner.category(),
                // The finalizer patch tests the list it read: a 422 means our
                // view was stale, which is a conflict like any other.
                F::AddFinalizer(kube::Error::Api(s)) | F::RemoveFinalizer(kube::Error::Api(s))
                    if s.code == 409 || s.code == 422 =>
                {
                    "conflict"
                }
                // The object went while we finished with it: nothing left to do.
                F::RemoveFinalizer(kube::Error::Api(s)) if s.code == 404 => "conflict",
                _ => "finalizer",
            },
            Error::NotNamespaced(_) => "invalid_object",
        }
    }
}

/// Whether a kube error is the API server saying 409 Conflict/AlreadyExists.
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

#[cfg(test)]
mod scenarios;
