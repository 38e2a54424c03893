use super::*;
use crate::key::Deletion;

fn record() -> KeyRecord {
    let mut record = KeyRecord::test(0);
    record.tags.insert("old".into(), "1".into());
    record
}

#[test]
fn api_changes_become_spec_patches() {
    let current = record();
    assert_eq!(key_change(&current, &current), KeyChange::Patch(None));
    let mut new = current.clone();
    new.enabled = false;
    new.description = "d".into();
    new.tags.remove("old");
    new.tags.insert("new".into(), "2".into());
    new.rotation.enabled = true;
    new.rotation.period_days = 90;
    let KeyChange::Patch(Some(patch)) = key_change(&current, &new) else {
        panic!()
    };
    assert_eq!(
        patch,
        json!({"spec": {"enabled": false, "description": "d", "tags": {"old": null, "new": "2"},
            "rotation": {"enabled": true, "periodDays": 90}}})
    );
}

#[test]
fn scheduling_and_cancelling_deletion_are_object_deletion_and_recreation() {
    let current = record();
    let mut scheduled = current.clone();
    scheduled.deletion = Some(Deletion {
        window_days: 9,
        deletion_date: 1,
    });
    assert_eq!(
        key_change(&current, &scheduled),
        KeyChange::Schedule { window_days: 9 }
    );
    assert_eq!(key_change(&scheduled, &current), KeyChange::Cancel);
    let manifest = key_manifest("app", &current);
    assert_eq!(manifest["spec"]["keyId"], current.key_id.to_string());
    assert_eq!(manifest["spec"]["keySpec"], "SYMMETRIC_DEFAULT");
}

#[test]
fn alias_object_names_are_valid_and_distinct() {
    let a = alias_object_name("alias/Team_A/app");
    let b = alias_object_name("alias/team-a/app");
    assert_ne!(
        a, b,
        "names differing only in case or punctuation stay distinct"
    );
    for name in [&a, &b] {
        assert!(name.len() <= 253);
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{name}"
        );
    }
}
