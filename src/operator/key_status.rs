//! The status a `KmsKey` should show. Pure; written only when it differs
//! from what is there, so our own status writes never start a hot loop.

use super::key_plan::Refusal;
use crate::api::ArnConfig;
use crate::key::{KeyRecord, KeyState, Millis, Origin, RotationType};
use crate::resource::{Condition, KmsKey, KmsKeyStatus, MaterialVersionStatus};

pub fn rfc3339(ms: Millis) -> String {
    let ts = k8s_openapi::jiff::Timestamp::from_millisecond(ms).unwrap_or_default();
    // Whole seconds, as Kubernetes writes times.
    ts.round(k8s_openapi::jiff::Unit::Second)
        .unwrap_or(ts)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Status for a key whose record is `record`.
pub fn reconciled(
    key: &KmsKey,
    record: &KeyRecord,
    arn: &ArnConfig,
    rotate_handled: Option<String>,
    now: Millis,
) -> KmsKeyStatus {
    let state = record.state().as_str();
    // Imported: the current version is the newest imported, while its
    // material is deleted too.
    let current = match record.origin {
        Origin::External => record.imported.last().map(|i| i.version),
        Origin::AwsKms => record.current().map(|m| m.version),
    };
    let mut message = match current {
        _ if record.state() == KeyState::PendingImport => imported_missing(record),
        Some(v) => format!("{state}; material version {v}"),
        None => state.to_owned(),
    };
    if let Some(waiting) = &record.pending_rotation {
        message.push_str(&format!(
            "; imported material {} waits for an on-demand rotation to make it version {}",
            waiting.material.material_id, waiting.material.version
        ));
    }
    KmsKeyStatus {
        key_id: Some(record.key_id.to_string()),
        arn: Some(arn.key_arn(record.key_id)),
        key_state: Some(state.to_owned()),
        creation_date: Some(rfc3339(record.created)),
        current_version: current,
        versions: record
            .materials
            .iter()
            .map(|m| MaterialVersionStatus {
                version: m.version,
                created: rfc3339(m.created),
                rotation_type: match m.rotation_type {
                    RotationType::Initial => "Initial",
                    RotationType::Automatic => "Automatic",
                    RotationType::OnDemand => "OnDemand",
                }
                .to_owned(),
            })
            .collect(),
        next_rotation_date: record
            .rotation
            .next
            .filter(|_| record.deletion.is_none())
            .map(rfc3339),
        deletion_date: record.deletion.and_then(|d| d.date()).map(rfc3339),
        last_rotate_request: rotate_handled,
        conditions: vec![ready(key, "True", "Reconciled", message, now)],
        observed_generation: key.metadata.generation,
        // Set once: the endpoint records uses from then on.
        usage_tracked_since: key
            .status
            .as_ref()
            .and_then(|s| s.usage_tracked_since.clone())
            .or_else(|| Some(rfc3339(now))),
        // The endpoint's fields, never the controller's (see
        // `without_endpoint_fields`).
        last_usage: None,
        replication_refusal: None,
    }
}

/// What a key pending import lacks, and how it gets it back.
fn imported_missing(record: &KeyRecord) -> String {
    let missing: Vec<_> = record
        .imported
        .iter()
        .filter(|i| record.material(i.version).is_none())
        .map(|i| i.version.to_string())
        .collect();
    if missing.is_empty() {
        return "PendingImport: the key has no material until it is imported (GetParametersForImport, ImportKeyMaterial)".into();
    }
    format!(
        "PendingImport: the material of version {} was deleted or expired; the key is usable again once the same material is imported (ImportKeyMaterial)",
        missing.join(", ")
    )
}

/// `status` without what the endpoint writes there (a key's last use, a
/// declared replica's refusal): what the controller compares and applies.
/// Its server-side apply leaves the endpoint's fields alone only if it
/// never sends them.
pub fn without_endpoint_fields(status: &KmsKeyStatus) -> KmsKeyStatus {
    KmsKeyStatus {
        last_usage: None,
        replication_refusal: None,
        ..status.clone()
    }
}

/// Ready's reason while the key's Secret is being deleted but held by the
/// finalizer: the key works, and will until its KmsKey is deleted.
pub const SECRET_BEING_DELETED: &str = "SecretBeingDeleted";

/// Says in `status` (of a usable key) that its Secret `secret` is being
/// deleted and held; returns what it says.
pub fn held(key: &KmsKey, status: &mut KmsKeyStatus, secret: &str, now: Millis) -> String {
    let state = status.key_state.clone().unwrap_or_default();
    let message = format!(
        "{state}; Secret {secret} is being deleted, but the finalizer {} holds it, material and all, so the key keeps working. Deleting a key is deleting its KmsKey (which waits out the deletion window); to keep the key in another namespace, see `kube-kms move-key`",
        super::key_secret::MATERIAL_FINALIZER
    );
    status.conditions = vec![ready(
        key,
        "True",
        SECRET_BEING_DELETED,
        message.clone(),
        now,
    )];
    message
}

/// Status for a key that could not be reconciled: what was known stays.
pub fn refused(key: &KmsKey, refusal: &Refusal, now: Millis) -> KmsKeyStatus {
    let mut status = key.status.clone().unwrap_or_default();
    status.conditions = vec![ready(
        key,
        "False",
        refusal.reason,
        refusal.message.clone(),
        now,
    )];
    status.observed_generation = key.metadata.generation;
    status
}

/// The Ready condition, keeping the previous transition time when the
/// status did not change.
fn ready(key: &KmsKey, status: &str, reason: &str, message: String, now: Millis) -> Condition {
    let previous = key.status.as_ref().map_or(&[][..], |s| &s.conditions[..]);
    Condition::ready(
        previous,
        status,
        reason,
        &message,
        key.metadata.generation,
        || rfc3339(now),
    )
}
