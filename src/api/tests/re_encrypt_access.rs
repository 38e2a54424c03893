//! ReEncrypt asks both keys' policies, each with `kms:ReEncryptOnSameKey`
//! telling whether the two are one key.

use super::access::{ACCOUNT, policy, refused};
use super::*;

#[tokio::test]
async fn a_policy_may_allow_re_encryption_on_the_same_key_only() {
    let h = harness();
    let (key, other) = (h.key(json!({})).await, h.key(json!({})).await);
    let alias = "alias/same";
    h.ok(
        "CreateAlias",
        json!({ "AliasName": alias, "TargetKeyId": key }),
    )
    .await;
    // Re-encrypting under the same key (a new material version after a
    // rotation, say) is fine; moving data to or from another key is not.
    let same_only = policy(&[
        ACCOUNT,
        r#"{"Effect":"Deny","Principal":"*","Action":["kms:ReEncryptFrom","kms:ReEncryptTo"],"Resource":"*",
            "Condition":{"Bool":{"kms:ReEncryptOnSameKey":"false"}}}"#,
    ]);
    h.set_policy(&key, &same_only).await;
    let blob = h
        .ok("Encrypt", json!({ "KeyId": key, "Plaintext": b64(b"x") }))
        .await["CiphertextBlob"]
        .clone();
    let other_blob = h
        .ok("Encrypt", json!({ "KeyId": other, "Plaintext": b64(b"x") }))
        .await["CiphertextBlob"]
        .clone();
    let re_encrypt = |blob: &Value, source: Option<&str>, destination: &str| {
        let mut body = json!({ "CiphertextBlob": blob, "DestinationKeyId": destination });
        if let Some(source) = source {
            body["SourceKeyId"] = json!(source);
        }
        body
    };
    // The same key, named however: by id, ARN or alias, the source told by
    // the ciphertext or named.
    for destination in [key.clone(), arn(&key), alias.to_owned()] {
        h.ok("ReEncrypt", re_encrypt(&blob, None, &destination))
            .await;
        h.ok("ReEncrypt", re_encrypt(&blob, Some(alias), &destination))
            .await;
    }
    // To another key, and from another key: refused by this key's policy.
    let message = refused(h.call("ReEncrypt", re_encrypt(&blob, None, &other)).await);
    assert!(message.contains("kms:ReEncryptFrom"), "{message}");
    let message = refused(
        h.call("ReEncrypt", re_encrypt(&other_blob, None, &key))
            .await,
    );
    assert!(message.contains("kms:ReEncryptTo"), "{message}");
    // A dry run is judged the same way.
    let dry = |destination: &str| {
        json!({ "SourceKeyId": key, "DestinationKeyId": destination, "DryRun": true,
                "DryRunModifiers": ["IGNORE_CIPHERTEXT"] })
    };
    assert!(matches!(
        h.call("ReEncrypt", dry(&key)).await,
        Err(ApiError::DryRun)
    ));
    refused(h.call("ReEncrypt", dry(&other)).await);
    // Between other keys the key's policy is not asked.
    let third = h.key(json!({})).await;
    h.ok("ReEncrypt", re_encrypt(&other_blob, None, &third))
        .await;
}
