//! `kms:ResourceAliases`: a key's policy may decide by the aliases the key
//! has (attribute-based access control, as AWS's guide describes it).

use super::access::{ACCOUNT, policy, refused};
use super::*;

#[tokio::test]
async fn a_policy_decides_by_the_aliases_a_key_has() {
    let h = harness();
    let key = h.key(json!({})).await;
    // Only keys aliased under alias/team-a/ encrypt for anyone.
    let by_alias = policy(&[
        ACCOUNT,
        r#"{"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*",
            "Condition":{"ForAllValues:StringNotLike":{"kms:ResourceAliases":"alias/team-a/*"}}}"#,
    ]);
    h.set_policy(&key, &by_alias).await;
    let encrypt = json!({ "KeyId": key, "Plaintext": b64(b"x") });
    refused(h.call("Encrypt", encrypt.clone()).await);
    h.ok(
        "CreateAlias",
        json!({ "AliasName": "alias/team-b/app", "TargetKeyId": key }),
    )
    .await;
    refused(h.call("Encrypt", encrypt.clone()).await);
    h.ok(
        "CreateAlias",
        json!({ "AliasName": "alias/team-a/app", "TargetKeyId": key }),
    )
    .await;
    // Named by its id: the aliases it has count, not the one a request uses.
    h.ok("Encrypt", encrypt.clone()).await;
    h.ok(
        "Encrypt",
        json!({ "KeyId": "alias/team-b/app", "Plaintext": b64(b"x") }),
    )
    .await;
    // Another key's aliases are not this key's.
    let other = h.key(json!({})).await;
    h.ok(
        "UpdateAlias",
        json!({ "AliasName": "alias/team-a/app", "TargetKeyId": other }),
    )
    .await;
    refused(h.call("Encrypt", encrypt).await);
}

#[tokio::test]
async fn the_lockout_check_sees_the_key_s_aliases() {
    let h = harness();
    let key = h.key(json!({})).await;
    h.ok(
        "CreateAlias",
        json!({ "AliasName": "alias/admin/app", "TargetKeyId": key }),
    )
    .await;
    // Lets the caller set the policy only while the key is so aliased.
    let admin_by_alias = policy(&[
        r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*",
            "Condition":{"ForAnyValue:StringLike":{"kms:ResourceAliases":"alias/admin/*"}}}"#,
    ]);
    h.ok(
        "PutKeyPolicy",
        json!({ "KeyId": key, "Policy": admin_by_alias }),
    )
    .await;
    let other = h.key(json!({})).await;
    let (kind, _) = h
        .err(
            "PutKeyPolicy",
            json!({ "KeyId": other, "Policy": admin_by_alias }),
        )
        .await;
    assert_eq!(kind, "MalformedPolicyDocumentException", "no such alias");
}
