use super::*;
use crate::key::{DAY_MS, KeyState, Origin};
use crate::lifecycle::{Action, next_due, plan, schedule_deletion};
use crate::spec::KeySpec;

const NOW: Millis = 1_700_000_000_000;

fn external() -> KeyRecord {
    let mut key = KeyRecord::test(NOW);
    key.origin = Origin::External;
    key.materials.clear();
    key
}

fn id(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

fn described(n: u8, valid_to: Option<Millis>, at: Millis) -> ImportedMaterial {
    ImportedMaterial {
        material_id: id(n),
        valid_to,
        description: String::new(),
        imported: at,
        version: 0,
        since: 0,
    }
}

fn sealed(n: u8) -> SealedMaterial {
    SealedMaterial::from_bytes(vec![n])
}

/// Places and imports material `n` as `import_type`, as the endpoint does.
fn import_as(
    key: &mut KeyRecord,
    n: u8,
    import_type: Option<ImportType>,
    valid_to: Option<Millis>,
    at: Millis,
) -> Result<Placement, ImportRefusal> {
    let placement = place(key, &id(n), import_type)?;
    import(key, placement, sealed(n), described(n, valid_to, at));
    Ok(placement)
}

fn versions(key: &KeyRecord) -> Vec<(u32, u8)> {
    key.materials
        .iter()
        .map(|m| (m.version, m.sealed.as_bytes()[0]))
        .collect()
}

#[test]
fn a_key_of_imported_material_is_pending_import_while_it_has_none() {
    let mut key = external();
    assert_eq!(key.state(), KeyState::PendingImport);
    key.enabled = false;
    assert_eq!(key.state(), KeyState::PendingImport, "whatever its flag");
    key.deletion = Some(schedule_deletion(7, NOW));
    assert_eq!(key.state(), KeyState::PendingDeletion, "deletion first");
    // A generated key never is, even without material.
    let mut generated = KeyRecord::test(NOW);
    generated.materials.clear();
    assert_eq!(generated.state(), KeyState::Enabled);
}

#[test]
fn importing_enables_a_pending_key_and_keeps_version_1_through_reimports() {
    let mut key = external();
    key.enabled = false;
    assert_eq!(expected_version(&key, None, None), 1);
    assert_eq!(
        import_as(&mut key, 1, None, None, NOW),
        Ok(Placement::Version(1))
    );
    assert_eq!(key.state(), KeyState::Enabled);
    assert_eq!(versions(&key), [(1, 1)]);
    assert_eq!(key.materials[0].created, NOW);
    assert_eq!(key.imported[0].since, NOW);

    // Disabled, then imported again (a new expiration): stays disabled,
    // the material's creation stays the first import's.
    key.enabled = false;
    let later = NOW + DAY_MS;
    assert_eq!(expected_version(&key, None, None), 1);
    let placement = place(&key, &id(1), None).unwrap();
    import(
        &mut key,
        placement,
        sealed(2),
        described(1, Some(later + DAY_MS), later),
    );
    assert_eq!(key.state(), KeyState::Disabled);
    assert_eq!(versions(&key), [(1, 2)]);
    assert_eq!(key.materials[0].created, NOW);
    assert_eq!(key.imported.len(), 1);
    assert_eq!(key.imported[0].valid_to, Some(later + DAY_MS));

    // Deleted: pending import, what identifies the material stays.
    let target = deletion_target(&key, None).unwrap();
    assert_eq!(target, Placement::Version(1));
    delete(&mut key, target);
    assert_eq!(key.state(), KeyState::PendingImport);
    assert_eq!(key.imported[0].material_id, id(1));
    // Only the same material comes back, as the same version.
    assert_eq!(
        place(&key, &id(9), None),
        Err(ImportRefusal::NotTheKeys),
        "EXISTING_KEY_MATERIAL by default once something was imported"
    );
    assert_eq!(
        import_as(&mut key, 1, None, None, later),
        Ok(Placement::Version(1))
    );
    assert_eq!(key.state(), KeyState::Enabled, "back from pending import");
    assert_eq!(key.materials[0].created, NOW);
}

#[test]
fn what_an_import_type_allows() {
    let mut key = external();
    assert_eq!(
        place(&key, &id(1), Some(ImportType::ExistingKeyMaterial)),
        Err(ImportRefusal::NothingImported)
    );
    import_as(&mut key, 1, Some(ImportType::NewKeyMaterial), None, NOW).unwrap();
    assert_eq!(
        place(&key, &id(1), Some(ImportType::NewKeyMaterial)),
        Err(ImportRefusal::AlreadyTheKeys(1))
    );
    assert_eq!(
        place(&key, &id(1), Some(ImportType::ExistingKeyMaterial)),
        Ok(Placement::Version(1))
    );
    // Keys that do not rotate take no second material.
    for spec in [KeySpec::Hmac256, KeySpec::EccNistP256, KeySpec::Rsa2048] {
        let mut other = key.clone();
        other.spec = spec;
        assert_eq!(
            place(&other, &id(2), Some(ImportType::NewKeyMaterial)),
            Err(ImportRefusal::DoesNotRotate),
            "{spec}"
        );
    }
}

#[test]
fn new_material_waits_for_an_on_demand_rotation_then_becomes_the_next_version() {
    let mut key = external();
    import_as(&mut key, 1, None, None, NOW).unwrap();
    assert_eq!(
        expected_version(&key, Some(ImportType::NewKeyMaterial), None),
        2
    );
    let at = NOW + DAY_MS;
    assert_eq!(
        import_as(&mut key, 2, Some(ImportType::NewKeyMaterial), None, at),
        Ok(Placement::Pending(2))
    );
    // Pending: not the key's yet; encryption still uses version 1.
    assert_eq!(versions(&key), [(1, 1)]);
    assert_eq!(key.state(), KeyState::Enabled);
    assert_eq!(expected_version(&key, None, Some(&id(2))), 2, "found by id");
    // Another new material waits its turn; the same one may be imported
    // again, either way.
    assert_eq!(
        place(&key, &id(3), Some(ImportType::NewKeyMaterial)),
        Err(ImportRefusal::OtherPending(id(2)))
    );
    for import_type in [None, Some(ImportType::ExistingKeyMaterial)] {
        assert_eq!(place(&key, &id(2), import_type), Ok(Placement::Pending(2)));
    }
    // Deleted while pending: gone altogether, and other material may wait
    // in its place.
    let target = deletion_target(&key, Some(&id(2))).unwrap();
    delete(&mut key, target);
    assert_eq!(key.pending_rotation, None);
    assert_eq!(key.state(), KeyState::Enabled);
    import_as(&mut key, 3, Some(ImportType::NewKeyMaterial), None, at).unwrap();

    let rotated_at = at + DAY_MS;
    assert!(rotate(&mut key, rotated_at));
    assert_eq!(versions(&key), [(1, 1), (2, 3)]);
    assert_eq!(key.current().unwrap().version, 2);
    assert_eq!(key.materials[1].rotation_type, RotationType::OnDemand);
    assert_eq!(key.materials[1].created, rotated_at);
    assert_eq!(key.imported[1].since, rotated_at);
    assert_eq!(key.on_demand_rotations, 1);
    assert!(!rotate(&mut key, rotated_at), "nothing waits now");
    assert_eq!(key.on_demand_rotations, 1);

    // A version's material deleted: the key is pending import until it
    // comes back, as that version; the current one is the default target.
    assert_eq!(deletion_target(&key, None), Some(Placement::Version(2)));
    delete(&mut key, Placement::Version(1));
    assert_eq!(key.state(), KeyState::PendingImport);
    assert_eq!(key.next_version(), 3, "versions are never reused");
    assert_eq!(expected_version(&key, None, Some(&id(1))), 1);
    assert_eq!(
        import_as(&mut key, 1, None, None, rotated_at),
        Ok(Placement::Version(1))
    );
    assert_eq!(versions(&key), [(1, 1), (2, 3)]);
    assert_eq!(key.state(), KeyState::Enabled);
    assert_eq!(key.materials[0].created, NOW, "its first import");
    assert_eq!(deletion_target(&key, Some(&id(9))), None);
}

#[test]
fn each_material_expires_at_its_own_valid_to_whatever_the_key_state() {
    let first = NOW + 10 * DAY_MS;
    let second = NOW + 5 * DAY_MS;
    let mut key = external();
    import_as(&mut key, 1, None, Some(first), NOW).unwrap();
    assert_eq!(plan(&key, first - 1), None);
    assert_eq!(next_due(&key), Some(first));
    assert_eq!(valid_to(&key), Some(first));
    // Material pending rotation expires too, but is not the key's ValidTo.
    import_as(
        &mut key,
        2,
        Some(ImportType::NewKeyMaterial),
        Some(second),
        NOW,
    )
    .unwrap();
    assert_eq!(next_due(&key), Some(second));
    assert_eq!(valid_to(&key), Some(first));
    assert_eq!(plan(&key, second), Some(Action::ExpireMaterial));
    assert_eq!(expire(&mut key, second), [id(2)]);
    assert_eq!(key.pending_rotation, None);
    assert_eq!(key.state(), KeyState::Enabled);

    assert_eq!(plan(&key, first), Some(Action::ExpireMaterial));
    key.enabled = false;
    assert_eq!(plan(&key, first), Some(Action::ExpireMaterial));
    // Pending deletion: the material still expires before the window ends,
    // and the window's end comes first once both are due.
    key.deletion = Some(schedule_deletion(30, NOW));
    assert_eq!(next_due(&key), Some(first));
    assert_eq!(plan(&key, first), Some(Action::ExpireMaterial));
    assert_eq!(plan(&key, NOW + 30 * DAY_MS), Some(Action::Destroy));
    key.deletion = None;
    assert_eq!(expire(&mut key, first), [id(1)]);
    assert_eq!(key.state(), KeyState::PendingImport);
    assert_eq!(plan(&key, first + DAY_MS), None, "nothing left to expire");
    assert_eq!(next_due(&key), None);
    assert_eq!(valid_to(&key), None);
    // Material that does not expire never does.
    import_as(&mut key, 1, None, None, NOW).unwrap();
    assert_eq!(plan(&key, NOW + 1000 * DAY_MS), None);
    assert!(expire(&mut key, NOW + 1000 * DAY_MS).is_empty());
}
