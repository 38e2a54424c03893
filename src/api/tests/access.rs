//! Key policies enforced: every operation on a key asks its policy, with
//! its own action; callers are named by the ARNs `access::principal_arn`
//! gives; the lockout safety check.

use super::*;

/// Lets the account in, as the default policy does.
pub(super) const ACCOUNT: &str = r#"{"Sid":"account","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}"#;
const TESTER: &str = "arn:aws:iam::111122223333:user/default/tester";

pub(super) fn policy(statements: &[&str]) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    )
}

impl Harness {
    pub(super) async fn call_by(
        &self,
        principal: &str,
        op: &str,
        body: Value,
    ) -> Result<Value, ApiError> {
        self.api
            .call(
                &Caller::new("default", principal),
                op,
                body.to_string().as_bytes(),
            )
            .await
    }

    /// Sets `key`'s policy as `admin`, lockout check skipped.
    pub(super) async fn set_policy(&self, key: &str, policy: &str) {
        self.call_by(
            "admin",
            "PutKeyPolicy",
            json!({ "KeyId": key, "Policy": policy, "BypassPolicyLockoutSafetyCheck": true }),
        )
        .await
        .unwrap_or_else(|e| panic!("PutKeyPolicy: {e}"));
    }
}

pub(super) fn refused(result: Result<Value, ApiError>) -> String {
    match result {
        Err(ApiError::AccessDenied(message)) => message,
        other => panic!("expected AccessDeniedException, got {other:?}"),
    }
}

#[test]
fn callers_are_named_as_iam_users_and_roles_with_their_namespace_as_path() {
    let arn = ArnConfig::default();
    assert_eq!(
        crate::api::access::principal_arn(&arn, &Caller::new("team-a", "ci")),
        "arn:aws:iam::111122223333:user/team-a/ci"
    );
    assert_eq!(
        crate::api::access::principal_arn(
            &arn,
            &Caller::new("team-a", "system:serviceaccount:team-a:app")
        ),
        "arn:aws:iam::111122223333:role/team-a/app"
    );
    let china = ArnConfig {
        partition: "aws-cn".into(),
        account: "444455556666".into(),
        ..ArnConfig::default()
    };
    assert_eq!(
        crate::api::access::principal_arn(&china, &Caller::new("default", "local")),
        "arn:aws-cn:iam::444455556666:user/default/local"
    );
}

#[tokio::test]
async fn a_key_without_a_policy_lets_every_caller_in_as_before() {
    let h = harness();
    let key = h.key(json!({})).await;
    let encrypt = json!({ "KeyId": arn(&key), "Plaintext": b64(b"x") });
    h.call_by("someone", "Encrypt", encrypt.clone())
        .await
        .unwrap();
    h.call_as("team-b", "Encrypt", encrypt).await.unwrap();
}

#[tokio::test]
async fn a_policy_naming_callers_lets_them_in_under_its_conditions_and_no_one_else() {
    let h = harness();
    let key = h.key(json!({})).await;
    let alice = "arn:aws:iam::111122223333:user/default/alice";
    h.set_policy(
        &key,
        &policy(&[
            &format!(r#"{{"Effect":"Allow","Principal":{{"AWS":"{TESTER}"}},"Action":"kms:*","Resource":"*"}}"#),
            &format!(
                r#"{{"Effect":"Allow","Principal":{{"AWS":"{alice}"}},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*",
                    "Condition":{{"StringEquals":{{"kms:EncryptionContext:app":"web"}}}}}}"#
            ),
        ]),
    )
    .await;
    let with_context =
        json!({ "KeyId": key, "Plaintext": b64(b"x"), "EncryptionContext": {"app": "web"} });
    h.ok("Encrypt", json!({ "KeyId": key, "Plaintext": b64(b"x") }))
        .await;
    let blob = h.call_by("alice", "Encrypt", with_context).await.unwrap()["CiphertextBlob"].clone();
    let decrypt = json!({ "CiphertextBlob": blob, "EncryptionContext": {"app": "web"} });
    assert_eq!(
        h.call_by("alice", "Decrypt", decrypt.clone())
            .await
            .unwrap()["Plaintext"],
        b64(b"x")
    );
    assert_eq!(
        refused(
            h.call_by(
                "alice",
                "Encrypt",
                json!({ "KeyId": key, "Plaintext": b64(b"x") })
            )
            .await
        ),
        format!(
            "User: {alice} is not authorized to perform: kms:Encrypt on resource: {} because no resource-based policy allows the kms:Encrypt action",
            arn(&key)
        )
    );
    refused(
        h.call_by("alice", "DescribeKey", json!({ "KeyId": key }))
            .await,
    );
    // Not the account's other callers: no statement lets the account in.
    refused(h.call_by("bob", "Decrypt", decrypt).await);
    refused(
        h.call_as("team-b", "DescribeKey", json!({ "KeyId": arn(&key) }))
            .await,
    );
}

#[tokio::test]
async fn an_alias_the_request_names_is_a_condition_key() {
    let h = harness();
    let key = h.key(json!({})).await;
    h.ok(
        "CreateAlias",
        json!({ "AliasName": "alias/web", "TargetKeyId": key }),
    )
    .await;
    h.set_policy(
        &key,
        &policy(&[
            ACCOUNT,
            r#"{"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*",
                "Condition":{"StringNotEquals":{"kms:RequestAlias":"alias/web"}}}"#,
        ]),
    )
    .await;
    let by = |id: &str| json!({ "KeyId": id, "Plaintext": b64(b"x") });
    h.ok("Encrypt", by("alias/web")).await;
    h.ok(
        "Encrypt",
        by("arn:aws:kms:us-east-1:111122223333:alias/web"),
    )
    .await;
    assert!(
        refused(h.call("Encrypt", by(&key)).await)
            .ends_with("with an explicit deny in a resource-based policy")
    );
}

#[tokio::test]
async fn the_lockout_safety_check_refuses_a_policy_its_setter_could_not_change_again() {
    let h = harness();
    let key = h.key(json!({})).await;
    let others_only = policy(&[
        r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/team-a/app"},"Action":"kms:*","Resource":"*"}"#,
    ]);
    let denies_it = policy(&[
        ACCOUNT,
        &format!(
            r#"{{"Effect":"Deny","Principal":{{"AWS":"{TESTER}"}},"Action":"kms:Put*","Resource":"*"}}"#
        ),
    ]);
    let lockout = "The new key policy will not allow you to update the key policy in the future.";
    for locked in [&others_only, &denies_it] {
        assert_eq!(
            h.err("PutKeyPolicy", json!({ "KeyId": key, "Policy": locked }))
                .await,
            (
                "MalformedPolicyDocumentException".to_owned(),
                lockout.to_owned()
            )
        );
        assert_eq!(
            h.err("CreateKey", json!({ "Policy": locked })).await,
            (
                "MalformedPolicyDocumentException".to_owned(),
                lockout.to_owned()
            )
        );
    }
    // Nothing was stored, and no key was made.
    let got = h.ok("GetKeyPolicy", json!({ "KeyId": key })).await;
    assert!(got["Policy"].as_str().unwrap().contains("key-default-1"));
    assert_eq!(
        h.ok("ListKeys", json!({})).await["Keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Told to skip it, as AWS is: the setter is then locked out.
    h.ok(
        "PutKeyPolicy",
        json!({ "KeyId": key, "Policy": others_only, "BypassPolicyLockoutSafetyCheck": true }),
    )
    .await;
    refused(h.call("GetKeyPolicy", json!({ "KeyId": key })).await);
    refused(
        h.call(
            "PutKeyPolicy",
            json!({ "KeyId": key, "Policy": policy(&[ACCOUNT]), "BypassPolicyLockoutSafetyCheck": true }),
        )
        .await,
    );
    let created = h
        .ok(
            "CreateKey",
            json!({ "Policy": others_only, "BypassPolicyLockoutSafetyCheck": true }),
        )
        .await;
    let id = created["KeyMetadata"]["KeyId"].as_str().unwrap();
    refused(h.call("DescribeKey", json!({ "KeyId": id })).await);
}

/// One request of an operation on a key: (operation, body, the key whose
/// policy is asked, the action asked).
pub(super) type KeyCase = (&'static str, Value, String, String);

/// A request of every operation that works on a key, over keys made in
/// `h`; none changes anything before its key's policy is asked. Operations
/// on the account (`delegation::account_action`) ask no key policy.
pub(super) async fn key_operations(h: &Harness) -> Vec<KeyCase> {
    let sym = h.key(json!({})).await;
    let other = h.key(json!({})).await;
    let sign = h
        .key(json!({ "KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY" }))
        .await;
    let mac = h
        .key(json!({ "KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC" }))
        .await;
    let agree = h
        .key(json!({ "KeySpec": "ECC_NIST_P256", "KeyUsage": "KEY_AGREEMENT" }))
        .await;
    let kem = h
        .key(json!({ "KeySpec": "ML_KEM_768", "KeyUsage": "ENCAPSULATE_DECAPSULATE" }))
        .await;
    let external = h.key(json!({ "Origin": "EXTERNAL" })).await;
    h.ok(
        "CreateAlias",
        json!({ "AliasName": "alias/app", "TargetKeyId": sym }),
    )
    .await;
    let blob = h
        .ok("Encrypt", json!({ "KeyId": sym, "Plaintext": b64(b"x") }))
        .await["CiphertextBlob"]
        .clone();
    let message = b64(b"message");
    // (operation, body, the key whose policy is asked, the action asked):
    // `kms:<operation>` unless the operation asks for another.
    let case =
        |op: &'static str, body: Value, key: &str| (op, body, key.to_owned(), format!("kms:{op}"));
    let asks = |op: &'static str, body: Value, key: &str, action: &str| {
        (op, body, key.to_owned(), action.to_owned())
    };
    let signed = json!({ "KeyId": sign, "Message": message, "SigningAlgorithm": "ECDSA_SHA_256" });
    let mut verify = signed.clone();
    verify["Signature"] = json!(message);
    let mac_body = json!({ "KeyId": mac, "Message": message, "MacAlgorithm": "HMAC_SHA_256" });
    let mut verify_mac = mac_body.clone();
    verify_mac["Mac"] = json!(b64(&[0; 32]));
    let kem_body = json!({ "KeyId": kem, "EncapsulationAlgorithm": "ML_KEM" });
    let mut decapsulate = kem_body.clone();
    decapsulate["SharedSecretCiphertextBlob"] = json!(b64(&[0; 1088]));
    let re_encrypt = json!({ "CiphertextBlob": blob, "DestinationKeyId": other });
    let move_alias = json!({ "AliasName": "alias/app", "TargetKeyId": other });
    let key_only = json!({ "KeyId": sym });
    let cases = vec![
        case(
            "Encrypt",
            json!({ "KeyId": sym, "Plaintext": message }),
            &sym,
        ),
        case("Decrypt", json!({ "CiphertextBlob": blob }), &sym),
        case(
            "Decrypt",
            json!({ "CiphertextBlob": blob, "KeyId": sym }),
            &sym,
        ),
        asks("ReEncrypt", re_encrypt.clone(), &sym, "kms:ReEncryptFrom"),
        asks("ReEncrypt", re_encrypt, &other, "kms:ReEncryptTo"),
        case(
            "GenerateDataKey",
            json!({ "KeyId": sym, "KeySpec": "AES_256" }),
            &sym,
        ),
        case(
            "GenerateDataKeyWithoutPlaintext",
            json!({ "KeyId": sym, "KeySpec": "AES_256" }),
            &sym,
        ),
        case(
            "GenerateDataKeyPair",
            json!({ "KeyId": sym, "KeyPairSpec": "ECC_NIST_P256" }),
            &sym,
        ),
        case(
            "GenerateDataKeyPairWithoutPlaintext",
            json!({ "KeyId": sym, "KeyPairSpec": "ECC_NIST_P256" }),
            &sym,
        ),
        case("Sign", signed, &sign),
        case("Verify", verify, &sign),
        case("GetPublicKey", json!({ "KeyId": sign }), &sign),
        case("GenerateMac", mac_body, &mac),
        case("VerifyMac", verify_mac, &mac),
        case(
            "DeriveSharedSecret",
            json!({ "KeyId": agree, "KeyAgreementAlgorithm": "ECDH", "PublicKey": message }),
            &agree,
        ),
        case("Encapsulate", kem_body, &kem),
        case("Decapsulate", decapsulate, &kem),
        case("DescribeKey", json!({ "KeyId": "alias/app" }), &sym),
        case(
            "ScheduleKeyDeletion",
            json!({ "KeyId": sym, "PendingWindowInDays": 7 }),
            &sym,
        ),
        case(
            "UpdateKeyDescription",
            json!({ "KeyId": sym, "Description": "d" }),
            &sym,
        ),
        case(
            "CreateAlias",
            json!({ "AliasName": "alias/new", "TargetKeyId": sym }),
            &sym,
        ),
        case("UpdateAlias", move_alias.clone(), &other),
        case("UpdateAlias", move_alias, &sym),
        case("DeleteAlias", json!({ "AliasName": "alias/app" }), &sym),
        case(
            "TagResource",
            json!({ "KeyId": sym, "Tags": [{"TagKey": "k", "TagValue": "v"}] }),
            &sym,
        ),
        case(
            "UntagResource",
            json!({ "KeyId": sym, "TagKeys": ["k"] }),
            &sym,
        ),
        case(
            "PutKeyPolicy",
            json!({ "KeyId": sym, "Policy": policy(&[ACCOUNT]) }),
            &sym,
        ),
    ]
    .into_iter()
    .chain(
        [
            "EnableKey",
            "DisableKey",
            "CancelKeyDeletion",
            "GetKeyLastUsage",
            "EnableKeyRotation",
            "DisableKeyRotation",
            "GetKeyRotationStatus",
            "RotateKeyOnDemand",
            "ListKeyRotations",
            "ListResourceTags",
            "GetKeyPolicy",
            "ListKeyPolicies",
            "ListGrants",
        ]
        .map(|op| case(op, key_only.clone(), &sym)),
    )
    .chain([
        case(
            "CreateGrant",
            json!({ "KeyId": sym, "Operations": ["Decrypt"],
                    "GranteePrincipal": "arn:aws:iam::111122223333:role/default/app" }),
            &sym,
        ),
        case(
            "RevokeGrant",
            json!({ "KeyId": sym, "GrantId": "ab".repeat(32) }),
            &sym,
        ),
        case(
            "GetParametersForImport",
            json!({ "KeyId": external, "WrappingAlgorithm": "RSAES_OAEP_SHA_256",
                    "WrappingKeySpec": "RSA_2048" }),
            &external,
        ),
        case(
            "ImportKeyMaterial",
            json!({ "KeyId": external, "ImportToken": b64(b"t"),
                    "EncryptedKeyMaterial": b64(b"m") }),
            &external,
        ),
        case(
            "DeleteImportedKeyMaterial",
            json!({ "KeyId": external }),
            &external,
        ),
        case(
            "ReplicateKey",
            json!({ "KeyId": sym, "ReplicaRegion": "eu-west-1" }),
            &sym,
        ),
        case(
            "UpdatePrimaryRegion",
            json!({ "KeyId": sym, "PrimaryRegion": "eu-west-1" }),
            &sym,
        ),
    ])
    .collect::<Vec<_>>();
    // RetireGrant asks the grant (its retiring principal, its grantee)
    // and then the account, not the key's policy (`tests::grants`).
    for operation in OPERATIONS
        .iter()
        .filter(|o| crate::api::delegation::account_action(o).is_none() && **o != "RetireGrant")
    {
        assert!(
            cases.iter().any(|(op, ..)| op == operation),
            "{operation} works on a key: it needs a case here"
        );
    }
    cases
}

#[tokio::test]
async fn every_operation_on_a_key_asks_its_policy_for_its_own_action() {
    let h = harness();
    let cases = key_operations(&h).await;
    for (operation, body, key, action) in cases {
        // The account may do anything, the tester all but this action.
        let deny = format!(
            r#"{{"Effect":"Deny","Principal":{{"AWS":"{TESTER}"}},"Action":"{action}","Resource":"*"}}"#
        );
        h.set_policy(&key, &policy(&[ACCOUNT, &deny])).await;
        let message = refused(h.call_by("tester", operation, body).await);
        assert_eq!(
            message,
            format!(
                "User: {TESTER} is not authorized to perform: {action} on resource: {} with an explicit deny in a resource-based policy",
                arn(&key)
            ),
            "{operation}"
        );
        h.set_policy(&key, &policy(&[ACCOUNT])).await;
    }
}

#[test]
fn a_policy_is_parsed_once_per_text_the_store_shares() {
    use std::sync::Arc;
    let cache = crate::api::access::PolicyCache::default();
    let text: Arc<str> = policy(&[ACCOUNT]).into();
    let first = cache.get(&text).unwrap();
    assert!(Arc::ptr_eq(&first, &cache.get(&text.clone()).unwrap()));
    // The same words in another text (a record written since) are read again.
    let again: Arc<str> = policy(&[ACCOUNT]).into();
    let second = cache.get(&again).unwrap();
    assert!(!Arc::ptr_eq(&first, &second));
    assert_eq!(first, second);
    // One that cannot be read opens nothing.
    let broken: Arc<str> = "{".into();
    assert!(matches!(cache.get(&broken), Err(ApiError::Internal(_))));
}

#[tokio::test]
async fn where_and_when_a_request_comes_are_condition_keys() {
    let h = harness();
    let key = h.key(json!({})).await;
    // T0 is 2027-01-15T08:00:00Z.
    h.set_policy(
        &key,
        &policy(&[
            ACCOUNT,
            r#"{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*",
                "Condition":{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","::1"]}}}"#,
            r#"{"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*",
                "Condition":{"DateGreaterThan":{"aws:CurrentTime":"2027-01-16T00:00:00Z"}}}"#,
            r#"{"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*",
                "Condition":{"NumericGreaterThan":{"aws:EpochTime":"1800043200"}}}"#,
            r#"{"Effect":"Deny","Principal":"*","Action":"kms:GenerateDataKey","Resource":"*",
                "Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#,
        ]),
    )
    .await;
    let over = |ip: Option<&str>, tls| {
        let mut caller = Caller::new("default", "tester");
        caller.source = ip.map(|ip| crate::api::http::Peer {
            ip: ip.parse().unwrap(),
            tls,
        });
        caller
    };
    let from = |ip: Option<&str>| over(ip, false);
    let encrypt = json!({ "KeyId": key, "Plaintext": b64(b"x") }).to_string();
    let call = |caller: Caller, op: &'static str, body: String| {
        let api = &h.api;
        async move { api.call(&caller, op, body.as_bytes()).await }
    };
    let blob = call(from(Some("10.1.2.3")), "Encrypt", encrypt.clone())
        .await
        .unwrap()["CiphertextBlob"]
        .clone();
    call(from(Some("::1")), "Encrypt", encrypt.clone())
        .await
        .unwrap();
    refused(call(from(Some("192.168.0.1")), "Encrypt", encrypt.clone()).await);
    // A call that came over no network has no address: the negated
    // operator holds for it, as IAM's does for a missing key.
    refused(call(from(None), "Encrypt", encrypt.clone()).await);
    let decrypt = json!({ "CiphertextBlob": blob }).to_string();
    call(from(Some("10.1.2.3")), "Decrypt", decrypt.clone())
        .await
        .unwrap();
    // Over TLS or not.
    let data_key = json!({ "KeyId": key, "NumberOfBytes": 32 }).to_string();
    refused(call(from(Some("10.1.2.3")), "GenerateDataKey", data_key.clone()).await);
    let tls = over(Some("10.1.2.3"), true);
    call(tls, "GenerateDataKey", data_key).await.unwrap();
    // A day later both time conditions hold.
    h.advance(DAY_MS);
    refused(call(from(Some("10.1.2.3")), "Encrypt", encrypt).await);
    refused(call(from(Some("10.1.2.3")), "Decrypt", decrypt).await);
}

#[tokio::test]
async fn request_members_are_condition_keys() {
    let h = harness();
    let key = h.key(json!({})).await;
    let rsa = h
        .key(json!({ "KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT" }))
        .await;
    let guard = policy(&[
        ACCOUNT,
        r#"{"Effect":"Deny","Principal":"*","Action":"kms:ScheduleKeyDeletion","Resource":"*",
            "Condition":{"NumericLessThan":{"kms:ScheduleKeyDeletionPendingWindowInDays":"30"}}}"#,
        r#"{"Effect":"Deny","Principal":"*","Action":"kms:EnableKeyRotation","Resource":"*",
            "Condition":{"NumericGreaterThan":{"kms:RotationPeriodInDays":"365"}}}"#,
        r#"{"Effect":"Deny","Principal":"*","Action":"kms:GenerateDataKeyPair*","Resource":"*",
            "Condition":{"StringLike":{"kms:DataKeyPairSpec":"RSA_*"}}}"#,
        r#"{"Effect":"Deny","Principal":"*","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*",
            "Condition":{"StringNotEquals":{"kms:EncryptionAlgorithm":["SYMMETRIC_DEFAULT","RSAES_OAEP_SHA_256"]}}}"#,
    ]);
    h.set_policy(&key, &guard).await;
    h.set_policy(&rsa, &guard).await;
    let schedule = |days: i64| json!({ "KeyId": key, "PendingWindowInDays": days });
    refused(h.call("ScheduleKeyDeletion", schedule(7)).await);
    h.ok("ScheduleKeyDeletion", schedule(30)).await;
    h.ok("CancelKeyDeletion", json!({ "KeyId": key })).await;
    h.ok("EnableKey", json!({ "KeyId": key })).await;
    let rotate = |days: i64| json!({ "KeyId": key, "RotationPeriodInDays": days });
    refused(h.call("EnableKeyRotation", rotate(400)).await);
    h.ok("EnableKeyRotation", rotate(365)).await;
    let pair = |spec: &str| json!({ "KeyId": key, "KeyPairSpec": spec });
    refused(
        h.call("GenerateDataKeyPairWithoutPlaintext", pair("RSA_2048"))
            .await,
    );
    h.ok("GenerateDataKeyPairWithoutPlaintext", pair("ECC_NIST_P256"))
        .await;
    let encrypt = |algorithm: &str| json!({ "KeyId": rsa, "Plaintext": b64(b"x"), "EncryptionAlgorithm": algorithm });
    refused(h.call("Encrypt", encrypt("RSAES_OAEP_SHA_1")).await);
    let blob = h.ok("Encrypt", encrypt("RSAES_OAEP_SHA_256")).await["CiphertextBlob"].clone();
    let decrypt = |algorithm: &str| json!({ "KeyId": rsa, "CiphertextBlob": blob, "EncryptionAlgorithm": algorithm });
    refused(h.call("Decrypt", decrypt("RSAES_OAEP_SHA_1")).await);
    h.ok("Decrypt", decrypt("RSAES_OAEP_SHA_256")).await;
}
