//! Material the endpoint brings to a cluster: ImportKeyMaterial and
//! DeleteImportedKeyMaterial, and a multi-Region key's versions and Regions
//! delivered from its primary (or its own Regions changed), become a
//! `kubekms.io/material` request on the key's KmsKey
//! (`resource::material_request`), which the controller carries out and
//! then removes. While one is there another is refused
//! (ConflictException) rather than overwriting it, which would leave its
//! caller waiting for a change that never comes.

use kube::{Api, ResourceExt};

use crate::key::{ImportedMaterial, KeyRecord, Millis, Origin};
use crate::lifecycle::imported;
use crate::operator::key_status::rfc3339;
use crate::resource::{KmsKey, MATERIAL_ANNOTATION, MaterialChange, MaterialRequest};
use crate::seal::SealedMaterial;
use crate::store::StoreError;

/// What describes imported material, but when it was imported (the
/// controller's clock, not the endpoint's).
type Described<'a> = (&'a str, Option<Millis>, &'a str);

fn described(imported: &ImportedMaterial) -> Described<'_> {
    (
        imported.material_id.as_str(),
        imported.valid_to,
        imported.description.as_str(),
    )
}

/// The imported material `key` holds now (a version's or pending
/// rotation) with the id `material_id`.
fn held<'a>(key: &'a KeyRecord, material_id: &str) -> Option<&'a ImportedMaterial> {
    imported::held(key)
        .map(|(_, i)| i)
        .find(|i| i.material_id == material_id)
}

/// The material change that turns `current` into `new`, if their material
/// differs: `None` when it does not; `Some(None)` for a change this store
/// does not carry out (anything but importing or deleting one imported
/// material).
pub fn change(current: &KeyRecord, new: &KeyRecord) -> Option<Option<MaterialChange>> {
    let same = |a: &KeyRecord, b: &KeyRecord| {
        (&a.materials, &a.imported, &a.pending_rotation)
            == (&b.materials, &b.imported, &b.pending_rotation)
    };
    if same(current, new) && current.regions == new.regions {
        return None;
    }
    if new.key_id.is_multi_region() && new.origin == Origin::AwsKms {
        return Some(replicate(current, new));
    }
    if new.origin != Origin::External {
        return Some(None);
    }
    if new.key_id.is_multi_region()
        && let Some(followed) = follow(current, new)
    {
        return Some(Some(followed));
    }
    let changes = changes(current, new);
    match changes.as_slice() {
        [one] if current.regions == new.regions => Some(Some(one.clone())),
        _ => Some(None),
    }
}

/// A multi-Region key of imported material's change of Regions, or a
/// replica's following its primary's material: what the controller's own
/// `follow` of the same shared versions turns `current` into.
fn follow(current: &KeyRecord, new: &KeyRecord) -> Option<MaterialChange> {
    let regions = new.regions.clone()?;
    let (versions, _) = imported::regions::shared(new);
    let mut expected = current.clone();
    expected.regions = Some(regions.clone());
    let pending = regions.pending.as_deref().cloned();
    // Every version `new` lists has its `since`: no clock is read.
    imported::regions::follow(&mut expected, &versions, pending, 0);
    let same = (
        &expected.materials,
        &expected.imported,
        &expected.pending_rotation,
    ) == (&new.materials, &new.imported, &new.pending_rotation);
    same.then(|| MaterialChange::Replicate {
        regions,
        sealed: Vec::new(),
        imported: versions,
    })
}

/// A multi-Region key's change of Regions, or versions added from its
/// primary (a replica's; the endpoint never mints): every version
/// `current` holds is kept as it is.
fn replicate(current: &KeyRecord, new: &KeyRecord) -> Option<MaterialChange> {
    let regions = new.regions.clone()?;
    let kept = current
        .materials
        .iter()
        .all(|m| new.material(m.version) == Some(m))
        && (&current.imported, &current.pending_rotation) == (&new.imported, &new.pending_rotation);
    let added = new
        .materials
        .iter()
        .filter(|m| current.material(m.version).is_none());
    kept.then(|| MaterialChange::Replicate {
        imported: Vec::new(),
        regions,
        sealed: added
            .map(|m| crate::b64::encode(m.sealed.as_bytes()))
            .collect(),
    })
}

/// Each imported material `new` holds differently from `current`.
fn changes(current: &KeyRecord, new: &KeyRecord) -> Vec<MaterialChange> {
    let import = |sealed: &SealedMaterial, i: &ImportedMaterial, pending| MaterialChange::Import {
        sealed: crate::b64::encode(sealed.as_bytes()),
        material_id: i.material_id.clone(),
        valid_to: i.valid_to,
        description: i.description.clone(),
        version: i.version,
        pending,
    };
    let delete = |i: &ImportedMaterial| MaterialChange::Delete {
        material_id: Some(i.material_id.clone()),
    };
    let mut changes = Vec::new();
    match (&current.pending_rotation, &new.pending_rotation) {
        (was, Some(now)) if was.as_ref() != Some(now) => {
            changes.push(import(&now.sealed, &now.material, true))
        }
        (Some(was), None) => changes.push(delete(&was.material)),
        _ => {}
    }
    for imported in &new.imported {
        let version = imported.version;
        let was = (current.material(version), current.imported_version(version));
        match (new.material(version), was) {
            (Some(now), (Some(m), Some(i))) if (m, i) == (now, imported) => {}
            (Some(now), _) => changes.push(import(&now.sealed, imported, false)),
            (None, (Some(_), _)) => changes.push(delete(imported)),
            (None, _) => {}
        }
    }
    changes
}

/// Whether `shown` (what the index holds now) has `change` carried out.
pub fn carried_out(shown: &KeyRecord, change: &MaterialChange) -> bool {
    match change {
        MaterialChange::Delete {
            material_id: Some(id),
        } => held(shown, id).is_none(),
        MaterialChange::Delete { material_id: None } => shown
            .imported
            .last()
            .is_none_or(|i| held(shown, &i.material_id).is_none()),
        MaterialChange::Import {
            material_id,
            valid_to,
            description,
            ..
        } => held(shown, material_id).map(described) == Some((material_id, *valid_to, description)),
        MaterialChange::Replicate {
            regions,
            sealed,
            imported,
        } => {
            shown.regions.as_ref() == Some(regions)
                && imported.iter().all(|s| {
                    shown
                        .imported_version(s.version)
                        .is_some_and(|i| i.material_id == s.material_id)
                })
                && sealed.iter().all(|b64| {
                    crate::b64::decode(b64)
                        .ok()
                        .map(SealedMaterial::from_bytes)
                        .and_then(|s| s.header().ok().map(|h| h.material.version))
                        .is_some_and(|v| shown.material(v).is_some())
                })
        }
    }
}

fn in_progress(name: &str, value: &str) -> StoreError {
    let since = MaterialRequest::from_annotation(value)
        .ok()
        .and_then(|r| r.requested_at());
    StoreError::InProgress(match since {
        Some(since) => format!(
            "A change of KmsKey {name}'s key material, requested at {}, is in progress; retry once it completes.",
            rfc3339(since)
        ),
        None => format!(
            "KmsKey {name} has a {MATERIAL_ANNOTATION} annotation the controller has not carried out; retry once it is gone."
        ),
    })
}

/// Asks the controller for `request` on the KmsKey `name`, unless another
/// is in progress.
pub async fn request(
    keys: &Api<KmsKey>,
    name: &str,
    request: &MaterialRequest,
) -> Result<(), StoreError> {
    let value = request.to_annotation();
    super::rotation::annotate_unless(keys, name, MATERIAL_ANNOTATION, &value, |key| {
        let pending = key.annotations().get(MATERIAL_ANNOTATION)?;
        Some(in_progress(name, pending))
    })
    .await
}

/// The name of a `KmsKey` in `keys` declaring `replica` (its pinned id,
/// as a replica of the same primary Region) that holds no key yet, if one
/// does: a replica applied from Git before its primary replicated it.
pub async fn declared_replica(
    keys: &Api<KmsKey>,
    replica: &KeyRecord,
) -> Result<Option<String>, StoreError> {
    let Some(primary) = replica
        .regions
        .as_ref()
        .filter(|r| r.replica)
        .map(|r| &r.primary)
    else {
        return Ok(None);
    };
    let listed = keys
        .list(&kube::api::ListParams::default())
        .await
        .map_err(|e| super::store::kube_error(e, "KmsKeys"))?;
    let pinning = listed
        .items
        .into_iter()
        .find(|k| k.spec.key_id == Some(replica.key_id) && k.metadata.deletion_timestamp.is_none());
    match pinning {
        None => Ok(None),
        Some(k) if k.spec.primary_region.as_ref() == Some(primary) => Ok(Some(k.name_any())),
        Some(k) => Err(StoreError::AlreadyExists(format!(
            "key {} is declared here by KmsKey {}, not as a replica of the key in {primary}",
            replica.key_id,
            k.name_any()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{DAY_MS, PendingMaterial};
    use crate::lifecycle::imported::{self, Placement};

    const NOW: Millis = 1_700_000_000_000;

    fn material(n: u8, version: u32) -> ImportedMaterial {
        ImportedMaterial {
            material_id: format!("{n:02x}").repeat(32),
            valid_to: Some(NOW + DAY_MS),
            description: format!("m{n}"),
            imported: NOW,
            version,
            since: NOW,
        }
    }

    /// A key of imported material with version 1 imported.
    fn one() -> KeyRecord {
        let mut key = KeyRecord::test(NOW);
        key.origin = Origin::External;
        key.materials.clear();
        let sealed = SealedMaterial::from_bytes(vec![1]);
        imported::import(&mut key, Placement::Version(1), sealed, material(1, 1));
        key
    }

    #[test]
    fn each_change_of_imported_material_is_one_request_the_controller_can_check() {
        let before = one();
        assert_eq!(change(&before, &before), None);

        // New material waiting for a rotation.
        let mut waiting = before.clone();
        waiting.pending_rotation = Some(PendingMaterial {
            material: material(2, 2),
            sealed: SealedMaterial::from_bytes(vec![2]),
        });
        let Some(Some(request)) = change(&before, &waiting) else {
            panic!("one change")
        };
        assert!(matches!(
            &request,
            MaterialChange::Import { version: 2, pending: true, sealed, .. } if sealed == "Ag=="
        ));
        assert!(!carried_out(&before, &request) && carried_out(&waiting, &request));

        // Deleted while waiting.
        let request = change(&waiting, &before).unwrap().unwrap();
        let id2 = material(2, 2).material_id;
        assert_eq!(
            request,
            MaterialChange::Delete {
                material_id: Some(id2)
            }
        );
        assert!(carried_out(&before, &request) && !carried_out(&waiting, &request));

        // A version's material deleted, then imported again.
        let mut deleted = before.clone();
        imported::delete(&mut deleted, Placement::Version(1));
        let request = change(&before, &deleted).unwrap().unwrap();
        assert_eq!(
            request,
            MaterialChange::Delete {
                material_id: Some(material(1, 1).material_id)
            }
        );
        assert!(carried_out(&deleted, &request));
        assert!(carried_out(
            &deleted,
            &MaterialChange::Delete { material_id: None }
        ));
        let request = change(&deleted, &before).unwrap().unwrap();
        assert!(matches!(
            &request,
            MaterialChange::Import {
                version: 1,
                pending: false,
                ..
            }
        ));
        assert!(carried_out(&before, &request) && !carried_out(&deleted, &request));
        // Carried out means described the same: a new expiration is not.
        let mut later = before.clone();
        later.imported[0].valid_to = Some(NOW + 2 * DAY_MS);
        let request = change(&before, &later).unwrap().unwrap();
        assert!(!carried_out(&before, &request) && carried_out(&later, &request));

        // Two changes at once, or a generated key's material: not this
        // store's to carry out.
        let mut both = deleted.clone();
        both.pending_rotation = waiting.pending_rotation.clone();
        assert_eq!(change(&before, &both), Some(None));
        let generated = KeyRecord::test(NOW);
        let mut rotated = generated.clone();
        rotated.materials.clear();
        assert_eq!(change(&generated, &rotated), Some(None));
    }

    fn sealed(key_id: crate::key_id::KeyId, version: u32) -> SealedMaterial {
        crate::seal::test_sealed(key_id, version, crate::spec::KeySpec::SymmetricDefault)
    }

    #[test]
    fn a_multi_region_key_s_new_versions_and_regions_are_one_replicate_request() {
        use crate::key::{MaterialVersion, Regions, Replica, RotationType};
        let mut primary = KeyRecord::test(NOW);
        primary.key_id = crate::key_id::KeyId::random_multi_region();
        primary.materials[0].sealed = sealed(primary.key_id, 1);
        assert_eq!(change(&primary, &primary), None);

        // ReplicateKey records a replica: Regions only.
        let mut replicated = primary.clone();
        replicated.regions = Some(Regions {
            primary: "us-east-1".into(),
            replica: false,
            replicas: vec![Replica {
                region: "eu-west-1".into(),
                synced: 1,
                shared: "ab".into(),
                pending_imported: String::new(),
            }],
            pending: None,
        });
        let Some(Some(request)) = change(&primary, &replicated) else {
            panic!("one request")
        };
        assert_eq!(
            request,
            MaterialChange::Replicate {
                imported: Vec::new(),
                regions: replicated.regions.clone().unwrap(),
                sealed: vec![]
            }
        );
        assert!(!carried_out(&primary, &request) && carried_out(&replicated, &request));

        // A replica takes version 2 from its primary.
        let mut replica = replicated.clone();
        replica.regions.as_mut().unwrap().replica = true;
        let mut updated = replica.clone();
        let v2 = sealed(replica.key_id, 2);
        updated.materials.push(MaterialVersion {
            version: 2,
            created: NOW,
            rotation_type: RotationType::OnDemand,
            sealed: v2.clone(),
        });
        let request = change(&replica, &updated).unwrap().unwrap();
        assert_eq!(
            request,
            MaterialChange::Replicate {
                imported: Vec::new(),
                regions: replica.regions.clone().unwrap(),
                sealed: vec![crate::b64::encode(v2.as_bytes())]
            }
        );
        assert!(!carried_out(&replica, &request) && carried_out(&updated, &request));

        // Nothing the endpoint may do changes a version a key holds.
        let mut replaced = updated.clone();
        replaced.materials[0].sealed = sealed(replica.key_id, 1);
        assert_eq!(change(&updated, &replaced), Some(None));
        let mut dropped = updated.clone();
        dropped.materials.remove(0);
        assert_eq!(change(&updated, &dropped), Some(None));
    }

    /// Each step of a replica of imported material, as the endpoint's
    /// record changes: one request the controller's own follow of the same
    /// list carries out, or the owner's one import.
    #[test]
    fn a_replica_of_imported_material_following_its_primary_is_one_replicate_request() {
        use crate::key::{Regions, SharedMaterial};
        use crate::lifecycle::imported::{Placement, import, regions::follow};
        let (aa, bb) = ("aa".repeat(32), "bb".repeat(32));
        let shared = |id: &str, version, since| SharedMaterial {
            version,
            material_id: id.into(),
            since,
        };
        let mut replica = KeyRecord::test(NOW);
        replica.key_id = crate::key_id::KeyId::random_multi_region();
        replica.origin = Origin::External;
        replica.materials.clear();
        replica.regions = Some(Regions::test_replica("us-east-1", &["eu-west-1"]));
        follow(&mut replica, &[shared(&aa, 1, NOW - 9)], None, NOW);
        let described = |id: &str| ImportedMaterial {
            material_id: id.into(),
            valid_to: None,
            description: String::new(),
            imported: NOW,
            version: 0,
            since: 0,
        };

        // Its owner imports version 1: an import, as for any key.
        let mut enabled = replica.clone();
        let v1 = sealed(replica.key_id, 1);
        import(&mut enabled, Placement::Version(1), v1, described(&aa));
        let request = change(&replica, &enabled).unwrap().unwrap();
        assert!(matches!(
            request,
            MaterialChange::Import {
                version: 1,
                pending: false,
                ..
            }
        ));

        // The primary's new material, pending rotation there: the Regions.
        let mut told = enabled.clone();
        follow(
            &mut told,
            &[shared(&aa, 1, NOW - 9)],
            Some(shared(&bb, 2, 0)),
            NOW,
        );
        let request = change(&enabled, &told).unwrap().unwrap();
        let MaterialChange::Replicate {
            regions,
            sealed: none,
            imported,
        } = &request
        else {
            panic!("{request:?}")
        };
        assert_eq!(regions, told.regions.as_ref().unwrap());
        assert!(none.is_empty());
        assert_eq!(imported, &[shared(&aa, 1, NOW - 9)]);
        assert!(!carried_out(&enabled, &request) && carried_out(&told, &request));

        // Imported ahead, then the rotation reaches it: a pending import,
        // then one Replicate listing version 2, which the follow promotes.
        let mut ahead = told.clone();
        let v2 = sealed(replica.key_id, 2);
        import(&mut ahead, Placement::Pending(2), v2, described(&bb));
        let request = change(&told, &ahead).unwrap().unwrap();
        assert!(matches!(
            request,
            MaterialChange::Import {
                version: 2,
                pending: true,
                ..
            }
        ));
        let mut rotated = ahead.clone();
        let versions = [shared(&aa, 1, NOW - 9), shared(&bb, 2, NOW - 3)];
        follow(&mut rotated, &versions, None, NOW);
        let request = change(&ahead, &rotated).unwrap().unwrap();
        assert_eq!(
            request,
            MaterialChange::Replicate {
                regions: rotated.regions.clone().unwrap(),
                sealed: Vec::new(),
                imported: versions.to_vec(),
            }
        );
        assert!(!carried_out(&ahead, &request) && carried_out(&rotated, &request));

        // Anything else the endpoint might write is not this store's.
        let mut lost = rotated.clone();
        lost.materials.clear();
        lost.regions.as_mut().unwrap().replicas.clear();
        assert_eq!(change(&rotated, &lost), Some(None));
    }
}
