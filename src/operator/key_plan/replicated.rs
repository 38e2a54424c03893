//! A multi-Region key's replica in a cluster (docs/multi-region.md): its
//! material comes from the primary's Region only, delivered through the
//! endpoint as a `kubekms.io/material` request of sealed versions (this
//! Region's crypto service accepted the primary's packages and sealed
//! them). The controller never mints or rotates a replica; it writes what
//! arrives, after checking each version is this key's. Pure.

use kube::ResourceExt;

use super::{KeyPlan, MaterialChanged, Refusal, minted};
use crate::key::{KeyRecord, MaterialVersion, Millis, Origin, Regions, RotationType};
use crate::resource::{KmsKey, MATERIAL_ANNOTATION, MaterialChange, MaterialRequest};
use crate::seal::SealedMaterial;

/// The plan for a replica `key` with no Secret yet: create it from the
/// delivery waiting in its annotation, or wait for one.
pub(super) fn first(key: &KmsKey, primary: &str, now: Millis) -> KeyPlan {
    // `declared::validate` (already passed) holds a replica to a pinned id.
    let Some(key_id) = key.spec.key_id else {
        return KeyPlan::Refuse(Refusal::new("InvalidSpec", "a replica pins its keyId"));
    };
    let awaiting = || {
        KeyPlan::Refuse(Refusal::new(
            "AwaitingReplication",
            format!(
                "key {key_id} is a replica of the key in {primary}; its material arrives when ReplicateKey is called on the primary's endpoint"
            ),
        ))
    };
    let Some(value) = key.annotations().get(MATERIAL_ANNOTATION) else {
        return awaiting();
    };
    let request = match MaterialRequest::from_annotation(value) {
        Ok(request) => request,
        Err(why) => return KeyPlan::Refuse(Refusal::new("MaterialRefused", why)),
    };
    let MaterialChange::Replicate { regions, sealed } = &request.change else {
        return awaiting();
    };
    let mut secret = minted(key, key_id, None, now);
    if key.spec.origin != Origin::AwsKms {
        let why = "a replica's material is the primary's, not imported (origin AWS_KMS)";
        return KeyPlan::Refuse(Refusal::new("MaterialRefused", why));
    }
    if let Err(why) = apply(&mut secret.record, regions, sealed, now) {
        return KeyPlan::Refuse(Refusal::new("MaterialRefused", why));
    }
    if secret.record.materials.is_empty() {
        return awaiting();
    }
    secret.material_handled = Some(request.request);
    KeyPlan::Replica(Box::new(secret))
}

/// Adds the delivered versions `record` lacks (each checked to be its
/// own: key id, key spec and usage) and takes `regions` as the key's.
pub(super) fn apply(
    record: &mut KeyRecord,
    regions: &Regions,
    sealed: &[String],
    now: Millis,
) -> Result<MaterialChanged, String> {
    if !record.key_id.is_multi_region() || record.origin != Origin::AwsKms {
        return Err(format!(
            "key {} is not a multi-Region key of AWS_KMS material",
            record.key_id
        ));
    }
    let mut arriving = Vec::with_capacity(sealed.len());
    for b64 in sealed {
        let sealed = crate::b64::decode(b64)
            .map(SealedMaterial::from_bytes)
            .map_err(|_| "the sealed material is not base64".to_owned())?;
        let header = sealed.header().map_err(|e| e.to_string())?.material;
        if (header.key_id, header.spec, header.usage) != (record.key_id, record.spec, record.usage)
        {
            return Err(format!(
                "the sealed material is for key {} ({} {}), not this key ({} {})",
                header.key_id, header.spec, header.usage, record.spec, record.usage
            ));
        }
        arriving.push(MaterialVersion {
            version: header.version,
            created: now,
            rotation_type: match header.version {
                1 => RotationType::Initial,
                _ => RotationType::OnDemand,
            },
            sealed,
        });
    }
    for material in arriving {
        if record.material(material.version).is_none() {
            record.materials.push(material);
        }
    }
    record.materials.sort_by_key(|m| m.version);
    record.regions = Some(regions.clone());
    Ok(MaterialChanged::Replicated)
}
