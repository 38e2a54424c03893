//! Cryptographic operations: their errors and dry runs.

use super::*;

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
    assert_eq!(
        h.err(
            "DeleteCustomKeyStore",
            json!({ "CustomKeyStoreId": "cks-1234567890abcdef0" })
        )
        .await,
        (
            "UnsupportedOperationException".into(),
            "DeleteCustomKeyStore is not served by this endpoint: there are no custom key stores."
                .into()
        )
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

/// AWS takes a number given as a context value as its text; other
/// non-string values are refused.
#[tokio::test]
async fn a_number_in_the_encryption_context_is_taken_as_its_text() {
    let h = harness();
    let key = h.key(json!({})).await;
    let blob = h
        .ok(
            "Encrypt",
            json!({ "KeyId": key, "Plaintext": b64(b"x"),
                    "EncryptionContext": { "count": 7, "department": 10103.0 } }),
        )
        .await["CiphertextBlob"]
        .clone();
    let decrypted = h
        .ok(
            "Decrypt",
            json!({ "CiphertextBlob": blob,
                    "EncryptionContext": { "count": "7", "department": "10103.0" } }),
        )
        .await;
    assert_eq!(decrypted["Plaintext"], b64(b"x"));
    let (kind, _) = h
        .err(
            "Decrypt",
            json!({ "CiphertextBlob": blob, "EncryptionContext": { "count": "7.0", "department": "10103.0" } }),
        )
        .await;
    assert_eq!(kind, "InvalidCiphertextException");
    for value in [json!(true), json!(null), json!(["7"]), json!({ "a": "b" })] {
        let (kind, message) = h
            .err(
                "Encrypt",
                json!({ "KeyId": key, "Plaintext": b64(b"x"), "EncryptionContext": { "count": value } }),
            )
            .await;
        assert_eq!(kind, "SerializationException", "{value}: {message}");
        assert!(message.contains("'count'"), "{message}");
    }
}
