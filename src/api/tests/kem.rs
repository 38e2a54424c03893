//! ML-KEM keys: CreateKey, DescribeKey, GetPublicKey, Encapsulate,
//! Decapsulate and ML-KEM data key pairs, with AWS's errors.

use super::*;

fn bytes(v: &Value) -> Vec<u8> {
    STANDARD.decode(v.as_str().unwrap()).unwrap()
}

async fn kem_key(h: &Harness, spec: &str) -> String {
    h.key(json!({ "KeySpec": spec, "KeyUsage": "ENCAPSULATE_DECAPSULATE" }))
        .await
}

#[tokio::test]
async fn ml_kem_keys_encapsulate_and_decapsulate_a_shared_secret() {
    let h = harness();
    for (spec, ciphertext_len) in [
        ("ML_KEM_512", 768),
        ("ML_KEM_768", 1088),
        ("ML_KEM_1024", 1568),
    ] {
        let key = kem_key(&h, spec).await;
        let described = h.ok("DescribeKey", json!({ "KeyId": key })).await["KeyMetadata"].clone();
        assert_eq!(described["KeySpec"], spec);
        assert_eq!(described["KeyUsage"], "ENCAPSULATE_DECAPSULATE");
        assert_eq!(described["EncapsulationAlgorithms"], json!(["ML_KEM"]));
        assert!(
            described.get("CustomerMasterKeySpec").is_none(),
            "{described}"
        );
        let public = h.ok("GetPublicKey", json!({ "KeyId": key })).await;
        assert_eq!(public["EncapsulationAlgorithms"], json!(["ML_KEM"]));
        assert_eq!(public["KeyUsage"], "ENCAPSULATE_DECAPSULATE");

        let made = h
            .ok(
                "Encapsulate",
                json!({ "KeyId": key, "EncapsulationAlgorithm": "ML_KEM" }),
            )
            .await;
        assert_eq!(made["EncapsulationAlgorithm"], "ML_KEM");
        assert_eq!(made["KeyId"], described["Arn"]);
        let secret = bytes(&made["SharedSecret"]);
        let ciphertext = bytes(&made["SharedSecretCiphertextBlob"]);
        assert_eq!(
            (secret.len(), ciphertext.len()),
            (32, ciphertext_len),
            "{spec}"
        );
        let opened = h
            .ok(
                "Decapsulate",
                json!({ "KeyId": key, "EncapsulationAlgorithm": "ML_KEM", "SharedSecretCiphertextBlob": b64(&ciphertext) }),
            )
            .await;
        assert_eq!(bytes(&opened["SharedSecret"]), secret, "{spec}");
        assert_eq!(opened["KeyId"], described["Arn"]);

        // Implicit rejection: an altered ciphertext of the right length
        // yields another secret, not an error; another length is refused.
        let mut altered = ciphertext.clone();
        altered[7] ^= 0x40;
        let rejected = h
            .ok(
                "Decapsulate",
                json!({ "KeyId": key, "EncapsulationAlgorithm": "ML_KEM", "SharedSecretCiphertextBlob": b64(&altered) }),
            )
            .await;
        let rejected = bytes(&rejected["SharedSecret"]);
        assert_eq!(rejected.len(), 32);
        assert_ne!(rejected, secret);
        let (kind, _) = h
            .err(
                "Decapsulate",
                json!({ "KeyId": key, "EncapsulationAlgorithm": "ML_KEM", "SharedSecretCiphertextBlob": b64(&ciphertext[1..]) }),
            )
            .await;
        assert_eq!(kind, "InvalidCiphertextException");
    }
}

#[tokio::test]
async fn ml_kem_keys_refuse_what_they_are_not_for_and_other_keys_refuse_ml_kem() {
    let h = harness();
    let key = kem_key(&h, "ML_KEM_768").await;
    let symmetric = h.key(json!({})).await;
    let encapsulate = |key: &str| json!({ "KeyId": key, "EncapsulationAlgorithm": "ML_KEM" });

    // ML-KEM keys have one usage, and it must be named.
    let (kind, _) = h.err("CreateKey", json!({ "KeySpec": "ML_KEM_768" })).await;
    assert_eq!(kind, "ValidationException");
    let (kind, _) = h
        .err(
            "CreateKey",
            json!({ "KeyUsage": "ENCAPSULATE_DECAPSULATE" }),
        )
        .await;
    assert_eq!(kind, "ValidationException");
    let (kind, message) = h.err("Encapsulate", encapsulate(&symmetric)).await;
    assert_eq!(kind, "InvalidKeyUsageException", "{message}");
    assert!(message.contains("ENCRYPT_DECRYPT"), "{message}");
    let (kind, _) = h
        .err("Encrypt", json!({ "KeyId": key, "Plaintext": b64(b"x") }))
        .await;
    assert_eq!(kind, "InvalidKeyUsageException");
    let (kind, _) = h.err("EnableKeyRotation", json!({ "KeyId": key })).await;
    assert_eq!(kind, "UnsupportedOperationException");

    // Every member's shape first.
    let (kind, _) = h.err("Encapsulate", json!({ "KeyId": key })).await;
    assert_eq!(kind, "ValidationException");
    let (kind, _) = h
        .err(
            "Encapsulate",
            json!({ "KeyId": key, "EncapsulationAlgorithm": "KYBER" }),
        )
        .await;
    assert_eq!(kind, "ValidationException");
    let (kind, _) = h
        .err(
            "Decapsulate",
            json!({ "KeyId": key, "EncapsulationAlgorithm": "ML_KEM" }),
        )
        .await;
    assert_eq!(kind, "ValidationException");

    // Key states and DryRun, as for every cryptographic operation.
    let mut dry = encapsulate(&key);
    dry["DryRun"] = json!(true);
    let (kind, _) = h.err("Encapsulate", dry).await;
    assert_eq!(kind, "DryRunOperationException");
    h.ok("DisableKey", json!({ "KeyId": key })).await;
    let (kind, _) = h.err("Encapsulate", encapsulate(&key)).await;
    assert_eq!(kind, "DisabledException");
}

#[tokio::test]
async fn ml_kem_data_key_pairs_hold_the_seed() {
    let h = harness();
    let wrapping = h.key(json!({})).await;
    for spec in ["ML_KEM_512", "ML_KEM_768", "ML_KEM_1024"] {
        let pair = h
            .ok(
                "GenerateDataKeyPair",
                json!({ "KeyId": wrapping, "KeyPairSpec": spec }),
            )
            .await;
        assert_eq!(pair["KeyPairSpec"], spec);
        let private = bytes(&pair["PrivateKeyPlaintext"]);
        assert_eq!(private.len(), 86, "{spec}: PKCS#8 with the 64-byte seed");
        let key =
            crate::material::mlkem::MlKemKey::from_pkcs8(spec.parse().unwrap(), &private).unwrap();
        assert_eq!(key.public_key_der(), &bytes(&pair["PublicKey"])[..]);
        let opened = h
            .ok(
                "Decrypt",
                json!({ "CiphertextBlob": pair["PrivateKeyCiphertextBlob"] }),
            )
            .await;
        assert_eq!(bytes(&opened["Plaintext"]), private);
    }
}
