//! Keys of imported material: minted without any, and the
//! `kubekms.io/material` requests the endpoint makes of the controller.

use std::collections::BTreeMap;

use kube::api::ObjectMeta;

use super::*;
use crate::key::DAY_MS;
use crate::operator::key_secret::build;
use crate::resource::KmsKeySpec;
use crate::spec::KeySpec;

const NOW: Millis = 1_700_000_000_000;

fn external_key(annotation: Option<&MaterialRequest>) -> KmsKey {
    let spec: KmsKeySpec = serde_json::from_str(r#"{"origin": "EXTERNAL"}"#).unwrap();
    let mut key = KmsKey::new("app", spec);
    key.metadata = ObjectMeta {
        name: Some("app".into()),
        namespace: Some("team-a".into()),
        uid: Some("uid-1".into()),
        annotations: annotation
            .map(|r| BTreeMap::from([(MATERIAL_ANNOTATION.to_owned(), r.to_annotation())])),
        ..ObjectMeta::default()
    };
    key
}

/// A Secret as the controller first writes it for `external_key`.
fn pending() -> KeySecret {
    let id: KeyId = "1234abcd-12ab-34cd-56ef-1234567890ab".parse().unwrap();
    minted(&external_key(None), id, None, NOW - DAY_MS)
}

/// A stand-in sealed blob: a real header (the controller checks it; only
/// the crypto service opens the rest).
pub(super) fn sealed_for(key_id: KeyId, version: u32, spec: KeySpec) -> String {
    crate::b64::encode(crate::seal::test_sealed(key_id, version, spec).as_bytes())
}

fn import(sealed: String, material_id: &str) -> MaterialRequest {
    import_as(sealed, material_id, 1, false)
}

pub(super) fn import_as(
    sealed: String,
    material_id: &str,
    version: u32,
    pending: bool,
) -> MaterialRequest {
    MaterialRequest::new(
        MaterialChange::Import {
            sealed,
            material_id: material_id.into(),
            valid_to: Some(NOW + 10 * DAY_MS),
            description: "from the HSM".into(),
            version,
            pending,
        },
        NOW,
    )
}

fn run(key: &KmsKey, stored: &KeySecret, now: Millis) -> Update {
    match plan(key, Some(&build("app", "uid-1", stored)), now) {
        KeyPlan::Update(update) => *update,
        other => panic!("expected an update, got {other:?}"),
    }
}

#[test]
fn a_key_of_imported_material_is_minted_without_any() {
    let secret = pending();
    assert_eq!(secret.record.origin, Origin::External);
    assert!(secret.record.materials.is_empty());
    assert_eq!(secret.record.state(), crate::key::KeyState::PendingImport);
    // Reconciled again: nothing to write, nothing to rotate or expire.
    let update = run(&external_key(None), &secret, NOW);
    assert!(!update.write && update.expired.is_empty() && update.material.is_none());
    assert!(!update.clear_material_request);
}

#[test]
fn an_import_request_is_carried_out_once_then_its_annotation_removed() {
    let stored = pending();
    let id = stored.record.key_id;
    let request = import(
        sealed_for(id, 1, KeySpec::SymmetricDefault),
        &"ab".repeat(32),
    );
    let key = external_key(Some(&request));
    let update = run(&key, &stored, NOW);
    assert_eq!(update.material, Some(Ok(MaterialChanged::Imported)));
    assert!(update.write && update.clear_material_request);
    let record = &update.secret.record;
    assert_eq!(record.materials.len(), 1);
    assert_eq!(record.state(), crate::key::KeyState::Enabled);
    let imported = &record.imported[0];
    assert_eq!(
        (
            imported.material_id.as_str(),
            imported.valid_to,
            imported.description.as_str()
        ),
        (
            "ab".repeat(32).as_str(),
            Some(NOW + 10 * DAY_MS),
            "from the HSM"
        )
    );
    assert_eq!(
        update.secret.material_handled,
        Some(request.request.clone())
    );
    // Read back with the annotation still there (its removal failed): only
    // the removal is left to do.
    let again = run(&key, &update.secret, NOW);
    assert!(again.material.is_none() && !again.write && again.clear_material_request);

    // The KmsKey says whether the key is enabled, imported or not.
    let mut disabled = external_key(Some(&request));
    disabled.spec.enabled = false;
    assert!(!run(&disabled, &stored, NOW).secret.record.enabled);

    // It expires at its ValidTo, and is deleted.
    let expired = run(&external_key(None), &update.secret, NOW + 10 * DAY_MS);
    assert_eq!(expired.expired, ["ab".repeat(32)]);
    assert!(expired.write);
    assert!(expired.secret.record.materials.is_empty());
    assert_eq!(
        lifecycle::next_due(&update.secret.record),
        Some(NOW + 10 * DAY_MS),
        "the controller requeues for it"
    );

    // A delete request deletes it.
    let delete = MaterialRequest::new(MaterialChange::Delete { material_id: None }, NOW);
    let deleted = run(&external_key(Some(&delete)), &update.secret, NOW);
    assert_eq!(deleted.material, Some(Ok(MaterialChanged::Deleted)));
    assert!(deleted.secret.record.materials.is_empty());
    assert_eq!(
        deleted.secret.record.imported.len(),
        1,
        "what identifies it stays"
    );
}

/// `stored` with material `abab…` imported as version 1, and then with
/// material `cdcd…` waiting to become version 2.
fn one_then_waiting(stored: &KeySecret) -> (KeySecret, KeySecret) {
    let id = stored.record.key_id;
    let first = import(
        sealed_for(id, 1, KeySpec::SymmetricDefault),
        &"ab".repeat(32),
    );
    let one = run(&external_key(Some(&first)), stored, NOW).secret;
    let new = import_as(
        sealed_for(id, 2, KeySpec::SymmetricDefault),
        &"cd".repeat(32),
        2,
        true,
    );
    let update = run(&external_key(Some(&new)), &one, NOW);
    assert_eq!(update.material, Some(Ok(MaterialChanged::Imported)));
    (one, update.secret)
}

#[test]
fn new_material_waits_in_the_secret_until_an_on_demand_rotation_makes_it_version_2() {
    let stored = pending();
    let id = stored.record.key_id;
    let (one, waiting) = one_then_waiting(&stored);
    // Sealed for version 1 but sent as new material: refused.
    let wrong = import_as(
        sealed_for(id, 1, KeySpec::SymmetricDefault),
        &"cd".repeat(32),
        1,
        true,
    );
    let refused = run(&external_key(Some(&wrong)), &one, NOW).material;
    assert!(refused.unwrap().is_err());

    assert_eq!(waiting.record.materials.len(), 1, "not the key's yet");
    assert_eq!(
        waiting
            .record
            .pending_rotation
            .as_ref()
            .map(|p| p.material.version),
        Some(2)
    );

    // The rotate annotation: the controller makes it version 2 (the
    // controller's shell does the rotation `rotate` asks for).
    let mut rotate = external_key(None);
    rotate.metadata.annotations = Some(BTreeMap::from([(
        ROTATE_ANNOTATION.to_owned(),
        "2026-12-06T00:00:00Z".to_owned(),
    )]));
    let update = run(&rotate, &waiting, NOW);
    assert_eq!(update.rotate, Some(RotationType::OnDemand));
    assert_eq!(update.rotation_refused, None);
    // With nothing waiting, refused and said.
    let update = run(&rotate, &one, NOW);
    assert_eq!(update.rotate, None);
    assert!(
        update
            .rotation_refused
            .unwrap()
            .contains("no imported material pending rotation")
    );

    // Deleted while waiting: gone from the Secret.
    let delete = MaterialRequest::new(
        MaterialChange::Delete {
            material_id: Some("cd".repeat(32)),
        },
        NOW,
    );
    let update = run(&external_key(Some(&delete)), &waiting, NOW);
    assert_eq!(update.material, Some(Ok(MaterialChanged::Deleted)));
    assert_eq!(update.secret.record.pending_rotation, None);
    assert_eq!(update.secret.record.state(), crate::key::KeyState::Enabled);
    // Material the key does not have cannot be deleted.
    let delete = MaterialRequest::new(
        MaterialChange::Delete {
            material_id: Some("ef".repeat(32)),
        },
        NOW,
    );
    let update = run(&external_key(Some(&delete)), &waiting, NOW);
    assert!(
        update
            .material
            .unwrap()
            .unwrap_err()
            .contains("not the key's")
    );
}

#[test]
fn what_does_not_fit_the_key_is_refused_and_not_retried() {
    let stored = pending();
    let id = stored.record.key_id;
    let other = KeyId::random();
    let cases = [
        (
            import(sealed_for(other, 1, KeySpec::SymmetricDefault), "a"),
            "not this key's",
        ),
        (
            import(sealed_for(id, 2, KeySpec::SymmetricDefault), "a"),
            "version 2",
        ),
        (import("not base64!".into(), "a"), "base64"),
        (import(crate::b64::encode(&[0xA1; 10]), "a"), "too short"),
    ];
    for (request, why) in cases {
        let update = run(&external_key(Some(&request)), &stored, NOW);
        let refused = update.material.clone().unwrap().unwrap_err();
        assert!(refused.contains(why), "{why}: {refused}");
        assert!(update.secret.record.materials.is_empty());
        assert_eq!(update.secret.material_handled, Some(request.request));
        assert!(update.clear_material_request, "a refused request goes too");
    }
    // Other material than the key's, after it was deleted.
    let mut deleted = stored.clone();
    deleted.record.imported = vec![ImportedMaterial {
        material_id: "cd".repeat(32),
        valid_to: None,
        description: String::new(),
        imported: NOW - 1,
        version: 1,
        since: NOW - 1,
    }];
    let request = import(
        sealed_for(id, 1, KeySpec::SymmetricDefault),
        &"ab".repeat(32),
    );
    let refused = run(&external_key(Some(&request)), &deleted, NOW).material;
    assert!(
        refused
            .unwrap()
            .unwrap_err()
            .contains("only the same material")
    );
    // A key of generated material takes no request.
    let mut generated = stored.clone();
    generated.record.origin = Origin::AwsKms;
    let mut key = external_key(Some(&request));
    key.spec.origin = Origin::AwsKms;
    let refused = run(&key, &generated, NOW).material;
    assert!(
        refused
            .unwrap()
            .unwrap_err()
            .contains("not of imported material")
    );
    // A value set by hand that does not parse is said, and left alone.
    let mut by_hand = external_key(None);
    by_hand.metadata.annotations = Some(BTreeMap::from([(
        MATERIAL_ANNOTATION.to_owned(),
        "please import".to_owned(),
    )]));
    let update = run(&by_hand, &stored, NOW);
    assert!(update.material.unwrap().is_err());
    assert!(!update.clear_material_request);
}

#[test]
fn the_status_says_which_material_is_missing_and_what_waits() {
    use crate::operator::key_status::reconciled;
    let arn = crate::api::ArnConfig::default();
    let status = |secret: &KeySecret| {
        let status = reconciled(&external_key(None), &secret.record, &arn, None, NOW);
        (status.current_version, status.conditions[0].message.clone())
    };
    let stored = pending();
    let (version, message) = status(&stored);
    assert_eq!(version, None);
    assert!(
        message.contains("no material until it is imported"),
        "{message}"
    );

    let (one, waiting) = one_then_waiting(&stored);
    let (version, message) = status(&waiting);
    assert_eq!(version, Some(1));
    assert!(
        message.starts_with("Enabled; material version 1; imported material cdcd")
            && message.ends_with("make it version 2"),
        "{message}"
    );
    let deleted = run(&external_key(None), &one, NOW + 10 * DAY_MS).secret;
    let (version, message) = status(&deleted);
    assert_eq!(
        version,
        Some(1),
        "still the current version, without material"
    );
    assert!(
        message.contains("the material of version 1 was deleted or expired"),
        "{message}"
    );
}
