//! A request's shape (lengths and ranges) is checked before anything is
//! looked up or refused as unsupported, as AWS does: a malformed request is
//! a `ValidationException` whatever else is wrong with it.

use super::*;

/// A policy PutKeyPolicy takes, for requests where another member is wrong.
const POLICY: &str =
    r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}"#;

#[tokio::test]
async fn malformed_members_are_validation_errors_before_anything_else() {
    let h = harness();
    let key = h.key(json!({})).await;
    let long_store = "c".repeat(65);
    for (op, body) in [
        ("CreateKey", json!({ "CustomKeyStoreId": long_store })),
        ("CreateKey", json!({ "CustomKeyStoreId": "" })),
        (
            "GenerateRandom",
            json!({ "NumberOfBytes": 8, "CustomKeyStoreId": long_store }),
        ),
        ("CreateKey", json!({ "XksKeyId": "x".repeat(129) })),
        ("CreateKey", json!({ "Policy": "p".repeat(131_073) })),
        // The alias does not exist, but the target is malformed first.
        (
            "UpdateAlias",
            json!({ "AliasName": "alias/none", "TargetKeyId": "k".repeat(2049) }),
        ),
        (
            "UpdateAlias",
            json!({ "AliasName": "alias/none", "TargetKeyId": "" }),
        ),
    ] {
        let (kind, message) = h.err(op, body.clone()).await;
        assert_eq!(kind, "ValidationException", "{op} {message}");
        assert!(
            message.contains("failed to satisfy constraint"),
            "{op} {message}"
        );
    }

    // Well formed but not supported, or over a quota rather than malformed.
    let (kind, _) = h
        .err(
            "CreateKey",
            json!({ "CustomKeyStoreId": "cks-1234567890abcdef0" }),
        )
        .await;
    assert_eq!(kind, "UnsupportedOperationException");
    let (kind, _) = h
        .err(
            "GenerateRandom",
            json!({ "NumberOfBytes": 8, "CustomKeyStoreId": "cks-1" }),
        )
        .await;
    assert_eq!(kind, "UnsupportedOperationException");
    let (kind, message) = h
        .err("CreateKey", json!({ "Policy": "p".repeat(32_769) }))
        .await;
    assert_eq!(kind, "LimitExceededException", "{message}");
    let (kind, message) = h
        .err("CreateKey", json!({ "Policy": policy_of_length(32_769) }))
        .await;
    assert_eq!(kind, "LimitExceededException", "{message}");
    // A policy that is not one, or has characters the model's pattern
    // refuses, is refused before any key is made.
    let (kind, message) = h.err("CreateKey", json!({ "Policy": "p" })).await;
    assert_eq!(kind, "MalformedPolicyDocumentException", "{message}");
    let (kind, message) = h
        .err(
            "CreateKey",
            json!({ "Policy": policy_of_length(200).replace("key-", "k€y") }),
        )
        .await;
    assert_eq!(kind, "ValidationException", "{message}");
    assert!(message.contains("regular expression pattern"), "{message}");
    // An XksKeyId belongs to an external key store key only; such keys are
    // not supported, and one is never made as an ordinary key instead.
    let (kind, _) = h.err("CreateKey", json!({ "XksKeyId": "ext-1" })).await;
    assert_eq!(kind, "ValidationException");
    let (kind, _) = h
        .err(
            "CreateKey",
            json!({ "XksKeyId": "ext-1", "Origin": "EXTERNAL_KEY_STORE" }),
        )
        .await;
    assert_eq!(kind, "UnsupportedOperationException");
    let before = h.ok("ListKeys", json!({})).await["Keys"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, 1, "only the first key was created");

    // At the limits themselves, accepted.
    h.ok("CreateKey", json!({ "Policy": policy_of_length(32_768) }))
        .await;
    h.ok(
        "CreateAlias",
        json!({ "AliasName": "alias/shape", "TargetKeyId": key }),
    )
    .await;
    h.ok(
        "UpdateAlias",
        json!({ "AliasName": "alias/shape", "TargetKeyId": key }),
    )
    .await;
}

/// A well-formed key policy of exactly `len` bytes (its Id is the padding).
fn policy_of_length(len: usize) -> String {
    let policy = |id: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Id":"{id}","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
        )
    };
    let id = format!("key-{}", "p".repeat(len - policy("key-").len()));
    let policy = policy(&id);
    assert_eq!(policy.len(), len);
    policy
}

#[derive(Clone, Copy)]
enum Member {
    Str,
    Blob,
    Int,
    /// `GrantTokens`: a list of [0..10] strings of [1..8192].
    Tokens,
}
use Member::{Blob, Int, Str, Tokens};

/// Every length and range constraint of the operations served here, as
/// AWS's model states it (`../shared/reference/aws-kms-api.md` §2).
const CONSTRAINTS: &[(&str, &str, Member, i64, i64)] = &[
    ("Encrypt", "KeyId", Str, 1, 2048),
    ("Encrypt", "Plaintext", Blob, 1, 4096),
    ("Encrypt", "GrantTokens", Tokens, 0, 10),
    ("Decrypt", "CiphertextBlob", Blob, 1, 6144),
    ("Decrypt", "GrantTokens", Tokens, 0, 10),
    ("Decrypt", "KeyId", Str, 1, 2048),
    ("ReEncrypt", "DestinationKeyId", Str, 1, 2048),
    ("ReEncrypt", "CiphertextBlob", Blob, 1, 6144),
    ("ReEncrypt", "SourceKeyId", Str, 1, 2048),
    ("ReEncrypt", "GrantTokens", Tokens, 0, 10),
    ("GenerateDataKey", "KeyId", Str, 1, 2048),
    ("GenerateDataKey", "NumberOfBytes", Int, 1, 1024),
    ("GenerateDataKey", "GrantTokens", Tokens, 0, 10),
    ("GenerateDataKeyWithoutPlaintext", "KeyId", Str, 1, 2048),
    (
        "GenerateDataKeyWithoutPlaintext",
        "NumberOfBytes",
        Int,
        1,
        1024,
    ),
    (
        "GenerateDataKeyWithoutPlaintext",
        "GrantTokens",
        Tokens,
        0,
        10,
    ),
    ("GenerateDataKeyPair", "KeyId", Str, 1, 2048),
    ("GenerateDataKeyPair", "GrantTokens", Tokens, 0, 10),
    ("GenerateDataKeyPairWithoutPlaintext", "KeyId", Str, 1, 2048),
    (
        "GenerateDataKeyPairWithoutPlaintext",
        "GrantTokens",
        Tokens,
        0,
        10,
    ),
    ("GenerateRandom", "NumberOfBytes", Int, 1, 1024),
    ("GenerateRandom", "CustomKeyStoreId", Str, 1, 64),
    ("Sign", "KeyId", Str, 1, 2048),
    ("Sign", "Message", Blob, 1, 4096),
    ("Sign", "GrantTokens", Tokens, 0, 10),
    ("Verify", "KeyId", Str, 1, 2048),
    ("Verify", "Message", Blob, 1, 4096),
    ("Verify", "Signature", Blob, 1, 6144),
    ("Verify", "GrantTokens", Tokens, 0, 10),
    ("GetPublicKey", "KeyId", Str, 1, 2048),
    ("GetPublicKey", "GrantTokens", Tokens, 0, 10),
    ("GenerateMac", "Message", Blob, 1, 4096),
    ("GenerateMac", "KeyId", Str, 1, 2048),
    ("GenerateMac", "GrantTokens", Tokens, 0, 10),
    ("VerifyMac", "Message", Blob, 1, 4096),
    ("VerifyMac", "KeyId", Str, 1, 2048),
    ("VerifyMac", "Mac", Blob, 1, 6144),
    ("VerifyMac", "GrantTokens", Tokens, 0, 10),
    ("DeriveSharedSecret", "KeyId", Str, 1, 2048),
    ("DeriveSharedSecret", "PublicKey", Blob, 1, 8192),
    ("DeriveSharedSecret", "GrantTokens", Tokens, 0, 10),
    ("CreateKey", "Policy", Str, 1, 131072),
    ("CreateKey", "Description", Str, 0, 8192),
    ("CreateKey", "CustomKeyStoreId", Str, 1, 64),
    ("CreateKey", "XksKeyId", Str, 1, 128),
    ("DescribeKey", "KeyId", Str, 1, 2048),
    ("DescribeKey", "GrantTokens", Tokens, 0, 10),
    ("ListKeys", "Limit", Int, 1, 1000),
    ("ListKeys", "Marker", Str, 1, 1024),
    ("EnableKey", "KeyId", Str, 1, 2048),
    ("DisableKey", "KeyId", Str, 1, 2048),
    ("ScheduleKeyDeletion", "KeyId", Str, 1, 2048),
    ("ScheduleKeyDeletion", "PendingWindowInDays", Int, 1, 365),
    ("CancelKeyDeletion", "KeyId", Str, 1, 2048),
    ("UpdateKeyDescription", "KeyId", Str, 1, 2048),
    ("UpdateKeyDescription", "Description", Str, 0, 8192),
    ("EnableKeyRotation", "KeyId", Str, 1, 2048),
    ("EnableKeyRotation", "RotationPeriodInDays", Int, 90, 2560),
    ("DisableKeyRotation", "KeyId", Str, 1, 2048),
    ("GetKeyRotationStatus", "KeyId", Str, 1, 2048),
    ("RotateKeyOnDemand", "KeyId", Str, 1, 2048),
    ("ListKeyRotations", "KeyId", Str, 1, 2048),
    ("ListKeyRotations", "Limit", Int, 1, 1000),
    ("ListKeyRotations", "Marker", Str, 1, 1024),
    ("CreateAlias", "AliasName", Str, 1, 256),
    ("CreateAlias", "TargetKeyId", Str, 1, 2048),
    ("UpdateAlias", "AliasName", Str, 1, 256),
    ("UpdateAlias", "TargetKeyId", Str, 1, 2048),
    ("DeleteAlias", "AliasName", Str, 1, 256),
    ("ListAliases", "KeyId", Str, 1, 2048),
    ("ListAliases", "Limit", Int, 1, 1000),
    ("ListAliases", "Marker", Str, 1, 1024),
    ("TagResource", "KeyId", Str, 1, 2048),
    ("UntagResource", "KeyId", Str, 1, 2048),
    ("ListResourceTags", "KeyId", Str, 1, 2048),
    ("ListResourceTags", "Limit", Int, 1, 1000),
    ("ListResourceTags", "Marker", Str, 1, 1024),
    ("GetKeyPolicy", "KeyId", Str, 1, 2048),
    ("GetKeyPolicy", "PolicyName", Str, 1, 128),
    ("PutKeyPolicy", "KeyId", Str, 1, 2048),
    ("PutKeyPolicy", "PolicyName", Str, 1, 128),
    ("PutKeyPolicy", "Policy", Str, 1, 131072),
    ("ListKeyPolicies", "KeyId", Str, 1, 2048),
    ("ListKeyPolicies", "Limit", Int, 1, 1000),
    ("ListKeyPolicies", "Marker", Str, 1, 1024),
    ("ListGrants", "KeyId", Str, 1, 2048),
    ("ListGrants", "Limit", Int, 1, 1000),
    ("ListGrants", "Marker", Str, 1, 1024),
    ("ListGrants", "GrantId", Str, 1, 128),
    ("ListGrants", "GranteePrincipal", Str, 1, 256),
    ("ListGrants", "GranteeServicePrincipal", Str, 1, 128),
    ("ListRetirableGrants", "Limit", Int, 1, 1000),
    ("ListRetirableGrants", "Marker", Str, 1, 1024),
    ("ListRetirableGrants", "RetiringPrincipal", Str, 1, 256),
    (
        "ListRetirableGrants",
        "RetiringServicePrincipal",
        Str,
        1,
        128,
    ),
];

/// Values just outside `[lo..hi]` for a member of this kind.
fn out_of_range(member: Member, lo: i64, hi: i64) -> Vec<Value> {
    let (lo, hi) = (lo as usize, hi as usize);
    match member {
        Str => {
            let mut v = vec![json!("x".repeat(hi + 1))];
            if lo > 0 {
                v.push(json!("x".repeat(lo - 1)));
            }
            v
        }
        Blob => vec![json!(b64(&vec![7; hi + 1])), json!("")],
        Int => vec![json!(hi + 1), json!(lo as i64 - 1)],
        Tokens => vec![
            json!(vec!["t"; hi + 1]),
            json!(["t".repeat(8193)]),
            json!([""]),
        ],
    }
}

#[tokio::test]
async fn every_member_just_outside_its_constraint_is_a_validation_error() {
    let h = harness();
    let sym = h.key(json!({})).await;
    let sign = h
        .key(json!({ "KeyUsage": "SIGN_VERIFY", "KeySpec": "ECC_NIST_P256" }))
        .await;
    let mac = h
        .key(json!({ "KeyUsage": "GENERATE_VERIFY_MAC", "KeySpec": "HMAC_256" }))
        .await;
    let agree = h
        .key(json!({ "KeyUsage": "KEY_AGREEMENT", "KeySpec": "ECC_NIST_P256" }))
        .await;
    let blob = h
        .ok("Encrypt", json!({ "KeyId": sym, "Plaintext": b64(b"x") }))
        .await["CiphertextBlob"]
        .clone();
    let peer = h.ok("GetPublicKey", json!({ "KeyId": agree })).await["PublicKey"].clone();
    h.ok(
        "CreateAlias",
        json!({ "AliasName": "alias/shape", "TargetKeyId": sym }),
    )
    .await;
    let msg = b64(b"message");
    // A request each operation accepts, so only the member under test is wrong.
    let valid = |op: &str| -> Value {
        match op {
            "Encrypt" => json!({ "KeyId": sym, "Plaintext": msg }),
            "Decrypt" => json!({ "CiphertextBlob": blob }),
            "ReEncrypt" => json!({ "DestinationKeyId": sym, "CiphertextBlob": blob }),
            "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext" => {
                json!({ "KeyId": sym, "NumberOfBytes": 32 })
            }
            "GenerateDataKeyPair" | "GenerateDataKeyPairWithoutPlaintext" => {
                json!({ "KeyId": sym, "KeyPairSpec": "ECC_NIST_P256" })
            }
            "GenerateRandom" => json!({ "NumberOfBytes": 8 }),
            "Sign" => json!({ "KeyId": sign, "Message": msg, "SigningAlgorithm": "ECDSA_SHA_256" }),
            "Verify" => json!({ "KeyId": sign, "Message": msg, "Signature": b64(&[1; 70]),
                                "SigningAlgorithm": "ECDSA_SHA_256" }),
            "GetPublicKey" => json!({ "KeyId": sign }),
            "GenerateMac" => {
                json!({ "KeyId": mac, "Message": msg, "MacAlgorithm": "HMAC_SHA_256" })
            }
            "VerifyMac" => json!({ "KeyId": mac, "Message": msg, "Mac": b64(&[1; 32]),
                                   "MacAlgorithm": "HMAC_SHA_256" }),
            "DeriveSharedSecret" => {
                json!({ "KeyId": agree, "KeyAgreementAlgorithm": "ECDH", "PublicKey": peer })
            }
            "CreateKey" | "ListKeys" | "ListAliases" | "ListRetirableGrants" => json!({}),
            "UpdateKeyDescription" => json!({ "KeyId": sym, "Description": "d" }),
            "CreateAlias" => json!({ "AliasName": "alias/other", "TargetKeyId": sym }),
            "UpdateAlias" => json!({ "AliasName": "alias/shape", "TargetKeyId": sym }),
            "DeleteAlias" => json!({ "AliasName": "alias/shape" }),
            "TagResource" => json!({ "KeyId": sym, "Tags": [{ "TagKey": "a", "TagValue": "b" }] }),
            "UntagResource" => json!({ "KeyId": sym, "TagKeys": ["a"] }),
            "PutKeyPolicy" => json!({ "KeyId": sym, "Policy": POLICY }),
            _ => json!({ "KeyId": sym }),
        }
    };
    let mut wrong = Vec::new();
    let mut checked = 0;
    for &(op, member, kind, lo, hi) in CONSTRAINTS {
        for value in out_of_range(kind, lo, hi) {
            let mut body = valid(op);
            body[member] = value.clone();
            checked += 1;
            match h.call(op, body).await {
                Err(e) if e.aws_type() == "ValidationException" => {}
                other => {
                    let shown = value.to_string();
                    wrong.push(format!(
                        "{op} {member} = {}…: {:?}",
                        &shown[..shown.len().min(24)],
                        other.map_err(|e| format!("{} {e}", e.aws_type()))
                    ))
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {checked}:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(checked >= 175, "{checked}");
}

/// A string member out of its bounds is named with its value, as AWS
/// names it (`Value '' at 'keyId'`, the text AWS KMS sends for an empty
/// KeyId); a secret blob's value is never repeated.
#[tokio::test]
async fn a_string_out_of_bounds_is_named_with_its_value_a_secret_never() {
    let h = harness();
    let key = h.key(json!({})).await;
    let (kind, message) = h.err("DescribeKey", json!({ "KeyId": "" })).await;
    assert_eq!(kind, "ValidationException");
    assert_eq!(
        message,
        "1 validation error detected: Value '' at 'keyId' failed to satisfy constraint: Member must have length greater than or equal to 1"
    );
    let long = "d".repeat(8193);
    let (kind, message) = h
        .err(
            "UpdateKeyDescription",
            json!({ "KeyId": key, "Description": long }),
        )
        .await;
    assert_eq!(kind, "ValidationException");
    assert_eq!(
        message,
        format!(
            "1 validation error detected: Value '{long}' at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192"
        )
    );
    let (_, message) = h
        .err(
            "ListGrants",
            json!({ "KeyId": key, "GrantId": "g".repeat(129) }),
        )
        .await;
    assert!(
        message.contains(&format!("Value '{}' at 'grantId'", "g".repeat(129))),
        "{message}"
    );
    let secret = crate::b64::encode(&[7u8; 4097]);
    let (kind, message) = h
        .err("Encrypt", json!({ "KeyId": key, "Plaintext": secret }))
        .await;
    assert_eq!(kind, "ValidationException");
    assert_eq!(
        message,
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096"
    );
}
