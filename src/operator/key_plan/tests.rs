use std::collections::BTreeMap;

use kube::api::ObjectMeta;

use super::*;
use crate::key::{DAY_MS, Deletion};
use crate::operator::key_secret::{Foreign, build};
use crate::resource::{KmsKeySpec, KmsKeyStatus};

const NOW: Millis = 1_700_000_000_000;

/// A fixture: the KmsKey `app` in `team-a`, UID `uid-1`.
fn key() -> KmsKey {
    let spec: KmsKeySpec = serde_json::from_str("{}").unwrap();
    let mut key = KmsKey::new("app", spec);
    key.metadata = ObjectMeta {
        name: Some("app".into()),
        namespace: Some("team-a".into()),
        uid: Some("uid-1".into()),
        generation: Some(1),
        ..ObjectMeta::default()
    };
    key
}

fn stored(record: KeyRecord) -> KeySecret {
    KeySecret {
        record,
        owner_uid: Some("uid-1".into()),
        rotate_handled: None,
        material_handled: None,
        resource_version: Some("7".into()),
        others: Default::default(),
    }
}

fn record() -> KeyRecord {
    let mut record = KeyRecord::test(NOW - DAY_MS);
    record.namespace = "team-a".into();
    record
}

fn secret_of(stored: &KeySecret) -> Secret {
    build("app", stored.owner_uid.as_deref().unwrap_or(""), stored)
}

fn update(plan: KeyPlan) -> Update {
    match plan {
        KeyPlan::Update(update) => *update,
        other => panic!("expected an update, got {other:?}"),
    }
}

#[test]
fn a_new_key_is_minted_with_a_fresh_or_pinned_id() {
    assert!(matches!(
        plan(&key(), None, NOW),
        KeyPlan::Create { pinned: false, .. }
    ));
    let mut pinned = key();
    let id: KeyId = "1234abcd-12ab-34cd-56ef-1234567890ab".parse().unwrap();
    pinned.spec.key_id = Some(id);
    assert_eq!(
        plan(&pinned, None, NOW),
        KeyPlan::Create {
            key_id: id,
            pinned: true
        }
    );
    // Multi-Region: a fresh mrk- id, or the pinned one.
    let mut multi_region = key();
    multi_region.spec.multi_region = true;
    let KeyPlan::Create {
        key_id,
        pinned: false,
    } = plan(&multi_region, None, NOW)
    else {
        panic!()
    };
    assert!(key_id.is_multi_region());
    let KeyPlan::Create { key_id, .. } = plan(&key(), None, NOW) else {
        panic!()
    };
    assert!(!key_id.is_multi_region());
    let mrk = KeyId::random_multi_region();
    multi_region.spec.key_id = Some(mrk);
    assert_eq!(
        plan(&multi_region, None, NOW),
        KeyPlan::Create {
            key_id: mrk,
            pinned: true
        }
    );
    // A pinned id of the other kind is refused before anything is minted.
    multi_region.spec.key_id = Some(id);
    let KeyPlan::Refuse(refusal) = plan(&multi_region, None, NOW) else {
        panic!()
    };
    assert_eq!(refusal.reason, "InvalidSpec");
}

#[test]
fn lost_material_is_never_silently_replaced() {
    let mut key = key();
    key.status = Some(KmsKeyStatus {
        key_id: Some(KeyId::random().to_string()),
        ..KmsKeyStatus::default()
    });
    let KeyPlan::Refuse(refusal) = plan(&key, None, NOW) else {
        panic!()
    };
    assert_eq!(refusal.reason, "MaterialMissing");
}

#[test]
fn an_unchanged_key_writes_nothing() {
    let stored = stored(record());
    let update = update(plan(&key(), Some(&secret_of(&stored)), NOW));
    assert!(
        !update.write && !update.adopted && update.rotate.is_none() && update.changes.is_empty()
    );
}

#[test]
fn disabling_is_a_write_with_a_change() {
    let mut key = key();
    key.spec.enabled = false;
    let update = update(plan(&key, Some(&secret_of(&stored(record()))), NOW));
    assert!(update.write);
    assert_eq!(update.changes, [Change::Disabled]);
    assert!(!update.secret.record.enabled);
}

#[test]
fn rotation_due_adds_an_automatic_version() {
    let mut record = record();
    record.rotation.enabled = true;
    record.rotation.period_days = 90;
    record.rotation.next = Some(NOW - 1);
    let mut key = key();
    key.spec.rotation.enabled = true;
    key.spec.rotation.period_days = Some(90);
    let update = update(plan(&key, Some(&secret_of(&stored(record.clone()))), NOW));
    assert_eq!(update.rotate, Some(RotationType::Automatic));
    record.rotation.next = Some(NOW + 1);
    let update2 = super::plan(&key, Some(&secret_of(&stored(record))), NOW);
    assert_eq!(self::update(update2).rotate, None);
}

#[test]
fn each_new_rotate_annotation_value_rotates_once() {
    let mut key = key();
    key.metadata.annotations = Some(BTreeMap::from([(ROTATE_ANNOTATION.into(), "1".into())]));
    let first = update(plan(&key, Some(&secret_of(&stored(record()))), NOW));
    assert_eq!(first.rotate, Some(RotationType::OnDemand));
    assert_eq!(first.secret.rotate_handled.as_deref(), Some("1"));
    // The same value, once handled, does nothing more.
    let again = update(plan(&key, Some(&secret_of(&first.secret)), NOW));
    assert_eq!((again.rotate, again.write), (None, false));
}

#[test]
fn refused_on_demand_rotations_are_reported_and_not_retried() {
    let mut key = key();
    key.spec.enabled = false;
    key.metadata.annotations = Some(BTreeMap::from([(ROTATE_ANNOTATION.into(), "2".into())]));
    let mut record = record();
    record.enabled = false;
    let update = update(plan(&key, Some(&secret_of(&stored(record.clone()))), NOW));
    assert_eq!(update.rotate, None);
    assert!(update.rotation_refused.unwrap().contains("Disabled"));
    assert_eq!(update.secret.rotate_handled.as_deref(), Some("2"));
    record.enabled = true;
    record.on_demand_rotations = lifecycle::MAX_ON_DEMAND_ROTATIONS;
    key.spec.enabled = true;
    let update = self::update(plan(&key, Some(&secret_of(&stored(record))), NOW));
    assert!(update.rotation_refused.unwrap().contains("maximum of 25"));
}

#[test]
fn re_applying_a_deleted_key_adopts_and_cancels() {
    let mut record = record();
    record.deletion = Some(Deletion {
        window_days: 7,
        deletion_date: NOW + DAY_MS,
    });
    let mut previous = stored(record);
    previous.owner_uid = Some("uid-0".into());
    let update = update(plan(&key(), Some(&secret_of(&previous)), NOW));
    assert!(update.adopted && update.write);
    assert_eq!(update.changes, [Change::DeletionCancelled, Change::Enabled]);
    assert_eq!(update.secret.owner_uid.as_deref(), Some("uid-1"));
}

#[test]
fn foreign_secrets_and_mismatched_ids_are_refused() {
    let mut foreign = secret_of(&stored(record()));
    foreign.metadata.labels = None;
    let KeyPlan::Refuse(refusal) = plan(&key(), Some(&foreign), NOW) else {
        panic!()
    };
    assert_eq!(refusal.reason, "SecretConflict");
    assert!(
        refusal
            .message
            .contains(&Foreign::NotManaged("kmskey-app".into()).to_string())
    );
    let mut pinned = key();
    pinned.spec.key_id = Some(KeyId::random());
    let KeyPlan::Refuse(refusal) = plan(&pinned, Some(&secret_of(&stored(record()))), NOW) else {
        panic!()
    };
    assert_eq!(refusal.reason, "KeyIdMismatch");
    let mut changed = key();
    changed.spec.key_spec = crate::spec::KeySpec::Rsa2048;
    let KeyPlan::Refuse(refusal) = plan(&changed, Some(&secret_of(&stored(record()))), NOW) else {
        panic!()
    };
    assert_eq!(refusal.reason, "InvalidSpec");
}

#[test]
fn deleting_schedules_once_with_the_declared_window() {
    let mut key = key();
    key.spec.pending_window_days = Some(7);
    let stored = stored(record());
    let Cleanup::Schedule(scheduled) = plan_cleanup(&key, Some(&secret_of(&stored)), NOW) else {
        panic!()
    };
    assert_eq!(
        scheduled.record.deletion.unwrap().deletion_date,
        NOW + 7 * DAY_MS
    );
    assert_eq!(
        plan_cleanup(&key, Some(&secret_of(&scheduled)), NOW),
        Cleanup::AlreadyScheduled
    );
    assert_eq!(plan_cleanup(&key, None, NOW), Cleanup::Nothing);
    let mut other_owner = stored;
    other_owner.owner_uid = Some("uid-9".into());
    assert_eq!(
        plan_cleanup(&key, Some(&secret_of(&other_owner)), NOW),
        Cleanup::Nothing
    );
}

#[test]
fn orphans_are_destroyed_only_when_their_window_ends() {
    let mut record = record();
    assert_eq!(plan_orphan(&stored(record.clone()), NOW), Orphan::Keep);
    record.deletion = Some(Deletion {
        window_days: 7,
        deletion_date: NOW + 5,
    });
    assert_eq!(
        plan_orphan(&stored(record.clone()), NOW),
        Orphan::WaitUntil(NOW + 5)
    );
    assert_eq!(plan_orphan(&stored(record), NOW + 5), Orphan::Destroy);
}

#[test]
fn the_declared_policy_is_kept_with_the_material_and_a_malformed_one_refused() {
    let policy = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}]}"#;
    let mut key = key();
    key.spec.policy = Some(policy.into());
    let update = update(plan(&key, Some(&secret_of(&stored(record()))), NOW));
    assert!(update.write);
    assert_eq!(update.changes, [Change::Policy]);
    assert_eq!(update.secret.record.policy.as_deref(), Some(policy));
    // Before anything is minted, too.
    let minted = minted(
        &key,
        KeyId::random(),
        Some(SealedMaterial::from_bytes(vec![1])),
        NOW,
    );
    assert_eq!(minted.record.policy.as_deref(), Some(policy));

    key.spec.policy = Some(r#"{"Statement":[{"Effect":"Maybe"}]}"#.into());
    for existing in [None, Some(secret_of(&stored(record())))] {
        let KeyPlan::Refuse(refusal) = plan(&key, existing.as_ref(), NOW) else {
            panic!("a malformed policy is refused")
        };
        assert_eq!(refusal.reason, "InvalidSpec");
        assert!(refusal.message.contains("policy"), "{}", refusal.message);
    }
}

/// `secret` as a newer version might have written it: its record's first
/// material has a field this version does not know.
fn with_newer_field(mut secret: Secret) -> Secret {
    crate::operator::key_secret::edit_document(&mut secret, |document| {
        document["record"]["materials"][0]["hsm_slot"] = 7.into();
    });
    secret
}

#[test]
fn a_secret_a_newer_version_wrote_is_used_but_never_written_back() {
    let newer = with_newer_field(secret_of(&stored(record())));
    let field = "`record.materials.0.hsm_slot`";
    // Every write of the Secret follows a plan; none is made.
    let KeyPlan::Refuse(refusal) = plan(&key(), Some(&newer), NOW) else {
        panic!()
    };
    assert_eq!(refusal.reason, WRITTEN_BY_NEWER_VERSION);
    assert!(refusal.message.contains(field), "{}", refusal.message);
    assert!(refusal.message.contains("Secret kmskey-app"));
    // Deleting its KmsKey schedules nothing, and the KmsKey stays,
    // Terminating, for a version that knows the field.
    let cleanup = plan_cleanup(&key(), Some(&newer), NOW);
    let Cleanup::Refused(refusal) = &cleanup else {
        panic!("{cleanup:?}")
    };
    assert!(refusal.message.contains(field));
    assert!(cleanup.holds());
    // Unless it is another object's, which is not this KmsKey's to hold.
    let mut other = stored(record());
    other.owner_uid = Some("uid-9".into());
    let other = with_newer_field(secret_of(&other));
    assert_eq!(plan_cleanup(&key(), Some(&other), NOW), Cleanup::Nothing);
    // Readers that only use it (the endpoint, exports) read it as before.
    let viewed = crate::operator::key_secret::view(&newer).unwrap();
    assert_eq!(viewed.record, record());
    assert!(matches!(
        crate::operator::key_secret::read(&newer),
        Err(Foreign::Newer(name, f)) if name == "kmskey-app" && f == "record.materials.0.hsm_slot"
    ));
    // And this version's own Secrets read whole.
    assert!(crate::operator::key_secret::read(&secret_of(&stored(record()))).is_ok());
}
