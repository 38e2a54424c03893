//! Destroys key material whose deletion window has ended. Watches key
//! Secrets metadata-only (the deletion date is an annotation), so no
//! sealed bytes sit in this cache; the Secret itself is read only to
//! confirm, and deleted only at the resourceVersion that was confirmed.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, PartialObjectMeta, Preconditions};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use super::key_plan::{self, Orphan};
use super::key_secret::{self, DELETION_DATE_ANNOTATION, KEY_NAME_ANNOTATION};
use super::{Context, ERROR_RETRY, Error, RESYNC};
use crate::resource::KmsKey;

pub async fn reconcile(
    meta: Arc<PartialObjectMeta<Secret>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let now = (ctx.clock)();
    let Some(date) = meta
        .annotations()
        .get(DELETION_DATE_ANNOTATION)
        .and_then(|d| d.parse::<i64>().ok())
    else {
        return Ok(Action::await_change());
    };
    if date > now {
        return Ok(Action::requeue(wait(date - now)));
    }
    let namespace = meta
        .namespace()
        .ok_or_else(|| Error::NotNamespaced(meta.name_any()))?;
    // A KmsKey of this name exists again: its controller cancels the
    // deletion; destroying now would race it.
    if let Some(key_name) = meta.annotations().get(KEY_NAME_ANNOTATION) {
        let keys: Api<KmsKey> = Api::namespaced(ctx.client.clone(), &namespace);
        if keys.get_metadata_opt(key_name).await?.is_some() {
            return Ok(Action::requeue(RESYNC));
        }
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let Some(secret) = secrets.get_opt(&meta.name_any()).await? else {
        return Ok(Action::await_change());
    };
    let Ok(stored) = key_secret::read(&secret) else {
        return Ok(Action::await_change());
    };
    match key_plan::plan_orphan(&stored, now) {
        Orphan::Destroy => {
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    resource_version: stored.resource_version.clone(),
                    uid: secret.metadata.uid.clone(),
                }),
                ..DeleteParams::default()
            };
            secrets.delete(&meta.name_any(), &params).await?;
            tracing::info!(key = %stored.record.key_id, namespace = %namespace, "deletion window ended; key material destroyed");
            ctx.metrics
                .reconciles
                .with_label_values(&["keysecret", "destroyed"])
                .inc();
            Ok(Action::await_change())
        }
        Orphan::WaitUntil(at) => Ok(Action::requeue(wait(at - now))),
        Orphan::Keep => Ok(Action::await_change()),
    }
}

fn wait(ms: i64) -> Duration {
    Duration::from_millis(ms.max(1000) as u64).min(RESYNC)
}

pub fn error_policy(_: Arc<PartialObjectMeta<Secret>>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .failures
        .with_label_values(&["keysecret", error.category()])
        .inc();
    tracing::warn!(category = error.category(), %error, "key Secret sweep failed");
    Action::requeue(ERROR_RETRY)
}
