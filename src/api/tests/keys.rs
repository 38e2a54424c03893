//! Creating, describing, listing and naming keys, and what each key state allows.

use super::*;

#[tokio::test]
async fn create_describe_and_list_with_pagination() {
    let h = harness();
    let mut ids = [
        h.key(json!({})).await,
        h.key(json!({})).await,
        h.key(json!({})).await,
    ];
    ids.sort();
    let meta = h.ok("DescribeKey", json!({ "KeyId": ids[0] })).await["KeyMetadata"].clone();
    assert_eq!(meta["Arn"], arn(&ids[0]));
    assert_eq!(meta["KeyState"], "Enabled");
    assert_eq!(meta["CreationDate"], json!(T0 as f64 / 1000.0));
    assert_eq!(meta["EncryptionAlgorithms"], json!(["SYMMETRIC_DEFAULT"]));
    let page = h.ok("ListKeys", json!({ "Limit": 2 })).await;
    assert_eq!(page["Truncated"], true);
    let listed: Vec<_> = page["Keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["KeyId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ids[..2]);
    let rest = h
        .ok(
            "ListKeys",
            json!({ "Limit": 2, "Marker": page["NextMarker"] }),
        )
        .await;
    assert_eq!(rest["Truncated"], false);
    assert_eq!(rest["Keys"][0]["KeyId"], ids[2]);
    assert_eq!(rest["Keys"][0]["KeyArn"], arn(&ids[2]));
    // A marker is ours to make: one made up, or one from another listing, is refused.
    let alias_marker = {
        h.ok(
            "CreateAlias",
            json!({ "AliasName": "alias/a", "TargetKeyId": ids[0] }),
        )
        .await;
        h.ok(
            "CreateAlias",
            json!({ "AliasName": "alias/b", "TargetKeyId": ids[0] }),
        )
        .await;
        h.ok("ListAliases", json!({ "Limit": 1 })).await["NextMarker"].clone()
    };
    for marker in [json!(ids[0]), json!("zzz"), alias_marker] {
        assert_eq!(
            h.err("ListKeys", json!({ "Marker": marker })).await.0,
            "InvalidMarkerException",
            "{marker}"
        );
    }
    assert_eq!(
        h.err("ListKeys", json!({ "Limit": 0 })).await.0,
        "ValidationException"
    );
    assert_eq!(
        h.err("ListKeys", json!({ "Limit": 1001 })).await.0,
        "ValidationException"
    );
}

#[tokio::test]
async fn key_ids_are_accepted_in_the_forms_aws_accepts() {
    let h = harness();
    let id = h.key(json!({})).await;
    h.ok(
        "CreateAlias",
        json!({ "AliasName": "alias/app", "TargetKeyId": id }),
    )
    .await;
    for form in [
        id.clone(),
        arn(&id),
        "alias/app".into(),
        "arn:aws:kms:us-east-1:111122223333:alias/app".into(),
    ] {
        assert_eq!(
            h.ok("DescribeKey", json!({ "KeyId": form })).await["KeyMetadata"]["KeyId"],
            id
        );
    }
    // Management operations take only key ids and ARNs.
    assert_eq!(
        h.err("DisableKey", json!({ "KeyId": "alias/app" })).await.0,
        "NotFoundException"
    );
    h.ok("DisableKey", json!({ "KeyId": arn(&id) })).await;
    let (t, m) = h
        .err(
            "DescribeKey",
            json!({ "KeyId": "arn:aws:kms:eu-west-1:111122223333:key/".to_owned() + &id }),
        )
        .await;
    assert_eq!(
        (t.as_str(), m.contains("does not exist")),
        ("NotFoundException", true)
    );
    let foreign_alias = "arn:aws:kms:us-east-1:444455556666:alias/app";
    let (t, m) = h
        .err("DescribeKey", json!({ "KeyId": foreign_alias }))
        .await;
    assert_eq!(
        (t.as_str(), m),
        (
            "NotFoundException",
            format!("Alias {foreign_alias} is not found.")
        )
    );
    let (t, m) = h
        .err("DescribeKey", json!({ "KeyId": "fake-key-id" }))
        .await;
    assert_eq!(
        (t.as_str(), m.as_str()),
        ("NotFoundException", "Invalid keyId 'fake-key-id'")
    );
    let missing = "00000000-0000-4000-8000-000000000000";
    let (_, m) = h.err("DescribeKey", json!({ "KeyId": missing })).await;
    assert_eq!(m, format!("Key '{}' does not exist", arn(missing)));
    assert_eq!(
        h.err("DescribeKey", json!({})).await.0,
        "ValidationException"
    );
}

#[tokio::test]
async fn key_states_refuse_operations_with_aws_messages() {
    let h = harness();
    let id = h.key(json!({})).await;
    let encrypt = json!({ "KeyId": id, "Plaintext": b64(b"x") });
    h.ok("DisableKey", json!({ "KeyId": id })).await;
    assert_eq!(
        h.err("Encrypt", encrypt.clone()).await,
        (
            "DisabledException".into(),
            format!("{} is disabled.", arn(&id))
        )
    );
    h.ok("EnableKey", json!({ "KeyId": id })).await;
    h.ok("Encrypt", encrypt.clone()).await;

    assert_eq!(
        h.err(
            "ScheduleKeyDeletion",
            json!({ "KeyId": id, "PendingWindowInDays": 6 })
        )
        .await
        .0,
        "ValidationException"
    );
    let scheduled = h.ok("ScheduleKeyDeletion", json!({ "KeyId": id })).await;
    assert_eq!(scheduled["PendingWindowInDays"], 30);
    assert_eq!(scheduled["KeyState"], "PendingDeletion");
    assert_eq!(
        scheduled["DeletionDate"],
        json!((T0 + 30 * DAY_MS) as f64 / 1000.0)
    );
    let pending = (
        "KMSInvalidStateException".to_owned(),
        format!("{} is pending deletion.", arn(&id)),
    );
    assert_eq!(h.err("Encrypt", encrypt.clone()).await, pending);
    assert_eq!(h.err("EnableKey", json!({ "KeyId": id })).await, pending);
    assert_eq!(
        h.err("ScheduleKeyDeletion", json!({ "KeyId": id })).await,
        pending
    );
    assert_eq!(
        h.err(
            "UpdateKeyDescription",
            json!({ "KeyId": id, "Description": "d" })
        )
        .await,
        pending
    );
    h.ok("DescribeKey", json!({ "KeyId": id })).await;

    h.ok("CancelKeyDeletion", json!({ "KeyId": id })).await;
    assert_eq!(
        h.ok("DescribeKey", json!({ "KeyId": id })).await["KeyMetadata"]["KeyState"],
        "Disabled"
    );
    assert_eq!(
        h.err("CancelKeyDeletion", json!({ "KeyId": id })).await,
        (
            "KMSInvalidStateException".into(),
            format!("{} is not pending deletion.", arn(&id))
        )
    );
}

#[test]
fn arns_are_spelled_as_aws_spells_them() {
    let config = ArnConfig {
        partition: "aws-cn".into(),
        region: "cn-north-1".into(),
        account: "123456789012".into(),
    };
    for _ in 0..32 {
        let id = KeyId::random();
        assert_eq!(
            config.key_arn(id),
            format!("arn:aws-cn:kms:cn-north-1:123456789012:key/{id}")
        );
    }
    assert_eq!(
        config.alias_arn("alias/app"),
        "arn:aws-cn:kms:cn-north-1:123456789012:alias/app"
    );
    assert_eq!(
        config.strip_prefix("arn:aws-cn:kms:cn-north-1:123456789012:key/k"),
        Some("key/k")
    );
    for other in [
        "arn:aws:kms:cn-north-1:123456789012:key/k",
        "arn:aws-cn:kms:cn-north-2:123456789012:key/k",
        "arn:aws-cn:kms:cn-north-1:123456789013:key/k",
        "arn:aws-cn:s3:cn-north-1:123456789012:key/k",
        "arn:aws-cn:kms:cn-north-1:123456789012",
        "key/k",
    ] {
        assert_eq!(config.strip_prefix(other), None, "{other}");
    }
}
