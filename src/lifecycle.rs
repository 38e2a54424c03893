//! Lifecycle decisions: pure functions of (key, now). The local runtime and
//! the Kubernetes controller only carry out what these decide.

use crate::key::{DAY_MS, Deletion, KeyRecord, KeyState, MaterialVersion, Millis, RotationType};
use crate::seal::SealedMaterial;
use crate::spec::KeySpec;

/// AWS's deletion window bounds and default, in days.
pub const MIN_PENDING_WINDOW_DAYS: u32 = 7;
pub const MAX_PENDING_WINDOW_DAYS: u32 = 30;
pub const DEFAULT_PENDING_WINDOW_DAYS: u32 = 30;
/// AWS's rotation period bounds and default, in days.
pub const MIN_ROTATION_PERIOD_DAYS: u32 = 90;
pub const MAX_ROTATION_PERIOD_DAYS: u32 = 2560;
pub const DEFAULT_ROTATION_PERIOD_DAYS: u32 = 365;
/// On-demand rotations AWS allows per key.
pub const MAX_ON_DEMAND_ROTATIONS: u32 = 25;

/// The operations whose outcome depends on the key's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Encrypt, Decrypt, ReEncrypt, GenerateDataKey*, Sign, Verify,
    /// GetPublicKey, GenerateMac, VerifyMac.
    Cryptographic,
    /// DescribeKey, ListResourceTags, GetKeyRotationStatus, ListKeyRotations,
    /// DeleteAlias, and an UpdateAlias away from this key.
    Read,
    EnableKey,
    DisableKey,
    ScheduleKeyDeletion,
    CancelKeyDeletion,
    /// UpdateKeyDescription, TagResource, UntagResource, CreateAlias, and an
    /// UpdateAlias onto this key.
    Modify,
    /// EnableKeyRotation, DisableKeyRotation, RotateKeyOnDemand.
    Rotation,
    /// GetParametersForImport, ImportKeyMaterial.
    Import,
}

/// Why a key's state refuses an operation; the endpoint words it as AWS
/// does, with the key's ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `DisabledException: <arn> is disabled.`
    Disabled,
    /// `KMSInvalidStateException: <arn> is pending deletion.`
    PendingDeletion,
    /// `KMSInvalidStateException: <arn> is pending replica deletion.`
    PendingReplicaDeletion,
    /// `KMSInvalidStateException: <arn> is not pending deletion.`
    NotPendingDeletion,
    /// `KMSInvalidStateException: <arn> is pending import.`
    PendingImport,
}

/// Whether `operation` may run on a key in `state` (AWS's key-state table).
pub fn check(operation: Operation, state: KeyState) -> Result<(), Refusal> {
    use KeyState::*;
    use Operation::*;
    match (operation, state) {
        (Read, _) => Ok(()),
        (CancelKeyDeletion, PendingDeletion | PendingReplicaDeletion) => Ok(()),
        (CancelKeyDeletion, _) => Err(Refusal::NotPendingDeletion),
        (_, PendingDeletion) => Err(Refusal::PendingDeletion),
        (_, PendingReplicaDeletion) => Err(Refusal::PendingReplicaDeletion),
        (Cryptographic | Rotation | EnableKey | DisableKey, PendingImport) => {
            Err(Refusal::PendingImport)
        }
        (Cryptographic | Rotation, Disabled) => Err(Refusal::Disabled),
        _ => Ok(()),
    }
}

/// Only symmetric encryption keys rotate (as in AWS).
pub fn supports_rotation(spec: KeySpec) -> bool {
    spec == KeySpec::SymmetricDefault
}

/// Longest time imported material may be valid for, from its import (AWS:
/// 365 days).
pub const MAX_IMPORT_VALIDITY_MS: Millis = 365 * DAY_MS;
/// How long an import token and its wrapping key are good for (AWS: 24 h).
pub const IMPORT_PARAMETERS_VALIDITY_MS: Millis = DAY_MS;

/// Why a `ValidTo` cannot be set at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ValidToError {
    #[error("ValidTo must be in the future")]
    Past,
    #[error("ValidTo must be at most 365 days in the future")]
    TooFar,
}

/// Checks a `ValidTo` for material imported at `now`.
pub fn check_valid_to(valid_to: Millis, now: Millis) -> Result<(), ValidToError> {
    if valid_to <= now {
        Err(ValidToError::Past)
    } else if valid_to - now > MAX_IMPORT_VALIDITY_MS {
        Err(ValidToError::TooFar)
    } else {
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error(
        "PendingWindowInDays must be between {MIN_PENDING_WINDOW_DAYS} and {MAX_PENDING_WINDOW_DAYS}, got {0}"
    )]
    PendingWindow(i64),
    #[error(
        "RotationPeriodInDays must be between {MIN_ROTATION_PERIOD_DAYS} and {MAX_ROTATION_PERIOD_DAYS}, got {0}"
    )]
    RotationPeriod(i64),
}

pub fn pending_window(days: Option<i64>) -> Result<u32, RangeError> {
    match days {
        None => Ok(DEFAULT_PENDING_WINDOW_DAYS),
        Some(d)
            if (MIN_PENDING_WINDOW_DAYS as i64..=MAX_PENDING_WINDOW_DAYS as i64).contains(&d) =>
        {
            Ok(d as u32)
        }
        Some(d) => Err(RangeError::PendingWindow(d)),
    }
}

pub fn rotation_period(days: Option<i64>) -> Result<u32, RangeError> {
    match days {
        None => Ok(DEFAULT_ROTATION_PERIOD_DAYS),
        Some(d)
            if (MIN_ROTATION_PERIOD_DAYS as i64..=MAX_ROTATION_PERIOD_DAYS as i64).contains(&d) =>
        {
            Ok(d as u32)
        }
        Some(d) => Err(RangeError::RotationPeriod(d)),
    }
}

/// The deletion a ScheduleKeyDeletion at `now` sets.
pub fn schedule_deletion(window_days: u32, now: Millis) -> Deletion {
    Deletion {
        window_days,
        deletion_date: now + window_days as Millis * DAY_MS,
    }
}

/// The deletion a ScheduleKeyDeletion of `key` at `now` sets: a
/// multi-Region primary with replicas waits for them to be deleted before
/// its window starts (`PendingReplicaDeletion`), as in AWS, so that no
/// replica outlives the primary it would move to.
pub fn deletion_of(key: &KeyRecord, window_days: u32, now: Millis) -> Deletion {
    if has_replicas(key) {
        Deletion {
            window_days,
            deletion_date: Deletion::AFTER_REPLICAS,
        }
    } else {
        schedule_deletion(window_days, now)
    }
}

/// Takes `region` off a primary's replicas (deleted there); the last one
/// gone starts the window of a deletion that waited for them.
pub fn forget_replica(key: &mut KeyRecord, region: &str, now: Millis) {
    let Some(regions) = key.regions.as_mut().filter(|r| !r.replica) else {
        return;
    };
    regions.replicas.retain(|r| r.region != region);
    start_window_without_replicas(key, now);
}

/// If `key` waits for its replicas to be deleted and none is left, its
/// deletion window starts at `now`.
pub fn start_window_without_replicas(key: &mut KeyRecord, now: Millis) {
    let left = has_replicas(key);
    if let Some(waiting) = key.deletion.filter(|d| d.date().is_none() && !left) {
        key.deletion = Some(schedule_deletion(waiting.window_days, now));
    }
}

/// Whether `key` is a primary that lists replicas.
fn has_replicas(key: &KeyRecord) -> bool {
    key.regions
        .as_ref()
        .is_some_and(|r| !r.replica && !r.replicas.is_empty())
}

/// Applies CancelKeyDeletion: the key comes back Disabled, as in AWS.
pub fn cancel_deletion(key: &mut KeyRecord) {
    key.deletion = None;
    key.enabled = false;
}

/// Applies EnableKeyRotation: the next rotation is one period from now.
pub fn enable_rotation(key: &mut KeyRecord, period_days: u32, now: Millis) {
    key.rotation.enabled = true;
    key.rotation.period_days = period_days;
    key.rotation.next = Some(now + period_days as Millis * DAY_MS);
}

pub fn disable_rotation(key: &mut KeyRecord) {
    key.rotation.enabled = false;
    key.rotation.next = None;
}

/// Something the runtime must do to a key now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Add a material version of this type (new material from the crypto
    /// service), then call [`rotated`].
    Rotate(RotationType),
    /// The deletion window has ended: destroy the key, its material and its
    /// aliases.
    Destroy,
    /// Imported material has reached its `ValidTo`: delete it (see
    /// [`imported::expire`]).
    ExpireMaterial,
}

/// What is due for `key` at `now`: at most one action. Keys pending deletion
/// never rotate; disabled keys wait to rotate until they are enabled again.
pub fn plan(key: &KeyRecord, now: Millis) -> Option<Action> {
    if key
        .deletion
        .and_then(|d| d.date())
        .is_some_and(|date| now >= date)
    {
        return Some(Action::Destroy);
    }
    // Material expires whatever the key's state, pending deletion too.
    if imported::expiry(key).is_some_and(|valid_to| now >= valid_to) {
        return Some(Action::ExpireMaterial);
    }
    if key.deletion.is_some() {
        return None;
    }
    // A replica's versions come from its primary (docs/multi-region.md);
    // its rotation settings only mirror the primary's.
    let due = key.rotation.enabled
        && !key.is_replica()
        && key.rotation.next.is_some_and(|next| now >= next);
    (due && key.state() == KeyState::Enabled).then_some(Action::Rotate(RotationType::Automatic))
}

/// When [`plan`] next has something to do for `key`, if ever.
pub fn next_due(key: &KeyRecord) -> Option<Millis> {
    let lifecycle = match key.deletion {
        Some(deletion) => deletion.date(),
        None if key.rotation.enabled && key.state() == KeyState::Enabled && !key.is_replica() => {
            key.rotation.next
        }
        None => None,
    };
    match (lifecycle, imported::expiry(key)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Records a rotation carried out at `now`: counts on-demand rotations and
/// moves the next automatic rotation one period on.
pub fn rotated(key: &mut KeyRecord, kind: RotationType, now: Millis) {
    match kind {
        RotationType::OnDemand => key.on_demand_rotations += 1,
        RotationType::Automatic | RotationType::Initial => {}
    }
    if key.rotation.enabled && kind == RotationType::Automatic {
        key.rotation.next = Some(now + key.rotation.period_days as Millis * DAY_MS);
    }
}

/// Adds the material version a rotation of `kind` generated at `now`, and
/// records the rotation.
pub fn add_version(key: &mut KeyRecord, sealed: SealedMaterial, kind: RotationType, now: Millis) {
    let version = key.next_version();
    key.materials.push(MaterialVersion {
        version,
        created: now,
        rotation_type: kind,
        sealed,
    });
    rotated(key, kind, now);
}

/// Whether another on-demand rotation is allowed.
pub fn may_rotate_on_demand(key: &KeyRecord) -> bool {
    key.on_demand_rotations < MAX_ON_DEMAND_ROTATIONS
}

pub mod imported;
#[cfg(test)]
mod tests;
