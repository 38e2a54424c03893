//! `KmsGrant` objects as the endpoint reads them: grants whose id is the
//! SHA-256 of the object's UID, on the `KmsKey` they name. Pure.

use kube::ResourceExt;
use sha2::{Digest, Sha256};

use crate::grant::GrantRecord;
use crate::key::Millis;
use crate::key_id::KeyId;
use crate::resource::KmsGrant;

/// Annotation on a `KmsGrant` the endpoint made: the ARN of the principal
/// whose CreateGrant made it.
pub const ISSUER_ANNOTATION: &str = "kubekms.io/issuer";

/// The grant id of the object with this UID: stable for the object's life,
/// never reused by another.
pub fn grant_id(uid: &str) -> String {
    hex::encode(Sha256::digest(uid.as_bytes()))
}

/// A `KmsGrant`, waiting for its key to be known.
#[derive(Debug, Clone)]
pub struct GrantEntry {
    pub namespace: String,
    /// The object's name.
    pub object: String,
    /// The `KmsKey` it is on.
    pub key_name: String,
    /// The grant, but for its key id.
    grant: GrantRecord,
}

impl GrantEntry {
    /// The grant, on the key with id `key_id`.
    pub fn record(&self, key_id: KeyId) -> GrantRecord {
        GrantRecord {
            key_id,
            ..self.grant.clone()
        }
    }

    pub fn grant_id(&self) -> &str {
        &self.grant.grant_id
    }
}

/// The grant an object declares; none until the API server has given it a
/// UID.
pub fn grant_entry(object: &KmsGrant) -> Option<GrantEntry> {
    let uid = object.metadata.uid.as_deref()?;
    let spec = &object.spec;
    let created: Millis = object
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or(0, |t| t.0.as_millisecond());
    Some(GrantEntry {
        namespace: object.namespace().unwrap_or_default(),
        object: object.name_any(),
        key_name: spec.key_ref.name.clone(),
        grant: spec.record(
            grant_id(uid),
            KeyId::from_bytes([0; 16]),
            created,
            object
                .annotations()
                .get(ISSUER_ANNOTATION)
                .cloned()
                .unwrap_or_default(),
        ),
    })
}

/// The object that declares `grant` on the `KmsKey` `key_name`, for the
/// endpoint to create (the API server names it).
pub fn grant_object(key_name: &str, grant: &GrantRecord) -> serde_json::Value {
    let mut spec = serde_json::json!({
        "keyRef": {"name": key_name},
        "granteePrincipal": grant.grantee,
        "operations": grant.operations,
    });
    if let Some(retiring) = &grant.retiring {
        spec["retiringPrincipal"] = retiring.clone().into();
    }
    if !grant.constraints.is_empty() {
        spec["constraints"] =
            serde_json::to_value(&grant.constraints).expect("constraints serialize");
    }
    if let Some(name) = &grant.name {
        spec["grantName"] = name.clone().into();
    }
    serde_json::json!({
        "apiVersion": crate::resource::API_VERSION,
        "kind": "KmsGrant",
        "metadata": {
            "generateName": "grant-",
            "annotations": {ISSUER_ANNOTATION: grant.issuer},
        },
        "spec": spec,
    })
}
