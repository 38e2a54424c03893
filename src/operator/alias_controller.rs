//! Reconciles `KmsAlias` objects: resolves each to its key and reports it in
//! status. Aliases hold no material, so there is nothing to finalize.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::Store;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::{Context, ERROR_RETRY, Error, RESYNC, alias_plan};
use crate::resource::{KmsAlias, KmsKey};

/// How soon an alias waiting for its key looks again.
const WAITING_RETRY: Duration = Duration::from_secs(10);

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
    let target = keys.get_opt(&alias.spec.target_key_ref.name).await?;
    let others = ctx.aliases.state();
    let now = (shared.clock)();
    let resolution = alias_plan::status(&alias, &others, target.as_ref(), &shared.arn, now);
    let status = resolution.status;
    let action = match resolution.refusal {
        None => Action::requeue(RESYNC),
        Some(refusal) => {
            let was = alias
                .status
                .as_ref()
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
                .map(|c| c.reason.clone());
            if was.as_deref() != Some(refusal.reason) {
                let event = Event {
                    type_: EventType::Warning,
                    reason: refusal.reason.into(),
                    note: Some(refusal.message.clone()),
                    action: "Reconcile".into(),
                    secondary: None,
                };
                if let Err(e) = shared
                    .recorder
                    .publish(&event, &alias.object_ref(&()))
                    .await
                {
                    tracing::debug!(error = %e, "could not record an event");
                }
            }
            Action::requeue(WAITING_RETRY)
        }
    };
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

pub fn error_policy(alias: Arc<KmsAlias>, error: &Error, ctx: Arc<AliasContext>) -> Action {
    ctx.shared
        .metrics
        .failures
        .with_label_values(&["kmsalias", error.category()])
        .inc();
    tracing::warn!(alias = %alias.name_any(), category = error.category(), %error, "reconcile failed");
    Action::requeue(ERROR_RETRY)
}
