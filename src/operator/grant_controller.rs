//! Reconciles `KmsGrant` objects: reports each grant's id and whether its
//! key takes it. Grants hold no material; there is nothing to finalize.

use std::sync::Arc;

use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::grant_plan;
use super::{Context, ERROR_RETRY, Error};
use crate::resource::{KmsGrant, KmsKey};

pub async fn reconcile(grant: Arc<KmsGrant>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = grant
        .namespace()
        .ok_or_else(|| Error::NotNamespaced(grant.name_any()))?;
    let keys: Api<KmsKey> = Api::namespaced(ctx.client.clone(), &namespace);
    let key = keys.get_opt(&grant.spec.key_ref.name).await?;
    let (status, look_again) = grant_plan::status(&grant, key.as_ref(), (ctx.clock)());
    if grant.status.as_ref() != Some(&status) {
        let grants: Api<KmsGrant> = Api::namespaced(ctx.client.clone(), &namespace);
        let patch = json!({
            "apiVersion": KmsGrant::api_version(&()),
            "kind": KmsGrant::kind(&()),
            "status": status,
        });
        grants
            .patch_status(
                &grant.name_any(),
                &PatchParams::apply("kube-kms-controller").force(),
                &Patch::Apply(patch),
            )
            .await?;
    }
    ctx.metrics
        .reconciles
        .with_label_values(&["kmsgrant", "reconciled"])
        .inc();
    Ok(Action::requeue(look_again))
}

pub fn error_policy(grant: Arc<KmsGrant>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .failures
        .with_label_values(&["kmsgrant", error.category()])
        .inc();
    tracing::warn!(grant = %grant.name_any(), category = error.category(), %error, "reconcile failed");
    Action::requeue(ERROR_RETRY)
}
