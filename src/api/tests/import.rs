//! Key import: GetParametersForImport, ImportKeyMaterial and
//! DeleteImportedKeyMaterial, with material wrapped as a caller wraps it.

use hmac::Mac;
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey};

use super::*;
use crate::import::tests::wrap;
use crate::spec::WrappingAlgorithm;

/// GetParametersForImport's public key and token for `key`.
async fn parameters(h: &Harness, key: &str, algorithm: &str, spec: &str) -> (Vec<u8>, String) {
    let out = h
        .ok(
            "GetParametersForImport",
            json!({ "KeyId": key, "WrappingAlgorithm": algorithm, "WrappingKeySpec": spec }),
        )
        .await;
    assert_eq!(out["KeyId"], json!(arn(key)));
    let public = STANDARD.decode(out["PublicKey"].as_str().unwrap()).unwrap();
    (public, out["ImportToken"].as_str().unwrap().to_owned())
}

/// An ImportKeyMaterial body for `material`, wrapped for `key` under fresh
/// parameters, with `extra` members.
pub(super) async fn import_body(h: &Harness, key: &str, material: &[u8], extra: Value) -> Value {
    let algorithm = WrappingAlgorithm::RsaAesKeyWrapSha256;
    let (public, token) = parameters(h, key, algorithm.as_str(), "RSA_3072").await;
    let mut body = json!({
        "KeyId": key,
        "ImportToken": token,
        "EncryptedKeyMaterial": b64(&wrap(&public, algorithm, material)),
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body
}

pub(super) async fn describe(h: &Harness, key: &str) -> Value {
    h.ok("DescribeKey", json!({ "KeyId": key })).await["KeyMetadata"].clone()
}

#[tokio::test]
async fn a_key_of_imported_material_is_pending_import_until_its_material_comes() {
    let h = harness();
    let key = h.key(json!({ "Origin": "EXTERNAL" })).await;
    let m = describe(&h, &key).await;
    assert_eq!(
        (&m["Origin"], &m["KeyState"], &m["Enabled"]),
        (&json!("EXTERNAL"), &json!("PendingImport"), &json!(false))
    );
    assert!(m.get("CurrentKeyMaterialId").is_none() && m.get("ExpirationModel").is_none());
    let pending = (
        "KMSInvalidStateException".to_owned(),
        format!("{} is pending import.", arn(&key)),
    );
    let encrypt = json!({ "KeyId": key, "Plaintext": b64(b"x") });
    assert_eq!(h.err("Encrypt", encrypt.clone()).await, pending);
    assert_eq!(h.err("EnableKey", json!({ "KeyId": key })).await, pending);
    assert_eq!(h.err("DisableKey", json!({ "KeyId": key })).await, pending);

    // RSAES_OAEP_SHA_256 under a 2048-bit key: the material itself.
    let material = random_bytes(32);
    let (public, token) = parameters(&h, &key, "RSAES_OAEP_SHA_256", "RSA_2048").await;
    let parameters_out = h
        .ok(
            "GetParametersForImport",
            json!({ "KeyId": key, "WrappingAlgorithm": "RSAES_OAEP_SHA_1", "WrappingKeySpec": "RSA_4096" }),
        )
        .await;
    assert_eq!(
        parameters_out["ParametersValidTo"],
        json!((T0 + DAY_MS) as f64 / 1000.0),
        "a day"
    );
    let wrapped = wrap(&public, WrappingAlgorithm::RsaesOaepSha256, &material);
    let imported = h
        .ok(
            "ImportKeyMaterial",
            json!({ "KeyId": key, "ImportToken": token, "EncryptedKeyMaterial": b64(&wrapped),
                    "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE" }),
        )
        .await;
    let material_id = imported["KeyMaterialId"].as_str().unwrap().to_owned();
    assert_eq!(imported["KeyId"], json!(arn(&key)));
    assert_eq!(material_id.len(), 64);
    let m = describe(&h, &key).await;
    assert_eq!(
        (&m["KeyState"], &m["Enabled"], &m["ExpirationModel"]),
        (
            &json!("Enabled"),
            &json!(true),
            &json!("KEY_MATERIAL_DOES_NOT_EXPIRE")
        )
    );
    assert_eq!(m["CurrentKeyMaterialId"], json!(material_id));
    let blob = h.ok("Encrypt", encrypt.clone()).await["CiphertextBlob"].clone();
    let decrypted = h.ok("Decrypt", json!({ "CiphertextBlob": blob })).await;
    assert_eq!(decrypted["Plaintext"], json!(b64(b"x")));
    assert_eq!(decrypted["KeyMaterialId"], json!(material_id));

    // Deleted: pending import again, and what it encrypted waits for it.
    let deleted = h
        .ok("DeleteImportedKeyMaterial", json!({ "KeyId": key }))
        .await;
    assert_eq!(deleted["KeyMaterialId"], json!(material_id));
    assert_eq!(describe(&h, &key).await["KeyState"], json!("PendingImport"));
    assert_eq!(
        h.err("Decrypt", json!({ "CiphertextBlob": blob })).await,
        pending
    );
    // Deleting again changes nothing.
    h.ok("DeleteImportedKeyMaterial", json!({ "KeyId": key }))
        .await;

    // Other material does not come back in its place, whatever the call says.
    let other = import_body(&h, &key, &random_bytes(32), json!({})).await;
    assert_eq!(
        h.err("ImportKeyMaterial", other.clone()).await.0,
        "IncorrectKeyMaterialException"
    );
    // As new material it waits for a rotation, which a key pending import
    // cannot make; it is not the key's, and goes when deleted.
    let mut as_new = other;
    as_new["ImportType"] = json!("NEW_KEY_MATERIAL");
    let waiting = h.ok("ImportKeyMaterial", as_new).await["KeyMaterialId"].clone();
    assert_eq!(describe(&h, &key).await["KeyState"], json!("PendingImport"));
    assert_eq!(
        h.err("RotateKeyOnDemand", json!({ "KeyId": key })).await.0,
        "KMSInvalidStateException"
    );
    h.ok(
        "DeleteImportedKeyMaterial",
        json!({ "KeyId": key, "KeyMaterialId": waiting }),
    )
    .await;
    // The same material does (the first token is still good for the day),
    // named by its id, and the old ciphertext decrypts again.
    let again = h
        .ok(
            "ImportKeyMaterial",
            json!({ "KeyId": key, "ImportToken": token, "EncryptedKeyMaterial": b64(&wrapped),
                    "ImportType": "EXISTING_KEY_MATERIAL", "KeyMaterialId": material_id }),
        )
        .await;
    assert_eq!(again["KeyMaterialId"], json!(material_id));
    assert_eq!(describe(&h, &key).await["KeyState"], json!("Enabled"));
    h.ok("Decrypt", json!({ "CiphertextBlob": blob })).await;

    // The same material imported into another key is that key's own.
    let second = h.key(json!({ "Origin": "EXTERNAL" })).await;
    let body = import_body(&h, &second, &material, json!({})).await;
    let second_id = h.ok("ImportKeyMaterial", body).await["KeyMaterialId"].clone();
    assert_ne!(second_id, json!(material_id));
    assert_eq!(
        h.err(
            "Decrypt",
            json!({ "CiphertextBlob": blob, "KeyId": second })
        )
        .await
        .0,
        "IncorrectKeyException"
    );
}

#[tokio::test]
async fn imported_material_expires_at_its_valid_to_and_can_be_imported_again() {
    let h = harness();
    let key = h.key(json!({ "Origin": "EXTERNAL" })).await;
    let material = random_bytes(32);
    let valid_to = (T0 + 2 * DAY_MS) / 1000;
    let body = import_body(
        &h,
        &key,
        &material,
        json!({ "ValidTo": valid_to,
        "KeyMaterialDescription": "from the HSM in room 3" }),
    )
    .await;
    h.ok("ImportKeyMaterial", body).await;
    let m = describe(&h, &key).await;
    assert_eq!(m["ExpirationModel"], json!("KEY_MATERIAL_EXPIRES"));
    assert_eq!(m["ValidTo"], json!(valid_to as f64));
    let rotations = h
        .ok(
            "ListKeyRotations",
            json!({ "KeyId": key, "IncludeKeyMaterial": "ALL_KEY_MATERIAL" }),
        )
        .await;
    let entry = &rotations["Rotations"][0];
    assert_eq!(
        (
            &entry["ImportState"],
            &entry["KeyMaterialState"],
            &entry["ValidTo"]
        ),
        (
            &json!("IMPORTED"),
            &json!("CURRENT"),
            &json!(valid_to as f64)
        )
    );
    assert_eq!(
        entry["KeyMaterialDescription"],
        json!("from the HSM in room 3")
    );
    assert_eq!(
        h.ok("ListKeyRotations", json!({ "KeyId": key })).await["Rotations"],
        json!([]),
        "it never rotated"
    );

    h.advance(2 * DAY_MS - 1);
    assert!(h.api.run_due().await.unwrap().is_empty());
    h.advance(1);
    let done = h.api.run_due().await.unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].1, crate::lifecycle::Action::ExpireMaterial);
    assert_eq!(describe(&h, &key).await["KeyState"], json!("PendingImport"));
    let rotations = h
        .ok(
            "ListKeyRotations",
            json!({ "KeyId": key, "IncludeKeyMaterial": "ALL_KEY_MATERIAL" }),
        )
        .await;
    assert_eq!(
        rotations["Rotations"][0]["ImportState"],
        json!("PENDING_IMPORT")
    );
    // Back, now without an end; the description stays.
    let body = import_body(&h, &key, &material, json!({})).await;
    h.ok("ImportKeyMaterial", body).await;
    let m = describe(&h, &key).await;
    assert_eq!(
        (&m["KeyState"], &m["ExpirationModel"]),
        (&json!("Enabled"), &json!("KEY_MATERIAL_DOES_NOT_EXPIRE"))
    );
    assert!(m.get("ValidTo").is_none());
    h.advance(400 * DAY_MS);
    assert!(h.api.run_due().await.unwrap().is_empty());
}

#[tokio::test]
async fn hmac_and_ecc_material_is_used_as_imported() {
    let h = harness();
    // HMAC: the MAC is the one the imported key makes.
    let mac_key = h
        .key(json!({ "Origin": "EXTERNAL", "KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC" }))
        .await;
    let secret = random_bytes(32);
    let body = import_body(&h, &mac_key, &secret, json!({})).await;
    h.ok("ImportKeyMaterial", body).await;
    let mac = h
        .ok(
            "GenerateMac",
            json!({ "KeyId": mac_key, "Message": b64(b"message"), "MacAlgorithm": "HMAC_SHA_256" }),
        )
        .await;
    let mut expected = hmac::Hmac::<sha2::Sha256>::new_from_slice(&secret).unwrap();
    expected.update(b"message");
    assert_eq!(mac["Mac"], json!(b64(&expected.finalize().into_bytes())));

    // ECC: the public key is the imported private key's.
    let signer = h
        .key(json!({ "Origin": "EXTERNAL", "KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY" }))
        .await;
    let private = p256::SecretKey::random(&mut rand_core::OsRng);
    let pkcs8 = private.to_pkcs8_der().unwrap();
    let body = import_body(&h, &signer, pkcs8.as_bytes(), json!({})).await;
    h.ok("ImportKeyMaterial", body).await;
    let public = h.ok("GetPublicKey", json!({ "KeyId": signer })).await;
    let expected = private.public_key().to_public_key_der().unwrap();
    assert_eq!(public["PublicKey"], json!(b64(expected.as_bytes())));
    assert_eq!(public["KeyUsage"], json!("SIGN_VERIFY"));
    // An ECC key of RSAES-OAEP size is fine; an RSA key never is.
    let rsa = h
        .key(json!({ "Origin": "EXTERNAL", "KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY" }))
        .await;
    let (kind, message) = h
        .err(
            "GetParametersForImport",
            json!({ "KeyId": rsa, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_4096" }),
        )
        .await;
    assert_eq!(kind, "ValidationException");
    assert!(message.contains("RSA_AES_KEY_WRAP_SHA_256"), "{message}");
}

#[tokio::test]
async fn what_import_refuses_and_how() {
    let h = harness();
    let key = h.key(json!({ "Origin": "EXTERNAL" })).await;
    let other = h.key(json!({ "Origin": "EXTERNAL" })).await;
    let generated = h.key(json!({})).await;
    let material = random_bytes(32);
    let good = import_body(&h, &key, &material, json!({})).await;
    let with = |changes: Value| {
        let mut body = good.clone();
        body.as_object_mut()
            .unwrap()
            .extend(changes.as_object().unwrap().clone());
        body
    };
    let for_other = import_body(&h, &other, &material, json!({})).await;
    let mut altered = STANDARD
        .decode(good["ImportToken"].as_str().unwrap())
        .unwrap();
    let last = altered.len() - 1;
    altered[last] ^= 1;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "GetParametersForImport",
            json!({ "KeyId": generated, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048" }),
            "UnsupportedOperationException",
        ),
        (
            "GetParametersForImport",
            json!({ "KeyId": key, "WrappingKeySpec": "RSA_2048" }),
            "ValidationException",
        ),
        (
            "GetParametersForImport",
            json!({ "KeyId": key, "WrappingAlgorithm": "RSAES_PKCS1_V1_5", "WrappingKeySpec": "RSA_2048" }),
            "UnsupportedOperationException",
        ),
        (
            "GetParametersForImport",
            json!({ "KeyId": key, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_1024" }),
            "ValidationException",
        ),
        (
            "ImportKeyMaterial",
            with(json!({ "KeyId": generated })),
            "UnsupportedOperationException",
        ),
        (
            "ImportKeyMaterial",
            with(json!({ "ImportToken": for_other["ImportToken"] })),
            "InvalidImportTokenException",
        ),
        (
            "ImportKeyMaterial",
            with(json!({ "ImportToken": b64(&altered) })),
            "InvalidImportTokenException",
        ),
        (
            "ImportKeyMaterial",
            with(json!({ "ImportToken": b64(b"not a token") })),
            "InvalidImportTokenException",
        ),
        (
            "ImportKeyMaterial",
            with(json!({ "EncryptedKeyMaterial": for_other["EncryptedKeyMaterial"] })),
            "InvalidCiphertextException",
        ),
        (
            "ImportKeyMaterial",
            with(json!({ "ExpirationModel": "KEY_MATERIAL_EXPIRES" })),
            "ValidationException",
        ),
        (
            "ImportKeyMaterial",
            with(json!({ "ValidTo": (T0 + 400 * DAY_MS) / 1000 })),
            "ValidationException",
        ),
        (
            "ImportKeyMaterial",
            with(json!({ "KeyMaterialId": "ab".repeat(32) })),
            "IncorrectKeyMaterialException",
        ),
        (
            "ImportKeyMaterial",
            with(json!({ "KeyMaterialId": "ab" })),
            "ValidationException",
        ),
        (
            "ImportKeyMaterial",
            with(json!({ "ImportType": "EXISTING_KEY_MATERIAL" })),
            "IncorrectKeyMaterialException",
        ),
        (
            "ImportKeyMaterial",
            with(json!({ "ImportType": "NEW_KEY_MATERIAL", "KeyMaterialId": "ab".repeat(32) })),
            "ValidationException",
        ),
        (
            "DeleteImportedKeyMaterial",
            json!({ "KeyId": generated }),
            "UnsupportedOperationException",
        ),
        (
            "EnableKeyRotation",
            json!({ "KeyId": key }),
            "UnsupportedOperationException",
        ),
        (
            "RotateKeyOnDemand",
            json!({ "KeyId": key }),
            "KMSInvalidStateException",
        ),
        (
            "CreateKey",
            json!({ "Origin": "EXTERNAL_KEY_STORE" }),
            "UnsupportedOperationException",
        ),
    ];
    for (op, body, expected) in cases {
        let (kind, message) = h.err(op, body.clone()).await;
        assert_eq!(kind, expected, "{op} {body}: {message}");
    }
    assert_eq!(
        describe(&h, &key).await["KeyState"],
        json!("PendingImport"),
        "nothing imported"
    );

    // Material that unwraps but is not material of the key's spec.
    let short = import_body(&h, &key, &random_bytes(16), json!({})).await;
    let (kind, message) = h.err("ImportKeyMaterial", short).await;
    assert_eq!(kind, "IncorrectKeyMaterialException", "{message}");

    // A token is good for a day.
    h.advance(DAY_MS);
    assert_eq!(
        h.err("ImportKeyMaterial", good.clone()).await.0,
        "ExpiredImportTokenException"
    );
    // Pending deletion: no import; deleting material is still allowed.
    h.ok(
        "ScheduleKeyDeletion",
        json!({ "KeyId": key, "PendingWindowInDays": 7 }),
    )
    .await;
    let refused = h
        .err(
            "GetParametersForImport",
            json!({ "KeyId": key, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048" }),
        )
        .await;
    assert_eq!(
        refused,
        (
            "KMSInvalidStateException".into(),
            format!("{} is pending deletion.", arn(&key))
        )
    );
    h.ok("DeleteImportedKeyMaterial", json!({ "KeyId": key }))
        .await;
    assert_eq!(
        h.err(
            "DeleteImportedKeyMaterial",
            json!({ "KeyId": other, "KeyMaterialId": "ab".repeat(32) })
        )
        .await
        .0,
        "NotFoundException"
    );
}

#[tokio::test]
async fn key_policies_see_the_import_condition_keys() {
    use super::access::{ACCOUNT, policy, refused};
    let h = harness();
    // AWS's own example: material must expire; and no 2048-bit wrapping keys.
    let rules = policy(&[
        ACCOUNT,
        r#"{"Effect":"Deny","Principal":"*","Action":"kms:ImportKeyMaterial","Resource":"*",
            "Condition":{"StringEquals":{"kms:ExpirationModel":"KEY_MATERIAL_DOES_NOT_EXPIRE"}}}"#,
        r#"{"Effect":"Deny","Principal":"*","Action":"kms:GetParametersForImport","Resource":"*",
            "Condition":{"StringEquals":{"kms:WrappingKeySpec":"RSA_2048"}}}"#,
        r#"{"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*",
            "Condition":{"StringEquals":{"kms:KeyOrigin":"EXTERNAL"}}}"#,
    ]);
    let key = h
        .key(json!({ "Origin": "EXTERNAL", "Policy": rules }))
        .await;
    refused(
        h.call(
            "GetParametersForImport",
            json!({ "KeyId": key, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048" }),
        )
        .await,
    );
    let material = random_bytes(32);
    refused(
        h.call(
            "ImportKeyMaterial",
            import_body(&h, &key, &material, json!({})).await,
        )
        .await,
    );
    let expiring = json!({ "ValidTo": (T0 + DAY_MS) / 1000 });
    h.ok(
        "ImportKeyMaterial",
        import_body(&h, &key, &material, expiring).await,
    )
    .await;
    refused(
        h.call("Encrypt", json!({ "KeyId": key, "Plaintext": b64(b"x") }))
            .await,
    );
    h.ok(
        "GenerateDataKey",
        json!({ "KeyId": key, "KeySpec": "AES_256" }),
    )
    .await;
}

/// A manifest declares a key of imported material as a KmsKey does: made
/// pending import, its material imported through the API, and applying
/// the manifest again leaves the material alone.
#[tokio::test]
async fn manifests_declare_keys_of_imported_material() {
    use crate::manifest::parse;
    let h = harness();
    let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
    let manifest = |extra: &str| {
        format!(
            "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {{name: byok}}\nspec:\n  keyId: {id}\n{extra}"
        )
    };
    let apply = |text: String| {
        let api = &h.api;
        async move { crate::serve::apply_manifests(api, &parse(&text)?).await }
    };
    apply(manifest("  origin: EXTERNAL\n")).await.unwrap();
    let m = describe(&h, id).await;
    assert_eq!(
        (&m["Origin"], &m["KeyState"]),
        (&json!("EXTERNAL"), &json!("PendingImport"))
    );
    let body = import_body(&h, id, &random_bytes(32), json!({})).await;
    h.ok("ImportKeyMaterial", body).await;
    apply(manifest("  origin: EXTERNAL\n  description: mine\n"))
        .await
        .unwrap();
    let m = describe(&h, id).await;
    assert_eq!(
        (&m["KeyState"], &m["Description"]),
        (&json!("Enabled"), &json!("mine"))
    );
    // Its origin cannot change, and it has no fixture material or rotation.
    for extra in ["", "  origin: EXTERNAL\n  rotation: {enabled: true}\n"] {
        assert!(apply(manifest(extra)).await.is_err(), "{extra}");
    }
    let other = "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {name: fixed}\nspec:\n  origin: EXTERNAL\n  testMaterial: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    assert!(apply(other.to_owned()).await.is_err());
    assert_eq!(describe(&h, id).await["KeyState"], json!("Enabled"));
}
