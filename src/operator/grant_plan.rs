//! What a `KmsGrant` shows in its status: its grant id, the key it is on,
//! and whether that key takes it. Pure. (The endpoint reads grants from
//! their spec; the status is for whoever applied the object.)

use std::time::Duration;

use super::alias_plan::{KEY_NOT_FOUND, KEY_NOT_READY};
use super::key_status::rfc3339;
use super::{REFUSED_RETRY, RESYNC};
use crate::cluster::grants::grant_id;
use crate::grant;
use crate::key::Millis;
use crate::resource::{Condition, KmsGrant, KmsGrantStatus, KmsKey};

/// A grant its key cannot take (an operation the key's type does not
/// serve, constraints on a key that is not symmetric): it allows nothing
/// of what the key refuses anyway, and says so here.
pub const INVALID_GRANT: &str = "InvalidGrant";
pub const GRANTED: &str = "Granted";

/// The status `grant` should show with its KmsKey `key` (if there is one),
/// and when to look again if nothing it watches changes.
pub fn status(grant: &KmsGrant, key: Option<&KmsKey>, now: Millis) -> (KmsGrantStatus, Duration) {
    let mut status = KmsGrantStatus {
        grant_id: grant.metadata.uid.as_deref().map(grant_id),
        key_id: None,
        conditions: Vec::new(),
        observed_generation: grant.metadata.generation,
    };
    let key_name = &grant.spec.key_ref.name;
    let key_id = key
        .and_then(|k| k.status.as_ref())
        .and_then(|s| s.key_id.clone());
    status.key_id = key_id.clone();
    let (ready, reason, message, look_again) = match (key, key_id) {
        (None, _) => (
            "False",
            KEY_NOT_FOUND,
            format!("no KmsKey named {key_name} in this namespace"),
            REFUSED_RETRY,
        ),
        (Some(_), None) => (
            "False",
            KEY_NOT_READY,
            format!("KmsKey {key_name} has no key yet"),
            REFUSED_RETRY,
        ),
        (Some(key), Some(key_id)) => {
            let spec = &grant.spec;
            let constraints = spec.constraints();
            match grant::misfit(
                key.spec.key_spec,
                key.spec.key_usage,
                &spec.operations,
                &constraints,
            ) {
                Some(why) => ("False", INVALID_GRANT, why, RESYNC),
                None => {
                    let operations: Vec<&str> =
                        spec.operations.iter().map(|op| op.as_str()).collect();
                    let message = format!(
                        "{} may {} with key {key_id}",
                        spec.grantee_principal,
                        operations.join(", ")
                    );
                    ("True", GRANTED, message, RESYNC)
                }
            }
        }
    };
    let previous = grant.status.as_ref().map_or(&[][..], |s| &s.conditions[..]);
    status.conditions = vec![Condition::ready(
        previous,
        ready,
        reason,
        &message,
        grant.metadata.generation,
        || rfc3339(now),
    )];
    (status, look_again)
}

#[cfg(test)]
mod tests;
