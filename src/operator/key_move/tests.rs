use super::*;
use crate::key::{DAY_MS, Deletion, KeyRecord};

const NOW: Millis = 1_700_000_000_000;

/// `team-a/app` to `team-b` under the same name.
pub(crate) fn request() -> Move {
    Move {
        from_namespace: "team-a".into(),
        key_name: "app".into(),
        to_namespace: "team-b".into(),
        to_name: "app".into(),
    }
}

fn record(namespace: &str, deletion: Option<Millis>) -> KeyRecord {
    let mut record = KeyRecord::test(NOW - 100 * DAY_MS);
    record.namespace = namespace.into();
    record.description = "payments".into();
    record.deletion = deletion.map(|deletion_date| Deletion {
        window_days: 30,
        deletion_date,
    });
    record
}

/// The key Secret holding `record`, with the given UID.
fn secret(record: KeyRecord, uid: &str) -> Secret {
    let stored = KeySecret {
        record,
        owner_uid: Some("uid-old".into()),
        rotate_handled: Some("1".into()),
        material_handled: None,
        resource_version: Some("20".into()),
        others: Default::default(),
    };
    let mut secret = key_secret::build("app", "uid-old", &stored);
    secret.metadata.uid = Some(uid.into());
    secret
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("velero.io/include".into(), "true".into());
    secret
}

fn pending() -> Secret {
    secret(record("team-a", Some(NOW + DAY_MS)), "s-1")
}

#[test]
fn the_copy_holds_the_same_key_in_the_new_namespace_with_its_deletion_cancelled() {
    let found = pending();
    let Ok(Plan::Copy(copy)) = plan(
        &request(),
        &found,
        None,
        false,
        std::slice::from_ref(&found),
        NOW,
    ) else {
        panic!("a copy is planned");
    };
    let original = key_secret::read(&found).unwrap();
    let mut expected = original.record.clone();
    expected.namespace = "team-b".into();
    expected.deletion = None;
    assert_eq!(copy.record, expected, "the same material, tags, state");
    assert_eq!(copy.owner_uid, original.owner_uid);
    assert_eq!(copy.rotate_handled, original.rotate_handled);
    assert_eq!(copy.resource_version, None, "a create");
    assert_eq!(
        copy.others,
        Default::default(),
        "labels of the old place stay there"
    );
}

#[test]
fn only_a_key_pending_deletion_within_its_window_or_being_deleted_moves() {
    let live = secret(record("team-a", None), "s-1");
    let id = KeyRecord::test(0).key_id;
    assert_eq!(
        plan(&request(), &live, None, false, &[], NOW),
        Err(Refusal::NotPendingDeletion(id))
    );
    // A Secret being deleted (its namespace is) moves, pending or not.
    let mut held = live.clone();
    held.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::from_millisecond(NOW).unwrap(),
    ));
    assert!(matches!(
        plan(&request(), &held, None, false, &[], NOW),
        Ok(Plan::Copy(_))
    ));
    let ended = secret(record("team-a", Some(NOW)), "s-1");
    assert_eq!(
        plan(&request(), &ended, None, false, &[], NOW),
        Err(Refusal::WindowEnded(id))
    );
    let mut here = request();
    here.to_namespace = "team-a".into();
    assert_eq!(
        plan(&here, &pending(), None, false, &[], NOW),
        Err(Refusal::SameNamespace("team-a".into()))
    );
    let mut foreign = pending();
    foreign.type_ = Some("Opaque".into());
    assert!(matches!(
        plan(&request(), &foreign, None, false, &[], NOW),
        Err(Refusal::Foreign(Foreign::NotManaged(_)))
    ));
    // A copy made by this version would lack what a newer one wrote.
    let mut newer = pending();
    key_secret::edit_document(&mut newer, |document| {
        document["record"]["expires"] = 1.into();
    });
    assert!(matches!(
        plan(&request(), &newer, None, false, &[], NOW),
        Err(Refusal::Foreign(Foreign::Newer(_, field))) if field == "record.expires"
    ));
}

#[test]
fn the_target_place_must_be_free_or_hold_this_very_copy() {
    let found = pending();
    let id = KeyRecord::test(0).key_id;
    // A run that stopped after the copy: only the original is let go.
    let mut copied = record("team-b", None);
    copied.description = "since changed by its new KmsKey".into();
    let copy = secret(copied, "s-2");
    assert_eq!(
        plan(
            &request(),
            &found,
            Some(&copy),
            false,
            std::slice::from_ref(&found),
            NOW
        ),
        Ok(Plan::AlreadyCopied)
    );
    // Another key in the place.
    let mut other = record("team-b", None);
    other.key_id = KeyId::from_bytes([9; 16]);
    let taken = secret(other, "s-3");
    assert_eq!(
        plan(&request(), &found, Some(&taken), false, &[], NOW),
        Err(Refusal::TargetTaken("team-b".into(), "kmskey-app".into()))
    );
    // The same key id, other material: never two keys under one id.
    let mut remade = record("team-b", None);
    remade.materials[0].sealed = crate::seal::SealedMaterial::from_bytes(vec![0xB2]);
    let remade = secret(remade, "s-4");
    assert!(matches!(
        plan(&request(), &found, Some(&remade), false, &[], NOW),
        Err(Refusal::TargetTaken(..))
    ));
    // A KmsKey of the target name, with no Secret yet, would take the key.
    assert_eq!(
        plan(&request(), &found, None, true, &[], NOW),
        Err(Refusal::KmsKeyExists("team-b".into(), "app".into()))
    );
    // ...but not a run that stopped after the copy, its KmsKey applied.
    assert_eq!(
        plan(&request(), &found, Some(&copy), true, &[], NOW),
        Ok(Plan::AlreadyCopied)
    );
    // The key id held by a Secret elsewhere.
    let mut elsewhere = secret(record("team-c", None), "s-5");
    elsewhere.metadata.namespace = Some("team-c".into());
    assert_eq!(
        plan(
            &request(),
            &found,
            None,
            false,
            &[found.clone(), elsewhere],
            NOW
        ),
        Err(Refusal::KeyIdInUse(
            id,
            "team-c".into(),
            "kmskey-app".into()
        ))
    );
}
