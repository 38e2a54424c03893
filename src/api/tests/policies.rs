//! Key policies: kept as given, the default one otherwise, checked when set.

use super::*;

/// Lets the account in (as the default does) and names one more principal:
/// a policy the lockout safety check takes from any caller here.
const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"account","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},{"Sid":"apps","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/team-a/app"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}]}"#;

#[tokio::test]
async fn a_key_has_the_default_policy_until_it_is_given_one() {
    let h = harness();
    let id = h.key(json!({})).await;
    let got = h.ok("GetKeyPolicy", json!({ "KeyId": id })).await;
    assert_eq!(got["PolicyName"], "default");
    let policy: Value = serde_json::from_str(got["Policy"].as_str().unwrap()).unwrap();
    assert_eq!(
        policy,
        json!({"Version": "2012-10-17", "Id": "key-default-1", "Statement": [{
            "Sid": "Enable IAM User Permissions", "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": "kms:*", "Resource": "*"}]})
    );

    h.ok(
        "PutKeyPolicy",
        json!({ "KeyId": arn(&id), "Policy": POLICY, "PolicyName": "default" }),
    )
    .await;
    let got = h
        .ok(
            "GetKeyPolicy",
            json!({ "KeyId": id, "PolicyName": "default" }),
        )
        .await;
    assert_eq!(got["Policy"], POLICY, "kept byte for byte");
}

#[tokio::test]
async fn create_key_keeps_the_policy_it_was_given() {
    let h = harness();
    let id = h.key(json!({ "Policy": POLICY })).await;
    let got = h.ok("GetKeyPolicy", json!({ "KeyId": id })).await;
    assert_eq!(got["Policy"], POLICY);
}

#[tokio::test]
async fn a_policy_is_checked_when_set_and_a_refused_one_changes_nothing() {
    let h = harness();
    let id = h.key(json!({ "Policy": POLICY })).await;
    for (policy, error) in [
        ("not json", "MalformedPolicyDocumentException"),
        (
            r#"{"Statement":[{"Effect":"Maybe","Principal":"*"}]}"#,
            "MalformedPolicyDocumentException",
        ),
        ("", "ValidationException"),
        ("{\u{100}}", "ValidationException"),
    ] {
        let (got, _) = h
            .err("PutKeyPolicy", json!({ "KeyId": id, "Policy": policy }))
            .await;
        assert_eq!(got, error, "{policy:?}");
    }
    let large = format!(
        r#"{{"Statement":[{{"Sid":"{}","Effect":"Allow","Principal":"*"}}]}}"#,
        "s".repeat(32_768)
    );
    let (got, _) = h
        .err("PutKeyPolicy", json!({ "KeyId": id, "Policy": large }))
        .await;
    assert_eq!(got, "LimitExceededException");
    let (got, _) = h.err("PutKeyPolicy", json!({ "KeyId": id })).await;
    assert_eq!(got, "ValidationException", "Policy is required");
    let got = h.ok("GetKeyPolicy", json!({ "KeyId": id })).await;
    assert_eq!(got["Policy"], POLICY);
}

#[tokio::test]
async fn default_is_the_only_policy_name_and_aliases_are_not_key_ids_here() {
    let h = harness();
    let id = h.key(json!({})).await;
    h.ok(
        "CreateAlias",
        json!({ "AliasName": "alias/p", "TargetKeyId": id }),
    )
    .await;
    let (error, message) = h
        .err(
            "GetKeyPolicy",
            json!({ "KeyId": id, "PolicyName": "other" }),
        )
        .await;
    assert_eq!(
        (error.as_str(), message.as_str()),
        ("NotFoundException", "No such policy exists")
    );
    let (error, _) = h
        .err(
            "GetKeyPolicy",
            json!({ "KeyId": id, "PolicyName": "not-a-name" }),
        )
        .await;
    assert_eq!(error, "ValidationException");
    for op in ["GetKeyPolicy", "ListKeyPolicies"] {
        let (error, message) = h.err(op, json!({ "KeyId": "alias/p" })).await;
        assert_eq!(error, "NotFoundException", "{op}");
        assert!(message.contains("Invalid keyId"), "{message}");
    }
    let listed = h.ok("ListKeyPolicies", json!({ "KeyId": id })).await;
    assert_eq!(
        listed,
        json!({ "PolicyNames": ["default"], "Truncated": false })
    );
    let (error, _) = h
        .err("ListKeyPolicies", json!({ "KeyId": id, "Limit": 0 }))
        .await;
    assert_eq!(error, "ValidationException");
}

#[tokio::test]
async fn every_key_state_takes_a_new_policy() {
    let h = harness();
    let id = h.key(json!({})).await;
    h.ok("DisableKey", json!({ "KeyId": id })).await;
    h.ok("PutKeyPolicy", json!({ "KeyId": id, "Policy": POLICY }))
        .await;
    h.ok("ScheduleKeyDeletion", json!({ "KeyId": id })).await;
    let other = POLICY.replace("role/app", "role/other");
    h.ok("PutKeyPolicy", json!({ "KeyId": id, "Policy": other }))
        .await;
    let got = h.ok("GetKeyPolicy", json!({ "KeyId": id })).await;
    assert_eq!(got["Policy"], other);
}

#[tokio::test]
async fn a_manifest_declares_the_policy_and_a_malformed_one_is_refused() {
    use crate::manifest::parse;
    let h = harness();
    let manifest = |policy: &str| {
        format!(
            "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {{name: app}}\nspec:\n  keyId: 1234abcd-12ab-34cd-56ef-1234567890ab\n  policy: '{policy}'\n"
        )
    };
    crate::serve::apply_manifests(&h.api, &parse(&manifest(POLICY)).unwrap())
        .await
        .unwrap();
    let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
    let got = h.ok("GetKeyPolicy", json!({ "KeyId": id })).await;
    assert_eq!(got["Policy"], POLICY);
    let refused = crate::serve::apply_manifests(&h.api, &parse(&manifest("{}")).unwrap())
        .await
        .unwrap_err();
    assert!(refused.contains("policy"), "{refused}");
    let got = h.ok("GetKeyPolicy", json!({ "KeyId": id })).await;
    assert_eq!(got["Policy"], POLICY, "a refused manifest changes nothing");
}

/// A key without grants lists none after AWS's checks, in every key state
/// (tools reading a key's grants with the key rely on it).
#[tokio::test]
async fn no_grants_are_listed_with_awss_checks() {
    let h = harness();
    let id = h.key(json!({})).await;
    let none = json!({ "Grants": [], "Truncated": false });
    assert_eq!(h.ok("ListGrants", json!({ "KeyId": id })).await, none);
    let arn = format!("arn:aws:kms:us-east-1:111122223333:key/{id}");
    let filtered = json!({ "KeyId": arn, "Limit": 100, "GrantId": "0123abcd",
                           "GranteePrincipal": "arn:aws:iam::111122223333:role/app" });
    assert_eq!(h.ok("ListGrants", filtered).await, none);
    h.ok("DisableKey", json!({ "KeyId": id })).await;
    h.ok("ScheduleKeyDeletion", json!({ "KeyId": id })).await;
    assert_eq!(h.ok("ListGrants", json!({ "KeyId": id })).await, none);

    let refused = [
        (json!({}), "ValidationException"),
        (json!({ "KeyId": "alias/app" }), "NotFoundException"),
        (
            json!({ "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ff" }),
            "NotFoundException",
        ),
        (
            json!({ "KeyId": id, "Marker": "not-ours" }),
            "InvalidMarkerException",
        ),
        (json!({ "KeyId": id, "Limit": 1001 }), "ValidationException"),
    ];
    for (body, error) in refused {
        assert_eq!(h.err("ListGrants", body.clone()).await.0, error, "{body}");
    }

    let retiring = json!({ "RetiringPrincipal": "arn:aws:iam::111122223333:role/app" });
    assert_eq!(h.ok("ListRetirableGrants", retiring).await, none);
    assert_eq!(h.ok("ListRetirableGrants", json!({})).await, none);
    let (error, message) = h
        .err("ListRetirableGrants", json!({ "RetiringPrincipal": "app" }))
        .await;
    assert_eq!(error, "InvalidArnException", "{message}");
    // A key pending deletion takes none.
    let (error, message) = h
        .err(
            "CreateGrant",
            json!({ "KeyId": id, "GranteePrincipal": "arn:aws:iam::111122223333:role/app",
                    "Operations": ["Decrypt"] }),
        )
        .await;
    assert_eq!(error, "KMSInvalidStateException");
    assert!(message.ends_with("is pending deletion."), "{message}");
}
