//! Kubernetes RBAC as the account's access control: a key policy that
//! allows the account (the default policy) lets a caller in only if RBAC
//! lets it do the action's verb on the `KmsKey` (a SubjectAccessReview,
//! verdicts cached briefly). Operations on the account (CreateKey,
//! ListKeys, ...) ask the same of `kmskeys` in the caller's namespace.
//!
//! Verbs are the action's name in lower case (`kms:GenerateDataKey` is
//! `generatedatakey`). ServiceAccounts are asked about as the API server
//! knows them; an access key's principal as the user
//! `kubekms:user:<namespace>:<principal>` in the groups `kubekms:users`,
//! `kubekms:users:<namespace>` and `system:authenticated`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::{Api, Client};
use prometheus::{IntCounterVec, Opts, Registry};

use super::ClusterIndex;
use crate::api::delegation::{AccountAccess, Ask};
use crate::api::{ApiError, Caller};
use crate::key_id::KeyId;

/// How long a verdict is reused: a RoleBinding removed (or added) takes
/// effect within this time.
const ALLOWED_TTL: Duration = Duration::from_secs(60);
const REFUSED_TTL: Duration = Duration::from_secs(10);
/// Bound on the verdicts kept; a full cache is emptied. One entry per
/// caller, key and verb in use.
const MAX_CACHED: usize = 65_536;

/// The user and groups RBAC knows `caller` by.
pub fn subject(caller: &Caller) -> (String, Vec<String>) {
    let namespace = &caller.namespace;
    if caller.principal.starts_with("system:serviceaccount:") {
        // What the API server's own authenticator gives a ServiceAccount.
        return (
            caller.principal.clone(),
            vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ],
        );
    }
    (
        format!("kubekms:user:{namespace}:{}", caller.principal),
        vec![
            "kubekms:users".into(),
            format!("kubekms:users:{namespace}"),
            "system:authenticated".into(),
        ],
    )
}

/// The RBAC verb for a KMS action: `kms:ReEncryptFrom` is `reencryptfrom`.
pub fn verb(action: &str) -> String {
    action
        .strip_prefix("kms:")
        .unwrap_or(action)
        .to_ascii_lowercase()
}

/// The review that asks whether `caller` may do `action` on the `KmsKey`
/// `name` in `namespace` (on `kmskeys` there, without a name).
pub fn review(
    caller: &Caller,
    action: &str,
    namespace: &str,
    name: Option<&str>,
) -> SubjectAccessReview {
    let (user, groups) = subject(caller);
    SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user),
            groups: Some(groups),
            resource_attributes: Some(ResourceAttributes {
                group: Some(crate::resource::GROUP.into()),
                resource: Some("kmskeys".into()),
                namespace: Some(namespace.into()),
                name: name.map(str::to_owned),
                verb: Some(verb(action)),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    }
}

/// What a verdict answers: the action, the key (`None`: the account), and
/// the key's namespace, the caller's and its principal, one after another
/// (only the last may hold a newline, so the text is unambiguous).
type Question = (&'static str, Option<KeyId>, String);

type Verdicts = HashMap<Question, (bool, Instant)>;

pub struct SubjectAccessReviews {
    client: Client,
    /// Where the `KmsKey` holding a key is named.
    index: Arc<RwLock<ClusterIndex>>,
    verdicts: Mutex<Verdicts>,
    ttl: (Duration, Duration),
    /// Reviews asked of the API server, by verdict.
    asked: Option<IntCounterVec>,
}

impl SubjectAccessReviews {
    pub fn new(client: Client, index: Arc<RwLock<ClusterIndex>>) -> Self {
        SubjectAccessReviews {
            client,
            index,
            verdicts: Mutex::default(),
            ttl: (ALLOWED_TTL, REFUSED_TTL),
            asked: None,
        }
    }

    /// Counts the reviews asked (cache misses) in `registry`.
    pub fn metered(self, registry: &Registry) -> Self {
        let asked = IntCounterVec::new(
            Opts::new(
                "kubekms_access_reviews_total",
                "SubjectAccessReviews the endpoint asked the API server (verdicts not cached), \
                 by verdict: allowed, refused, failed",
            ),
            &["verdict"],
        )
        .expect("valid metric");
        let _ = registry.register(Box::new(asked.clone()));
        SubjectAccessReviews {
            asked: Some(asked),
            ..self
        }
    }

    fn count(&self, verdict: &str) {
        if let Some(asked) = &self.asked {
            asked.with_label_values(&[verdict]).inc();
        }
    }

    #[cfg(test)]
    fn with_ttl(self, allowed: Duration, refused: Duration) -> Self {
        SubjectAccessReviews {
            ttl: (allowed, refused),
            ..self
        }
    }

    fn verdicts(&self) -> std::sync::MutexGuard<'_, Verdicts> {
        // Nothing panics while holding it.
        self.verdicts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cached(&self, question: &Question) -> Option<bool> {
        let verdicts = self.verdicts();
        let (allowed, at) = verdicts.get(question)?;
        let ttl = if *allowed { self.ttl.0 } else { self.ttl.1 };
        (at.elapsed() < ttl).then_some(*allowed)
    }

    fn remember(&self, question: Question, allowed: bool) {
        let mut verdicts = self.verdicts();
        if verdicts.len() >= MAX_CACHED {
            verdicts.clear();
        }
        verdicts.insert(question, (allowed, Instant::now()));
    }

    async fn ask(
        &self,
        caller: &Caller,
        action: &str,
        namespace: &str,
        name: Option<&str>,
    ) -> Result<bool, ApiError> {
        let review = review(caller, action, namespace, name);
        let answer = Api::<SubjectAccessReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| match e {
                // RBAC refusing the endpoint its reviews: the install's
                // fault, not the caller's.
                kube::Error::Api(s) if s.code == 403 => {
                    tracing::error!(message = %s.message, "the endpoint may not create SubjectAccessReviews");
                    ApiError::Internal(
                        "The endpoint could not ask the cluster's access control.".into(),
                    )
                }
                e => ApiError::DependencyTimeout(format!("SubjectAccessReview failed: {e}")),
            })?;
        let status = answer.status.unwrap_or_default();
        if !status.allowed {
            let spec = review.spec;
            tracing::info!(
                user = spec.user.as_deref().unwrap_or_default(),
                verb = %verb(action),
                namespace,
                name = name.unwrap_or_default(),
                reason = status.reason.as_deref().unwrap_or_default(),
                error = status.evaluation_error.as_deref().unwrap_or_default(),
                "RBAC does not allow the verb on kmskeys"
            );
        }
        Ok(status.allowed)
    }
}

#[async_trait::async_trait]
impl AccountAccess for SubjectAccessReviews {
    async fn allows(&self, ask: Ask<'_>) -> Result<bool, ApiError> {
        let caller = ask.caller;
        let (namespace, id) = match ask.key {
            Some(key) => (key.namespace.as_str(), Some(key.key_id)),
            None => (caller.namespace.as_str(), None),
        };
        let question = (
            ask.action,
            id,
            format!("{namespace}\n{}\n{}", caller.namespace, caller.principal),
        );
        if let Some(allowed) = self.cached(&question) {
            return Ok(allowed);
        }
        let name = match id {
            Some(id) => self
                .index
                .read()
                .map_err(|_| ApiError::Internal("cluster index poisoned".into()))?
                .key_object(id)
                .map(|(_, name)| name),
            None => None,
        };
        let allowed = self
            .ask(caller, ask.action, namespace, name.as_deref())
            .await
            .inspect_err(|_| self.count("failed"))?;
        self.count(if allowed { "allowed" } else { "refused" });
        self.remember(question, allowed);
        Ok(allowed)
    }
}

#[cfg(test)]
mod tests;
