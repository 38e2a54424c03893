//! What the endpoint's changes to keys and aliases mean as objects: the
//! `KmsKey` patch (or deletion, or re-creation) for a changed key record,
//! the `KmsKey` a new key is declared as, and an alias's object name. Pure.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::key::KeyRecord;
use crate::resource::{MATERIAL_ANNOTATION, MaterialChange, MaterialRequest};

/// What an API change to a key record means for its `KmsKey`.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyChange {
    /// A merge patch of the spec (`None`: nothing to patch).
    Patch(Option<Value>),
    /// ScheduleKeyDeletion: set the window, then delete the object.
    Schedule { window_days: u32 },
    /// CancelKeyDeletion: the object is gone; declare the key again.
    Cancel,
}

/// Decides how `new` (the API's changed record) is written, given `current`.
pub fn key_change(current: &KeyRecord, new: &KeyRecord) -> KeyChange {
    match (current.deletion, new.deletion) {
        (None, Some(deletion)) => {
            return KeyChange::Schedule {
                window_days: deletion.window_days,
            };
        }
        (Some(_), None) => return KeyChange::Cancel,
        _ => {}
    }
    let mut spec = serde_json::Map::new();
    if current.description != new.description {
        spec.insert("description".into(), json!(new.description));
    }
    if current.tags != new.tags {
        // A merge patch merges maps: removed tags must be nulled.
        let mut tags: serde_json::Map<String, Value> = current
            .tags
            .keys()
            .map(|k| (k.clone(), Value::Null))
            .collect();
        tags.extend(new.tags.iter().map(|(k, v)| (k.clone(), json!(v))));
        spec.insert("tags".into(), Value::Object(tags));
    }
    if current.enabled != new.enabled {
        spec.insert("enabled".into(), json!(new.enabled));
    }
    if current.policy != new.policy {
        spec.insert("policy".into(), json!(new.policy));
    }
    let replica_of = |key: &KeyRecord| {
        key.regions
            .as_ref()
            .filter(|r| r.replica)
            .map(|r| r.primary.clone())
    };
    if replica_of(current) != replica_of(new) {
        spec.insert("primaryRegion".into(), json!(replica_of(new)));
    }
    if current.rotation.enabled != new.rotation.enabled
        || (new.rotation.enabled && current.rotation.period_days != new.rotation.period_days)
    {
        spec.insert(
            "rotation".into(),
            json!({"enabled": new.rotation.enabled, "periodDays": new.rotation.period_days}),
        );
    }
    KeyChange::Patch((!spec.is_empty()).then(|| json!({ "spec": spec })))
}

/// The declared form of a key record, for creating its `KmsKey`.
pub fn key_manifest(name: &str, record: &KeyRecord) -> Value {
    let mut spec = json!({
        "description": record.description,
        "keySpec": record.spec,
        "keyUsage": record.usage,
        "enabled": record.enabled,
        "keyId": record.key_id,
        "tags": record.tags,
    });
    if record.rotation.enabled {
        spec["rotation"] = json!({"enabled": true, "periodDays": record.rotation.period_days});
    }
    if let Some(policy) = &record.policy {
        spec["policy"] = json!(policy);
    }
    if !record.origin.is_default() {
        spec["origin"] = json!(record.origin);
    }
    if record.key_id.is_multi_region() {
        spec["multiRegion"] = json!(true);
    }
    if !record.replica_regions.is_empty() {
        // Declared before a CancelKeyDeletion declares the key again.
        spec["replicaRegions"] = json!(record.replica_regions);
    }
    let mut metadata = json!({"name": name, "namespace": record.namespace});
    if let Some(request) = replica_delivery(record) {
        // A replica's material came from its primary: the controller
        // writes it as delivered (never mints it).
        spec["primaryRegion"] = json!(record.regions.as_ref().map(|r| &r.primary));
        metadata["annotations"] = json!({ MATERIAL_ANNOTATION: request.to_annotation() });
    }
    json!({
        "apiVersion": "kubekms.io/v1alpha1",
        "kind": "KmsKey",
        "metadata": metadata,
        "spec": spec,
    })
}

/// The controller's request to write a new replica `record` as delivered
/// (its Regions and every version); `None` for any other key.
pub fn replica_delivery(record: &KeyRecord) -> Option<MaterialRequest> {
    let regions = record.regions.as_ref().filter(|r| r.replica)?;
    let delivered = MaterialChange::Replicate {
        regions: regions.clone(),
        imported: crate::lifecycle::imported::regions::shared(record).0,
        sealed: record
            .materials
            .iter()
            .map(|m| crate::b64::encode(m.sealed.as_bytes()))
            .collect(),
    };
    Some(MaterialRequest::new(delivered, record.created))
}

/// A valid object name for an alias: readable, and unique per alias name.
pub fn alias_object_name(alias_name: &str) -> String {
    let readable: String = alias_name
        .trim_start_matches("alias/")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(200)
        .collect();
    let digest = hex::encode(&Sha256::digest(alias_name.as_bytes())[..4]);
    format!("alias-{}-{digest}", readable.trim_matches('-'))
}
