use super::*;
use crate::key::{DAY_MS, Deletion};
use crate::resource::RotationSpec;

const NOW: Millis = 1_700_000_000_000;

fn spec() -> KmsKeySpec {
    serde_json::from_str("{}").unwrap()
}

#[test]
fn an_unchanged_spec_changes_nothing() {
    let mut key = KeyRecord::test(NOW);
    assert_eq!(converge(&mut key, &spec(), NOW), Ok(vec![]));
    assert_eq!(key, KeyRecord::test(NOW));
}

#[test]
fn every_declared_setting_is_applied_and_reported() {
    let mut key = KeyRecord::test(NOW);
    let mut want = spec();
    want.description = "app data".into();
    want.tags.insert("team".into(), "a".into());
    want.enabled = false;
    want.rotation = RotationSpec {
        enabled: true,
        period_days: Some(90),
    };
    let changes = converge(&mut key, &want, NOW).unwrap();
    assert_eq!(
        changes,
        [
            Change::Description,
            Change::Tags,
            Change::Disabled,
            Change::RotationEnabled { period_days: 90 }
        ]
    );
    assert_eq!(key.rotation.next, Some(NOW + 90 * DAY_MS));
    // A second pass is a no-op: no write, no hot loop.
    assert_eq!(converge(&mut key, &want, NOW + 1), Ok(vec![]));
    want.rotation.period_days = Some(180);
    assert_eq!(
        converge(&mut key, &want, NOW),
        Ok(vec![Change::RotationEnabled { period_days: 180 }])
    );
    want.rotation.enabled = false;
    assert_eq!(
        converge(&mut key, &want, NOW),
        Ok(vec![Change::RotationDisabled])
    );
    assert_eq!(key.rotation.next, None);
}

#[test]
fn declaring_a_key_again_cancels_its_deletion_and_keeps_it_enabled() {
    let mut key = KeyRecord::test(NOW);
    key.deletion = Some(Deletion {
        window_days: 7,
        deletion_date: NOW + 7 * DAY_MS,
    });
    // Cancelling leaves a key Disabled (as in AWS); the spec then enables it.
    assert_eq!(
        converge(&mut key, &spec(), NOW),
        Ok(vec![Change::DeletionCancelled, Change::Enabled])
    );
    assert_eq!((key.deletion, key.enabled), (None, true));
}

#[test]
fn spec_and_usage_never_change_and_ranges_are_checked() {
    let mut key = KeyRecord::test(NOW);
    let mut want = spec();
    want.key_spec = KeySpec::Rsa2048;
    assert!(matches!(
        converge(&mut key, &want, NOW),
        Err(SpecError::Immutable { .. })
    ));
    let mut want = spec();
    want.pending_window_days = Some(6);
    assert_eq!(
        converge(&mut key, &want, NOW),
        Err(SpecError::Range(RangeError::PendingWindow(6)))
    );
    let mut want = spec();
    want.rotation.period_days = Some(3000);
    assert_eq!(
        validate(&want),
        Err(SpecError::Range(RangeError::RotationPeriod(3000)))
    );
    let mut want = spec();
    want.key_spec = KeySpec::Hmac256;
    want.key_usage = KeyUsage::GenerateVerifyMac;
    want.rotation.enabled = true;
    assert_eq!(
        validate(&want),
        Err(SpecError::RotationUnsupported(KeySpec::Hmac256))
    );
    assert_eq!(key, KeyRecord::test(NOW), "a refused spec changes nothing");
}

#[test]
fn tags_follow_aws_s_rules_before_anything_is_stored() {
    let mut key = KeyRecord::test(NOW);
    let mut want = spec();
    want.tags.insert("AWS:owner".into(), "me".into());
    assert_eq!(
        converge(&mut key, &want, NOW),
        Err(SpecError::Tags(crate::tag::TagError::Reserved(
            "AWS:owner".into()
        )))
    );
    want.tags.clear();
    want.tags.insert("k".repeat(129), String::new());
    assert!(matches!(validate(&want), Err(SpecError::Tags(_))));
    assert_eq!(key, KeyRecord::test(NOW), "a refused spec changes nothing");
}

#[test]
fn the_origin_is_declared_once_and_imported_keys_do_not_rotate() {
    let mut external = spec();
    external.origin = Origin::External;
    let mut key = KeyRecord::test(NOW);
    assert_eq!(
        converge(&mut key, &external, NOW),
        Err(SpecError::OriginImmutable {
            have: "AWS_KMS",
            want: "EXTERNAL"
        })
    );
    key.origin = Origin::External;
    assert_eq!(converge(&mut key.clone(), &external, NOW), Ok(vec![]));
    assert!(matches!(
        converge(&mut key, &spec(), NOW),
        Err(SpecError::OriginImmutable { .. })
    ));
    external.rotation.enabled = true;
    assert_eq!(validate(&external), Err(SpecError::RotationOfImported));
}

#[test]
fn a_pinned_id_is_multi_region_exactly_when_the_spec_says_so() {
    let uuid: crate::key_id::KeyId = "1234abcd-12ab-34cd-56ef-1234567890ab".parse().unwrap();
    let mrk = crate::key_id::KeyId::random_multi_region();
    for (id, multi_region, ok) in [
        (uuid, false, true),
        (mrk, true, true),
        (uuid, true, false),
        (mrk, false, false),
    ] {
        let mut want = spec();
        want.key_id = Some(id);
        want.multi_region = multi_region;
        let result = validate(&want);
        assert_eq!(result.is_ok(), ok, "{id} {multi_region}: {result:?}");
        if let Err(e) = result {
            assert!(e.to_string().contains("multiRegion is"), "{e}");
        }
    }
    // Without a pinned id, either is fine.
    let mut want = spec();
    want.multi_region = true;
    assert_eq!(validate(&want), Ok(()));
}

#[test]
fn a_replica_is_a_pinned_multi_region_key_of_a_named_region() {
    let mut replica = spec();
    replica.multi_region = true;
    replica.key_id = Some(crate::key_id::KeyId::random_multi_region());
    replica.primary_region = Some("us-east-1".into());
    assert_eq!(validate(&replica), Ok(()));
    let mut unpinned = replica.clone();
    unpinned.key_id = None;
    assert_eq!(validate(&unpinned), Err(SpecError::ReplicaUnpinned));
    let mut single = replica.clone();
    single.multi_region = false;
    single.key_id = Some("1234abcd-12ab-34cd-56ef-1234567890ab".parse().unwrap());
    assert_eq!(validate(&single), Err(SpecError::ReplicaUnpinned));
    replica.primary_region = Some("Virginia".into());
    assert_eq!(
        validate(&replica),
        Err(SpecError::PrimaryRegionName("Virginia".into()))
    );
}

#[test]
fn replica_regions_are_distinct_region_names_of_a_multi_region_key() {
    let mut want = spec();
    want.multi_region = true;
    want.replica_regions = vec!["eu-west-1".into(), "ap-south-1".into()];
    assert_eq!(validate(&want), Ok(()));
    let mut key = KeyRecord::test(NOW);
    key.key_id = crate::key_id::KeyId::random_multi_region();
    assert_eq!(
        converge(&mut key, &want, NOW),
        Ok(vec![Change::ReplicaRegions])
    );
    assert_eq!(key.replica_regions, ["eu-west-1", "ap-south-1"]);
    assert_eq!(converge(&mut key, &want, NOW), Ok(vec![]), "once");

    let mut twice = want.clone();
    twice.replica_regions.push("eu-west-1".into());
    assert_eq!(
        validate(&twice),
        Err(SpecError::ReplicaRegionTwice("eu-west-1".into()))
    );
    let mut misnamed = want.clone();
    misnamed.replica_regions = vec!["Ireland".into()];
    assert_eq!(
        validate(&misnamed),
        Err(SpecError::ReplicaRegionName("Ireland".into()))
    );
    let mut single = want;
    single.multi_region = false;
    assert_eq!(
        validate(&single),
        Err(SpecError::ReplicaRegionsSingleRegion)
    );
}
