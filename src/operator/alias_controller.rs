//! Reconciles `KmsAlias` objects: resolves each to its key and reports it in
//! status. Aliases hold no material, so there is nothing to finalize.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::Store;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::alias_plan::{self, PendingKey};
use super::key_plan::Refusal;
use super::{Context, ERROR_RETRY, Error, key_secret};
use crate::resource::{Condition, KmsAlias, KmsKey};

pub struct AliasContext {
    pub shared: Arc<Context>,
    /// Every alias, from the controller's own watch: conflicts are decided
    /// without a LIST per reconcile.
    pub aliases: Store<KmsAlias>,
}

pub async fn reconcile(alias: Arc<KmsAlias>, ctx: Arc<AliasContext>) -> Result<Action, Error> {
    let shared = &ctx.shared;
    let namespace = alias
        .namespace()
        .ok_or_else(|| Error::NotNamespaced(alias.name_any()))?;
    let keys: Api<KmsKey> = Api::namespaced(shared.client.clone(), &namespace);
    let target_name = &alias.spec.target_key_ref.name;
    let target = keys.get_opt(target_name).await?;
    // A deleted KmsKey leaves its Secret for the deletion window; the alias
    // names that key until the window ends.
    let pending = match target {
        Some(_) => None,
        None => {
            let secrets: Api<Secret> = Api::namespaced(shared.client.clone(), &namespace);
            let found = secrets
                .get_opt(&key_secret::secret_name(target_name))
                .await?;
            found
                .as_ref()
                .and_then(|s| key_secret::view(s).ok())
                .and_then(|s| PendingKey::of_secret(&s, &shared.arn))
        }
    };
    let others = ctx.aliases.state();
    let now = (shared.clock)();
    let resolution = alias_plan::status(
        &alias,
        &others,
        target.as_ref(),
        pending.as_ref(),
        &shared.arn,
        now,
    );
    if let Some(refusal) = &resolution.refusal {
        publish_warning(&alias, shared, refusal).await;
    }
    let action = Action::requeue(resolution.look_again);
    let status = resolution.status;
    if alias.status.as_ref() != Some(&status) {
        let aliases: Api<KmsAlias> = Api::namespaced(shared.client.clone(), &namespace);
        let patch = json!({
            "apiVersion": KmsAlias::api_version(&()),
            "kind": KmsAlias::kind(&()),
            "status": status,
        });
        aliases
            .patch_status(
                &alias.name_any(),
                &PatchParams::apply("kube-kms-controller").force(),
                &Patch::Apply(patch),
            )
            .await?;
    }
    shared
        .metrics
        .reconciles
        .with_label_values(&["kmsalias", "reconciled"])
        .inc();
    Ok(action)
}

/// A Warning event for `refusal`, unless the alias already showed it.
async fn publish_warning(alias: &KmsAlias, shared: &Context, refusal: &Refusal) {
    let was = alias
        .status
        .as_ref()
        .and_then(|s| Condition::ready_in(&s.conditions))
        .map(|c| c.reason.clone());
    if was.as_deref() == Some(refusal.reason) {
        return;
    }
    let (reason, note) = (refusal.reason, refusal.message.clone());
    shared
        .publish(
            &alias.object_ref(&()),
            EventType::Warning,
            reason,
            note,
            "Reconcile",
        )
        .await;
}

pub fn error_policy(alias: Arc<KmsAlias>, error: &Error, ctx: Arc<AliasContext>) -> Action {
    ctx.shared
        .metrics
        .failures
        .with_label_values(&["kmsalias", error.category()])
        .inc();
    tracing::warn!(alias = %alias.name_any(), category = error.category(), %error, "reconcile failed");
    Action::requeue(ERROR_RETRY)
}
