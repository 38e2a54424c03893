use super::*;

const NOW: Millis = 1_700_000_000_000;

fn key() -> KeyRecord {
    KeyRecord::test(NOW)
}

#[test]
fn the_key_state_table() {
    use KeyState::*;
    use Operation::*;
    use Refusal::{Disabled as Off, NotPendingDeletion as NotPending};
    use Refusal::{PendingDeletion as Deleting, PendingImport as Importing};
    let ok = Ok(());
    // Enabled, Disabled, PendingDeletion, PendingImport (AWS's table).
    let table: &[(Operation, [Result<(), Refusal>; 4])] = &[
        (Cryptographic, [ok, Err(Off), Err(Deleting), Err(Importing)]),
        (Read, [ok, ok, ok, ok]),
        (EnableKey, [ok, ok, Err(Deleting), Err(Importing)]),
        (DisableKey, [ok, ok, Err(Deleting), Err(Importing)]),
        (ScheduleKeyDeletion, [ok, ok, Err(Deleting), ok]),
        (
            CancelKeyDeletion,
            [Err(NotPending), Err(NotPending), ok, Err(NotPending)],
        ),
        (Modify, [ok, ok, Err(Deleting), ok]),
        (Rotation, [ok, Err(Off), Err(Deleting), Err(Importing)]),
        (Import, [ok, ok, Err(Deleting), ok]),
    ];
    for (operation, expected) in table {
        for (state, expected) in [Enabled, Disabled, PendingDeletion, PendingImport]
            .into_iter()
            .zip(expected)
        {
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
