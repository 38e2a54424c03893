//! Grants through the API: made, used, listed, retired and revoked, with
//! AWS's checks; where a key's policy does not let a caller in, a grant
//! for it does (an explicit deny still wins).

use super::access::{policy, refused};
use super::delegation::with_account;
use super::*;
use crate::spec::GrantOperation;

const ADMIN: &str = "arn:aws:iam::111122223333:user/default/admin";
const APP: &str = "arn:aws:iam::111122223333:user/default/app";
const OPS: &str = "arn:aws:iam::111122223333:user/default/ops";

/// A key only `admin` may use by its policy.
async fn admins_key(h: &Harness) -> String {
    let key = h.key(json!({})).await;
    let admin = format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"{ADMIN}"}},"Action":"kms:*","Resource":"*"}}"#
    );
    h.set_policy(&key, &policy(&[&admin])).await;
    key
}

fn web() -> Value {
    json!({"app": "web"})
}

async fn grant(h: &Harness, by: &str, body: Value) -> Result<(String, String), ApiError> {
    let made = h.call_by(by, "CreateGrant", body).await?;
    let id = made["GrantId"].as_str().unwrap().to_owned();
    Ok((id, made["GrantToken"].as_str().unwrap().to_owned()))
}

#[tokio::test]
async fn a_grant_lets_its_grantee_do_its_operations_under_its_constraints() {
    let h = harness();
    let key = admins_key(&h).await;
    let encrypt = |context: Value| json!({ "KeyId": key, "Plaintext": b64(b"x"), "EncryptionContext": context });
    refused(h.call_by("app", "Encrypt", encrypt(web())).await);
    let (id, token) = grant(
        &h,
        "admin",
        json!({ "KeyId": key, "GranteePrincipal": APP, "RetiringPrincipal": OPS,
                "Operations": ["Encrypt", "Decrypt", "Encrypt"],
                "Constraints": {"EncryptionContextSubset": web()} }),
    )
    .await
    .unwrap();
    assert!(crate::grant::is_grant_id(&id), "{id}");
    let blob = h
        .call_by(
            "app",
            "Encrypt",
            encrypt(json!({"app": "web", "env": "prod"})),
        )
        .await
        .unwrap()["CiphertextBlob"]
        .clone();
    let decrypt = json!({ "CiphertextBlob": blob, "EncryptionContext": {"app": "web", "env": "prod"},
                          "GrantTokens": [token] });
    assert_eq!(
        h.call_by("app", "Decrypt", decrypt).await.unwrap()["Plaintext"],
        b64(b"x")
    );
    // Outside its constraints, past its operations, for someone else: no.
    refused(
        h.call_by("app", "Encrypt", encrypt(json!({"app": "db"})))
            .await,
    );
    refused(
        h.call_by(
            "app",
            "Encrypt",
            json!({ "KeyId": key, "Plaintext": b64(b"x") }),
        )
        .await,
    );
    refused(
        h.call_by(
            "app",
            "GenerateDataKey",
            json!({ "KeyId": key, "KeySpec": "AES_256",
                                                     "EncryptionContext": web() }),
        )
        .await,
    );
    refused(h.call_by("ops", "Encrypt", encrypt(web())).await);
    // A token is checked to be one.
    let (error, _) = h
        .err(
            "Encrypt",
            json!({ "KeyId": key, "Plaintext": b64(b"x"), "GrantTokens": ["not-a-token"] }),
        )
        .await;
    assert_eq!(error, "InvalidGrantTokenException");

    let listed = h
        .call_by("admin", "ListGrants", json!({ "KeyId": key }))
        .await
        .unwrap();
    assert_eq!(
        listed,
        json!({ "Grants": [{
            "KeyId": arn(&key), "GrantId": id, "CreationDate": (T0 / 1000) as f64,
            "GranteePrincipal": APP, "RetiringPrincipal": OPS,
            "IssuingAccount": "arn:aws:iam::111122223333:root",
            "Operations": ["Decrypt", "Encrypt"],
            "Constraints": {"EncryptionContextSubset": web()},
        }], "Truncated": false })
    );
    let by_grantee = json!({ "KeyId": key, "GranteePrincipal": OPS });
    let listed = h.call_by("admin", "ListGrants", by_grantee).await.unwrap();
    assert_eq!(listed["Grants"], json!([]));

    // Revoked, it allows nothing.
    h.call_by(
        "admin",
        "RevokeGrant",
        json!({ "KeyId": key, "GrantId": id }),
    )
    .await
    .unwrap();
    refused(h.call_by("app", "Encrypt", encrypt(web())).await);
    let again = h
        .call_by(
            "admin",
            "RevokeGrant",
            json!({ "KeyId": key, "GrantId": id }),
        )
        .await;
    assert!(matches!(again, Err(ApiError::NotFound(_))), "{again:?}");
}

#[tokio::test]
async fn a_named_grant_is_made_once_and_each_call_gets_a_token() {
    let h = harness();
    let key = h.key(json!({})).await;
    let body = json!({ "KeyId": key, "GranteePrincipal": APP, "Operations": ["Decrypt"], "Name": "app-decrypt" });
    let (one, first) = grant(&h, "admin", body.clone()).await.unwrap();
    let (two, second) = grant(&h, "admin", body.clone()).await.unwrap();
    assert_eq!(one, two);
    assert_ne!(first, second);
    let mut other = body;
    other["Operations"] = json!(["Decrypt", "Encrypt"]);
    // Listed oldest first.
    h.advance(1000);
    let (three, _) = grant(&h, "admin", other).await.unwrap();
    assert_ne!(one, three, "another request, another grant");
    let listed = h
        .ok("ListGrants", json!({ "KeyId": key, "Limit": 1 }))
        .await;
    assert_eq!(listed["Grants"][0]["Name"], "app-decrypt");
    assert_eq!(listed["Truncated"], true);
    let rest = json!({ "KeyId": key, "Marker": listed["NextMarker"] });
    assert_eq!(
        h.ok("ListGrants", rest).await["Grants"][0]["GrantId"],
        three
    );
}

#[tokio::test]
async fn a_grant_with_create_grant_passes_on_no_more_than_it_holds() {
    let h = harness();
    let key = admins_key(&h).await;
    grant(
        &h,
        "admin",
        json!({ "KeyId": key, "GranteePrincipal": APP,
                "Operations": ["Encrypt", "Decrypt", "CreateGrant"],
                "Constraints": {"EncryptionContextSubset": web()} }),
    )
    .await
    .unwrap();
    let pass_on = |operations: Value, constraints: Value| {
        json!({ "KeyId": key, "GranteePrincipal": OPS, "Operations": operations,
                "Constraints": constraints })
    };
    let stricter = json!({"EncryptionContextEquals": {"app": "web", "env": "prod"}});
    grant(&h, "app", pass_on(json!(["Decrypt"]), stricter.clone()))
        .await
        .unwrap();
    let more = grant(&h, "app", pass_on(json!(["GenerateDataKey"]), stricter)).await;
    refused(more.map(|_| Value::Null));
    let looser = grant(&h, "app", pass_on(json!(["Decrypt"]), json!({}))).await;
    refused(looser.map(|_| Value::Null));
}

#[tokio::test]
async fn an_explicit_deny_wins_over_a_grant() {
    let h = harness();
    let key = h.key(json!({})).await;
    let deny = format!(
        r#"{{"Effect":"Deny","Principal":{{"AWS":"{APP}"}},"Action":"kms:Encrypt","Resource":"*"}}"#
    );
    let account =
        r#"{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}"#;
    h.set_policy(&key, &policy(&[account, &deny])).await;
    grant(
        &h,
        "admin",
        json!({ "KeyId": key, "GranteePrincipal": APP, "Operations": ["Encrypt"] }),
    )
    .await
    .unwrap();
    let message = refused(
        h.call_by(
            "app",
            "Encrypt",
            json!({ "KeyId": key, "Plaintext": b64(b"x") }),
        )
        .await,
    );
    assert!(message.ends_with("with an explicit deny in a resource-based policy"));
}

#[tokio::test]
async fn grants_are_retired_by_whom_they_name_or_the_account() {
    // An account that refuses everything: only the grant's own say counts.
    let (h, account) = with_account();
    let key = h.key(json!({})).await;
    let make = |operations: Value| json!({ "KeyId": key, "GranteePrincipal": APP, "RetiringPrincipal": OPS, "Operations": operations });
    let (id, token) = grant(&h, "admin", make(json!(["Decrypt"]))).await.unwrap();
    let (other, _) = grant(&h, "admin", make(json!(["Decrypt", "RetireGrant"])))
        .await
        .unwrap();
    account.refuse("kms:RetireGrant", Some(&key));
    // The grantee without RetireGrant is not named for it.
    refused(
        h.call_by("app", "RetireGrant", json!({ "GrantToken": token }))
            .await,
    );
    let listed = h
        .call_by("ops", "ListRetirableGrants", json!({}))
        .await
        .unwrap();
    assert_eq!(listed["Grants"].as_array().unwrap().len(), 2);
    let asked = json!({ "RetiringPrincipal": OPS });
    assert_eq!(
        h.call_by("app", "ListRetirableGrants", asked)
            .await
            .unwrap()["Grants"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Its retiring principal, by token; the grantee holding RetireGrant,
    // by key and id.
    let dry = json!({ "GrantToken": token, "DryRun": true });
    assert!(matches!(
        h.call_by("ops", "RetireGrant", dry).await,
        Err(ApiError::DryRun)
    ));
    h.call_by("ops", "RetireGrant", json!({ "GrantToken": token }))
        .await
        .unwrap();
    h.call_by(
        "app",
        "RetireGrant",
        json!({ "KeyId": key, "GrantId": other }),
    )
    .await
    .unwrap();
    assert_eq!(
        h.ok("ListGrants", json!({ "KeyId": key })).await["Grants"],
        json!([])
    );
    let (error, _) = h
        .err("RetireGrant", json!({ "KeyId": key, "GrantId": id }))
        .await;
    assert_eq!(error, "NotFoundException");
    // The account may retire any grant of its keys.
    account.refuse("none", None);
    let (id, _) = grant(&h, "admin", make(json!(["Decrypt"]))).await.unwrap();
    h.call_by(
        "someone",
        "RetireGrant",
        json!({ "KeyId": key, "GrantId": id }),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn grant_requests_are_checked_as_aws_checks_them() {
    let h = harness();
    let key = h.key(json!({})).await;
    let rsa = h
        .key(json!({ "KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT" }))
        .await;
    let base = json!({ "KeyId": key, "GranteePrincipal": APP, "Operations": ["Decrypt"] });
    let with = |change: Value| {
        let mut body = base.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let nine: serde_json::Map<String, Value> =
        (0..9).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases = [
        (json!({ "GranteePrincipal": null }), "ValidationException"),
        (json!({ "GranteePrincipal": "app" }), "InvalidArnException"),
        (json!({ "GranteePrincipal": "a b" }), "ValidationException"),
        (
            json!({ "GranteeServicePrincipal": "logs.us-east-1.amazonaws.com" }),
            "UnsupportedOperationException",
        ),
        (json!({ "Operations": [] }), "ValidationException"),
        (
            json!({ "Operations": ["Frobnicate"] }),
            "ValidationException",
        ),
        (json!({ "Operations": ["Sign"] }), "ValidationException"),
        (json!({ "Name": "not valid!" }), "ValidationException"),
        (
            json!({ "Constraints": {"EncryptionContextSubset": web(), "EncryptionContextEquals": web()} }),
            "ValidationException",
        ),
        (
            json!({ "Constraints": {"EncryptionContextSubset": nine} }),
            "ValidationException",
        ),
        (
            json!({ "Constraints": {"SourceArn": "arn:aws:s3:::bucket/object"} }),
            "UnsupportedOperationException",
        ),
        (json!({ "KeyId": "alias/app" }), "NotFoundException"),
        (
            json!({ "KeyId": rsa, "Constraints": {"EncryptionContextSubset": web()} }),
            "ValidationException",
        ),
        (json!({ "DryRun": true }), "DryRunOperationException"),
    ];
    for (change, error) in cases {
        let body = with(change.clone());
        assert_eq!(h.err("CreateGrant", body).await.0, error, "{change}");
    }
    assert_eq!(
        h.ok("ListGrants", json!({ "KeyId": key })).await["Grants"],
        json!([])
    );
    // Keys of other types take their own operations.
    let ok = with(json!({ "KeyId": rsa, "Operations": ["Encrypt", "GetPublicKey"] }));
    h.ok("CreateGrant", ok).await;
    h.ok("DisableKey", json!({ "KeyId": key })).await;
    assert_eq!(h.err("CreateGrant", base).await.0, "DisabledException");

    let (error, message) = h.err("RetireGrant", json!({ "KeyId": key })).await;
    assert_eq!(
        (error.as_str(), message.as_str()),
        (
            "ValidationException",
            "Grant token OR (grant ID, key ID) must be specified"
        )
    );
    let bad_id = json!({ "KeyId": key, "GrantId": "not-a-grant" });
    assert_eq!(
        h.err("RevokeGrant", bad_id.clone()).await.0,
        "InvalidGrantIdException"
    );
    assert_eq!(
        h.err("RetireGrant", bad_id).await.0,
        "InvalidGrantIdException"
    );
    let bad_token = json!({ "GrantToken": "not-a-token" });
    assert_eq!(
        h.err("RetireGrant", bad_token).await.0,
        "InvalidGrantTokenException"
    );
}

/// `serve`'s manifests declare grants as a cluster's `KmsGrant`s do: made
/// once under an id of their own, made again when changed, checked before
/// anything of the set is applied.
#[tokio::test]
async fn manifests_declare_grants() {
    use crate::manifest::parse;
    let h = harness();
    let key = format!(
        "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {{name: app}}\nspec:\n  keyId: 1234abcd-12ab-34cd-56ef-1234567890ab\n  policy: '{{\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":{{\"AWS\":\"{ADMIN}\"}},\"Action\":\"kms:*\",\"Resource\":\"*\"}}]}}'\n---\n"
    );
    let grant = |operations: &str, constraints: &str| {
        format!(
            "{key}apiVersion: kubekms.io/v1alpha1\nkind: KmsGrant\nmetadata: {{name: web}}\nspec:\n  keyRef: {{name: app}}\n  granteePrincipal: {APP}\n  operations: [{operations}]\n{constraints}"
        )
    };
    let apply = |text: String| {
        let api = &h.api;
        async move { crate::serve::apply_manifests(api, &parse(&text)?).await }
    };
    let changed = apply(grant("Encrypt", "")).await.unwrap();
    assert_eq!(
        changed.iter().map(|c| c.operation).collect::<Vec<_>>(),
        ["CreateKey", "CreateGrant"]
    );
    let key_id = "1234abcd-12ab-34cd-56ef-1234567890ab";
    // The key's policy names no one; the grant lets app encrypt.
    h.call_by(
        "app",
        "Encrypt",
        json!({ "KeyId": key_id, "Plaintext": b64(b"x") }),
    )
    .await
    .unwrap();
    refused(
        h.call_by(
            "app",
            "GenerateDataKey",
            json!({ "KeyId": key_id, "KeySpec": "AES_256" }),
        )
        .await,
    );
    // Applied again unchanged: nothing changes.
    assert!(apply(grant("Encrypt", "")).await.unwrap().is_empty());
    // Changed: the same grant, made again.
    let changed = apply(grant("Encrypt, GenerateDataKey", "")).await.unwrap();
    assert_eq!(changed.len(), 1);
    h.call_by(
        "app",
        "GenerateDataKey",
        json!({ "KeyId": key_id, "KeySpec": "AES_256" }),
    )
    .await
    .unwrap();
    let store = h.api.store();
    let grants = store.grants(key_id.parse().unwrap()).await.unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(
        grants[0].grant_id,
        crate::manifest::grant_id(&serde_yaml::from_str("{name: web}").unwrap())
    );
    // What CreateGrant refuses, a manifest cannot declare; nothing applied.
    for (operations, constraints, why) in [
        ("Sign", "", "Grant operation Sign is not valid"),
        (
            "Decrypt",
            "  constraints: {encryptionContextSubset: {a: b}, encryptionContextEquals: {a: b}}\n",
            "not both",
        ),
    ] {
        let refused = apply(grant(operations, constraints)).await.unwrap_err();
        assert!(refused.contains(why), "{refused}");
    }
    let bad_grantee = grant("Decrypt", "").replace(APP, "app");
    assert!(
        apply(bad_grantee)
            .await
            .unwrap_err()
            .contains("is not a valid ARN")
    );
    let orphan = grant("Decrypt", "").replace("keyRef: {name: app}", "keyRef: {name: nope}");
    assert!(
        apply(orphan)
            .await
            .unwrap_err()
            .contains("no KmsKey named nope")
    );
    let grants = store.grants(key_id.parse().unwrap()).await.unwrap();
    assert_eq!(
        grants[0].operations,
        [GrantOperation::Encrypt, GrantOperation::GenerateDataKey]
    );
}

/// A grant to the account (its root ARN) is for the callers the account's
/// access control lets do the action, as a grant to an AWS account is for
/// the principals its IAM policies allow: everyone in `serve`; in a
/// cluster, whom RBAC allows.
#[tokio::test]
async fn a_grant_to_the_account_is_for_whom_the_account_lets_in() {
    const ROOT: &str = "arn:aws:iam::111122223333:root";
    let encrypt = |key: &str| json!({ "KeyId": key, "Plaintext": b64(b"x") });
    let h = harness();
    let key = admins_key(&h).await;
    refused(h.call_by("app", "Encrypt", encrypt(&key)).await);
    grant(
        &h,
        "admin",
        json!({ "KeyId": key, "GranteePrincipal": ROOT, "Operations": ["Encrypt"] }),
    )
    .await
    .unwrap();
    h.call_by("app", "Encrypt", encrypt(&key)).await.unwrap();
    h.call_by("ops", "Encrypt", encrypt(&key)).await.unwrap();
    refused(
        h.call_by(
            "app",
            "GenerateDataKey",
            json!({ "KeyId": key, "KeySpec": "AES_256" }),
        )
        .await,
    );

    // With an account access control, only whom it lets do the action.
    let (h, account) = with_account();
    let key = admins_key(&h).await;
    grant(
        &h,
        "admin",
        json!({ "KeyId": key, "GranteePrincipal": ROOT, "Operations": ["Encrypt"] }),
    )
    .await
    .unwrap();
    h.call_by("app", "Encrypt", encrypt(&key)).await.unwrap();
    account.refuse("kms:Encrypt", Some(&key));
    let message = refused(h.call_by("app", "Encrypt", encrypt(&key)).await);
    assert!(message.contains("kms:Encrypt"), "{message}");
}
