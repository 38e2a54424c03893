//! What AWS's API model says about members this endpoint had let through
//! or refused as the wrong kind of error: nested members (tags), list
//! elements, patterns, and values the model has that are not served here.
//! `tests/python/model_conformance.py` checks every constraint of the model
//! botocore ships; these pin the answers down, message included.

use super::*;

fn is_shape_error((kind, message): &(String, String)) -> bool {
    kind == "ValidationException" && message.contains("failed to satisfy constraint")
}

#[tokio::test]
async fn tags_are_checked_member_by_member_as_validation_errors() {
    let h = harness();
    let key = h.key(json!({})).await;
    let long = "k".repeat(129);
    for (tags, at) in [
        (
            json!([{ "TagKey": long, "TagValue": "" }]),
            "tags.1.member.tagKey",
        ),
        (
            json!([{ "TagKey": "", "TagValue": "" }]),
            "tags.1.member.tagKey",
        ),
        (
            json!([{ "TagKey": "a", "TagValue": "" }, { "TagKey": "b", "TagValue": "v".repeat(257) }]),
            "tags.2.member.tagValue",
        ),
        (json!([{ "TagValue": "v" }]), "tags.1.member.tagKey"),
        (json!([{ "TagKey": "k" }]), "tags.1.member.tagValue"),
    ] {
        for (op, body) in [
            ("TagResource", json!({ "KeyId": key, "Tags": tags })),
            ("CreateKey", json!({ "Tags": tags })),
        ] {
            let refused = h.err(op, body).await;
            assert!(is_shape_error(&refused), "{op} {tags}: {refused:?}");
            assert!(refused.1.contains(&format!("at '{at}'")), "{refused:?}");
        }
    }
    // At their longest, accepted.
    let tags = json!([{ "TagKey": "k".repeat(128), "TagValue": "v".repeat(256) }]);
    h.ok("TagResource", json!({ "KeyId": key, "Tags": tags }))
        .await;
    // Well formed but not a valid tag set: TagException, in any case of "aws:".
    for name in ["aws:x", "AWS:x", "Aws:"] {
        let tags = json!([{ "TagKey": name, "TagValue": "" }]);
        let (kind, _) = h
            .err("TagResource", json!({ "KeyId": key, "Tags": tags }))
            .await;
        assert_eq!(kind, "TagException", "{name}");
    }
    for keys in [json!(["k".repeat(129)]), json!(["a", ""])] {
        let refused = h
            .err("UntagResource", json!({ "KeyId": key, "TagKeys": keys }))
            .await;
        assert!(is_shape_error(&refused), "{refused:?}");
    }
    let tags = h.ok("ListResourceTags", json!({ "KeyId": key })).await;
    assert_eq!(tags["Tags"].as_array().unwrap().len(), 1, "{tags}");
    assert_eq!(
        h.ok("ListKeys", json!({})).await["Keys"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "no key was created by a refused CreateKey"
    );
}

#[tokio::test]
async fn patterns_of_the_model_are_validation_errors() {
    let h = harness();
    let key = h.key(json!({})).await;
    for (op, body) in [
        ("ListKeys", json!({ "Marker": "a\u{1}" })),
        ("ListAliases", json!({ "Marker": "€" })),
        (
            "ListGrants",
            json!({ "KeyId": key, "GranteePrincipal": "a b" }),
        ),
        (
            "ListGrants",
            json!({ "KeyId": key, "GranteeServicePrincipal": "service.amazonaws" }),
        ),
        (
            "ListRetirableGrants",
            json!({ "RetiringPrincipal": "arn:aws:iam::1:role/a b" }),
        ),
        (
            "ListRetirableGrants",
            json!({ "RetiringServicePrincipal": "a..b.c" }),
        ),
        (
            "CreateKey",
            json!({ "XksKeyId": "a/b", "Origin": "EXTERNAL_KEY_STORE" }),
        ),
    ] {
        let refused = h.err(op, body.clone()).await;
        assert!(is_shape_error(&refused), "{op} {body}: {refused:?}");
        assert!(
            refused.1.contains("regular expression pattern"),
            "{refused:?}"
        );
    }
    // Within the patterns: no grants, and a principal that is no ARN.
    let grants = json!({ "KeyId": key, "GranteePrincipal": "arn:aws:iam::1:role/r", "GranteeServicePrincipal": "logs.us-east-1.amazonaws.com" });
    assert_eq!(h.ok("ListGrants", grants).await["Grants"], json!([]));
    let (kind, _) = h
        .err(
            "ListRetirableGrants",
            json!({ "RetiringPrincipal": "role" }),
        )
        .await;
    assert_eq!(kind, "InvalidArnException");
}

#[tokio::test]
async fn list_keys_lists_only_this_namespace_s_own_keys() {
    let h = harness();
    let key = h.key(json!({})).await;
    let ids = |v: Value| -> Vec<String> {
        v["Keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["KeyId"].as_str().unwrap().to_owned())
            .collect()
    };
    for owners in [json!(["SELF"]), json!(["OTHER_ACCOUNTS_VIA_RAM", "SELF"])] {
        let listed = h.ok("ListKeys", json!({ "ResourceOwners": owners })).await;
        assert_eq!(ids(listed), vec![key.clone()]);
    }
    // No other account shares keys through AWS RAM here.
    let shared = h
        .ok(
            "ListKeys",
            json!({ "ResourceOwners": ["OTHER_ACCOUNTS_VIA_RAM"] }),
        )
        .await;
    assert_eq!(shared, json!({ "Keys": [], "Truncated": false }));
    for owners in [json!([]), json!(["SELF", "SELF", "SELF"]), json!(["ALL"])] {
        let refused = h.err("ListKeys", json!({ "ResourceOwners": owners })).await;
        assert!(is_shape_error(&refused), "{owners}: {refused:?}");
    }
}

#[tokio::test]
async fn values_the_model_has_but_this_endpoint_does_not_serve_are_unsupported() {
    let h = harness();
    let key = h.key(json!({})).await;
    let signer = h
        .key(json!({ "KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY" }))
        .await;
    for (op, body, names) in [
        ("CreateKey", json!({ "KeySpec": "SM2" }), "China"),
        (
            "CreateKey",
            json!({ "CustomerMasterKeySpec": "SM2" }),
            "China",
        ),
        (
            "GenerateDataKeyPair",
            json!({ "KeyId": key, "KeyPairSpec": "SM2" }),
            "China",
        ),
        (
            "Encrypt",
            json!({ "KeyId": key, "Plaintext": "eA==", "EncryptionAlgorithm": "SM2PKE" }),
            "China",
        ),
        (
            "Sign",
            json!({ "KeyId": signer, "Message": "eA==", "SigningAlgorithm": "SM2DSA" }),
            "China",
        ),
    ] {
        let (kind, message) = h.err(op, body.clone()).await;
        assert_eq!(
            kind, "UnsupportedOperationException",
            "{op} {body}: {message}"
        );
        assert!(message.contains(names), "{op} {body}: {message}");
    }
    // A value in no enum is malformed, and the message lists the model's values.
    let refused = h.err("CreateKey", json!({ "KeySpec": "AES_256" })).await;
    assert!(is_shape_error(&refused), "{refused:?}");
    assert!(refused.1.contains("ML_KEM_1024, SM2]"), "{refused:?}");
    // ML-KEM was never in the deprecated CustomerMasterKeySpec.
    let refused = h
        .err(
            "CreateKey",
            json!({ "CustomerMasterKeySpec": "ML_KEM_768" }),
        )
        .await;
    assert!(is_shape_error(&refused), "{refused:?}");
}

#[tokio::test]
async fn a_member_s_shape_is_checked_before_the_members_go_together() {
    let h = harness();
    let key = h.key(json!({})).await;
    // Both NumberOfBytes and KeySpec are given, but KeySpec is no KeySpec.
    let refused = h
        .err(
            "GenerateDataKey",
            json!({ "KeyId": key, "NumberOfBytes": 32, "KeySpec": "AES_512" }),
        )
        .await;
    assert!(is_shape_error(&refused), "{refused:?}");
    let refused = h
        .err(
            "GenerateDataKey",
            json!({ "KeyId": key, "NumberOfBytes": 32, "KeySpec": "AES_256" }),
        )
        .await;
    assert_eq!(refused.0, "ValidationException");
    assert!(
        refused.1.contains("either number of bytes or key spec"),
        "{refused:?}"
    );
    // A malformed Recipient is malformed, a well-formed one unsupported.
    let recipient = |algorithm: &str| json!({ "KeyId": key, "KeySpec": "AES_256", "Recipient": { "KeyEncryptionAlgorithm": algorithm, "AttestationDocument": "eA==" } });
    let refused = h
        .err("GenerateDataKey", recipient("RSAES_OAEP_SHA_1"))
        .await;
    assert!(is_shape_error(&refused), "{refused:?}");
    let (kind, _) = h
        .err("GenerateDataKey", recipient("RSAES_OAEP_SHA_256"))
        .await;
    assert_eq!(kind, "UnsupportedOperationException");
    // The model's ranges, then the service's: 1–365 days, then 7–30.
    for days in [0, 366] {
        let body = json!({ "KeyId": key, "PendingWindowInDays": days });
        let refused = h.err("ScheduleKeyDeletion", body).await;
        assert!(is_shape_error(&refused), "{days}: {refused:?}");
    }
    let body = json!({ "KeyId": key, "PendingWindowInDays": 6 });
    let (kind, message) = h.err("ScheduleKeyDeletion", body).await;
    assert_eq!(kind, "ValidationException");
    assert!(message.contains("between 7 and 30"), "{message}");
    for days in [89, 2561] {
        let body = json!({ "KeyId": key, "RotationPeriodInDays": days });
        let refused = h.err("EnableKeyRotation", body).await;
        assert!(is_shape_error(&refused), "{days}: {refused:?}");
    }
}

#[tokio::test]
async fn there_are_no_custom_key_stores_to_describe() {
    let h = harness();
    let listed = h.ok("DescribeCustomKeyStores", json!({})).await;
    assert_eq!(listed, json!({ "CustomKeyStores": [], "Truncated": false }));
    for body in [
        json!({ "CustomKeyStoreId": "cks-1234567890abcdef0" }),
        json!({ "CustomKeyStoreName": "ExampleKeyStore" }),
    ] {
        let (kind, _) = h.err("DescribeCustomKeyStores", body.clone()).await;
        assert_eq!(kind, "CustomKeyStoreNotFoundException", "{body}");
    }
    for body in [
        json!({ "CustomKeyStoreId": "c".repeat(65) }),
        json!({ "CustomKeyStoreName": "" }),
        json!({ "Limit": 0 }),
        json!({ "Marker": "a\u{1}" }),
    ] {
        let refused = h.err("DescribeCustomKeyStores", body.clone()).await;
        assert!(is_shape_error(&refused), "{body}: {refused:?}");
    }
    let (kind, _) = h
        .err(
            "DescribeCustomKeyStores",
            json!({ "Marker": "bm90IG91cnM=" }),
        )
        .await;
    assert_eq!(kind, "InvalidMarkerException");
}
