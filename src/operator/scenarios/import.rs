//! Keys of imported material: minted without any, and the endpoint's
//! `kubekms.io/material` requests carried out into the key Secret.

use std::collections::BTreeMap;

use super::*;
use crate::key::{KeyState, Origin};
use crate::material::KeyMaterial;
use crate::resource::{MATERIAL_ANNOTATION, MaterialChange, MaterialRequest};
use crate::seal::MaterialId;
use crate::spec::{KeySpec, KeyUsage};

fn external_record() -> KeyRecord {
    let mut record = stored_record();
    record.origin = Origin::External;
    record.materials.clear();
    record
}

/// The KmsKey `app` of origin EXTERNAL, asking for `request`.
fn external_key(request: &MaterialRequest) -> KmsKey {
    let mut key = key(json!({"origin": "EXTERNAL"}));
    key.metadata.annotations = Some(BTreeMap::from([(
        MATERIAL_ANNOTATION.to_owned(),
        request.to_annotation(),
    )]));
    key
}

#[tokio::test]
async fn a_key_of_imported_material_is_minted_pending_import() {
    let (ctx, mut server) = context();
    let key = key(json!({"origin": "EXTERNAL"}));
    let (task, created) = minting(&key, &ctx, &mut server).await;
    let record = record_in(&created.body);
    assert_eq!(record["origin"], "EXTERNAL");
    assert_eq!(record["materials"], json!([]));
    server.expect_event("Created").await;
    let status = server.expect_status(&key).await.body["status"].clone();
    assert_eq!(status["keyState"], "PendingImport");
    assert!(status["currentVersion"].is_null());
    let ready = &status["conditions"][0];
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("ImportKeyMaterial")
    );
    assert_eq!(finish(task).await, Action::requeue(super::super::RESYNC));
    server.expect_nothing_more().await;
}

#[tokio::test]
async fn an_import_goes_into_the_secret_and_its_request_is_removed() {
    let (ctx, mut server) = context();
    let record = external_record();
    let id = MaterialId {
        key_id: record.key_id,
        version: 1,
        spec: KeySpec::SymmetricDefault,
        usage: KeyUsage::EncryptDecrypt,
    };
    let material = KeyMaterial::generate(KeySpec::SymmetricDefault).unwrap();
    let sealed = crate::seal::seal(root_key(&[1]).as_ref(), id, &material).unwrap();
    let request = MaterialRequest::new(
        MaterialChange::Import {
            sealed: crate::b64::encode(sealed.as_bytes()),
            material_id: "ab".repeat(32),
            valid_to: Some(NOW + 3 * DAY_MS),
            description: String::new(),
            version: 1,
            pending: false,
        },
        NOW,
    );
    let key = external_key(&request);
    let task = reconcile_key(key.clone(), &ctx).await;
    let written = server.expect_key_secret_replaced(&record).await;
    let stored = record_in(&written.body);
    assert_eq!(
        stored["materials"][0]["sealed"],
        crate::b64::encode(sealed.as_bytes())
    );
    assert_eq!(stored["imported"]["material_id"], "ab".repeat(32));
    assert_eq!(stored["imported"]["valid_to"], NOW + 3 * DAY_MS);
    assert_eq!(
        written.body["metadata"]["annotations"][key_secret::MATERIAL_HANDLED_ANNOTATION],
        request.request.as_str()
    );
    // Then the request goes, only from the KmsKey as it was read.
    let cleared = server
        .expect(
            "PATCH",
            &format!("{KEYS}/app"),
            200,
            serde_json::to_value(&key).unwrap(),
        )
        .await;
    assert_eq!(
        cleared.body,
        json!({"metadata": {"resourceVersion": "10", "annotations": {MATERIAL_ANNOTATION: null}}})
    );
    server.expect_event("MaterialImported").await;
    let status = server.expect_status(&key).await.body["status"].clone();
    assert_eq!(
        (
            status["keyState"].as_str(),
            status["currentVersion"].as_u64()
        ),
        (Some("Enabled"), Some(1))
    );
    // Requeued for the material's end.
    assert_eq!(
        finish(task).await,
        Action::requeue(super::super::RESYNC.min(Duration::from_millis(3 * DAY_MS as u64)))
    );
    server.expect_nothing_more().await;
}

#[tokio::test]
async fn a_deletion_whose_request_changed_meanwhile_is_removed_next_time() {
    let (ctx, mut server) = context();
    let mut record = external_record();
    record.materials = stored_record().materials;
    record.imported = vec![crate::key::ImportedMaterial {
        material_id: "ab".repeat(32),
        valid_to: None,
        description: String::new(),
        imported: NOW - DAY_MS,
        version: 1,
        since: NOW - DAY_MS,
    }];
    assert_eq!(record.state(), KeyState::Enabled);
    let request = MaterialRequest::new(MaterialChange::Delete { material_id: None }, NOW);
    let key = external_key(&request);
    let task = reconcile_key(key.clone(), &ctx).await;
    let written = server.expect_key_secret_replaced(&record).await;
    assert_eq!(record_in(&written.body)["materials"], json!([]));
    // The KmsKey changed since it was read: its request is not removed now.
    server
        .expect("PATCH", &format!("{KEYS}/app"), 409, conflict())
        .await;
    server.expect_event("MaterialDeleted").await;
    assert_eq!(finish(task).await, Action::requeue(Duration::from_secs(1)));
    server.expect_nothing_more().await;
}

#[tokio::test]
async fn an_on_demand_rotation_makes_the_waiting_material_version_2_without_minting() {
    let (ctx, mut server) = context();
    let mut record = external_record();
    let sealed_for = |version| {
        let id = MaterialId {
            key_id: record.key_id,
            version,
            spec: KeySpec::SymmetricDefault,
            usage: KeyUsage::EncryptDecrypt,
        };
        let material = KeyMaterial::generate(KeySpec::SymmetricDefault).unwrap();
        crate::seal::seal(root_key(&[1]).as_ref(), id, &material).unwrap()
    };
    let (one, two) = (sealed_for(1), sealed_for(2));
    let described = |n: u8| crate::key::ImportedMaterial {
        material_id: format!("{n:02x}").repeat(32),
        valid_to: None,
        description: String::new(),
        imported: NOW - DAY_MS,
        version: 0,
        since: 0,
    };
    use crate::lifecycle::imported::{Placement, import};
    import(&mut record, Placement::Version(1), one, described(1));
    import(
        &mut record,
        Placement::Pending(2),
        two.clone(),
        described(2),
    );
    let mut key = key(json!({"origin": "EXTERNAL"}));
    key.metadata.annotations = Some(BTreeMap::from([(
        crate::resource::ROTATE_ANNOTATION.to_owned(),
        "2026-12-06T00:00:00Z".to_owned(),
    )]));
    let task = reconcile_key(key.clone(), &ctx).await;
    let written = server.expect_key_secret_replaced(&record).await;
    let stored = record_in(&written.body);
    assert_eq!(stored["materials"][1]["version"], 2);
    assert_eq!(stored["materials"][1]["rotation_type"], "OnDemand");
    assert_eq!(
        stored["materials"][1]["sealed"],
        crate::b64::encode(two.as_bytes()),
        "the imported material, not new material"
    );
    assert_eq!(stored["imported"][1]["material_id"], "02".repeat(32));
    assert!(stored.get("pending_rotation").is_none());
    assert_eq!(stored["on_demand_rotations"], 1);
    server.expect_event("Rotated").await;
    let status = server.expect_status(&key).await.body["status"].clone();
    assert_eq!(status["currentVersion"], 2);
    finish(task).await;
    server.expect_nothing_more().await;
}
