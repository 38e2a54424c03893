//! Imported material across a multi-Region key's Regions. As in AWS, each
//! Region imports the same material itself: only which material is which
//! version travels, from the primary to its replicas. New material is
//! imported into the primary first (pending rotation), then into every
//! replica, and only then may the primary rotate onto it. Pure.

use crate::key::{
    ImportedMaterial, KeyRecord, MaterialVersion, Millis, PendingMaterial, RotationType,
    SharedMaterial,
};

/// What the primary `key` shares of its imported material: its versions,
/// and the material pending rotation.
pub fn shared(key: &KeyRecord) -> (Vec<SharedMaterial>, Option<SharedMaterial>) {
    let versions = key
        .imported
        .iter()
        .map(|i| SharedMaterial {
            version: i.version,
            material_id: i.material_id.clone(),
            since: i.since,
        })
        .collect();
    let pending = key.pending_rotation.as_ref().map(|p| SharedMaterial {
        version: p.material.version,
        material_id: p.material.material_id.clone(),
        since: 0,
    });
    (versions, pending)
}

/// A replica takes its primary's imported material as shared: a version it
/// does not know is listed (the replica is pending import until that
/// material is imported here), unless its material was imported here ahead,
/// pending rotation, which then becomes that version. Material pending
/// rotation the primary no longer has goes, as AWS deletes the replicas'
/// with the primary's. A primary (or a key of no Regions) is left as it
/// is: its material is its own.
pub fn follow(
    key: &mut KeyRecord,
    versions: &[SharedMaterial],
    pending: Option<SharedMaterial>,
    now: Millis,
) {
    if !key.is_replica() {
        return;
    }
    for shared in versions {
        if key.imported_version(shared.version).is_some() {
            continue;
        }
        let since = match shared.since {
            0 => now,
            since => since,
        };
        let ahead = key
            .pending_rotation
            .take_if(|p| p.material.material_id == shared.material_id);
        let imported = match ahead {
            Some(PendingMaterial { material, sealed }) if material.version == shared.version => {
                key.materials.push(MaterialVersion {
                    version: shared.version,
                    created: since,
                    rotation_type: match shared.version {
                        1 => RotationType::Initial,
                        _ => RotationType::OnDemand,
                    },
                    sealed,
                });
                ImportedMaterial { since, ..material }
            }
            // Sealed for another version than the primary made it (it
            // cannot be used as this one): imported again here.
            _ => ImportedMaterial {
                material_id: shared.material_id.clone(),
                valid_to: None,
                description: String::new(),
                imported: 0,
                version: shared.version,
                since,
            },
        };
        key.imported.push(imported);
    }
    key.imported.sort_by_key(|i| i.version);
    key.materials.sort_by_key(|m| m.version);
    let still = |id: &str| pending.as_ref().is_some_and(|p| p.material_id == id);
    if key
        .pending_rotation
        .as_ref()
        .is_some_and(|p| !still(&p.material.material_id))
    {
        key.pending_rotation = None;
    }
    if let Some(regions) = key.regions.as_mut() {
        regions.pending = pending.map(Box::new);
    }
}

/// The id of the material pending rotation a replica holds ("" for none):
/// what it tells its primary.
pub fn pending_held(key: &KeyRecord) -> &str {
    key.pending_rotation
        .as_ref()
        .map_or("", |p| p.material.material_id.as_str())
}

/// The Regions of the primary `key`'s replicas that have not said they hold
/// its material pending rotation (none while nothing is pending).
pub fn awaiting(key: &KeyRecord) -> Vec<&str> {
    let Some(pending) = &key.pending_rotation else {
        return Vec::new();
    };
    key.regions
        .iter()
        .filter(|r| !r.replica)
        .flat_map(|r| &r.replicas)
        .filter(|r| r.pending_imported != pending.material.material_id)
        .map(|r| r.region.as_str())
        .collect()
}

/// Records on the primary `key` what `region`'s replica said it holds
/// pending rotation (its id, or "").
pub fn record_held(key: &mut KeyRecord, region: &str, held: &str) {
    let replicas = key.regions.iter_mut().flat_map(|r| &mut r.replicas);
    for replica in replicas.filter(|r| r.region == region) {
        replica.pending_imported = held.to_owned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{Origin, Regions, Replica};
    use crate::lifecycle::imported::{ImportRefusal, Placement, import, place};
    use crate::seal::SealedMaterial;
    use crate::spec::ImportType;

    const NOW: Millis = 1_700_000_000_000;

    fn material(id: &str, version: u32, since: Millis) -> ImportedMaterial {
        ImportedMaterial {
            material_id: id.into(),
            valid_to: None,
            description: String::new(),
            imported: NOW,
            version,
            since,
        }
    }

    /// A primary of imported material holding `ids` as versions 1.., with
    /// replicas in `regions`.
    fn primary(ids: &[&str], regions: &[&str]) -> KeyRecord {
        let mut key = KeyRecord::test(NOW);
        key.origin = Origin::External;
        key.materials.clear();
        for (i, id) in ids.iter().enumerate() {
            let version = i as u32 + 1;
            let m = material(id, version, NOW + i as Millis);
            import(
                &mut key,
                Placement::Version(version),
                SealedMaterial::from_bytes(vec![version as u8]),
                m,
            );
        }
        key.regions = Some(Regions {
            primary: "us-east-1".into(),
            replicas: regions
                .iter()
                .map(|r| Replica {
                    region: (*r).into(),
                    ..Replica::default()
                })
                .collect(),
            ..Regions::default()
        });
        key
    }

    /// Imports material `id` as `import_type` where it goes in `key`.
    fn take(key: &mut KeyRecord, id: &str, import_type: Option<ImportType>) -> Placement {
        let placement = place(key, id, import_type).unwrap();
        let sealed = SealedMaterial::from_bytes(vec![placement.version() as u8]);
        import(key, placement, sealed, material(id, 0, 0));
        placement
    }

    /// A new replica of `primary`: no material, its Regions.
    fn replica_of(primary: &KeyRecord) -> KeyRecord {
        let mut key = primary.clone();
        key.materials.clear();
        key.imported.clear();
        key.pending_rotation = None;
        key.regions = Some(Regions::test_replica("us-east-1", &["eu-west-1"]));
        let (versions, pending) = super::shared(primary);
        follow(&mut key, &versions, pending, NOW + 99);
        key
    }

    #[test]
    fn a_replica_is_pending_import_until_it_has_each_of_its_primarys_materials() {
        use crate::key::KeyState;
        let primary = primary(&["aa", "bb"], &["eu-west-1"]);
        let mut replica = replica_of(&primary);
        assert_eq!(replica.state(), KeyState::PendingImport);
        assert_eq!(replica.imported.len(), 2);
        // The versions are the primary's, since when too; nothing held yet.
        assert_eq!(replica.imported[1].since, primary.imported[1].since);
        assert_eq!(replica.imported[1].imported, 0);
        // Only the primary's materials go in, each as its version; a
        // replica never takes new material of its own.
        assert_eq!(place(&replica, "cc", None), Err(ImportRefusal::NotTheKeys));
        assert_eq!(
            place(&replica, "cc", Some(ImportType::NewKeyMaterial)),
            Err(ImportRefusal::ReplicaTakesPrimarys("us-east-1".into()))
        );
        assert_eq!(
            place(&replica, "aa", Some(ImportType::NewKeyMaterial)),
            Err(ImportRefusal::ReplicaTakesPrimarys("us-east-1".into()))
        );
        for (id, version) in [("bb", 2), ("aa", 1)] {
            assert_eq!(take(&mut replica, id, None), Placement::Version(version));
        }
        assert_eq!(replica.state(), KeyState::Enabled);
        assert_eq!(replica.materials.len(), 2);
        // Taken again: nothing changes.
        let before = replica.clone();
        let (versions, pending) = super::shared(&primary);
        follow(&mut replica, &versions, pending, NOW + 500);
        assert_eq!(replica, before);
    }

    #[test]
    fn new_material_reaches_every_replica_before_the_primary_rotates_onto_it() {
        use crate::key::KeyState;
        let mut primary = primary(&["aa"], &["eu-west-1", "ap-south-1"]);
        let mut replica = replica_of(&primary);
        take(&mut replica, "aa", None);
        assert!(awaiting(&primary).is_empty(), "nothing pending");

        // New material, pending rotation on the primary.
        assert_eq!(
            take(&mut primary, "bb", Some(ImportType::NewKeyMaterial)),
            Placement::Pending(2)
        );
        assert_eq!(awaiting(&primary), ["eu-west-1", "ap-south-1"]);
        let (versions, pending) = super::shared(&primary);
        follow(&mut replica, &versions, pending.clone(), NOW);
        assert_eq!(
            replica.regions.as_ref().unwrap().pending,
            pending.map(Box::new)
        );
        // The replica takes it, pending rotation as on the primary, and is
        // usable meanwhile.
        assert_eq!(pending_held(&replica), "");
        assert_eq!(take(&mut replica, "bb", None), Placement::Pending(2));
        assert_eq!(replica.state(), KeyState::Enabled);
        assert_eq!(pending_held(&replica), "bb");
        record_held(&mut primary, "eu-west-1", pending_held(&replica));
        assert_eq!(awaiting(&primary), ["ap-south-1"]);
        record_held(&mut primary, "ap-south-1", "bb");
        assert!(awaiting(&primary).is_empty());

        // The primary rotates: the replica's material becomes version 2
        // there too, since the rotation.
        assert!(crate::lifecycle::imported::rotate(&mut primary, NOW + 7));
        let (versions, pending) = super::shared(&primary);
        assert_eq!(pending, None);
        follow(&mut replica, &versions, pending, NOW + 50);
        assert_eq!(replica.pending_rotation, None);
        assert_eq!(replica.regions.as_ref().unwrap().pending, None);
        assert_eq!(replica.current().map(|m| m.version), Some(2));
        assert_eq!(replica.current().unwrap().created, NOW + 7);
        assert_eq!(replica.imported_version(2).unwrap().since, NOW + 7);
        assert_eq!(replica.state(), KeyState::Enabled);
        // Recorded against the rotation's material, none awaits now.
        assert!(awaiting(&primary).is_empty());
    }

    #[test]
    fn a_replica_without_the_new_material_is_pending_import_after_the_rotation() {
        use crate::key::KeyState;
        let mut primary = primary(&["aa"], &["eu-west-1"]);
        let mut replica = replica_of(&primary);
        take(&mut replica, "aa", None);
        take(&mut primary, "bb", Some(ImportType::NewKeyMaterial));
        crate::lifecycle::imported::rotate(&mut primary, NOW + 7);
        let (versions, pending) = super::shared(&primary);
        follow(&mut replica, &versions, pending, NOW + 50);
        assert_eq!(replica.state(), KeyState::PendingImport);
        let placement = place(&replica, "bb", None).unwrap();
        assert_eq!(placement, Placement::Version(2));
    }

    #[test]
    fn material_the_primary_no_longer_holds_pending_goes_from_its_replicas() {
        let mut primary = primary(&["aa"], &["eu-west-1"]);
        let mut replica = replica_of(&primary);
        take(&mut primary, "bb", Some(ImportType::NewKeyMaterial));
        let (versions, pending) = super::shared(&primary);
        follow(&mut replica, &versions, pending, NOW);
        take(&mut replica, "bb", None);
        // Deleted on the primary, then other new material imported there.
        crate::lifecycle::imported::delete(&mut primary, Placement::Pending(2));
        let (versions, pending) = super::shared(&primary);
        follow(&mut replica, &versions, pending, NOW);
        assert_eq!(replica.pending_rotation, None);
        assert_eq!(replica.regions.as_ref().unwrap().pending, None);
        assert_eq!(place(&replica, "bb", None), Err(ImportRefusal::NotTheKeys));
        take(&mut primary, "cc", Some(ImportType::NewKeyMaterial));
        record_held(&mut primary, "eu-west-1", "bb");
        assert_eq!(awaiting(&primary), ["eu-west-1"], "held other material");
        let (versions, pending) = super::shared(&primary);
        follow(&mut replica, &versions, pending, NOW);
        assert_eq!(place(&replica, "cc", None), Ok(Placement::Pending(2)));
    }

    #[test]
    fn a_primary_is_left_as_it_is() {
        let mut primary = primary(&["aa"], &["eu-west-1"]);
        take(&mut primary, "bb", Some(ImportType::NewKeyMaterial));
        let before = primary.clone();
        follow(&mut primary, &[], None, NOW);
        assert_eq!(primary, before, "its material pending rotation kept");
    }

    #[test]
    fn a_replica_made_before_anything_was_imported_takes_nothing_as_new() {
        let mut replica = primary(&[], &[]);
        replica.regions = Some(Regions::test_replica("us-east-1", &[]));
        assert_eq!(
            place(&replica, "aa", None),
            Err(ImportRefusal::NothingImported)
        );
    }
}
