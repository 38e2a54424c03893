use super::*;

const ACCOUNT: &str = "111122223333";
const ALICE: &str = "arn:aws:iam::111122223333:user/team-a/alice";
const BOB: &str = "arn:aws:iam::111122223333:user/team-a/bob";
const OUTSIDER: &str = "arn:aws:iam::444455556666:user/team-b/eve";
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn policy(statements: &str) -> PolicyDocument {
    PolicyDocument::parse(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#
    ))
    .unwrap()
}

fn allow(principal: &str) -> String {
    format!(r#"{{"Effect":"Allow","Principal":{principal},"Action":"kms:*","Resource":"*"}}"#)
}

/// What `policy` says of `arn` (in the account its ARN gives) asking for
/// `action` on KEY with `context`.
fn decide(policy: &PolicyDocument, arn: &str, action: &str, context: &Context) -> Decision {
    let account = arn.split(':').nth(4).unwrap();
    evaluate(
        policy,
        &Request {
            caller: Caller { arn, account },
            action,
            resource: KEY,
            context,
        },
    )
}

fn decide_plain(policy: &PolicyDocument, arn: &str, action: &str) -> Decision {
    decide(policy, arn, action, &Context::default())
}

/// That `policy` decides `arn` asking for `action`, with no condition keys, as `expected`.
#[track_caller]
fn expect(policy: &PolicyDocument, arn: &str, action: &str, expected: Decision) {
    assert_eq!(
        decide_plain(policy, arn, action),
        expected,
        "{arn} {action}"
    );
}

#[test]
fn the_default_policy_hands_its_own_accounts_callers_to_the_account() {
    let default = PolicyDocument::parse(&super::super::default_policy("aws", ACCOUNT)).unwrap();
    expect(&default, ALICE, "kms:Encrypt", Decision::Delegated);
    expect(&default, ALICE, "kms:PutKeyPolicy", Decision::Delegated);
    expect(&default, OUTSIDER, "kms:Encrypt", Decision::NotAllowed);
}

#[test]
fn a_principal_named_is_allowed_and_its_account_delegated() {
    let by_arn = policy(&allow(&format!(r#"{{"AWS":"{ALICE}"}}"#)));
    expect(&by_arn, ALICE, "kms:Decrypt", Decision::Allowed);
    expect(&by_arn, BOB, "kms:Decrypt", Decision::NotAllowed);
    let by_account = policy(&allow(&format!(r#"{{"AWS":"{ACCOUNT}"}}"#)));
    expect(&by_account, BOB, "kms:Decrypt", Decision::Delegated);
    expect(&by_account, OUTSIDER, "kms:Decrypt", Decision::NotAllowed);
    // Named both ways, the caller by name wins.
    let both = policy(&allow(&format!(
        r#"{{"AWS":["arn:aws:iam::{ACCOUNT}:root","{ALICE}"]}}"#
    )));
    expect(&both, ALICE, "kms:Decrypt", Decision::Allowed);
    expect(&both, BOB, "kms:Decrypt", Decision::Delegated);
    // The root of another partition is not this account's.
    let other_partition = policy(&allow(&format!(
        r#"{{"AWS":"arn:aws-cn:iam::{ACCOUNT}:root"}}"#
    )));
    expect(&other_partition, ALICE, "kms:Decrypt", Decision::NotAllowed);
}

#[test]
fn everyone_is_anyone_with_either_spelling() {
    for principal in [r#""*""#, r#"{"AWS":"*"}"#] {
        let open = policy(&allow(principal));
        expect(&open, OUTSIDER, "kms:Encrypt", Decision::Allowed);
        expect(&open, ALICE, "kms:Encrypt", Decision::Allowed);
    }
}

#[test]
fn only_aws_principals_name_callers() {
    let services = policy(&allow(
        r#"{"Service":"ec2.amazonaws.com","Federated":"*","CanonicalUser":"*"}"#,
    ));
    expect(&services, ALICE, "kms:Encrypt", Decision::NotAllowed);
}

#[test]
fn an_explicit_deny_wins_wherever_it_stands() {
    let deny = format!(
        r#"{{"Sid":"no decrypt","Effect":"Deny","Principal":{{"AWS":"{ALICE}"}},"Action":"kms:Decrypt","Resource":"*"}}"#
    );
    let everyone = allow(r#""*""#);
    for statements in [format!("{everyone},{deny}"), format!("{deny},{everyone}")] {
        let p = policy(&statements);
        expect(
            &p,
            ALICE,
            "kms:Decrypt",
            Decision::Denied(Some("no decrypt".into())),
        );
        expect(&p, ALICE, "kms:Encrypt", Decision::Allowed);
        expect(&p, BOB, "kms:Decrypt", Decision::Allowed);
    }
    // A deny naming the account denies everyone in it.
    let account_deny = policy(&format!(
        r#"{everyone},{{"Effect":"Deny","Principal":{{"AWS":"{ACCOUNT}"}},"Action":"kms:ScheduleKeyDeletion","Resource":"*"}}"#
    ));
    expect(
        &account_deny,
        BOB,
        "kms:ScheduleKeyDeletion",
        Decision::Denied(None),
    );
    expect(
        &account_deny,
        OUTSIDER,
        "kms:ScheduleKeyDeletion",
        Decision::Allowed,
    );
}

#[test]
fn not_principal_applies_to_everyone_not_listed() {
    let p = policy(&format!(
        r#"{},{{"Effect":"Deny","NotPrincipal":{{"AWS":"{ALICE}"}},"Action":"kms:Disable*","Resource":"*"}}"#,
        allow(r#""*""#)
    ));
    expect(&p, ALICE, "kms:DisableKey", Decision::Allowed);
    expect(&p, BOB, "kms:DisableKey", Decision::Denied(None));
    expect(&p, OUTSIDER, "kms:DisableKey", Decision::Denied(None));
    // Listing the account spares everyone in it.
    let spare_account = policy(&format!(
        r#"{},{{"Effect":"Deny","NotPrincipal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}}"#,
        allow(r#""*""#)
    ));
    expect(&spare_account, BOB, "kms:Encrypt", Decision::Allowed);
    expect(
        &spare_account,
        OUTSIDER,
        "kms:Encrypt",
        Decision::Denied(None),
    );
}

#[test]
fn actions_match_with_wildcards_and_case_ignored() {
    let p = policy(&format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"{ALICE}"}},"Action":["kms:ReEncrypt*","KMS:describekey","kms:Generate?ataKey"],"Resource":"*"}}"#
    ));
    for action in [
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:DescribeKey",
        "kms:GenerateDataKey",
    ] {
        expect(&p, ALICE, action, Decision::Allowed);
    }
    for action in ["kms:Encrypt", "kms:GenerateDataKeyPair", "kms:Describe"] {
        expect(&p, ALICE, action, Decision::NotAllowed);
    }
    let all_but = policy(&format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"{ALICE}"}},"NotAction":["kms:Schedule*","kms:PutKeyPolicy"],"Resource":"*"}}"#
    ));
    expect(&all_but, ALICE, "kms:Encrypt", Decision::Allowed);
    expect(
        &all_but,
        ALICE,
        "kms:ScheduleKeyDeletion",
        Decision::NotAllowed,
    );
    expect(&all_but, ALICE, "kms:PutKeyPolicy", Decision::NotAllowed);
    let everything = policy(&format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"{ALICE}"}},"Action":"*","Resource":"*"}}"#
    ));
    expect(&everything, ALICE, "kms:Sign", Decision::Allowed);
}

#[test]
fn resources_match_the_keys_arn() {
    let with = |resource: &str| {
        policy(&format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"{ALICE}"}},"Action":"kms:*","Resource":{resource}}}"#
        ))
    };
    let allowed =
        |resource: &str| decide_plain(&with(resource), ALICE, "kms:Encrypt") == Decision::Allowed;
    assert!(allowed(r#""*""#));
    assert!(allowed(&format!(r#""{KEY}""#)));
    assert!(allowed(r#""arn:aws:kms:*:111122223333:key/*""#));
    assert!(!allowed(r#""arn:aws:kms:*:111122223333:alias/*""#));
    assert!(!allowed(
        r#""arn:aws:kms:us-east-1:111122223333:key/other""#
    ));
    let not = policy(&format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"{ALICE}"}},"Action":"kms:*","NotResource":"{KEY}"}}"#
    ));
    expect(&not, ALICE, "kms:Encrypt", Decision::NotAllowed);
}

#[test]
fn a_statement_without_action_or_resource_applies_to_nothing() {
    let deny_nothing = policy(&format!(
        r#"{},{{"Effect":"Deny","Principal":"*","Resource":"*"}},{{"Effect":"Deny","Principal":"*","Action":"kms:*"}}"#,
        allow(r#""*""#)
    ));
    expect(&deny_nothing, ALICE, "kms:Encrypt", Decision::Allowed);
    let allow_nothing = policy(r#"{"Effect":"Allow","Principal":"*","Resource":"*"}"#);
    expect(&allow_nothing, ALICE, "kms:Encrypt", Decision::NotAllowed);
}

#[test]
fn conditions_must_all_hold() {
    let p = policy(&format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"{ALICE}"}},"Action":"kms:Decrypt","Resource":"*",
            "Condition":{{"StringEquals":{{"kms:EncryptionContext:Department":"finance","kms:CallerAccount":"{ACCOUNT}"}},
                          "ForAllValues:StringEquals":{{"kms:EncryptionContextKeys":["Department","Project"]}}}}}}"#
    ));
    let context = |pairs: &[(&str, &str)]| {
        let mut c = Context::default();
        c.add("kms:CallerAccount", ACCOUNT);
        for (k, v) in pairs {
            c.add(&format!("kms:EncryptionContext:{k}"), *v);
            c.add("kms:EncryptionContextKeys", *k);
        }
        c
    };
    let ok = context(&[("Department", "finance"), ("Project", "x")]);
    assert_eq!(decide(&p, ALICE, "kms:Decrypt", &ok), Decision::Allowed);
    // The context key's name ignores case, its value does not.
    let named_otherwise = context(&[("department", "finance")]);
    assert_eq!(
        decide(&p, ALICE, "kms:Decrypt", &named_otherwise),
        Decision::NotAllowed
    );
    let other_value = context(&[("Department", "Finance")]);
    assert_eq!(
        decide(&p, ALICE, "kms:Decrypt", &other_value),
        Decision::NotAllowed
    );
    let extra_key = context(&[("Department", "finance"), ("Secret", "y")]);
    assert_eq!(
        decide(&p, ALICE, "kms:Decrypt", &extra_key),
        Decision::NotAllowed
    );
    assert_eq!(
        decide(&p, ALICE, "kms:Decrypt", &context(&[])),
        Decision::NotAllowed
    );
}

#[test]
fn a_deny_on_a_condition_denies_only_when_it_holds() {
    let p = policy(&format!(
        r#"{},{{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*",
            "Condition":{{"NotIpAddress":{{"aws:SourceIp":"10.0.0.0/8"}}}}}}"#,
        allow(&format!(r#"{{"AWS":"{ALICE}"}}"#))
    ));
    let from = |ip: &str| {
        let mut c = Context::default();
        c.add("aws:SourceIp", ip);
        decide(&p, ALICE, "kms:Encrypt", &c)
    };
    assert_eq!(from("10.1.1.1"), Decision::Allowed);
    assert_eq!(from("192.168.0.1"), Decision::Denied(None));
    // The request lacks the key: the negated operator holds, so the deny does.
    expect(&p, ALICE, "kms:Encrypt", Decision::Denied(None));
}

#[test]
fn an_operator_that_cannot_be_evaluated_never_opens_a_key() {
    // Only a document stored before operators were checked has one; it
    // is built here as such a document would be read.
    let mut p = policy(&format!(
        r#"{},{{"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*",
            "Condition":{{"StringEquals":{{"k":"v"}}}}}}"#,
        allow(&format!(r#"{{"AWS":"{ALICE}"}}"#))
    ));
    let condition = p.statements[1].condition.remove("StringEquals").unwrap();
    p.statements[1]
        .condition
        .insert("StringEqualz".into(), condition.clone());
    expect(&p, ALICE, "kms:Decrypt", Decision::Denied(None));
    p.statements[0]
        .condition
        .insert("StringEqualz".into(), condition);
    expect(&p, ALICE, "kms:Encrypt", Decision::NotAllowed);
}

#[test]
fn refusals_read_as_aws_writes_them() {
    let context = Context::default();
    let request = Request {
        caller: Caller {
            arn: ALICE,
            account: ACCOUNT,
        },
        action: "kms:Decrypt",
        resource: KEY,
        context: &context,
    };
    assert_eq!(
        Decision::NotAllowed.refusal(&request).unwrap(),
        format!(
            "User: {ALICE} is not authorized to perform: kms:Decrypt on resource: {KEY} because no resource-based policy allows the kms:Decrypt action"
        )
    );
    assert_eq!(
        Decision::Denied(None).refusal(&request).unwrap(),
        format!(
            "User: {ALICE} is not authorized to perform: kms:Decrypt on resource: {KEY} with an explicit deny in a resource-based policy"
        )
    );
    assert_eq!(Decision::Allowed.refusal(&request), None);
    assert_eq!(Decision::Delegated.refusal(&request), None);
}

/// A policy in the shape AWS's guide builds one: key administrators, key
/// users, grants only for AWS resources, and everyone in the account under
/// conditions.
#[test]
fn a_policy_as_the_guide_writes_one_decides_as_the_guide_says() {
    let admin = "arn:aws:iam::111122223333:role/team-a/admin";
    let app = "arn:aws:iam::111122223333:role/team-a/app";
    let p = policy(&format!(
        r#"{{"Sid":"Allow access for Key Administrators","Effect":"Allow","Principal":{{"AWS":"{admin}"}},
             "Action":["kms:Create*","kms:Describe*","kms:Enable*","kms:List*","kms:Put*","kms:Update*",
                       "kms:Revoke*","kms:Disable*","kms:Get*","kms:Delete*","kms:TagResource",
                       "kms:UntagResource","kms:ScheduleKeyDeletion","kms:CancelKeyDeletion","kms:RotateKeyOnDemand"],
             "Resource":"*"}},
           {{"Sid":"Allow use of the key","Effect":"Allow","Principal":{{"AWS":"{app}"}},
             "Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],
             "Resource":"*","Condition":{{"StringEquals":{{"kms:EncryptionContext:AppName":"ExampleApp"}}}}}},
           {{"Sid":"Allow attachment of persistent resources","Effect":"Allow","Principal":{{"AWS":"{app}"}},
             "Action":["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"],"Resource":"*",
             "Condition":{{"Bool":{{"kms:GrantIsForAWSResource":"true"}}}}}},
           {{"Sid":"Describe for the whole account","Effect":"Allow","Principal":{{"AWS":"*"}},
             "Action":"kms:DescribeKey","Resource":"*",
             "Condition":{{"StringEquals":{{"kms:CallerAccount":"{ACCOUNT}"}}}}}},
           {{"Sid":"Require an encryption context","Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*",
             "Condition":{{"Null":{{"kms:EncryptionContextKeys":"true"}}}}}}"#
    ));
    let with = |pairs: &[(&str, &str)], caller_account: &str| {
        let mut c = Context::default();
        c.add("kms:CallerAccount", caller_account);
        for (k, v) in pairs {
            c.add(&format!("kms:EncryptionContext:{k}"), *v);
            c.add("kms:EncryptionContextKeys", *k);
        }
        c
    };
    let app_context = with(&[("AppName", "ExampleApp")], ACCOUNT);
    let no_context = with(&[], ACCOUNT);
    // The administrator manages the key but cannot use it.
    for action in [
        "kms:DescribeKey",
        "kms:PutKeyPolicy",
        "kms:ScheduleKeyDeletion",
        "kms:GetKeyRotationStatus",
    ] {
        assert_eq!(
            decide(&p, admin, action, &no_context),
            Decision::Allowed,
            "{action}"
        );
    }
    for action in ["kms:Decrypt", "kms:GenerateDataKey", "kms:Sign"] {
        assert_eq!(
            decide(&p, admin, action, &app_context),
            Decision::NotAllowed,
            "{action}"
        );
    }
    // The application uses it, with its context only.
    assert_eq!(
        decide(&p, app, "kms:Decrypt", &app_context),
        Decision::Allowed
    );
    assert_eq!(
        decide(&p, app, "kms:GenerateDataKeyWithoutPlaintext", &app_context),
        Decision::Allowed
    );
    assert_eq!(
        decide(
            &p,
            app,
            "kms:Decrypt",
            &with(&[("AppName", "Other")], ACCOUNT)
        ),
        Decision::NotAllowed
    );
    assert_eq!(
        decide(&p, app, "kms:ScheduleKeyDeletion", &app_context),
        Decision::NotAllowed
    );
    // Encrypting without a context is denied to everyone, administrator included.
    assert_eq!(
        decide(&p, app, "kms:Encrypt", &no_context),
        Decision::Denied(Some("Require an encryption context".into()))
    );
    assert_eq!(
        decide(&p, app, "kms:Encrypt", &app_context),
        Decision::Allowed
    );
    // Grants only for an AWS resource, which no caller here is.
    assert_eq!(
        decide(&p, app, "kms:CreateGrant", &app_context),
        Decision::NotAllowed
    );
    // Anyone in the account may describe the key; no one outside it.
    assert_eq!(
        decide(&p, BOB, "kms:DescribeKey", &no_context),
        Decision::Allowed
    );
    assert_eq!(
        decide(&p, OUTSIDER, "kms:DescribeKey", &with(&[], "444455556666")),
        Decision::NotAllowed
    );
    // No statement delegates to the account: nobody else is let in.
    assert_eq!(
        decide(&p, BOB, "kms:Decrypt", &app_context),
        Decision::NotAllowed
    );
}
