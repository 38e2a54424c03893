//! A multi-Region key's replica in a cluster (docs/multi-region.md): its
//! material comes from the primary's Region only, delivered through the
//! endpoint as a `kubekms.io/material` request of sealed versions (this
//! Region's crypto service accepted the primary's packages and sealed
//! them). The controller never mints or rotates a replica; it writes what
//! arrives, after checking each version is this key's. A replica of
//! imported material gets none: only which material is which version, its
//! owner importing each here (`lifecycle::imported::regions`). Pure.

use kube::ResourceExt;

use super::{KeyPlan, MaterialChanged, Refusal, minted};
use crate::key::{
    KeyRecord, MaterialVersion, Millis, Origin, Regions, RotationType, SharedMaterial,
};
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
        let mut message = format!(
            "key {key_id} is a replica of the key in {primary}; its material arrives when the primary replicates it here (ReplicateKey on its endpoint, its replicaRegions, or the endpoint here asking it at each replica sync)"
        );
        // What the primary's Region answered the endpoint's last ask.
        if let Some(refusal) = key
            .status
            .as_ref()
            .and_then(|s| s.replication_refusal.as_ref())
        {
            message.push_str(&format!(
                "; asked, refused since {}: {}",
                refusal.since, refusal.message
            ));
        }
        KeyPlan::Refuse(Refusal::new("AwaitingReplication", message))
    };
    let Some(value) = key.annotations().get(MATERIAL_ANNOTATION) else {
        return awaiting();
    };
    let request = match MaterialRequest::from_annotation(value) {
        Ok(request) => request,
        Err(why) => return KeyPlan::Refuse(Refusal::new("MaterialRefused", why)),
    };
    let MaterialChange::Replicate {
        regions,
        sealed,
        imported,
    } = &request.change
    else {
        return awaiting();
    };
    let mut secret = minted(key, key_id, None, now);
    if let Err(why) = apply(&mut secret.record, regions, (sealed, imported), now) {
        return KeyPlan::Refuse(Refusal::new("MaterialRefused", why));
    }
    // Made when its versions are known: held (generated material) or to
    // be imported here (imported material, pending import until then).
    if secret.record.materials.is_empty() && secret.record.imported.is_empty() {
        return awaiting();
    }
    secret.material_handled = Some(request.request);
    KeyPlan::Replica(Box::new(secret))
}

/// Adds the delivered versions `record` lacks (each checked to be its
/// own: key id, key spec and usage) and takes `regions` as the key's; a
/// replica of imported material follows its primary's `imported` instead.
pub(super) fn apply(
    record: &mut KeyRecord,
    regions: &Regions,
    (sealed, imported): (&[String], &[SharedMaterial]),
    now: Millis,
) -> Result<MaterialChanged, String> {
    if !record.key_id.is_multi_region() {
        return Err(format!("key {} is not a multi-Region key", record.key_id));
    }
    // A replica declared (from Git) of another origin than its primary's.
    if record.origin == Origin::External && !sealed.is_empty() {
        return Err("the replica is declared of imported material (origin EXTERNAL), but its primary's material is generated (AWS_KMS)".into());
    }
    if record.origin == Origin::AwsKms && !imported.is_empty() {
        return Err("the replica is declared of generated material (origin AWS_KMS), but its primary's is imported: declare it with origin EXTERNAL".into());
    }
    if record.origin == Origin::External {
        record.regions = Some(regions.clone());
        let pending = regions.pending.as_deref().cloned();
        crate::lifecycle::imported::regions::follow(record, imported, pending, now);
        return Ok(MaterialChanged::Replicated);
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
