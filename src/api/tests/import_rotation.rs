//! On-demand rotation of a symmetric key of imported material: new
//! material waits (PENDING_ROTATION) until RotateKeyOnDemand makes it the
//! next version, and every version's material is deleted, expires and comes
//! back on its own.

use super::import::{describe, import_body};
use super::*;

async fn all_material(h: &Harness, key: &str) -> Vec<Value> {
    let out = h
        .ok(
            "ListKeyRotations",
            json!({ "KeyId": key, "IncludeKeyMaterial": "ALL_KEY_MATERIAL" }),
        )
        .await;
    out["Rotations"].as_array().unwrap().clone()
}

/// (KeyMaterialId, KeyMaterialState, ImportState) of each listed material.
fn states(entries: &[Value]) -> Vec<(String, String, String)> {
    entries
        .iter()
        .map(|e| {
            let field = |name: &str| e[name].as_str().unwrap_or_default().to_owned();
            (
                field("KeyMaterialId"),
                field("KeyMaterialState"),
                field("ImportState"),
            )
        })
        .collect()
}

fn state(id: &Value, material: &str, import: &str) -> (String, String, String) {
    (
        id.as_str().unwrap().to_owned(),
        material.to_owned(),
        import.to_owned(),
    )
}

/// An ImportKeyMaterial body importing `material` into `key` as new
/// material.
async fn new_material(h: &Harness, key: &str, material: &[u8]) -> Value {
    import_body(
        h,
        key,
        material,
        json!({ "ImportType": "NEW_KEY_MATERIAL" }),
    )
    .await
}

/// The KeyMaterialId an Encrypt of `body` used, as Decrypt reports it.
async fn encrypted_under(h: &Harness, body: &Value) -> Value {
    let blob = h.ok("Encrypt", body.clone()).await["CiphertextBlob"].clone();
    h.ok("Decrypt", json!({ "CiphertextBlob": blob })).await["KeyMaterialId"].clone()
}

#[tokio::test]
async fn new_material_becomes_the_next_version_on_demand_and_old_ciphertexts_still_decrypt() {
    let h = harness();
    let key = h.key(json!({ "Origin": "EXTERNAL" })).await;
    let (first, second) = (random_bytes(32), random_bytes(32));
    let body = import_body(&h, &key, &first, json!({})).await;
    let first_id = h.ok("ImportKeyMaterial", body).await["KeyMaterialId"].clone();
    let encrypt = json!({ "KeyId": key, "Plaintext": b64(b"before") });
    let old = h.ok("Encrypt", encrypt).await["CiphertextBlob"].clone();

    // Nothing waits: no rotation.
    let (kind, message) = h.err("RotateKeyOnDemand", json!({ "KeyId": key })).await;
    assert_eq!(kind, "KMSInvalidStateException");
    assert!(
        message.contains("no key material pending rotation"),
        "{message}"
    );

    let valid_to = (T0 + 20 * DAY_MS) / 1000;
    let body = import_body(
        &h,
        &key,
        &second,
        json!({ "ImportType": "NEW_KEY_MATERIAL", "ValidTo": valid_to,
                "KeyMaterialDescription": "second" }),
    )
    .await;
    let second_id = h.ok("ImportKeyMaterial", body).await["KeyMaterialId"].clone();
    assert_ne!(first_id, second_id);
    // Waiting, it is listed but not used, and is not the key's ValidTo.
    let listed = all_material(&h, &key).await;
    assert_eq!(
        states(&listed),
        [
            state(&first_id, "CURRENT", "IMPORTED"),
            state(&second_id, "PENDING_ROTATION", "IMPORTED"),
        ]
    );
    assert!(listed[1].get("RotationDate").is_none());
    assert_eq!(listed[1]["KeyMaterialDescription"], json!("second"));
    let m = describe(&h, &key).await;
    assert_eq!(m["CurrentKeyMaterialId"], first_id);
    assert_eq!(m["ExpirationModel"], json!("KEY_MATERIAL_DOES_NOT_EXPIRE"));
    let encrypt = json!({ "KeyId": key, "Plaintext": b64(b"x") });
    assert_eq!(encrypted_under(&h, &encrypt).await, first_id);
    // Other new material waits its turn; the same may be imported again.
    let third = new_material(&h, &key, &random_bytes(32)).await;
    let (kind, message) = h.err("ImportKeyMaterial", third).await;
    assert_eq!(kind, "KMSInvalidStateException", "{message}");
    // The key's own material is not new.
    let again = new_material(&h, &key, &first).await;
    assert_eq!(
        h.err("ImportKeyMaterial", again).await.0,
        "IncorrectKeyMaterialException"
    );

    h.advance(DAY_MS);
    h.ok("RotateKeyOnDemand", json!({ "KeyId": key })).await;
    let listed = all_material(&h, &key).await;
    assert_eq!(
        states(&listed),
        [
            state(&first_id, "NON_CURRENT", "IMPORTED"),
            state(&second_id, "CURRENT", "IMPORTED"),
        ]
    );
    assert_eq!(
        (&listed[1]["RotationType"], &listed[1]["RotationDate"]),
        (&json!("ON_DEMAND"), &json!(((T0 + DAY_MS) / 1000) as f64))
    );
    let rotations = h.ok("ListKeyRotations", json!({ "KeyId": key })).await;
    assert_eq!(
        states(rotations["Rotations"].as_array().unwrap()),
        [state(&second_id, "CURRENT", "IMPORTED")],
        "ROTATIONS_ONLY: the rotation alone"
    );
    let m = describe(&h, &key).await;
    assert_eq!(m["CurrentKeyMaterialId"], second_id);
    assert_eq!(
        (&m["ExpirationModel"], &m["ValidTo"]),
        (&json!("KEY_MATERIAL_EXPIRES"), &json!(valid_to as f64))
    );
    assert_eq!(encrypted_under(&h, &encrypt).await, second_id);
    let new = h.ok("Encrypt", encrypt.clone()).await;
    let decrypted = h.ok("Decrypt", json!({ "CiphertextBlob": old })).await;
    assert_eq!(
        (&decrypted["Plaintext"], &decrypted["KeyMaterialId"]),
        (&json!(b64(b"before")), &first_id)
    );
    let status = h.ok("GetKeyRotationStatus", json!({ "KeyId": key })).await;
    assert_eq!(status["KeyRotationEnabled"], json!(false));

    // The old version's material deleted: the key is pending import until
    // it comes back; then both decrypt again.
    let deleted = h
        .ok(
            "DeleteImportedKeyMaterial",
            json!({ "KeyId": key, "KeyMaterialId": first_id }),
        )
        .await;
    assert_eq!(deleted["KeyMaterialId"], first_id);
    assert_eq!(describe(&h, &key).await["KeyState"], json!("PendingImport"));
    assert_eq!(
        states(&all_material(&h, &key).await),
        [
            state(&first_id, "NON_CURRENT", "PENDING_IMPORT"),
            state(&second_id, "CURRENT", "IMPORTED"),
        ]
    );
    assert_eq!(
        h.err(
            "Decrypt",
            json!({ "CiphertextBlob": new["CiphertextBlob"] })
        )
        .await
        .0,
        "KMSInvalidStateException"
    );
    let back = import_body(&h, &key, &first, json!({ "KeyMaterialId": first_id })).await;
    h.ok("ImportKeyMaterial", back).await;
    assert_eq!(describe(&h, &key).await["KeyState"], json!("Enabled"));
    h.ok("Decrypt", json!({ "CiphertextBlob": old })).await;
    h.ok(
        "Decrypt",
        json!({ "CiphertextBlob": new["CiphertextBlob"] }),
    )
    .await;

    // The second version expires on its own: pending import; the default
    // deletion target is the current version's.
    h.advance(20 * DAY_MS);
    let done = h.api.run_due().await.unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(
        states(&all_material(&h, &key).await),
        [
            state(&first_id, "NON_CURRENT", "IMPORTED"),
            state(&second_id, "CURRENT", "PENDING_IMPORT"),
        ]
    );
    let deleted = h
        .ok("DeleteImportedKeyMaterial", json!({ "KeyId": key }))
        .await;
    assert_eq!(deleted["KeyMaterialId"], second_id);
    let back = import_body(&h, &key, &second, json!({})).await;
    assert_eq!(
        h.ok("ImportKeyMaterial", back).await["KeyMaterialId"],
        second_id
    );
    assert_eq!(describe(&h, &key).await["KeyState"], json!("Enabled"));
    assert_eq!(encrypted_under(&h, &encrypt).await, second_id);
}

#[tokio::test]
async fn only_symmetric_keys_take_new_material_and_only_on_demand() {
    let h = harness();
    let hmac = h
        .key(json!({ "Origin": "EXTERNAL", "KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC" }))
        .await;
    let body = import_body(&h, &hmac, &random_bytes(32), json!({})).await;
    h.ok("ImportKeyMaterial", body).await;
    let new = new_material(&h, &hmac, &random_bytes(32)).await;
    assert_eq!(
        h.err("ImportKeyMaterial", new).await.0,
        "UnsupportedOperationException"
    );
    assert_eq!(
        h.err("RotateKeyOnDemand", json!({ "KeyId": hmac })).await.0,
        "UnsupportedOperationException"
    );
    let key = h.key(json!({ "Origin": "EXTERNAL" })).await;
    let body = import_body(&h, &key, &random_bytes(32), json!({})).await;
    h.ok("ImportKeyMaterial", body).await;
    for op in ["EnableKeyRotation", "DisableKeyRotation"] {
        assert_eq!(
            h.err(op, json!({ "KeyId": key })).await.0,
            "UnsupportedOperationException",
            "{op}: imported keys rotate on demand only"
        );
    }
    // Material deleted while pending rotation is gone: nothing to rotate.
    let new = new_material(&h, &key, &random_bytes(32)).await;
    let waiting = h.ok("ImportKeyMaterial", new).await["KeyMaterialId"].clone();
    h.ok(
        "DeleteImportedKeyMaterial",
        json!({ "KeyId": key, "KeyMaterialId": waiting }),
    )
    .await;
    assert_eq!(all_material(&h, &key).await.len(), 1);
    assert_eq!(describe(&h, &key).await["KeyState"], json!("Enabled"));
    assert_eq!(
        h.err("RotateKeyOnDemand", json!({ "KeyId": key })).await.0,
        "KMSInvalidStateException"
    );
    assert_eq!(
        h.err(
            "DeleteImportedKeyMaterial",
            json!({ "KeyId": key, "KeyMaterialId": waiting })
        )
        .await
        .0,
        "NotFoundException"
    );
}
