use super::*;

const NOW: Millis = 1_700_000_000_000;

fn key() -> KeyRecord {
    KeyRecord::test(NOW)
}

#[test]
fn the_key_state_table() {
    use KeyState::*;
    use Operation::*;
    use Refusal::PendingReplicaDeletion as Waiting;
    use Refusal::{Disabled as Off, NotPendingDeletion as NotPending};
    use Refusal::{PendingDeletion as Deleting, PendingImport as Importing};
    let ok = Ok(());
    // Enabled, Disabled, PendingDeletion, PendingReplicaDeletion,
    // PendingImport (AWS's table: the two pending columns are one).
    let table: &[(Operation, [Result<(), Refusal>; 5])] = &[
        (
            Cryptographic,
            [ok, Err(Off), Err(Deleting), Err(Waiting), Err(Importing)],
        ),
        (Read, [ok, ok, ok, ok, ok]),
        (
            EnableKey,
            [ok, ok, Err(Deleting), Err(Waiting), Err(Importing)],
        ),
        (
            DisableKey,
            [ok, ok, Err(Deleting), Err(Waiting), Err(Importing)],
        ),
        (
            ScheduleKeyDeletion,
            [ok, ok, Err(Deleting), Err(Waiting), ok],
        ),
        (
            CancelKeyDeletion,
            [Err(NotPending), Err(NotPending), ok, ok, Err(NotPending)],
        ),
        (Modify, [ok, ok, Err(Deleting), Err(Waiting), ok]),
        (
            Rotation,
            [ok, Err(Off), Err(Deleting), Err(Waiting), Err(Importing)],
        ),
        (Import, [ok, ok, Err(Deleting), Err(Waiting), ok]),
    ];
    let states = [
        Enabled,
        Disabled,
        PendingDeletion,
        PendingReplicaDeletion,
        PendingImport,
    ];
    for (operation, expected) in table {
        for (state, expected) in states.into_iter().zip(expected) {
            assert_eq!(
                check(*operation, state),
                *expected,
                "{operation:?} on {state:?}"
            );
        }
    }
}

#[test]
fn state_follows_deletion_then_enabled() {
    let mut k = key();
    assert_eq!(k.state(), KeyState::Enabled);
    k.enabled = false;
    assert_eq!(k.state(), KeyState::Disabled);
    k.deletion = Some(schedule_deletion(7, NOW));
    assert_eq!(k.state(), KeyState::PendingDeletion);
    cancel_deletion(&mut k);
    assert_eq!(k.state(), KeyState::Disabled, "AWS cancels into Disabled");
}

#[test]
fn windows_and_periods_have_aws_ranges_and_defaults() {
    assert_eq!(pending_window(None), Ok(30));
    assert_eq!(pending_window(Some(7)), Ok(7));
    assert_eq!(pending_window(Some(30)), Ok(30));
    assert_eq!(pending_window(Some(6)), Err(RangeError::PendingWindow(6)));
    assert_eq!(pending_window(Some(31)), Err(RangeError::PendingWindow(31)));
    assert_eq!(rotation_period(None), Ok(365));
    assert_eq!(rotation_period(Some(90)), Ok(90));
    assert_eq!(rotation_period(Some(2560)), Ok(2560));
    assert_eq!(
        rotation_period(Some(89)),
        Err(RangeError::RotationPeriod(89))
    );
    assert_eq!(
        rotation_period(Some(2561)),
        Err(RangeError::RotationPeriod(2561))
    );
}

#[test]
fn deletion_is_planned_exactly_when_the_window_ends() {
    let mut k = key();
    k.deletion = Some(schedule_deletion(7, NOW));
    let end = NOW + 7 * DAY_MS;
    assert_eq!(k.deletion.unwrap().deletion_date, end);
    assert_eq!(plan(&k, end - 1), None);
    assert_eq!(plan(&k, end), Some(Action::Destroy));
    assert_eq!(next_due(&k), Some(end));
}

#[test]
fn automatic_rotation_is_due_after_one_period_and_moves_on() {
    let mut k = key();
    assert_eq!(plan(&k, NOW + 10_000 * DAY_MS), None, "rotation disabled");
    enable_rotation(&mut k, 90, NOW);
    let due = NOW + 90 * DAY_MS;
    assert_eq!(next_due(&k), Some(due));
    assert_eq!(plan(&k, due - 1), None);
    assert_eq!(plan(&k, due), Some(Action::Rotate(RotationType::Automatic)));
    rotated(&mut k, RotationType::Automatic, due);
    assert_eq!(k.rotation.next, Some(due + 90 * DAY_MS));
    assert_eq!(plan(&k, due + 1), None);
}

#[test]
fn disabled_and_doomed_keys_do_not_rotate() {
    let mut k = key();
    enable_rotation(&mut k, 90, NOW);
    let late = NOW + 100 * DAY_MS;
    k.enabled = false;
    assert_eq!(plan(&k, late), None);
    assert_eq!(next_due(&k), None);
    k.enabled = true;
    assert_eq!(
        plan(&k, late),
        Some(Action::Rotate(RotationType::Automatic)),
        "catches up when re-enabled"
    );
    k.deletion = Some(schedule_deletion(30, late));
    assert_eq!(plan(&k, late), None);
    disable_rotation(&mut k);
    assert_eq!(k.rotation.next, None);
}

#[test]
fn on_demand_rotations_are_capped_at_25() {
    let mut k = key();
    for _ in 0..25 {
        assert!(may_rotate_on_demand(&k));
        rotated(&mut k, RotationType::OnDemand, NOW);
    }
    assert!(!may_rotate_on_demand(&k));
    assert_eq!(
        k.rotation.next, None,
        "on-demand rotation leaves the schedule alone"
    );
}

#[test]
fn only_symmetric_keys_rotate() {
    for &spec in KeySpec::ALL {
        assert_eq!(
            supports_rotation(spec),
            spec == KeySpec::SymmetricDefault,
            "{spec}"
        );
    }
}

#[test]
fn valid_to_is_in_the_future_and_at_most_a_year_away() {
    assert_eq!(check_valid_to(NOW + 1, NOW), Ok(()));
    assert_eq!(check_valid_to(NOW + 365 * DAY_MS, NOW), Ok(()));
    assert_eq!(check_valid_to(NOW, NOW), Err(ValidToError::Past));
    assert_eq!(check_valid_to(NOW - 1, NOW), Err(ValidToError::Past));
    assert_eq!(
        check_valid_to(NOW + 365 * DAY_MS + 1, NOW),
        Err(ValidToError::TooFar)
    );
}

#[test]
fn a_replica_never_rotates_on_its_own() {
    let mut k = key();
    enable_rotation(&mut k, 90, NOW);
    let due = NOW + 90 * crate::key::DAY_MS;
    assert_eq!(plan(&k, due), Some(Action::Rotate(RotationType::Automatic)));
    assert_eq!(next_due(&k), Some(due));
    // The same settings mirrored on a replica: its primary rotates, and
    // sends it the version.
    k.regions = Some(crate::key::Regions {
        primary: "us-east-1".into(),
        replica: true,
        replicas: Vec::new(),
        pending: None,
    });
    assert_eq!(plan(&k, due), None);
    assert_eq!(next_due(&k), None);
    // Its deletion still comes due.
    k.deletion = Some(schedule_deletion(7, NOW));
    assert_eq!(
        plan(&k, NOW + 7 * crate::key::DAY_MS),
        Some(Action::Destroy)
    );
}

/// A primary whose replicas are in `regions`.
fn primary_of(regions: &[&str]) -> KeyRecord {
    let mut k = key();
    let mut r = crate::key::Regions::test_replica("us-east-1", regions);
    r.replica = false;
    k.regions = Some(r);
    k
}

#[test]
fn a_primary_with_replicas_waits_for_them_before_its_window_starts() {
    let mut k = primary_of(&["eu-west-1", "ap-south-1"]);
    k.deletion = Some(deletion_of(&k, 7, NOW));
    assert_eq!(k.state(), KeyState::PendingReplicaDeletion);
    assert_eq!(
        k.deletion.unwrap().date(),
        None,
        "no date while replicas exist"
    );
    assert_eq!(k.deletion.unwrap().window_days, 7);
    // Never destroyed, however long the replicas take.
    assert_eq!(plan(&k, NOW + 3650 * crate::key::DAY_MS), None);
    assert_eq!(next_due(&k), None);

    let later = NOW + 40 * crate::key::DAY_MS;
    forget_replica(&mut k, "eu-west-1", later);
    assert_eq!(k.state(), KeyState::PendingReplicaDeletion, "one left");
    forget_replica(&mut k, "eu-west-1", later);
    assert_eq!(
        k.state(),
        KeyState::PendingReplicaDeletion,
        "forgetting twice is harmless"
    );
    forget_replica(&mut k, "ap-south-1", later);
    // The last one gone: the window starts then, not at the schedule.
    assert_eq!(k.state(), KeyState::PendingDeletion);
    let end = later + 7 * crate::key::DAY_MS;
    assert_eq!(k.deletion.unwrap().date(), Some(end));
    assert_eq!(next_due(&k), Some(end));
    assert_eq!(plan(&k, end - 1), None);
    assert_eq!(plan(&k, end), Some(Action::Destroy));
}

#[test]
fn only_a_primary_with_replicas_waits() {
    // A primary never replicated, one whose replicas are all gone, a
    // replica, a single-Region key: the window starts at once.
    let mut replica = key();
    replica.regions = Some(crate::key::Regions::test_replica("us-east-1", &[]));
    for k in [key(), primary_of(&[]), replica] {
        assert_eq!(deletion_of(&k, 7, NOW), schedule_deletion(7, NOW));
    }
    // Forgetting a replica of a primary not pending deletion, or one whose
    // window runs already, changes no date.
    let mut k = primary_of(&["eu-west-1"]);
    forget_replica(&mut k, "eu-west-1", NOW);
    assert_eq!(k.deletion, None);
    let mut k = primary_of(&["eu-west-1", "ap-south-1"]);
    k.deletion = Some(schedule_deletion(7, NOW));
    forget_replica(&mut k, "eu-west-1", NOW + 1);
    forget_replica(&mut k, "ap-south-1", NOW + 1);
    assert_eq!(k.deletion, Some(schedule_deletion(7, NOW)));
}

#[test]
fn cancelling_a_wait_for_replicas_leaves_the_key_disabled() {
    let mut k = primary_of(&["eu-west-1"]);
    k.deletion = Some(deletion_of(&k, 30, NOW));
    cancel_deletion(&mut k);
    assert_eq!(k.state(), KeyState::Disabled);
    assert_eq!(k.regions.unwrap().replicas.len(), 1, "replicas kept");
}
