//! What a `KmsAlias` resolves to, decided from the alias, the other aliases
//! of its namespace and its target key. Pure.

use std::time::Duration;

use kube::ResourceExt;

use super::key_plan::Refusal;
use super::key_secret::KeySecret;
use super::key_status::rfc3339;
use super::{REFUSED_RETRY, RESYNC};
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
/// The key the alias names is pending deletion: its `KmsKey` was deleted
/// and its material waits out the window.
pub const KEY_PENDING_DELETION: &str = "KeyPendingDeletion";
/// Another KmsAlias in the namespace holds the alias name.
pub const ALIAS_NAME_CONFLICT: &str = "AliasNameConflict";

/// A key pending deletion, as its Secret records it once its `KmsKey` is
/// gone (or as the `KmsKey`'s status reports it while being deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingKey {
    pub key_id: String,
    pub key_arn: Option<String>,
    /// When the window ends and the material is destroyed; `None` for a
    /// multi-Region primary whose window waits for its replicas.
    pub deletion_date: Option<Millis>,
}

impl PendingKey {
    pub fn of_secret(secret: &KeySecret, arn: &ArnConfig) -> Option<Self> {
        let record = &secret.record;
        Some(PendingKey {
            key_id: record.key_id.to_string(),
            key_arn: Some(arn.key_arn(record.key_id)),
            deletion_date: record.deletion?.date(),
        })
    }

    fn of_key(key: &KmsKey) -> Option<Self> {
        let status = key.status.as_ref()?;
        let date = |text: &str| text.parse::<k8s_openapi::jiff::Timestamp>().ok();
        let deletion_date = match status.key_state.as_deref() {
            Some("PendingDeletion") => {
                Some(date(status.deletion_date.as_deref()?)?.as_millisecond())
            }
            Some("PendingReplicaDeletion") => None,
            _ => return None,
        };
        Some(PendingKey {
            key_id: status.key_id.clone()?,
            key_arn: status.arn.clone(),
            deletion_date,
        })
    }
}

/// How soon an alias refused for a name another alias holds looks again:
/// the holder's going away is not watched.
const CONFLICT_RETRY: Duration = Duration::from_secs(10);
/// The shortest wait for a key's deletion window to end.
const WINDOW_END_RETRY: Duration = Duration::from_secs(10);

/// The status an alias should show, why it does not resolve if not, and
/// when to look at it again.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    pub status: KmsAliasStatus,
    pub refusal: Option<Refusal>,
    /// Its own spec changing, and its KmsKey appearing, changing or going,
    /// bring the alias back at once through the watches: this is only for
    /// what no watch brings (a window's end, a conflicting alias's going).
    /// Looking sooner would cost two GETs per refused alias each time (a
    /// typo'd `targetKeyRef` in a thousand aliases every 10 s: 200 a second).
    pub look_again: Duration,
}

/// Resolves `alias`. `pending` is the key pending deletion whose Secret
/// is where the missing `target` kept its material, if any.
pub fn status(
    alias: &KmsAlias,
    others: &[std::sync::Arc<KmsAlias>],
    target: Option<&KmsKey>,
    pending: Option<&PendingKey>,
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
            look_again: match reason {
                ALIAS_NAME_CONFLICT => CONFLICT_RETRY,
                _ => REFUSED_RETRY,
            },
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
            ALIAS_NAME_CONFLICT,
            format!(
                "{name} is already defined in this namespace by KmsAlias {}",
                holder.name_any()
            ),
        );
    }
    // Not Ready because of its key: the status names the key the alias
    // still resolves to (one pending deletion), or none.
    let naming = |mut resolution: Resolution, key: Option<PendingKey>| {
        let status = &mut resolution.status;
        status.target_key_id = key.as_ref().map(|k| k.key_id.clone());
        status.target_key_arn = key.and_then(|k| k.key_arn);
        resolution
    };
    let target_name = &alias.spec.target_key_ref.name;
    if let Some(pending) = target.map_or(pending.cloned(), PendingKey::of_key) {
        let id = &pending.key_id;
        let message = match pending.deletion_date {
            Some(date) => format!(
                "KmsKey {target_name} was deleted: key {id} is pending deletion until {}, and this alias names it until then, as in AWS (DescribeKey through it says PendingDeletion, Encrypt is refused). Apply the KmsKey again to cancel the deletion, or point the alias at another key",
                rfc3339(date)
            ),
            None => format!(
                "KmsKey {target_name} was deleted: key {id} is pending replica deletion (its deletion window starts when its replicas are deleted), and this alias names it until then, as in AWS (Encrypt through it is refused). CancelKeyDeletion cancels the deletion; or point the alias at another key"
            ),
        };
        // Ended already (the sweeper is on its way): soon, not in an hour.
        // A wait for replicas ends with the KmsKey going, which is watched.
        let window = pending
            .deletion_date
            .map(|date| Duration::from_millis((date - now).max(0) as u64));
        let mut resolution = naming(refuse(KEY_PENDING_DELETION, message), Some(pending));
        resolution.status.alias_arn = Some(arn.alias_arn(name));
        resolution.look_again = window.map_or(RESYNC, |w| w.clamp(WINDOW_END_RETRY, RESYNC));
        return resolution;
    }
    let Some(key) = target else {
        let message = format!("no KmsKey named {target_name} in this namespace");
        return naming(refuse(KEY_NOT_FOUND, message), None);
    };
    let key_status = key.status.as_ref();
    let ready_key = key_status.and_then(|s| s.key_id.clone()).filter(|_| {
        key.metadata.deletion_timestamp.is_none()
            && key_status.and_then(|s| s.key_state.as_deref()) != Some("PendingDeletion")
    });
    let Some(key_id) = ready_key else {
        let message = format!("KmsKey {target_name} has no usable key yet");
        return naming(refuse(KEY_NOT_READY, message), None);
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
        look_again: RESYNC,
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::key::DAY_MS;

    const NOW: Millis = 1_700_000_000_000;

    fn alias() -> KmsAlias {
        serde_json::from_value(json!({
            "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsAlias",
            "metadata": {"name": "app", "namespace": "team-a", "uid": "uid-a", "generation": 1},
            "spec": {"aliasName": "alias/app", "targetKeyRef": {"name": "app"}},
        }))
        .unwrap()
    }

    /// When the alias is looked at again follows from the key it resolved
    /// to, whichever object told of it: a key pending deletion, at its
    /// window's end (at most an hour away), also while its KmsKey, being
    /// deleted, still shows it.
    #[test]
    fn an_alias_is_looked_at_again_when_its_key_can_next_change() {
        let alias = alias();
        let arn = ArnConfig::default();
        let resolve = |target: Option<&KmsKey>, pending: Option<&PendingKey>| {
            status(&alias, &[], target, pending, &arn, NOW)
        };
        let soon = PendingKey {
            key_id: "k".into(),
            key_arn: None,
            deletion_date: Some(NOW + 60_000),
        };
        let pending = resolve(None, Some(&soon));
        assert_eq!(pending.refusal.unwrap().reason, KEY_PENDING_DELETION);
        assert_eq!(pending.look_again, Duration::from_secs(60));
        let ended = PendingKey {
            deletion_date: Some(NOW - 1),
            ..soon
        };
        assert_eq!(resolve(None, Some(&ended)).look_again, WINDOW_END_RETRY);

        let in_deletion: KmsKey = serde_json::from_value(json!({
            "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
            "metadata": {"name": "app", "namespace": "team-a"},
            "spec": {},
            "status": {"keyId": "k", "keyState": "PendingDeletion",
                "deletionDate": crate::operator::key_status::rfc3339(NOW + 3 * DAY_MS)},
        }))
        .unwrap();
        let shown = resolve(Some(&in_deletion), None);
        assert_eq!(shown.refusal.unwrap().reason, KEY_PENDING_DELETION);
        assert_eq!(shown.look_again, RESYNC);

        // A primary waiting for its replicas: its KmsKey, held Terminating,
        // says so; the alias still names the key, and looks again when the
        // object goes (watched), or in an hour.
        let mut held = in_deletion.clone();
        held.status = Some(
            serde_json::from_value(json!({"keyId": "k", "keyState": "PendingReplicaDeletion"}))
                .unwrap(),
        );
        let waiting = resolve(Some(&held), None);
        let refusal = waiting.refusal.unwrap();
        assert_eq!(refusal.reason, KEY_PENDING_DELETION);
        assert!(
            refusal.message.contains("pending replica deletion"),
            "{}",
            refusal.message
        );
        assert_eq!(waiting.status.target_key_id.as_deref(), Some("k"));
        assert_eq!(waiting.look_again, RESYNC);

        let missing = resolve(None, None);
        assert_eq!(missing.refusal.unwrap().reason, KEY_NOT_FOUND);
        assert_eq!(missing.look_again, REFUSED_RETRY);
    }
}
