//! Imported key material (origin EXTERNAL): where an import goes, what a
//! deletion removes, when material expires, and the on-demand rotation
//! that makes new material current. Pure, as the rest of `lifecycle`.
//!
//! AWS's model: the first material imported into a key is version 1 and
//! belongs to it for good. A symmetric encryption key may take more: new
//! material (`ImportType` `NEW_KEY_MATERIAL`) waits, pending rotation, until
//! RotateKeyOnDemand makes it the next version; until then it is not the
//! key's and may be deleted and replaced by other material. Each version's
//! material may be deleted, may expire, and may be imported again (only the
//! same material); the key is usable only while every version's is there.

use crate::key::{
    ImportedMaterial, KeyRecord, KeyState, MaterialVersion, Millis, PendingMaterial, RotationType,
};
use crate::seal::SealedMaterial;
use crate::spec::ImportType;

/// Where imported material goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// A version of the key: its first material, or one imported again.
    Version(u32),
    /// Pending rotation; it will be this version.
    Pending(u32),
}

impl Placement {
    pub fn version(self) -> u32 {
        match self {
            Placement::Version(v) | Placement::Pending(v) => v,
        }
    }
}

/// Why material cannot go into a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportRefusal {
    /// `EXISTING_KEY_MATERIAL` into a key nothing was imported into yet.
    NothingImported,
    /// `EXISTING_KEY_MATERIAL` of material that is not the key's.
    NotTheKeys,
    /// `NEW_KEY_MATERIAL` that is already the key's, as this version.
    AlreadyTheKeys(u32),
    /// `NEW_KEY_MATERIAL` into a key of a spec that does not rotate.
    DoesNotRotate,
    /// `NEW_KEY_MATERIAL` while other material (this id) waits for rotation.
    OtherPending(String),
    /// `NEW_KEY_MATERIAL` into a multi-Region replica, whose material is its
    /// primary's (in this Region).
    ReplicaTakesPrimarys(String),
}

/// The version material imported as `import_type` is most likely for,
/// before the material (and so its id) is known: the one `material_id`
/// names when given, else the next version for new material, else the
/// current one. The crypto service seals for it; [`place`] decides.
pub fn expected_version(
    key: &KeyRecord,
    import_type: Option<ImportType>,
    material_id: Option<&str>,
) -> u32 {
    if let Some(id) = material_id
        && let Some(known) = known(key, id)
    {
        return known.version();
    }
    match (resolved(key, import_type), key.imported.last()) {
        (ImportType::ExistingKeyMaterial, Some(current)) => current.version,
        _ => key.next_version(),
    }
}

/// `ImportType` as AWS defaults it: new material until some was imported
/// (a replica's material is always its primary's).
fn resolved(key: &KeyRecord, import_type: Option<ImportType>) -> ImportType {
    import_type.unwrap_or(if key.imported.is_empty() && !key.is_replica() {
        ImportType::NewKeyMaterial
    } else {
        ImportType::ExistingKeyMaterial
    })
}

/// Where material of id `material_id` already is, if anywhere: on a
/// replica, the material its primary holds pending rotation too.
fn known(key: &KeyRecord, material_id: &str) -> Option<Placement> {
    if let Some(i) = key.imported.iter().find(|i| i.material_id == material_id) {
        return Some(Placement::Version(i.version));
    }
    let awaited = key.regions.as_ref().and_then(|r| r.pending.as_ref());
    let pending = key.pending_rotation.as_ref().map(|p| &p.material);
    let pending = pending.map(|p| (p.version, p.material_id.as_str()));
    let awaited = awaited.map(|p| (p.version, p.material_id.as_str()));
    pending
        .into_iter()
        .chain(awaited)
        .find(|(_, id)| *id == material_id)
        .map(|(version, _)| Placement::Pending(version))
}

/// Where material of id `material_id`, imported as `import_type`, goes.
pub fn place(
    key: &KeyRecord,
    material_id: &str,
    import_type: Option<ImportType>,
) -> Result<Placement, ImportRefusal> {
    if let Some(regions) = key.regions.as_ref().filter(|r| r.replica)
        && import_type == Some(ImportType::NewKeyMaterial)
    {
        return Err(ImportRefusal::ReplicaTakesPrimarys(regions.primary.clone()));
    }
    let import_type = resolved(key, import_type);
    match (known(key, material_id), import_type) {
        (Some(Placement::Version(v)), ImportType::NewKeyMaterial) => {
            Err(ImportRefusal::AlreadyTheKeys(v))
        }
        // Imported again: a new expiration or description.
        (Some(placement), _) => Ok(placement),
        (None, ImportType::ExistingKeyMaterial) if key.imported.is_empty() => {
            Err(ImportRefusal::NothingImported)
        }
        (None, ImportType::ExistingKeyMaterial) => Err(ImportRefusal::NotTheKeys),
        (None, ImportType::NewKeyMaterial) if key.imported.is_empty() => Ok(Placement::Version(1)),
        (None, ImportType::NewKeyMaterial) if !super::supports_rotation(key.spec) => {
            Err(ImportRefusal::DoesNotRotate)
        }
        (None, ImportType::NewKeyMaterial) => match &key.pending_rotation {
            Some(other) => Err(ImportRefusal::OtherPending(
                other.material.material_id.clone(),
            )),
            None => Ok(Placement::Pending(key.next_version())),
        },
    }
}

/// Applies an import [`place`] placed: `sealed` is the material sealed for
/// `placement`'s version, `imported` what describes it (its `version` and
/// `since` are set here). A key that was pending import is enabled, as in
/// AWS, once it has all its material again.
pub fn import(
    key: &mut KeyRecord,
    placement: Placement,
    sealed: SealedMaterial,
    mut imported: ImportedMaterial,
) {
    let was_pending = key.state() == KeyState::PendingImport;
    imported.version = placement.version();
    match placement {
        Placement::Pending(_) => {
            key.pending_rotation = Some(PendingMaterial {
                material: imported,
                sealed,
            });
        }
        Placement::Version(version) => {
            imported.since = key
                .imported_version(version)
                .map(|p| p.since)
                .filter(|since| *since != 0)
                .or_else(|| key.material(version).map(|m| m.created))
                .unwrap_or(imported.imported);
            let created = imported.since;
            let rotation_type = if version == 1 {
                RotationType::Initial
            } else {
                RotationType::OnDemand
            };
            key.materials.retain(|m| m.version != version);
            let at = key.materials.partition_point(|m| m.version < version);
            key.materials.insert(
                at,
                MaterialVersion {
                    version,
                    created,
                    rotation_type,
                    sealed,
                },
            );
            match key.imported.iter_mut().find(|i| i.version == version) {
                Some(slot) => *slot = imported,
                None => key.imported.push(imported),
            }
        }
    }
    if was_pending && key.state() != KeyState::PendingImport {
        key.enabled = true;
    }
}

/// Which material a DeleteImportedKeyMaterial removes: the one `material_id`
/// names, else the current version's. `None`: the key has no such material.
pub fn deletion_target(key: &KeyRecord, material_id: Option<&str>) -> Option<Placement> {
    match material_id {
        Some(id) => known(key, id),
        None => key.imported.last().map(|i| Placement::Version(i.version)),
    }
}

/// Deletes imported material: a version's sealed material goes (what
/// identifies it stays, so only the same material comes back, and the key
/// is pending import until it does); material pending rotation goes
/// altogether.
pub fn delete(key: &mut KeyRecord, target: Placement) {
    match target {
        Placement::Version(version) => key.materials.retain(|m| m.version != version),
        Placement::Pending(_) => key.pending_rotation = None,
    }
}

/// Makes the material pending rotation the key's current version at `now`
/// (RotateKeyOnDemand of a key of imported material). `false`: none waits.
pub fn rotate(key: &mut KeyRecord, now: Millis) -> bool {
    let Some(PendingMaterial {
        mut material,
        sealed,
    }) = key.pending_rotation.take()
    else {
        return false;
    };
    material.since = now;
    key.materials.push(MaterialVersion {
        version: material.version,
        created: now,
        rotation_type: RotationType::OnDemand,
        sealed,
    });
    key.imported.push(material);
    super::rotated(key, RotationType::OnDemand, now);
    true
}

/// What is known of the material at `placement`, held now or not.
pub fn described(key: &KeyRecord, placement: Placement) -> Option<&ImportedMaterial> {
    match placement {
        Placement::Version(version) => key.imported_version(version),
        Placement::Pending(_) => key.pending_rotation.as_ref().map(|p| &p.material),
    }
}

/// Every imported material of `key` held now, with where it is.
pub fn held(key: &KeyRecord) -> impl Iterator<Item = (Placement, &ImportedMaterial)> {
    let versions = key
        .imported
        .iter()
        .filter(|i| key.material(i.version).is_some())
        .map(|i| (Placement::Version(i.version), i));
    let pending = key
        .pending_rotation
        .iter()
        .map(|p| (Placement::Pending(p.material.version), &p.material));
    versions.chain(pending)
}

/// When the next of `key`'s imported material expires, if any does.
pub fn expiry(key: &KeyRecord) -> Option<Millis> {
    held(key).filter_map(|(_, i)| i.valid_to).min()
}

/// The earliest `ValidTo` of the material that is the key's (DescribeKey's
/// `ValidTo`), if any expires.
pub fn valid_to(key: &KeyRecord) -> Option<Millis> {
    held(key)
        .filter(|(p, _)| matches!(p, Placement::Version(_)))
        .filter_map(|(_, i)| i.valid_to)
        .min()
}

/// Deletes all imported material whose `ValidTo` has come at `now`;
/// returns the ids of what it deleted.
pub fn expire(key: &mut KeyRecord, now: Millis) -> Vec<String> {
    let due: Vec<_> = held(key)
        .filter(|(_, i)| i.valid_to.is_some_and(|at| now >= at))
        .map(|(p, i)| (p, i.material_id.clone()))
        .collect();
    for (placement, _) in &due {
        delete(key, *placement);
    }
    due.into_iter().map(|(_, id)| id).collect()
}

pub mod regions;

#[cfg(test)]
mod tests;
