//! The endpoint's operations through `Api::call`, JSON in and out, over the
//! real local store and in-process crypto service, with a movable clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::*;
use crate::crypto::{CacheConfig, LocalCryptoService};
use crate::key::DAY_MS;
use crate::material::random_bytes;
use crate::root::FileRootKey;
use crate::store::LocalStore;

const T0: i64 = 1_800_000_000_000;

struct Harness {
    api: Api,
    clock: Arc<AtomicI64>,
    _dir: tempfile::TempDir,
}

fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let root = Arc::new(FileRootKey::from_keys([(1, random_bytes(32))]).unwrap());
    let crypto = Arc::new(LocalCryptoService::new(root, CacheConfig::default()));
    let store = Arc::new(LocalStore::open(dir.path()).unwrap());
    let clock = Arc::new(AtomicI64::new(T0));
    let now = clock.clone();
    let api = Api::new(
        store,
        crypto,
        ArnConfig::default(),
        Arc::new(move || now.load(Ordering::SeqCst)),
    );
    Harness {
        api,
        clock,
        _dir: dir,
    }
}

fn caller(namespace: &str) -> Caller {
    Caller {
        namespace: namespace.into(),
        principal: "tester".into(),
    }
}

impl Harness {
    async fn call_as(&self, namespace: &str, op: &str, body: Value) -> Result<Value, ApiError> {
        self.api
            .call(&caller(namespace), op, body.to_string().as_bytes())
            .await
    }

    async fn call(&self, op: &str, body: Value) -> Result<Value, ApiError> {
        self.call_as("default", op, body).await
    }

    async fn ok(&self, op: &str, body: Value) -> Value {
        self.call(op, body)
            .await
            .unwrap_or_else(|e| panic!("{op}: {} {e}", e.aws_type()))
    }

    async fn err(&self, op: &str, body: Value) -> (String, String) {
        let e = self.call(op, body).await.expect_err(op);
        (e.aws_type().to_owned(), e.to_string())
    }

    async fn key(&self, extra: Value) -> String {
        let mut body = json!({ "Description": "test" });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        self.ok("CreateKey", body).await["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn advance(&self, ms: i64) {
        self.clock.fetch_add(ms, Ordering::SeqCst);
    }
}

fn b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

fn arn(id: &str) -> String {
    format!("arn:aws:kms:us-east-1:111122223333:key/{id}")
}

#[tokio::test]
async fn create_describe_and_list_with_pagination() {
    let h = harness();
    let mut ids = [
        h.key(json!({})).await,
        h.key(json!({})).await,
        h.key(json!({})).await,
    ];
    ids.sort();
    let meta = h.ok("DescribeKey", json!({ "KeyId": ids[0] })).await["KeyMetadata"].clone();
    assert_eq!(meta["Arn"], arn(&ids[0]));
    assert_eq!(meta["KeyState"], "Enabled");
    assert_eq!(meta["CreationDate"], json!(T0 as f64 / 1000.0));
    assert_eq!(meta["EncryptionAlgorithms"], json!(["SYMMETRIC_DEFAULT"]));
    let page = h.ok("ListKeys", json!({ "Limit": 2 })).await;
    assert_eq!(page["Truncated"], true);
    let listed: Vec<_> = page["Keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["KeyId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ids[..2]);
    let rest = h
        .ok(
            "ListKeys",
            json!({ "Limit": 2, "Marker": page["NextMarker"] }),
        )
        .await;
    assert_eq!(rest["Truncated"], false);
    assert_eq!(rest["Keys"][0]["KeyId"], ids[2]);
    assert_eq!(rest["Keys"][0]["KeyArn"], arn(&ids[2]));
    // A marker is ours to make: one made up, or one from another listing, is refused.
    let alias_marker = {
        h.ok(
            "CreateAlias",
            json!({ "AliasName": "alias/a", "TargetKeyId": ids[0] }),
        )
        .await;
        h.ok(
            "CreateAlias",
            json!({ "AliasName": "alias/b", "TargetKeyId": ids[0] }),
        )
        .await;
        h.ok("ListAliases", json!({ "Limit": 1 })).await["NextMarker"].clone()
    };
    for marker in [json!(ids[0]), json!("zzz"), alias_marker] {
        assert_eq!(
            h.err("ListKeys", json!({ "Marker": marker })).await.0,
            "InvalidMarkerException",
            "{marker}"
        );
    }
    assert_eq!(
        h.err("ListKeys", json!({ "Limit": 0 })).await.0,
        "ValidationException"
    );
    assert_eq!(
        h.err("ListKeys", json!({ "Limit": 1001 })).await.0,
        "ValidationException"
    );
}

#[tokio::test]
async fn key_ids_are_accepted_in_the_forms_aws_accepts() {
    let h = harness();
    let id = h.key(json!({})).await;
    h.ok(
        "CreateAlias",
        json!({ "AliasName": "alias/app", "TargetKeyId": id }),
    )
    .await;
    for form in [
        id.clone(),
        arn(&id),
        "alias/app".into(),
        "arn:aws:kms:us-east-1:111122223333:alias/app".into(),
    ] {
        assert_eq!(
            h.ok("DescribeKey", json!({ "KeyId": form })).await["KeyMetadata"]["KeyId"],
            id
        );
    }
    // Management operations take only key ids and ARNs.
    assert_eq!(
        h.err("DisableKey", json!({ "KeyId": "alias/app" })).await.0,
        "NotFoundException"
    );
    h.ok("DisableKey", json!({ "KeyId": arn(&id) })).await;
    let (t, m) = h
        .err(
            "DescribeKey",
            json!({ "KeyId": "arn:aws:kms:eu-west-1:111122223333:key/".to_owned() + &id }),
        )
        .await;
    assert_eq!(
        (t.as_str(), m.contains("does not exist")),
        ("NotFoundException", true)
    );
    let foreign_alias = "arn:aws:kms:us-east-1:444455556666:alias/app";
    let (t, m) = h
        .err("DescribeKey", json!({ "KeyId": foreign_alias }))
        .await;
    assert_eq!(
        (t.as_str(), m),
        (
            "NotFoundException",
            format!("Alias {foreign_alias} is not found.")
        )
    );
    let (t, m) = h
        .err("DescribeKey", json!({ "KeyId": "fake-key-id" }))
        .await;
    assert_eq!(
        (t.as_str(), m.as_str()),
        ("NotFoundException", "Invalid keyId 'fake-key-id'")
    );
    let missing = "00000000-0000-4000-8000-000000000000";
    let (_, m) = h.err("DescribeKey", json!({ "KeyId": missing })).await;
    assert_eq!(m, format!("Key '{}' does not exist", arn(missing)));
    assert_eq!(
        h.err("DescribeKey", json!({})).await.0,
        "ValidationException"
    );
}

#[tokio::test]
async fn key_states_refuse_operations_with_aws_messages() {
    let h = harness();
    let id = h.key(json!({})).await;
    let encrypt = json!({ "KeyId": id, "Plaintext": b64(b"x") });
    h.ok("DisableKey", json!({ "KeyId": id })).await;
    assert_eq!(
        h.err("Encrypt", encrypt.clone()).await,
        (
            "DisabledException".into(),
            format!("{} is disabled.", arn(&id))
        )
    );
    h.ok("EnableKey", json!({ "KeyId": id })).await;
    h.ok("Encrypt", encrypt.clone()).await;

    assert_eq!(
        h.err(
            "ScheduleKeyDeletion",
            json!({ "KeyId": id, "PendingWindowInDays": 6 })
        )
        .await
        .0,
        "ValidationException"
    );
    let scheduled = h.ok("ScheduleKeyDeletion", json!({ "KeyId": id })).await;
    assert_eq!(scheduled["PendingWindowInDays"], 30);
    assert_eq!(scheduled["KeyState"], "PendingDeletion");
    assert_eq!(
        scheduled["DeletionDate"],
        json!((T0 + 30 * DAY_MS) as f64 / 1000.0)
    );
    let pending = (
        "KMSInvalidStateException".to_owned(),
        format!("{} is pending deletion.", arn(&id)),
    );
    assert_eq!(h.err("Encrypt", encrypt.clone()).await, pending);
    assert_eq!(h.err("EnableKey", json!({ "KeyId": id })).await, pending);
    assert_eq!(
        h.err("ScheduleKeyDeletion", json!({ "KeyId": id })).await,
        pending
    );
    assert_eq!(
        h.err(
            "UpdateKeyDescription",
            json!({ "KeyId": id, "Description": "d" })
        )
        .await,
        pending
    );
    h.ok("DescribeKey", json!({ "KeyId": id })).await;

    h.ok("CancelKeyDeletion", json!({ "KeyId": id })).await;
    assert_eq!(
        h.ok("DescribeKey", json!({ "KeyId": id })).await["KeyMetadata"]["KeyState"],
        "Disabled"
    );
    assert_eq!(
        h.err("CancelKeyDeletion", json!({ "KeyId": id })).await,
        (
            "KMSInvalidStateException".into(),
            format!("{} is not pending deletion.", arn(&id))
        )
    );
}

#[tokio::test]
async fn deletion_destroys_the_key_and_its_aliases_when_the_window_ends() {
    let h = harness();
    let id = h.key(json!({})).await;
    h.ok(
        "CreateAlias",
        json!({ "AliasName": "alias/doomed", "TargetKeyId": id }),
    )
    .await;
    h.ok(
        "ScheduleKeyDeletion",
        json!({ "KeyId": id, "PendingWindowInDays": 7 }),
    )
    .await;
    h.advance(7 * DAY_MS - 1);
    assert!(h.api.run_due().await.unwrap().is_empty());
    h.ok("DescribeKey", json!({ "KeyId": id })).await;
    h.advance(1);
    assert_eq!(h.api.run_due().await.unwrap().len(), 1);
    assert_eq!(
        h.err("DescribeKey", json!({ "KeyId": id })).await.0,
        "NotFoundException"
    );
    assert_eq!(h.ok("ListAliases", json!({})).await["Aliases"], json!([]));
}

#[tokio::test]
async fn a_deletion_cancelled_after_planning_destroys_nothing() {
    let h = harness();
    let id = h.key(json!({})).await;
    h.ok(
        "ScheduleKeyDeletion",
        json!({ "KeyId": id, "PendingWindowInDays": 7 }),
    )
    .await;
    let planned = h
        .api
        .store()
        .get_key(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    h.ok("CancelKeyDeletion", json!({ "KeyId": id })).await;
    let stale = h
        .api
        .store()
        .delete_key(planned.key_id, planned.revision)
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    h.advance(8 * DAY_MS);
    assert!(h.api.run_due().await.unwrap().is_empty());
    assert_eq!(
        h.ok("DescribeKey", json!({ "KeyId": id })).await["KeyMetadata"]["KeyState"],
        "Disabled"
    );
}

#[tokio::test]
async fn rotation_adds_versions_and_old_ciphertexts_still_decrypt() {
    let h = harness();
    let id = h.key(json!({})).await;
    let before = h
        .ok("Encrypt", json!({ "KeyId": id, "Plaintext": b64(b"old") }))
        .await;
    assert_eq!(
        h.err(
            "EnableKeyRotation",
            json!({ "KeyId": id, "RotationPeriodInDays": 89 })
        )
        .await
        .0,
        "ValidationException"
    );
    h.ok(
        "EnableKeyRotation",
        json!({ "KeyId": id, "RotationPeriodInDays": 90 }),
    )
    .await;
    let status = h.ok("GetKeyRotationStatus", json!({ "KeyId": id })).await;
    assert_eq!(status["KeyRotationEnabled"], true);
    assert_eq!(status["RotationPeriodInDays"], 90);
    assert_eq!(
        status["NextRotationDate"],
        json!((T0 + 90 * DAY_MS) as f64 / 1000.0)
    );
    h.advance(90 * DAY_MS);
    assert_eq!(h.api.run_due().await.unwrap().len(), 1);
    let rotations = h.ok("ListKeyRotations", json!({ "KeyId": id })).await;
    assert_eq!(rotations["Rotations"].as_array().unwrap().len(), 1);
    assert_eq!(rotations["Rotations"][0]["RotationType"], "AUTOMATIC");
    let after = h
        .ok("Encrypt", json!({ "KeyId": id, "Plaintext": b64(b"new") }))
        .await;
    let old = h
        .ok(
            "Decrypt",
            json!({ "CiphertextBlob": before["CiphertextBlob"] }),
        )
        .await;
    let new = h
        .ok(
            "Decrypt",
            json!({ "CiphertextBlob": after["CiphertextBlob"] }),
        )
        .await;
    assert_eq!(old["Plaintext"], b64(b"old"));
    assert_eq!(new["Plaintext"], b64(b"new"));
    assert_ne!(old["KeyMaterialId"], new["KeyMaterialId"]);
    assert_eq!(
        h.ok("DescribeKey", json!({ "KeyId": id })).await["KeyMetadata"]["CurrentKeyMaterialId"],
        new["KeyMaterialId"]
    );

    for _ in 0..25 {
        h.ok("RotateKeyOnDemand", json!({ "KeyId": id })).await;
    }
    assert_eq!(
        h.err("RotateKeyOnDemand", json!({ "KeyId": id })).await.0,
        "LimitExceededException"
    );
    let all = h
        .ok(
            "ListKeyRotations",
            json!({ "KeyId": id, "IncludeKeyMaterial": "ALL_KEY_MATERIAL", "Limit": 1000 }),
        )
        .await;
    assert_eq!(all["Rotations"].as_array().unwrap().len(), 27);
    h.ok(
        "Decrypt",
        json!({ "CiphertextBlob": before["CiphertextBlob"] }),
    )
    .await;
    h.ok("DisableKey", json!({ "KeyId": id })).await;
    assert_eq!(
        h.err("EnableKeyRotation", json!({ "KeyId": id })).await.0,
        "DisabledException"
    );

    let rsa = h
        .key(json!({ "KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY" }))
        .await;
    assert_eq!(
        h.err("EnableKeyRotation", json!({ "KeyId": rsa })).await.0,
        "UnsupportedOperationException"
    );
    assert_eq!(
        h.err("RotateKeyOnDemand", json!({ "KeyId": rsa })).await.0,
        "UnsupportedOperationException"
    );
}

#[tokio::test]
async fn crypto_errors_have_aws_types() {
    let h = harness();
    let (a, b) = (h.key(json!({})).await, h.key(json!({})).await);
    let blob = h
        .ok(
            "Encrypt",
            json!({ "KeyId": a, "Plaintext": b64(b"x"), "EncryptionContext": { "k": "v" } }),
        )
        .await["CiphertextBlob"]
        .clone();
    assert_eq!(
        h.err("Decrypt", json!({ "CiphertextBlob": blob, "KeyId": b }))
            .await
            .0,
        "IncorrectKeyException"
    );
    assert_eq!(
        h.err("Decrypt", json!({ "CiphertextBlob": blob })).await.0,
        "InvalidCiphertextException"
    );
    let mut tampered = STANDARD.decode(blob.as_str().unwrap()).unwrap();
    *tampered.last_mut().unwrap() ^= 1;
    assert_eq!(
        h.err(
            "Decrypt",
            json!({ "CiphertextBlob": b64(&tampered), "EncryptionContext": { "k": "v" } })
        )
        .await
        .0,
        "InvalidCiphertextException"
    );
    assert_eq!(
        h.err(
            "Encrypt",
            json!({ "KeyId": a, "Plaintext": b64(&[0; 4097]) })
        )
        .await
        .0,
        "ValidationException"
    );
    assert_eq!(
        h.err("Encrypt", json!({ "KeyId": a, "Plaintext": "%%%" }))
            .await
            .0,
        "SerializationException"
    );
    assert_eq!(
        h.err("GenerateDataKey", json!({ "KeyId": a })).await.0,
        "ValidationException"
    );
    assert_eq!(
        h.err(
            "GenerateDataKey",
            json!({ "KeyId": a, "KeySpec": "AES_256", "NumberOfBytes": 32 })
        )
        .await
        .0,
        "ValidationException"
    );
    assert_eq!(
        h.err(
            "GenerateDataKey",
            json!({ "KeyId": a, "NumberOfBytes": 1025 })
        )
        .await
        .0,
        "ValidationException"
    );
    assert_eq!(
        h.err(
            "Encrypt",
            json!({ "KeyId": a, "Plaintext": b64(b"x"), "DryRun": true })
        )
        .await
        .0,
        "DryRunOperationException"
    );
    assert_eq!(
        h.err("Frobnicate", json!({})).await.0,
        "UnknownOperationException"
    );
    // AWS JSON 1.1: an empty body is `{}`; anything unparseable is a SerializationException.
    assert!(
        h.api
            .call(&caller("default"), "ListKeys", b"")
            .await
            .is_ok()
    );
    let garbage = h
        .api
        .call(&caller("default"), "ListKeys", b"{not json")
        .await
        .unwrap_err();
    assert_eq!(garbage.aws_type(), "SerializationException");
    // An array is not a request, though serde would read one into a struct.
    let array = h
        .api
        .call(&caller("default"), "ListKeys", b"[null, 2, null]")
        .await
        .unwrap_err();
    assert_eq!(array.aws_type(), "SerializationException");
    assert!(
        h.api
            .call(&caller("default"), "ListKeys", b" \n{}")
            .await
            .is_ok()
    );

    let signer = h
        .key(json!({ "KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY" }))
        .await;
    let (t, m) = h
        .err(
            "Encrypt",
            json!({ "KeyId": signer, "Plaintext": b64(b"x") }),
        )
        .await;
    assert_eq!(t, "InvalidKeyUsageException");
    assert!(m.starts_with(&arn(&signer)), "{m}");
    let sig = h
        .ok(
            "Sign",
            json!({ "KeyId": signer, "Message": b64(b"m"), "SigningAlgorithm": "ECDSA_SHA_256" }),
        )
        .await;
    let verify = |sig: &Value| json!({ "KeyId": signer, "Message": b64(b"m"), "SigningAlgorithm": "ECDSA_SHA_256", "Signature": sig });
    assert_eq!(
        h.ok("Verify", verify(&sig["Signature"])).await["SignatureValid"],
        true
    );
    assert_eq!(
        h.err("Verify", verify(&json!(b64(b"not a signature"))))
            .await
            .0,
        "KMSInvalidSignatureException"
    );
    assert_eq!(
        h.err(
            "Sign",
            json!({ "KeyId": signer, "Message": b64(b"m"), "SigningAlgorithm": "ECDSA_SHA_384" })
        )
        .await
        .0,
        "InvalidKeyUsageException"
    );
    assert_eq!(
        h.err(
            "GenerateDataKey",
            json!({ "KeyId": signer, "KeySpec": "AES_256" })
        )
        .await
        .0,
        "InvalidKeyUsageException"
    );
    assert_eq!(
        h.err("GetPublicKey", json!({ "KeyId": a })).await.0,
        "UnsupportedOperationException"
    );
    assert_eq!(
        h.err("CreateKey", json!({ "KeySpec": "HMAC_256" })).await.0,
        "ValidationException"
    );
    assert_eq!(
        h.err("CreateKey", json!({ "KeySpec": "AES_256" })).await.0,
        "ValidationException"
    );
}

#[tokio::test]
async fn a_dry_run_may_leave_the_ciphertext_out_and_then_checks_the_key() {
    let h = harness();
    let key = h.key(json!({})).await;
    let signer = h
        .key(json!({ "KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY" }))
        .await;
    let ignore = json!(["IGNORE_CIPHERTEXT"]);
    let decrypt = |key: &str| json!({ "KeyId": key, "DryRun": true, "DryRunModifiers": ignore });
    assert_eq!(
        h.err("Decrypt", decrypt(&key)).await.0,
        "DryRunOperationException"
    );
    assert_eq!(
        h.err("Decrypt", decrypt(&signer)).await.0,
        "InvalidKeyUsageException"
    );
    let missing = "00000000-0000-4000-8000-000000000000";
    assert_eq!(
        h.err("Decrypt", decrypt(missing)).await.0,
        "NotFoundException"
    );
    let (error, message) = h
        .err(
            "Decrypt",
            json!({ "DryRun": true, "DryRunModifiers": ignore }),
        )
        .await;
    assert_eq!(
        (error.as_str(), message.as_str()),
        (
            "ValidationException",
            "KeyId is required when DryRunModifiers is IGNORE_CIPHERTEXT."
        )
    );
    let reencrypt = |source: &str, destination: &str| json!({ "SourceKeyId": source, "DestinationKeyId": destination, "DryRun": true, "DryRunModifiers": ignore });
    assert_eq!(
        h.err("ReEncrypt", reencrypt(&key, &key)).await.0,
        "DryRunOperationException"
    );
    assert_eq!(
        h.err("ReEncrypt", reencrypt(&key, &signer)).await.0,
        "InvalidKeyUsageException"
    );
    // Without DryRun the modifier changes nothing: the ciphertext is required.
    assert_eq!(
        h.err(
            "Decrypt",
            json!({ "KeyId": key, "DryRunModifiers": ignore })
        )
        .await
        .0,
        "ValidationException"
    );
    assert_eq!(
        h.err(
            "Decrypt",
            json!({ "KeyId": key, "DryRun": true, "DryRunModifiers": ["SKIP_ALL"] })
        )
        .await
        .0,
        "ValidationException"
    );
    // A disabled key fails the dry run as it would fail the real call.
    h.ok("DisableKey", json!({ "KeyId": key })).await;
    assert_eq!(h.err("Decrypt", decrypt(&key)).await.0, "DisabledException");
}

#[tokio::test]
async fn a_key_has_at_most_fifty_aliases() {
    let h = harness();
    let (full, other) = (h.key(json!({})).await, h.key(json!({})).await);
    for i in 0..50 {
        h.ok(
            "CreateAlias",
            json!({ "AliasName": format!("alias/a{i}"), "TargetKeyId": full }),
        )
        .await;
    }
    h.ok(
        "CreateAlias",
        json!({ "AliasName": "alias/spare", "TargetKeyId": other }),
    )
    .await;
    for (operation, name) in [("CreateAlias", "alias/a50"), ("UpdateAlias", "alias/spare")] {
        let (error, message) = h
            .err(operation, json!({ "AliasName": name, "TargetKeyId": full }))
            .await;
        assert_eq!(error, "LimitExceededException", "{operation}");
        assert!(message.contains("already has 50 aliases"), "{message}");
    }
    // Re-pointing one of its own aliases at it is no 51st.
    h.ok(
        "UpdateAlias",
        json!({ "AliasName": "alias/a0", "TargetKeyId": full }),
    )
    .await;
    // Once one moves away, there is room again.
    h.ok(
        "UpdateAlias",
        json!({ "AliasName": "alias/a0", "TargetKeyId": other }),
    )
    .await;
    h.ok(
        "UpdateAlias",
        json!({ "AliasName": "alias/spare", "TargetKeyId": full }),
    )
    .await;
}

#[tokio::test]
async fn aliases_are_validated_and_scoped_to_a_namespace() {
    let h = harness();
    let id = h.key(json!({})).await;
    for (name, error) in [
        ("app", "InvalidAliasNameException"),
        ("alias/aws/app", "InvalidAliasNameException"),
        ("alias/has space", "ValidationException"),
        ("alias/", "InvalidAliasNameException"),
    ] {
        assert_eq!(
            h.err(
                "CreateAlias",
                json!({ "AliasName": name, "TargetKeyId": id })
            )
            .await
            .0,
            error,
            "{name}"
        );
    }
    h.ok(
        "CreateAlias",
        json!({ "AliasName": "alias/app", "TargetKeyId": id }),
    )
    .await;
    assert_eq!(
        h.err(
            "CreateAlias",
            json!({ "AliasName": "alias/app", "TargetKeyId": id })
        )
        .await
        .0,
        "AlreadyExistsException"
    );
    // Another namespace sees neither the alias nor the key in its listings,
    // and may reuse the alias name.
    assert_eq!(
        h.call_as("team-b", "DescribeKey", json!({ "KeyId": "alias/app" }))
            .await
            .unwrap_err()
            .aws_type(),
        "NotFoundException"
    );
    assert_eq!(
        h.call_as("team-b", "ListKeys", json!({})).await.unwrap()["Keys"],
        json!([])
    );
    assert!(
        h.call_as(
            "team-b",
            "CreateAlias",
            json!({ "AliasName": "alias/app", "TargetKeyId": id })
        )
        .await
        .is_err(),
        "target in another namespace"
    );
    let other = h.key(json!({})).await;
    h.ok(
        "UpdateAlias",
        json!({ "AliasName": "alias/app", "TargetKeyId": other }),
    )
    .await;
    assert_eq!(
        h.ok("DescribeKey", json!({ "KeyId": "alias/app" })).await["KeyMetadata"]["KeyId"],
        other
    );
    let hmac = h
        .key(json!({ "KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC" }))
        .await;
    assert_eq!(
        h.err(
            "UpdateAlias",
            json!({ "AliasName": "alias/app", "TargetKeyId": hmac })
        )
        .await
        .0,
        "ValidationException"
    );
    let listed = h.ok("ListAliases", json!({ "KeyId": other })).await;
    assert_eq!(listed["Aliases"][0]["AliasName"], "alias/app");
    h.ok("DeleteAlias", json!({ "AliasName": "alias/app" }))
        .await;
    assert_eq!(
        h.err("DeleteAlias", json!({ "AliasName": "alias/app" }))
            .await
            .0,
        "NotFoundException"
    );
}

#[tokio::test]
async fn tags_round_trip_and_reserved_prefixes_are_refused() {
    let h = harness();
    let id = h
        .key(json!({ "Tags": [{ "TagKey": "team", "TagValue": "a" }] }))
        .await;
    h.ok(
        "TagResource",
        json!({ "KeyId": id, "Tags": [{ "TagKey": "env", "TagValue": "prod" }] }),
    )
    .await;
    let tags = h.ok("ListResourceTags", json!({ "KeyId": id })).await;
    assert_eq!(
        tags["Tags"],
        json!([{ "TagKey": "env", "TagValue": "prod" }, { "TagKey": "team", "TagValue": "a" }])
    );
    h.ok("UntagResource", json!({ "KeyId": id, "TagKeys": ["team"] }))
        .await;
    assert_eq!(
        h.ok("ListResourceTags", json!({ "KeyId": id })).await["Tags"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        h.err(
            "TagResource",
            json!({ "KeyId": id, "Tags": [{ "TagKey": "aws:x", "TagValue": "" }] })
        )
        .await
        .0,
        "TagException"
    );
    let twice = json!([{ "TagKey": "env", "TagValue": "a" }, { "TagKey": "env", "TagValue": "b" }]);
    let refused = h
        .err("TagResource", json!({ "KeyId": id, "Tags": twice }))
        .await;
    assert_eq!(
        refused,
        ("TagException".into(), "Duplicate tag keys".into())
    );
    assert_eq!(
        h.err("CreateKey", json!({ "Tags": twice })).await.0,
        "TagException"
    );
    // Nothing of the refused request was applied.
    let tags = h.ok("ListResourceTags", json!({ "KeyId": id })).await;
    assert_eq!(
        tags["Tags"],
        json!([{ "TagKey": "env", "TagValue": "prod" }])
    );
}

#[tokio::test]
async fn manifests_create_adopt_and_cancel_deletion() {
    use crate::manifest::parse;
    let material = b64(&[7u8; 32]);
    let text = format!(
        "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {{name: app}}\nspec:\n  description: from git\n  keyId: 1234abcd-12ab-34cd-56ef-1234567890ab\n  testMaterial: {material}\n---\napiVersion: kubekms.io/v1alpha1\nkind: KmsAlias\nmetadata: {{name: app}}\nspec: {{aliasName: alias/app, targetKeyRef: {{name: app}}}}\n"
    );
    let manifests = parse(&text).unwrap();
    let (h1, h2) = (harness(), harness());
    crate::serve::apply_manifests(&h1.api, &manifests)
        .await
        .unwrap();
    crate::serve::apply_manifests(&h2.api, &manifests)
        .await
        .unwrap();
    // Same pinned id and material in two separate stores: ciphertexts move between them.
    let blob = h1
        .ok(
            "Encrypt",
            json!({ "KeyId": "alias/app", "Plaintext": b64(b"fixture") }),
        )
        .await["CiphertextBlob"]
        .clone();
    assert_eq!(
        h2.ok("Decrypt", json!({ "CiphertextBlob": blob })).await["Plaintext"],
        b64(b"fixture")
    );
    h1.ok(
        "ScheduleKeyDeletion",
        json!({ "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab" }),
    )
    .await;
    crate::serve::apply_manifests(&h1.api, &manifests)
        .await
        .unwrap();
    let meta = h1.ok("DescribeKey", json!({ "KeyId": "alias/app" })).await["KeyMetadata"].clone();
    assert_eq!(
        meta["KeyState"], "Enabled",
        "re-applying the manifest cancels the deletion and re-enables"
    );
    assert_eq!(meta["Description"], "from git");
    // A set in which one manifest would overwrite another changes nothing.
    let other = text.replace("{name: app}\nspec:\n", "{name: other}\nspec:\n");
    assert_ne!(other, text);
    let clash = other + "---\n" + &text.replace("from git", "overwritten");
    let h3 = harness();
    let refused = crate::serve::apply_manifests(&h3.api, &parse(&clash).unwrap()).await;
    assert!(
        refused
            .unwrap_err()
            .contains("is already KmsKey default/other's")
    );
    assert_eq!(h3.ok("ListKeys", json!({})).await["Keys"], json!([]));
}

#[test]
fn arns_are_spelled_as_aws_spells_them() {
    let config = ArnConfig {
        partition: "aws-cn".into(),
        region: "cn-north-1".into(),
        account: "123456789012".into(),
    };
    for _ in 0..32 {
        let id = KeyId::random();
        assert_eq!(
            config.key_arn(id),
            format!("arn:aws-cn:kms:cn-north-1:123456789012:key/{id}")
        );
    }
    assert_eq!(
        config.alias_arn("alias/app"),
        "arn:aws-cn:kms:cn-north-1:123456789012:alias/app"
    );
    assert_eq!(
        config.strip_prefix("arn:aws-cn:kms:cn-north-1:123456789012:key/k"),
        Some("key/k")
    );
    for other in [
        "arn:aws:kms:cn-north-1:123456789012:key/k",
        "arn:aws-cn:kms:cn-north-2:123456789012:key/k",
        "arn:aws-cn:kms:cn-north-1:123456789013:key/k",
        "arn:aws-cn:s3:cn-north-1:123456789012:key/k",
        "arn:aws-cn:kms:cn-north-1:123456789012",
        "key/k",
    ] {
        assert_eq!(config.strip_prefix(other), None, "{other}");
    }
}
