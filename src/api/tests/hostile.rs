//! Hostile requests: each operation's valid body with members removed or
//! replaced by values of the wrong type, size or key. Whatever arrives, the
//! answer is a result or a client error (400) of an AWS type, never an
//! internal error or a panic, and what was stored before still works.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::*;

/// The keys and values the seed bodies refer to.
struct Fixture {
    sym: String,
    rsa: String,
    sign: String,
    hmac: String,
    agree: String,
    ciphertext: String,
    signature: String,
    mac: String,
    public_key: String,
}

async fn fixture(h: &Harness) -> Fixture {
    let sym = h.key(json!({})).await;
    let rsa = h
        .key(json!({ "KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "RSA_2048" }))
        .await;
    let sign = h
        .key(json!({ "KeyUsage": "SIGN_VERIFY", "KeySpec": "ECC_NIST_P256" }))
        .await;
    let hmac = h
        .key(json!({ "KeyUsage": "GENERATE_VERIFY_MAC", "KeySpec": "HMAC_256" }))
        .await;
    let agree = h
        .key(json!({ "KeyUsage": "KEY_AGREEMENT", "KeySpec": "ECC_NIST_P256" }))
        .await;
    h.ok(
        "CreateAlias",
        json!({ "AliasName": "alias/hostile", "TargetKeyId": sym }),
    )
    .await;
    let ciphertext = h
        .ok(
            "Encrypt",
            json!({ "KeyId": sym, "Plaintext": b64(b"kept"), "EncryptionContext": {"a": "b"} }),
        )
        .await["CiphertextBlob"]
        .as_str()
        .unwrap()
        .to_owned();
    let signature = h
        .ok(
            "Sign",
            json!({ "KeyId": sign, "Message": b64(b"m"), "SigningAlgorithm": "ECDSA_SHA_256" }),
        )
        .await["Signature"]
        .as_str()
        .unwrap()
        .to_owned();
    let mac = h
        .ok(
            "GenerateMac",
            json!({ "KeyId": hmac, "Message": b64(b"m"), "MacAlgorithm": "HMAC_SHA_256" }),
        )
        .await["Mac"]
        .as_str()
        .unwrap()
        .to_owned();
    let public_key = h.ok("GetPublicKey", json!({ "KeyId": agree })).await["PublicKey"]
        .as_str()
        .unwrap()
        .to_owned();
    Fixture {
        sym,
        rsa,
        sign,
        hmac,
        agree,
        ciphertext,
        signature,
        mac,
        public_key,
    }
}

/// A valid request for every operation the endpoint serves.
fn seeds(f: &Fixture) -> Vec<(&'static str, Value)> {
    let m = b64(b"message");
    vec![
        ("Encrypt", json!({ "KeyId": f.sym, "Plaintext": m })),
        (
            "Decrypt",
            json!({ "CiphertextBlob": f.ciphertext, "EncryptionContext": {"a": "b"} }),
        ),
        (
            "ReEncrypt",
            json!({ "CiphertextBlob": f.ciphertext, "SourceEncryptionContext": {"a": "b"}, "DestinationKeyId": "alias/hostile" }),
        ),
        (
            "GenerateDataKey",
            json!({ "KeyId": f.sym, "KeySpec": "AES_256" }),
        ),
        (
            "GenerateDataKeyWithoutPlaintext",
            json!({ "KeyId": f.sym, "NumberOfBytes": 32 }),
        ),
        (
            "GenerateDataKeyPair",
            json!({ "KeyId": f.sym, "KeyPairSpec": "ECC_NIST_P256" }),
        ),
        (
            "GenerateDataKeyPairWithoutPlaintext",
            json!({ "KeyId": f.sym, "KeyPairSpec": "ECC_NIST_P384" }),
        ),
        ("GenerateRandom", json!({ "NumberOfBytes": 16 })),
        (
            "Sign",
            json!({ "KeyId": f.sign, "Message": m, "SigningAlgorithm": "ECDSA_SHA_256" }),
        ),
        (
            "Verify",
            json!({ "KeyId": f.sign, "Message": b64(b"m"), "Signature": f.signature, "SigningAlgorithm": "ECDSA_SHA_256" }),
        ),
        ("GetPublicKey", json!({ "KeyId": f.rsa })),
        (
            "DeriveSharedSecret",
            json!({ "KeyId": f.agree, "KeyAgreementAlgorithm": "ECDH", "PublicKey": f.public_key }),
        ),
        (
            "GenerateMac",
            json!({ "KeyId": f.hmac, "Message": m, "MacAlgorithm": "HMAC_SHA_256" }),
        ),
        (
            "VerifyMac",
            json!({ "KeyId": f.hmac, "Message": b64(b"m"), "Mac": f.mac, "MacAlgorithm": "HMAC_SHA_256" }),
        ),
        (
            "CreateKey",
            json!({ "Description": "d", "Tags": [{"TagKey": "k", "TagValue": "v"}] }),
        ),
        ("DescribeKey", json!({ "KeyId": "alias/hostile" })),
        ("ListKeys", json!({ "Limit": 2 })),
        ("EnableKey", json!({ "KeyId": f.rsa })),
        ("DisableKey", json!({ "KeyId": f.rsa })),
        (
            "ScheduleKeyDeletion",
            json!({ "KeyId": f.rsa, "PendingWindowInDays": 7 }),
        ),
        ("CancelKeyDeletion", json!({ "KeyId": f.rsa })),
        (
            "UpdateKeyDescription",
            json!({ "KeyId": f.sym, "Description": "d" }),
        ),
        (
            "EnableKeyRotation",
            json!({ "KeyId": f.sym, "RotationPeriodInDays": 90 }),
        ),
        ("DisableKeyRotation", json!({ "KeyId": f.sym })),
        ("GetKeyRotationStatus", json!({ "KeyId": f.sym })),
        ("RotateKeyOnDemand", json!({ "KeyId": f.sym })),
        ("ListKeyRotations", json!({ "KeyId": f.sym, "Limit": 1 })),
        (
            "CreateAlias",
            json!({ "AliasName": "alias/other", "TargetKeyId": f.sym }),
        ),
        (
            "UpdateAlias",
            json!({ "AliasName": "alias/hostile", "TargetKeyId": f.sym }),
        ),
        ("DeleteAlias", json!({ "AliasName": "alias/other" })),
        ("ListAliases", json!({ "KeyId": f.sym, "Limit": 1 })),
        (
            "TagResource",
            json!({ "KeyId": f.sym, "Tags": [{"TagKey": "k", "TagValue": "v"}] }),
        ),
        ("UntagResource", json!({ "KeyId": f.sym, "TagKeys": ["k"] })),
        ("ListResourceTags", json!({ "KeyId": f.sym })),
        (
            "GetKeyPolicy",
            json!({ "KeyId": f.sym, "PolicyName": "default" }),
        ),
        (
            "PutKeyPolicy",
            json!({ "KeyId": f.sym, "PolicyName": "default", "Policy": "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:*\",\"Resource\":\"*\"}]}" }),
        ),
        ("ListKeyPolicies", json!({ "KeyId": f.sym })),
        ("ListGrants", json!({ "KeyId": f.sym })),
        (
            "ListRetirableGrants",
            json!({ "RetiringPrincipal": "arn:aws:iam::111122223333:role/app" }),
        ),
    ]
}

/// Member names any operation takes: a mutation may add one where it does
/// not belong.
const MEMBERS: &[&str] = &[
    "KeyId",
    "Plaintext",
    "CiphertextBlob",
    "EncryptionContext",
    "EncryptionAlgorithm",
    "DestinationKeyId",
    "SourceKeyId",
    "SourceEncryptionContext",
    "DestinationEncryptionContext",
    "KeySpec",
    "NumberOfBytes",
    "KeyPairSpec",
    "Message",
    "MessageType",
    "Signature",
    "SigningAlgorithm",
    "Mac",
    "MacAlgorithm",
    "PublicKey",
    "KeyAgreementAlgorithm",
    "KeyUsage",
    "Description",
    "Tags",
    "TagKeys",
    "Policy",
    "PolicyName",
    "Limit",
    "Marker",
    "PendingWindowInDays",
    "RotationPeriodInDays",
    "AliasName",
    "TargetKeyId",
    "GrantTokens",
    "DryRun",
    "DryRunModifiers",
    "Recipient",
    "Origin",
    "MultiRegion",
    "CustomKeyStoreId",
    "IncludeKeyMaterial",
    "BypassPolicyLockoutSafetyCheck",
];

/// Values of every JSON type, sizes around the limits, other keys, ids of
/// the wrong shape and names of the wrong kind.
fn values(f: &Fixture) -> Vec<Value> {
    let other_region = format!("arn:aws:kms:eu-west-1:111122223333:key/{}", f.sym);
    vec![
        Value::Null,
        json!(true),
        json!(false),
        json!(0),
        json!(-1),
        json!(1),
        json!(1025),
        json!(4097),
        json!(9_007_199_254_740_993u64),
        json!(-9_223_372_036_854_775_808i64),
        json!(1e308),
        json!(0.5),
        json!(""),
        json!(" "),
        json!("x"),
        json!("x".repeat(2049)),
        json!("é".repeat(3000)),
        json!("\u{0}"),
        json!("!!!not base64"),
        json!("QQ="),
        json!(b64(&[0u8; 4097])),
        json!(b64(&[7u8; 6145])),
        json!(b64(b"short")),
        json!([]),
        json!([1, "a", null]),
        json!([{"TagKey": "", "TagValue": ""}]),
        json!([{"TagKey": "aws:x", "TagValue": "v"}]),
        json!({}),
        json!({"a": 1}),
        json!({"": ""}),
        json!({"a": "b"}),
        json!({"Attestation": b64(b"junk"), "KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256"}),
        json!(f.sym),
        json!(f.rsa),
        json!(f.sign),
        json!(f.hmac),
        json!(f.agree),
        json!(arn(&f.agree)),
        json!(other_region),
        json!("alias/hostile"),
        json!("alias/aws/s3"),
        json!("alias/"),
        json!("arn:aws:kms:us-east-1:111122223333:alias/hostile"),
        json!("arn:aws:kms:us-east-1:111122223333:key/"),
        json!("00000000-0000-0000-0000-000000000000"),
        json!(f.ciphertext),
        json!(f.signature),
        json!(f.mac),
        json!(f.public_key),
        json!("SYMMETRIC_DEFAULT"),
        json!("RSAES_OAEP_SHA_256"),
        json!("RSASSA_PSS_SHA_256"),
        json!("ECDSA_SHA_384"),
        json!("HMAC_SHA_512"),
        json!("ECDH"),
        json!("RAW"),
        json!("DIGEST"),
        json!("EXTERNAL_MU"),
        json!("AES_128"),
        json!("RSA_2048"),
        json!("ECC_SECG_P256K1"),
        json!("SM2"),
        json!("HMAC_384"),
        json!("ENCRYPT_DECRYPT"),
        json!("EXTERNAL"),
        json!("ALL_KEY_MATERIAL"),
        json!(["IGNORE_CIPHERTEXT"]),
        json!("{\"Statement\":[]}"),
        json!(
            "{\"Statement\":[{\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"kms:*\",\"Resource\":\"*\"}]}"
        ),
        json!("{"),
    ]
}

/// One change to a body: remove a member, or set one to a value.
#[derive(Debug, Clone)]
enum Change {
    Remove(usize),
    Set(usize, usize),
}

fn apply(body: &mut Value, change: &Change, values: &[Value]) {
    let object = body.as_object_mut().unwrap();
    match *change {
        Change::Remove(i) => {
            let keys: Vec<String> = object.keys().cloned().collect();
            if !keys.is_empty() {
                object.remove(&keys[i % keys.len()]);
            }
        }
        Change::Set(member, value) => {
            // Half the time a member the operation takes, else any member.
            let keys: Vec<String> = object.keys().cloned().collect();
            let name = if member % 2 == 0 && !keys.is_empty() {
                keys[member / 2 % keys.len()].clone()
            } else {
                MEMBERS[member / 2 % MEMBERS.len()].to_owned()
            };
            object.insert(name, values[value % values.len()].clone());
        }
    }
}

/// A runner of `default` cases, or KUBE_KMS_HOSTILE_CASES for a longer
/// hunt; failures are reported shrunk, not persisted.
pub(super) fn runner(default: u32) -> TestRunner {
    let cases = std::env::var("KUBE_KMS_HOSTILE_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// The runtime the cases' requests run on, one at a time.
pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn hostile_bodies_get_client_errors_and_leave_the_store_intact() {
    let runtime = runtime();
    let h = harness();
    let f = runtime.block_on(fixture(&h));
    let seeds = seeds(&f);
    let values = values(&f);
    let change = prop_oneof![
        any::<usize>().prop_map(Change::Remove),
        (any::<usize>(), any::<usize>()).prop_map(|(m, v)| Change::Set(m, v)),
    ];
    let strategy = (0..seeds.len(), proptest::collection::vec(change, 1..4));
    let mut runner = runner(1500);
    let outcomes = std::cell::RefCell::new(std::collections::BTreeMap::<String, usize>::new());
    runner
        .run(&strategy, |(op, changes)| {
            let (operation, seed) = &seeds[op];
            let mut body = seed.clone();
            for change in &changes {
                apply(&mut body, change, &values);
            }
            let result = runtime.block_on(h.call(operation, body.clone()));
            let outcome = match &result {
                Ok(_) => "ok".to_owned(),
                Err(e) => e.aws_type().to_owned(),
            };
            *outcomes.borrow_mut().entry(outcome).or_default() += 1;
            if let Err(e) = result {
                prop_assert_eq!(
                    e.status(),
                    400,
                    "{} {} -> {} {}",
                    operation,
                    body,
                    e.aws_type(),
                    e
                );
            }
            Ok::<(), TestCaseError>(())
        })
        .unwrap();
    let outcomes = outcomes.into_inner();
    println!("{outcomes:?}");
    // The mutations reach past the first check: many kinds of refusal, and
    // successes too.
    assert!(outcomes.len() >= 8, "{outcomes:?}");
    assert!(outcomes.get("ok").is_some_and(|n| *n > 50), "{outcomes:?}");

    // Bodies that are not a JSON object at all.
    let deep = "[".repeat(100_000);
    let raw: [&[u8]; 9] = [
        b"null",
        b"[]",
        b"\"KeyId\"",
        b"1",
        b"{\"KeyId\": 1} trailing",
        b"{\"KeyId\": \"\xff\xfe\"}",
        b"\xef\xbb\xbf{}",
        b"{\"KeyId\":\"a\",\"KeyId\":\"b\"}",
        deep.as_bytes(),
    ];
    runtime.block_on(async {
        for (operation, _) in &seeds {
            for body in raw {
                if let Err(e) = h.api.call(&caller("default"), operation, body).await {
                    assert_eq!(
                        e.status(),
                        400,
                        "{operation} {:?}: {e}",
                        String::from_utf8_lossy(&body[..body.len().min(40)])
                    );
                }
            }
        }
    });

    // Whatever the run disabled or scheduled for deletion comes back, and
    // what was encrypted, signed and MACed before still opens and verifies.
    runtime.block_on(async {
        for key in [&f.sym, &f.rsa, &f.sign, &f.hmac, &f.agree] {
            let _ = h.call("CancelKeyDeletion", json!({ "KeyId": key })).await;
            h.ok("EnableKey", json!({ "KeyId": key })).await;
        }
        let plain = h
            .ok(
                "Decrypt",
                json!({ "CiphertextBlob": f.ciphertext, "EncryptionContext": {"a": "b"} }),
            )
            .await;
        assert_eq!(plain["Plaintext"], b64(b"kept"));
        let verified = h
            .ok(
                "Verify",
                json!({ "KeyId": f.sign, "Message": b64(b"m"), "Signature": f.signature, "SigningAlgorithm": "ECDSA_SHA_256" }),
            )
            .await;
        assert_eq!(verified["SignatureValid"], true);
        let verified = h
            .ok(
                "VerifyMac",
                json!({ "KeyId": f.hmac, "Message": b64(b"m"), "Mac": f.mac, "MacAlgorithm": "HMAC_SHA_256" }),
            )
            .await;
        assert_eq!(verified["MacValid"], true);
    });
}
