//! Aliases (names, quota, namespaces) and tags.

use super::*;

#[tokio::test]
async fn a_key_has_at_most_fifty_aliases() {
    let h = harness();
    let (full, other) = (h.key(json!({})).await, h.key(json!({})).await);
    for i in 0..50 {
        h.ok(
            "CreateAlias",
            json!({ "AliasName": format!("alias/a{i}"), "TargetKeyId": full }),
        )
        .await;
    }
    h.ok(
        "CreateAlias",
        json!({ "AliasName": "alias/spare", "TargetKeyId": other }),
    )
    .await;
    for (operation, name) in [("CreateAlias", "alias/a50"), ("UpdateAlias", "alias/spare")] {
        let (error, message) = h
            .err(operation, json!({ "AliasName": name, "TargetKeyId": full }))
            .await;
        assert_eq!(error, "LimitExceededException", "{operation}");
        assert!(message.contains("already has 50 aliases"), "{message}");
    }
    // Re-pointing one of its own aliases at it is no 51st.
    h.ok(
        "UpdateAlias",
        json!({ "AliasName": "alias/a0", "TargetKeyId": full }),
    )
    .await;
    // Once one moves away, there is room again.
    h.ok(
        "UpdateAlias",
        json!({ "AliasName": "alias/a0", "TargetKeyId": other }),
    )
    .await;
    h.ok(
        "UpdateAlias",
        json!({ "AliasName": "alias/spare", "TargetKeyId": full }),
    )
    .await;
}

#[tokio::test]
async fn aliases_are_validated_and_scoped_to_a_namespace() {
    let h = harness();
    let id = h.key(json!({})).await;
    for (name, error) in [
        ("app", "InvalidAliasNameException"),
        ("alias/aws/app", "InvalidAliasNameException"),
        ("alias/has space", "ValidationException"),
        ("alias/", "InvalidAliasNameException"),
    ] {
        assert_eq!(
            h.err(
                "CreateAlias",
                json!({ "AliasName": name, "TargetKeyId": id })
            )
            .await
            .0,
            error,
            "{name}"
        );
    }
    h.ok(
        "CreateAlias",
        json!({ "AliasName": "alias/app", "TargetKeyId": id }),
    )
    .await;
    assert_eq!(
        h.err(
            "CreateAlias",
            json!({ "AliasName": "alias/app", "TargetKeyId": id })
        )
        .await
        .0,
        "AlreadyExistsException"
    );
    // Another namespace sees neither the alias nor the key in its listings,
    // and may reuse the alias name.
    assert_eq!(
        h.call_as("team-b", "DescribeKey", json!({ "KeyId": "alias/app" }))
            .await
            .unwrap_err()
            .aws_type(),
        "NotFoundException"
    );
    assert_eq!(
        h.call_as("team-b", "ListKeys", json!({})).await.unwrap()["Keys"],
        json!([])
    );
    assert!(
        h.call_as(
            "team-b",
            "CreateAlias",
            json!({ "AliasName": "alias/app", "TargetKeyId": id })
        )
        .await
        .is_err(),
        "target in another namespace"
    );
    let other = h.key(json!({})).await;
    h.ok(
        "UpdateAlias",
        json!({ "AliasName": "alias/app", "TargetKeyId": other }),
    )
    .await;
    assert_eq!(
        h.ok("DescribeKey", json!({ "KeyId": "alias/app" })).await["KeyMetadata"]["KeyId"],
        other
    );
    let hmac = h
        .key(json!({ "KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC" }))
        .await;
    assert_eq!(
        h.err(
            "UpdateAlias",
            json!({ "AliasName": "alias/app", "TargetKeyId": hmac })
        )
        .await
        .0,
        "ValidationException"
    );
    let listed = h.ok("ListAliases", json!({ "KeyId": other })).await;
    assert_eq!(listed["Aliases"][0]["AliasName"], "alias/app");
    h.ok("DeleteAlias", json!({ "AliasName": "alias/app" }))
        .await;
    assert_eq!(
        h.err("DeleteAlias", json!({ "AliasName": "alias/app" }))
            .await
            .0,
        "NotFoundException"
    );
}

#[tokio::test]
async fn tags_round_trip_and_reserved_prefixes_are_refused() {
    let h = harness();
    let id = h
        .key(json!({ "Tags": [{ "TagKey": "team", "TagValue": "a" }] }))
        .await;
    h.ok(
        "TagResource",
        json!({ "KeyId": id, "Tags": [{ "TagKey": "env", "TagValue": "prod" }] }),
    )
    .await;
    let tags = h.ok("ListResourceTags", json!({ "KeyId": id })).await;
    assert_eq!(
        tags["Tags"],
        json!([{ "TagKey": "env", "TagValue": "prod" }, { "TagKey": "team", "TagValue": "a" }])
    );
    h.ok("UntagResource", json!({ "KeyId": id, "TagKeys": ["team"] }))
        .await;
    assert_eq!(
        h.ok("ListResourceTags", json!({ "KeyId": id })).await["Tags"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        h.err(
            "TagResource",
            json!({ "KeyId": id, "Tags": [{ "TagKey": "aws:x", "TagValue": "" }] })
        )
        .await
        .0,
        "TagException"
    );
    let twice = json!([{ "TagKey": "env", "TagValue": "a" }, { "TagKey": "env", "TagValue": "b" }]);
    let refused = h
        .err("TagResource", json!({ "KeyId": id, "Tags": twice }))
        .await;
    assert_eq!(
        refused,
        ("TagException".into(), "Duplicate tag keys".into())
    );
    assert_eq!(
        h.err("CreateKey", json!({ "Tags": twice })).await.0,
        "TagException"
    );
    // Nothing of the refused request was applied.
    let tags = h.ok("ListResourceTags", json!({ "KeyId": id })).await;
    assert_eq!(
        tags["Tags"],
        json!([{ "TagKey": "env", "TagValue": "prod" }])
    );
}
