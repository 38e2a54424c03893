//! Replicas of multi-Region keys: never minted, written as the endpoint
//! delivers them (`kubekms.io/material` Replicate requests).

use std::collections::BTreeMap;

use kube::api::ObjectMeta;

use super::material::sealed_for;
use super::*;
use crate::key::{DAY_MS, Regions};
use crate::operator::key_secret::build;
use crate::resource::KmsKeySpec;
use crate::spec::KeySpec;

const NOW: Millis = 1_700_000_000_000;

fn id() -> KeyId {
    "mrk-1234abcd12ab34cdf6ef1234567890ab".parse().unwrap()
}

/// The replica KmsKey `orders` in `team-a`, its primary in us-east-1.
fn replica_key(annotation: Option<&MaterialRequest>) -> KmsKey {
    let spec: KmsKeySpec = serde_json::from_value(serde_json::json!({
        "keyId": id(), "multiRegion": true, "primaryRegion": "us-east-1",
    }))
    .unwrap();
    let mut key = KmsKey::new("orders", spec);
    key.metadata = ObjectMeta {
        name: Some("orders".into()),
        namespace: Some("team-a".into()),
        uid: Some("uid-1".into()),
        annotations: annotation
            .map(|r| BTreeMap::from([(MATERIAL_ANNOTATION.to_owned(), r.to_annotation())])),
        ..ObjectMeta::default()
    };
    key
}

fn regions(replicas: &[&str]) -> Regions {
    Regions::test_replica("us-east-1", replicas)
}

fn delivery(sealed: Vec<String>, replicas: &[&str]) -> MaterialRequest {
    let regions = regions(replicas);
    MaterialRequest::new(
        MaterialChange::Replicate {
            regions,
            sealed,
            imported: Vec::new(),
        },
        NOW,
    )
}

#[test]
fn a_replica_without_a_delivery_waits_for_its_primary_and_is_never_minted() {
    let KeyPlan::Refuse(refusal) = plan(&replica_key(None), None, NOW) else {
        panic!("a replica is not minted")
    };
    assert_eq!(refusal.reason, "AwaitingReplication");
    assert!(refusal.message.contains("us-east-1"), "{}", refusal.message);
    // The primary's Region's refusal, as the endpoint wrote it, is said.
    let mut refused = replica_key(None);
    refused.status = Some(crate::resource::KmsKeyStatus {
        replication_refusal: Some(crate::resource::ReplicationRefusal {
            since: "2026-12-06T19:00:00Z".into(),
            message: "Region us-east-1 refused: not authorized".into(),
        }),
        ..Default::default()
    });
    let KeyPlan::Refuse(refusal) = plan(&refused, None, NOW) else {
        panic!("still waiting")
    };
    assert!(
        refusal.message.ends_with(
            "; asked, refused since 2026-12-06T19:00:00Z: Region us-east-1 refused: not authorized"
        ),
        "{}",
        refusal.message
    );
    // Another kind of request is no delivery either.
    let import = MaterialRequest::new(MaterialChange::Delete { material_id: None }, NOW);
    let plan_ = plan(&replica_key(Some(&import)), None, NOW);
    assert!(matches!(plan_, KeyPlan::Refuse(r) if r.reason == "AwaitingReplication"));
}

#[test]
fn a_delivered_replica_is_created_as_delivered() {
    let v1 = sealed_for(id(), 1, KeySpec::SymmetricDefault);
    let v2 = sealed_for(id(), 2, KeySpec::SymmetricDefault);
    // Out of order and repeated: stored once each, by version.
    let request = delivery(vec![v2.clone(), v1.clone(), v2], &["eu-west-1"]);
    let KeyPlan::Replica(secret) = plan(&replica_key(Some(&request)), None, NOW) else {
        panic!("created")
    };
    let record = &secret.record;
    assert_eq!(record.key_id, id());
    assert_eq!(record.namespace, "team-a");
    let versions: Vec<u32> = record.materials.iter().map(|m| m.version).collect();
    assert_eq!(versions, [1, 2]);
    assert_eq!(
        crate::b64::encode(record.materials[0].sealed.as_bytes()),
        v1
    );
    assert_eq!(record.regions, Some(regions(&["eu-west-1"])));
    assert!(record.is_replica());
    assert_eq!(secret.material_handled.as_ref(), Some(&request.request));
    assert_eq!(secret.owner_uid.as_deref(), Some("uid-1"));
}

#[test]
fn a_delivery_of_another_key_or_spec_is_refused() {
    let other = KeyId::random_multi_region();
    for sealed in [
        sealed_for(other, 1, KeySpec::SymmetricDefault),
        sealed_for(id(), 1, KeySpec::Rsa2048),
        "not base64!".to_owned(),
    ] {
        let request = delivery(vec![sealed], &[]);
        let KeyPlan::Refuse(refusal) = plan(&replica_key(Some(&request)), None, NOW) else {
            panic!("refused")
        };
        assert_eq!(refusal.reason, "MaterialRefused", "{}", refusal.message);
    }
}

#[test]
fn a_replica_takes_later_versions_keeps_its_own_and_never_rotates() {
    let v1 = sealed_for(id(), 1, KeySpec::SymmetricDefault);
    let first = delivery(vec![v1.clone()], &["eu-west-1"]);
    let KeyPlan::Replica(mut secret) = plan(&replica_key(Some(&first)), None, NOW - 400 * DAY_MS)
    else {
        panic!("created")
    };
    secret.resource_version = Some("7".into());
    // Rotation enabled as the primary shares it, and long due: a replica
    // waits for its primary's versions.
    let mut key = replica_key(None);
    key.spec.rotation.enabled = true;
    secret.record.rotation.enabled = true;
    let found = build("orders", "uid-1", &secret);
    let update = updated(plan(&key, Some(&found), NOW));
    assert_eq!(update.rotate, None);
    // Nor on demand.
    key.metadata
        .annotations
        .get_or_insert_default()
        .insert(ROTATE_ANNOTATION.into(), "now".into());
    let update = updated(plan(&key, Some(&found), NOW));
    assert_eq!(update.rotate, None);
    let why = update.rotation_refused.unwrap();
    assert!(
        why.contains("replica") && why.contains("us-east-1"),
        "{why}"
    );

    // Version 2 arrives (with version 1 again, as a resent delivery
    // would), and the list of replicas changed.
    let v2 = sealed_for(id(), 2, KeySpec::SymmetricDefault);
    let other_v1 = sealed_for(id(), 1, KeySpec::SymmetricDefault);
    let next = delivery(vec![other_v1, v2.clone()], &["eu-west-1", "ap-south-1"]);
    let key = replica_key(Some(&next));
    let update = updated(plan(&key, Some(&found), NOW));
    assert_eq!(update.material, Some(Ok(MaterialChanged::Replicated)));
    assert!(update.clear_material_request && update.write);
    let record = &update.secret.record;
    let stored: Vec<String> = record
        .materials
        .iter()
        .map(|m| crate::b64::encode(m.sealed.as_bytes()))
        .collect();
    assert_eq!(stored, [v1, v2], "version 1 kept as it was");
    assert_eq!(record.regions, Some(regions(&["eu-west-1", "ap-south-1"])));
    assert_eq!(update.secret.material_handled.as_ref(), Some(&next.request));
}

fn updated(plan: KeyPlan) -> Update {
    match plan {
        KeyPlan::Update(update) => *update,
        other => panic!("expected an update, got {other:?}"),
    }
}

/// A replica of imported material: created from the primary's list of
/// materials, pending import; its owner's imports checked against it; new
/// material imported ahead becomes the version the primary rotates to.
#[test]
fn a_replica_of_imported_material_is_created_pending_import_and_follows_its_primary() {
    use super::material::import_as;
    use crate::key::{KeyState, SharedMaterial};
    let (aa, bb) = ("aa".repeat(32), "bb".repeat(32));
    let shared = |id: &str, version, since| SharedMaterial {
        version,
        material_id: id.into(),
        since,
    };
    let follow = |imported: Vec<SharedMaterial>, pending: Option<SharedMaterial>| {
        let mut regions = regions(&["eu-west-1"]);
        regions.pending = pending.map(Box::new);
        MaterialRequest::new(
            MaterialChange::Replicate {
                regions,
                sealed: Vec::new(),
                imported,
            },
            NOW,
        )
    };
    let external = |request: &MaterialRequest| {
        let mut key = replica_key(Some(request));
        key.spec.origin = Origin::External;
        key
    };
    // Material never travels with a key of imported material.
    let v1 = sealed_for(id(), 1, KeySpec::SymmetricDefault);
    let mut carrying = follow(vec![shared(&aa, 1, NOW - DAY_MS)], None);
    if let MaterialChange::Replicate { sealed, .. } = &mut carrying.change {
        sealed.push(v1.clone());
    }
    let KeyPlan::Refuse(refusal) = plan(&external(&carrying), None, NOW) else {
        panic!("refused")
    };
    assert_eq!(refusal.reason, "MaterialRefused", "{}", refusal.message);

    let first = follow(vec![shared(&aa, 1, NOW - DAY_MS)], None);
    // Declared (from Git) of generated material: refused, saying so.
    let KeyPlan::Refuse(refusal) = plan(&replica_key(Some(&first)), None, NOW) else {
        panic!("refused")
    };
    assert_eq!(refusal.reason, "MaterialRefused");
    assert!(
        refusal.message.contains("origin EXTERNAL"),
        "{}",
        refusal.message
    );
    let KeyPlan::Replica(mut secret) = plan(&external(&first), None, NOW) else {
        panic!("created")
    };
    assert_eq!(secret.record.origin, Origin::External);
    assert_eq!(secret.record.state(), KeyState::PendingImport);
    assert_eq!(secret.record.imported[0].material_id, aa);
    assert_eq!(secret.record.imported[0].since, NOW - DAY_MS);
    secret.resource_version = Some("7".into());
    let step = |secret: &mut KeySecret, request: &MaterialRequest| {
        let found = build("orders", "uid-1", secret);
        let update = updated(plan(&external(request), Some(&found), NOW));
        *secret = update.secret;
        update.material
    };

    // The owner imports the primary's material: enabled.
    let imported = step(&mut secret, &import_as(v1, &aa, 1, false));
    assert_eq!(imported, Some(Ok(MaterialChanged::Imported)));
    assert_eq!(secret.record.state(), KeyState::Enabled);
    // Other material is not the key's; nor is new material a replica's.
    let other = sealed_for(id(), 1, KeySpec::SymmetricDefault);
    let refused = step(&mut secret, &import_as(other, &"cc".repeat(32), 1, false));
    assert!(matches!(refused, Some(Err(_))), "{refused:?}");

    // The primary holds new material pending rotation; the replica takes
    // it ahead, pending rotation too (not as new material of its own).
    let waiting = shared(&bb, 2, 0);
    let replicated = step(
        &mut secret,
        &follow(vec![shared(&aa, 1, NOW - DAY_MS)], Some(waiting.clone())),
    );
    assert_eq!(replicated, Some(Ok(MaterialChanged::Replicated)));
    let v2 = sealed_for(id(), 2, KeySpec::SymmetricDefault);
    let ahead = step(&mut secret, &import_as(v2.clone(), &bb, 2, true));
    assert_eq!(ahead, Some(Ok(MaterialChanged::Imported)));
    assert_eq!(
        secret
            .record
            .pending_rotation
            .as_ref()
            .map(|p| p.material.material_id.as_str()),
        Some(bb.as_str())
    );
    assert_eq!(secret.record.current().map(|m| m.version), Some(1));

    // The primary rotates onto it: version 2 here too.
    let rotated = follow(
        vec![shared(&aa, 1, NOW - DAY_MS), shared(&bb, 2, NOW - 5)],
        None,
    );
    assert_eq!(
        step(&mut secret, &rotated),
        Some(Ok(MaterialChanged::Replicated))
    );
    assert_eq!(secret.record.pending_rotation, None);
    let current = secret.record.current().unwrap();
    assert_eq!((current.version, current.created), (2, NOW - 5));
    assert_eq!(crate::b64::encode(current.sealed.as_bytes()), v2);
    assert_eq!(secret.record.state(), KeyState::Enabled);
}
