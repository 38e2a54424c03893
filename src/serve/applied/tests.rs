use super::*;
use crate::declared::Change;

fn key() -> KeyRecord {
    let mut key = KeyRecord::test(1_800_000_000_000);
    key.namespace = "team-a".into();
    key.description = "now".into();
    key.tags = [("team".into(), "a".into()), ("tier".into(), "2".into())].into();
    key.policy = Some("{\"Version\":\"2012-10-17\"}".into());
    key
}

#[test]
fn each_change_is_the_aws_call_that_makes_it() {
    let key = key();
    let id = key.key_id.to_string();
    let before = [
        ("team".into(), "a".into()),
        ("tier".into(), "1".into()),
        ("old".into(), "x".into()),
    ]
    .into();
    let changes = [
        Change::DeletionCancelled,
        Change::Description,
        Change::Tags,
        Change::Disabled,
        Change::RotationEnabled { period_days: 90 },
        Change::Policy,
    ];
    let applied = key_changed(&key, &before, &changes);
    let calls: Vec<(&str, &Value)> = applied
        .iter()
        .map(|a| (a.operation, &a.parameters))
        .collect();
    assert_eq!(
        calls,
        [
            ("CancelKeyDeletion", &json!({"KeyId": id})),
            (
                "UpdateKeyDescription",
                &json!({"KeyId": id, "Description": "now"})
            ),
            (
                "TagResource",
                &json!({"KeyId": id, "Tags": [{"TagKey": "tier", "TagValue": "2"}]})
            ),
            ("UntagResource", &json!({"KeyId": id, "TagKeys": ["old"]})),
            ("DisableKey", &json!({"KeyId": id})),
            (
                "EnableKeyRotation",
                &json!({"KeyId": id, "RotationPeriodInDays": 90})
            ),
            (
                "PutKeyPolicy",
                &json!({"KeyId": id, "PolicyName": "default", "Policy": "{\"Version\":\"2012-10-17\"}"})
            ),
        ]
    );
    assert!(
        applied
            .iter()
            .all(|a| a.namespace == "team-a" && a.key == key.key_id)
    );
    assert!(key_changed(&key, &before, &[]).is_empty());
}

#[test]
fn a_record_names_the_manifest_in_the_object_s_namespace() {
    let key = key();
    let created = key_created(&key);
    assert_eq!(created.operation, "CreateKey");
    let call = created.call(1_800_000_000_000);
    let record = crate::audit::record::record(&call, &crate::api::ArnConfig::default());
    assert_eq!(record["eventName"], "CreateKey");
    assert_eq!(record["userIdentity"]["principalId"], PRINCIPAL);
    assert_eq!(record["userIdentity"]["namespace"], "team-a");
    assert_eq!(record["requestParameters"]["description"], "now");
    assert_eq!(
        record["requestParameters"]["tags"],
        json!([{"tagKey": "team", "tagValue": "a"}, {"tagKey": "tier", "tagValue": "2"}])
    );
    assert_eq!(record["readOnly"], false);
    let moved = alias("team-a", "alias/app", key.key_id, false);
    assert_eq!(moved.operation, "UpdateAlias");
    assert_eq!(moved.parameters["AliasName"], "alias/app");
}
