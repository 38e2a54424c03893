//! GetKeyLastUsage: what is recorded, when, and what survives the process.

use super::*;
use crate::request_id::RequestId;

async fn last_usage(h: &Harness, id: &str) -> Value {
    h.ok("GetKeyLastUsage", json!({ "KeyId": id })).await
}

async fn operation(h: &Harness, id: &str) -> Value {
    last_usage(h, id).await["KeyLastUsage"]["Operation"].clone()
}

#[tokio::test]
async fn a_new_key_has_no_use_and_tracking_starts_at_its_creation() {
    let h = harness();
    let id = h.key(json!({})).await;
    let created =
        h.ok("DescribeKey", json!({ "KeyId": id })).await["KeyMetadata"]["CreationDate"].clone();
    assert_eq!(
        last_usage(&h, &id).await,
        json!({
            "KeyId": id,
            "KeyLastUsage": {},
            "TrackingStartDate": created,
            "KeyCreationDate": created,
        })
    );
    // Key ARN too; aliases are not accepted, as AWS says.
    assert_eq!(last_usage(&h, &arn(&id)).await["KeyId"], json!(id));
    h.ok(
        "CreateAlias",
        json!({ "AliasName": "alias/app", "TargetKeyId": id }),
    )
    .await;
    for reference in [
        "alias/app".to_owned(),
        "arn:aws:kms:us-east-1:111122223333:alias/app".to_owned(),
        "00000000-0000-4000-8000-000000000000".to_owned(),
    ] {
        let (kind, _) = h
            .err("GetKeyLastUsage", json!({ "KeyId": reference }))
            .await;
        assert_eq!(kind, "NotFoundException", "{reference}");
    }
    assert_eq!(
        h.err("GetKeyLastUsage", json!({})).await.0,
        "ValidationException"
    );
}

#[tokio::test]
async fn each_successful_cryptographic_operation_is_the_last_use_and_failures_are_not() {
    let h = harness();
    let id = h.key(json!({})).await;
    let other = h.key(json!({})).await;
    h.advance(1_000);
    let caller = caller("default");
    let body = json!({ "KeyId": id, "Plaintext": b64(b"x"), "EncryptionContext": {"a": "b"} });
    let sealed = h
        .api
        .call(&caller, "Encrypt", body.to_string().as_bytes())
        .await
        .unwrap()["CiphertextBlob"]
        .clone();
    let encrypted = json!({
        "Operation": "Encrypt",
        "Timestamp": (T0 + 1_000) as f64 / 1000.0,
        "KmsRequestId": caller.request_id.as_str(),
    });
    assert_eq!(last_usage(&h, &id).await["KeyLastUsage"], encrypted);
    assert_eq!(last_usage(&h, &other).await["KeyLastUsage"], json!({}));

    // Refused or failed requests are not uses.
    h.advance(1_000);
    h.err("Decrypt", json!({ "CiphertextBlob": sealed })).await;
    h.err(
        "Encrypt",
        json!({ "KeyId": id, "Plaintext": b64(b"x"), "DryRun": true }),
    )
    .await;
    h.ok("DisableKey", json!({ "KeyId": id })).await;
    h.err("Encrypt", json!({ "KeyId": id, "Plaintext": b64(b"x") }))
        .await;
    h.ok("DescribeKey", json!({ "KeyId": id })).await;
    assert_eq!(
        last_usage(&h, &id).await["KeyLastUsage"],
        encrypted,
        "a disabled key still answers"
    );
    h.ok("EnableKey", json!({ "KeyId": id })).await;

    // ReEncrypt is a use of both keys.
    h.advance(1_000);
    h.ok(
        "ReEncrypt",
        json!({ "CiphertextBlob": sealed, "SourceEncryptionContext": {"a": "b"}, "DestinationKeyId": other }),
    )
    .await;
    for key in [&id, &other] {
        let used = &last_usage(&h, key).await["KeyLastUsage"];
        assert_eq!(used["Operation"], "ReEncrypt");
        assert_eq!(used["Timestamp"], json!((T0 + 3_000) as f64 / 1000.0));
    }
}

#[tokio::test]
async fn signing_mac_and_data_key_operations_are_recorded_by_their_names() {
    let h = harness();
    let sym = h.key(json!({})).await;
    let signer = h
        .key(json!({ "KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY" }))
        .await;
    let mac = h
        .key(json!({ "KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC" }))
        .await;
    h.ok(
        "GenerateDataKeyWithoutPlaintext",
        json!({ "KeyId": sym, "KeySpec": "AES_256" }),
    )
    .await;
    assert_eq!(operation(&h, &sym).await, "GenerateDataKeyWithoutPlaintext");
    h.advance(1);
    h.ok(
        "GenerateDataKeyPair",
        json!({ "KeyId": sym, "KeyPairSpec": "ECC_NIST_P256" }),
    )
    .await;
    assert_eq!(operation(&h, &sym).await, "GenerateDataKeyPair");

    let message = b64(b"m");
    let signed =
        json!({ "KeyId": signer, "Message": message, "SigningAlgorithm": "ECDSA_SHA_256" });
    let signature = h.ok("Sign", signed.clone()).await["Signature"].clone();
    assert_eq!(operation(&h, &signer).await, "Sign");
    h.advance(1);
    let mut bad = signed.clone();
    bad["Signature"] = json!(b64(&[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]));
    assert_eq!(h.err("Verify", bad).await.0, "KMSInvalidSignatureException");
    assert_eq!(
        operation(&h, &signer).await,
        "Sign",
        "a failed verification is no use"
    );
    let mut good = signed;
    good["Signature"] = signature;
    h.ok("Verify", good).await;
    assert_eq!(operation(&h, &signer).await, "Verify");

    let body = json!({ "KeyId": mac, "Message": message, "MacAlgorithm": "HMAC_SHA_256" });
    h.ok("GenerateMac", body).await;
    assert_eq!(operation(&h, &mac).await, "GenerateMac");
    h.ok("GetPublicKey", json!({ "KeyId": signer })).await;
    assert_eq!(
        operation(&h, &signer).await,
        "Verify",
        "GetPublicKey is not a cryptographic use"
    );
}

#[tokio::test]
async fn recorded_uses_reach_the_store_when_written() {
    let h = harness();
    let id = h.key(json!({})).await;
    h.advance(5_000);
    h.ok("Encrypt", json!({ "KeyId": id, "Plaintext": b64(b"x") }))
        .await;
    // Another endpoint over the same store (as after a restart) sees only
    // what was written.
    let fresh = || {
        Api::new(
            h.api.store().clone(),
            h.api.crypto().clone(),
            ArnConfig::default(),
            system_clock(),
        )
    };
    let ask = |api: Api, id: String| async move {
        let body = json!({ "KeyId": id }).to_string();
        api.call(
            &Caller::new("default", "t"),
            "GetKeyLastUsage",
            body.as_bytes(),
        )
        .await
        .unwrap()["KeyLastUsage"]
            .clone()
    };
    assert_eq!(ask(fresh(), id.clone()).await, json!({}));
    h.api.write_usage().await.unwrap();
    let written = ask(fresh(), id.clone()).await;
    assert_eq!(written["Operation"], "Encrypt");
    assert_eq!(written["Timestamp"], json!((T0 + 5_000) as f64 / 1000.0));
    let request_id: Result<RequestId, _> = written["KmsRequestId"].as_str().unwrap().parse();
    assert!(request_id.is_ok(), "{written}");
    assert_eq!(written, last_usage(&h, &id).await["KeyLastUsage"]);
    // Nothing new: nothing written.
    h.api.write_usage().await.unwrap();
}

#[tokio::test]
async fn a_key_older_than_tracking_says_when_tracking_began() {
    let h = harness();
    let since = h.api.store().usage_tracked_since().unwrap();
    // A key created long before this store began tracking (the clock is
    // moved back, as for a key kept from before an upgrade).
    h.clock.store(since - 400 * DAY_MS, Ordering::SeqCst);
    let id = h.key(json!({})).await;
    let answer = last_usage(&h, &id).await;
    assert_eq!(answer["TrackingStartDate"], json!(since as f64 / 1000.0));
    assert_eq!(
        answer["KeyCreationDate"],
        json!((since - 400 * DAY_MS) as f64 / 1000.0)
    );
    assert_eq!(answer["KeyLastUsage"], json!({}));
}
