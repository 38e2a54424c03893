//! What a `KmsAlias` resolves to, decided from the alias, the other aliases
//! of its namespace and its target key. Pure.

use kube::ResourceExt;

use super::key_plan::Refusal;
use super::key_status::rfc3339;
use crate::api::{ArnConfig, validate_alias_name};
use crate::key::Millis;
use crate::resource::{Condition, KmsAlias, KmsAliasStatus, KmsKey};

/// The alias that owns `alias`'s name in its namespace: the oldest object
/// declaring it (name breaks ties), so a second alias never steals it.
pub fn holder<'a>(
    alias: &'a KmsAlias,
    others: &'a [std::sync::Arc<KmsAlias>],
) -> Option<&'a KmsAlias> {
    others
        .iter()
        .map(|a| a.as_ref())
        .filter(|a| {
            a.namespace() == alias.namespace() && a.spec.alias_name == alias.spec.alias_name
        })
        .filter(|a| a.metadata.deletion_timestamp.is_none())
        .min_by(|a, b| {
            let created = |x: &KmsAlias| x.metadata.creation_timestamp.clone().map(|t| t.0);
            created(a)
                .cmp(&created(b))
                .then_with(|| a.name_any().cmp(&b.name_any()))
        })
}

/// Why an alias with a valid name of its own is not Ready: the `KmsKey` it
/// names is not there, or has no usable key (creating, or pending
/// deletion). The endpoint still resolves such an alias to a key pending
/// deletion, as AWS does.
pub const KEY_NOT_FOUND: &str = "KeyNotFound";
pub const KEY_NOT_READY: &str = "KeyNotReady";

/// The status an alias should show, and why it does not resolve if not.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    pub status: KmsAliasStatus,
    pub refusal: Option<Refusal>,
}

/// Resolves `alias`.
pub fn status(
    alias: &KmsAlias,
    others: &[std::sync::Arc<KmsAlias>],
    target: Option<&KmsKey>,
    arn: &ArnConfig,
    now: Millis,
) -> Resolution {
    let refuse = |reason: &'static str, message: String| {
        let refusal = Refusal { reason, message };
        let mut status = alias.status.clone().unwrap_or_default();
        status.conditions = vec![ready(alias, "False", reason, &refusal.message, now)];
        status.observed_generation = alias.metadata.generation;
        Resolution {
            status,
            refusal: Some(refusal),
        }
    };
    let name = &alias.spec.alias_name;
    if let Err(e) = validate_alias_name(name) {
        return refuse("InvalidAliasName", e.to_string());
    }
    if let Some(holder) = holder(alias, others)
        && holder.name_any() != alias.name_any()
    {
        return refuse(
            "AliasNameConflict",
            format!(
                "{name} is already defined in this namespace by KmsAlias {}",
                holder.name_any()
            ),
        );
    }
    let target_name = &alias.spec.target_key_ref.name;
    let Some(key) = target else {
        return refuse(
            KEY_NOT_FOUND,
            format!("no KmsKey named {target_name} in this namespace"),
        );
    };
    let key_status = key.status.as_ref();
    let ready_key = key_status.and_then(|s| s.key_id.clone()).filter(|_| {
        key.metadata.deletion_timestamp.is_none()
            && key_status.and_then(|s| s.key_state.as_deref()) != Some("PendingDeletion")
    });
    let Some(key_id) = ready_key else {
        return refuse(
            KEY_NOT_READY,
            format!("KmsKey {target_name} has no usable key yet"),
        );
    };
    let key_arn = key_status.and_then(|s| s.arn.clone());
    let status = KmsAliasStatus {
        target_key_id: Some(key_id.clone()),
        target_key_arn: key_arn,
        alias_arn: Some(arn.alias_arn(name)),
        conditions: vec![ready(
            alias,
            "True",
            "Resolved",
            &format!("{name} → {key_id}"),
            now,
        )],
        observed_generation: alias.metadata.generation,
    };
    Resolution {
        status,
        refusal: None,
    }
}

fn ready(alias: &KmsAlias, status: &str, reason: &str, message: &str, now: Millis) -> Condition {
    let previous = alias.status.as_ref().map_or(&[][..], |s| &s.conditions[..]);
    Condition::ready(
        previous,
        status,
        reason,
        message,
        alias.metadata.generation,
        || rfc3339(now),
    )
}
