use super::*;
use GrantOperation::*;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn subset(pairs: &[(&str, &str)]) -> Constraints {
    Constraints {
        encryption_context_subset: Some(map(pairs)),
        ..Constraints::default()
    }
}

fn equals(pairs: &[(&str, &str)]) -> Constraints {
    Constraints {
        encryption_context_equals: Some(map(pairs)),
        ..Constraints::default()
    }
}

const APP: &str = "arn:aws:iam::111122223333:role/team-a/app";

fn grant(operations: &[GrantOperation], constraints: Constraints) -> GrantRecord {
    GrantRecord {
        grant_id: "ab".repeat(32),
        key_id: KeyId::from_bytes([1; 16]),
        name: None,
        grantee: APP.into(),
        retiring: Some("arn:aws:iam::111122223333:role/team-a/ops".into()),
        operations: operations.to_vec(),
        constraints,
        created: 0,
        issuer: "arn:aws:iam::111122223333:user/team-a/admin".into(),
    }
}

#[test]
fn constraints_hold_for_an_equal_context_or_one_including_the_pairs() {
    let web = map(&[("app", "web")]);
    let more = map(&[("app", "web"), ("env", "prod")]);
    assert!(Constraints::default().hold(&BTreeMap::new()));
    assert!(equals(&[("app", "web")]).hold(&web));
    assert!(!equals(&[("app", "web")]).hold(&more));
    assert!(!equals(&[("app", "web")]).hold(&map(&[("app", "Web")])));
    assert!(subset(&[("app", "web")]).hold(&web));
    assert!(subset(&[("app", "web")]).hold(&more));
    assert!(!subset(&[("app", "web")]).hold(&map(&[("env", "prod")])));
    assert!(!subset(&[("app", "web")]).hold(&BTreeMap::new()));
    // An empty Equals admits only the empty context; an empty Subset all.
    assert!(equals(&[]).hold(&BTreeMap::new()) && !equals(&[]).hold(&web));
    assert!(subset(&[]).hold(&web));
}

#[test]
fn a_grant_passed_on_is_no_looser_than_the_one_it_is_made_under() {
    let any = Constraints::default();
    let web = subset(&[("app", "web")]);
    let web_prod = subset(&[("app", "web"), ("env", "prod")]);
    let exactly = equals(&[("app", "web"), ("env", "prod")]);
    let other = equals(&[("app", "db")]);
    assert!(web.within(&any) && exactly.within(&any) && any.within(&any));
    assert!(!any.within(&web));
    assert!(web_prod.within(&web) && !web.within(&web_prod));
    assert!(exactly.within(&web) && !exactly.within(&other));
    assert!(
        !web.within(&exactly),
        "a subset admits more than one context"
    );
    assert!(exactly.within(&exactly));

    let held = grant(&[CreateGrant, Decrypt, Encrypt], web.clone());
    assert!(held.may_pass_on(&[Decrypt], &web_prod));
    assert!(held.may_pass_on(&[Decrypt, Encrypt], &web));
    assert!(!held.may_pass_on(&[Decrypt], &any), "looser");
    assert!(!held.may_pass_on(&[GenerateDataKey], &web), "more");
}

#[test]
fn a_grant_allows_its_grantee_its_operations_under_its_constraints() {
    let g = grant(&[Decrypt, DescribeKey], subset(&[("app", "web")]));
    let web = map(&[("app", "web")]);
    assert!(g.allows(APP, Decrypt, Some(&web)));
    assert!(!g.allows(APP, Decrypt, Some(&map(&[("app", "db")]))));
    assert!(!g.allows(APP, Decrypt, None), "no context fails a subset");
    assert!(!g.allows(APP, Encrypt, Some(&web)), "not granted");
    assert!(
        !g.allows(
            "arn:aws:iam::111122223333:role/team-a/other",
            Decrypt,
            Some(&web)
        ),
        "someone else"
    );
    // DescribeKey takes no context: the constraints do not apply.
    assert!(g.allows(APP, DescribeKey, None));
}

#[test]
fn retiring_and_idempotent_requests() {
    let mut g = grant(&[Decrypt], Constraints::default());
    assert!(g.retirable_by("arn:aws:iam::111122223333:role/team-a/ops"));
    assert!(!g.retirable_by(APP), "the grantee without RetireGrant");
    g.operations.push(RetireGrant);
    assert!(g.retirable_by(APP));

    let mut named = grant(&[Decrypt], Constraints::default());
    named.name = Some("app".into());
    let mut again = named.clone();
    again.grant_id = "cd".repeat(32);
    again.created = 5;
    assert!(named.same_request(&again));
    again.operations = vec![Decrypt, Encrypt];
    assert!(!named.same_request(&again));
    let unnamed = grant(&[Decrypt], Constraints::default());
    assert!(
        !unnamed.same_request(&unnamed.clone()),
        "only a Name makes it idempotent"
    );
}

#[test]
fn each_key_type_takes_its_own_operations() {
    use KeySpec::*;
    let ops = |spec, usage| -> Vec<GrantOperation> {
        GrantOperation::ALL
            .iter()
            .copied()
            .filter(|op| supported(spec, usage, *op))
            .collect()
    };
    assert_eq!(
        ops(SymmetricDefault, KeyUsage::EncryptDecrypt),
        [
            Decrypt,
            Encrypt,
            GenerateDataKey,
            GenerateDataKeyWithoutPlaintext,
            ReEncryptFrom,
            ReEncryptTo,
            CreateGrant,
            RetireGrant,
            DescribeKey,
            GenerateDataKeyPair,
            GenerateDataKeyPairWithoutPlaintext
        ]
    );
    assert_eq!(
        ops(Rsa2048, KeyUsage::EncryptDecrypt),
        [
            Decrypt,
            Encrypt,
            ReEncryptFrom,
            ReEncryptTo,
            GetPublicKey,
            CreateGrant,
            RetireGrant,
            DescribeKey
        ]
    );
    assert_eq!(
        ops(EccNistP256, KeyUsage::SignVerify),
        [
            Sign,
            Verify,
            GetPublicKey,
            CreateGrant,
            RetireGrant,
            DescribeKey
        ]
    );
    assert_eq!(
        ops(Hmac256, KeyUsage::GenerateVerifyMac),
        [
            CreateGrant,
            RetireGrant,
            DescribeKey,
            GenerateMac,
            VerifyMac
        ]
    );
    assert_eq!(
        ops(EccNistP256, KeyUsage::KeyAgreement),
        [
            GetPublicKey,
            CreateGrant,
            RetireGrant,
            DescribeKey,
            DeriveSharedSecret
        ]
    );
    assert_eq!(operation_of("kms:ReEncryptFrom"), Some(ReEncryptFrom));
    assert_eq!(operation_of("kms:PutKeyPolicy"), None);
    assert_eq!(operation_of("Encrypt"), None);
}

#[test]
fn tokens_name_their_grant_and_differ_each_time() {
    let id = "0123456789abcdef".repeat(4);
    let one = token(&id, [1; 16]).unwrap();
    let two = token(&id, [2; 16]).unwrap();
    assert_ne!(one, two);
    assert_eq!(token_grant(&one).as_deref(), Some(id.as_str()));
    assert_eq!(token_grant(&two).as_deref(), Some(id.as_str()));
    assert_eq!(token(&"ab".repeat(31), [0; 16]), None, "not a grant id");
    assert_eq!(token(&"zz".repeat(32), [0; 16]), None);
    for bad in [
        "",
        "not base64!",
        &crate::b64::encode(&[1; 48]),
        &crate::b64::encode(&[2; 49]),
    ] {
        assert_eq!(token_grant(bad), None, "{bad}");
    }
    assert!(is_grant_id(&id) && !is_grant_id(&id.to_uppercase()) && !is_grant_id("ab"));
}

#[test]
fn tokens_may_name_the_object_declaring_their_grant() {
    let id = "0123456789abcdef".repeat(4);
    let named = token_naming(&id, "grant-x7k2p", [3; 16]).unwrap();
    assert_eq!(
        parse_token(&named),
        Some(TokenRef {
            grant_id: id.clone(),
            object: Some("grant-x7k2p".into())
        })
    );
    assert_eq!(token_grant(&named).as_deref(), Some(id.as_str()));
    let plain = token(&id, [3; 16]).unwrap();
    assert_eq!(parse_token(&plain).unwrap().object, None);
    // Only an object name: nothing that reads as another path, nothing
    // empty or too long.
    for bad in ["", "../secrets", "a/b", "Grant", "-x", &"a".repeat(254)] {
        assert_eq!(token_naming(&id, bad, [0; 16]), None, "{bad:?}");
        let mut bytes = crate::b64::decode(&plain).unwrap();
        bytes[0] = 2;
        bytes.extend_from_slice(bad.as_bytes());
        assert_eq!(parse_token(&crate::b64::encode(&bytes)), None, "{bad:?}");
    }
    assert!(token_naming(&id, &"a".repeat(253), [0; 16]).is_some());
}

#[test]
fn records_keep_their_shape_on_disk() {
    let mut g = grant(&[Decrypt, Encrypt], subset(&[("app", "web")]));
    g.name = Some("app".into());
    let json = serde_json::to_value(&g).unwrap();
    assert_eq!(
        json["operations"],
        serde_json::json!(["Decrypt", "Encrypt"])
    );
    assert_eq!(
        json["constraints"],
        serde_json::json!({"encryptionContextSubset": {"app": "web"}})
    );
    let back: GrantRecord = serde_json::from_value(json).unwrap();
    assert_eq!(back, g);
    let plain = serde_json::to_value(grant(&[Decrypt], Constraints::default())).unwrap();
    assert!(plain.get("constraints").is_none() && plain.get("name").is_none());
}
