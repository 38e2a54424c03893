//! What a declared key (a `KmsKey` object, or a manifest in the embedded
//! default) asks of its record. Both runtimes call [`converge`]; neither
//! decides these things itself. Pure.

use crate::key::{KeyRecord, Millis, Origin};
use crate::lifecycle::{self, RangeError};
use crate::resource::KmsKeySpec;
use crate::spec::{KeySpec, KeyUsage};

/// Why a spec cannot be applied to a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error(transparent)]
    Range(#[from] RangeError),
    #[error("{0} keys do not rotate; only SYMMETRIC_DEFAULT keys support automatic rotation")]
    RotationUnsupported(KeySpec),
    #[error("keys of imported material (origin EXTERNAL) do not rotate")]
    RotationOfImported,
    #[error("the key's origin is {have}; the spec asks for {want}, and origin cannot change")]
    OriginImmutable {
        have: &'static str,
        want: &'static str,
    },
    #[error("keyId {0} is {1}a multi-Region id, but multiRegion is {2}")]
    MultiRegionId(crate::key_id::KeyId, &'static str, bool),
    #[error("primaryRegion {0:?} is not a Region name (such as us-east-1)")]
    PrimaryRegionName(String),
    #[error("primaryRegion makes a replica, which is a multiRegion key with a pinned keyId")]
    ReplicaUnpinned,
    #[error("replicaRegions: {0:?} is not a Region name (such as us-east-1)")]
    ReplicaRegionName(String),
    #[error("replicaRegions: {0} is listed twice")]
    ReplicaRegionTwice(String),
    #[error("replicaRegions are for a multiRegion key")]
    ReplicaRegionsSingleRegion,
    #[error("policy: {0}")]
    Policy(#[from] crate::policy::PolicyError),
    #[error("tags: {0}")]
    Tags(#[from] crate::tag::TagError),
    #[error(
        "the key material is {have_spec} {have_usage}; the spec asks for {want_spec} {want_usage}, and keySpec and keyUsage cannot change"
    )]
    Immutable {
        have_spec: KeySpec,
        have_usage: KeyUsage,
        want_spec: KeySpec,
        want_usage: KeyUsage,
    },
}

/// One difference between a record and its spec, as [`converge`] fixed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The key was pending deletion; declaring it again cancelled that.
    DeletionCancelled,
    Description,
    Tags,
    Enabled,
    Disabled,
    RotationEnabled {
        period_days: u32,
    },
    RotationDisabled,
    Policy,
    /// `replicaRegions` changed (the endpoint replicates to new ones).
    ReplicaRegions,
}

/// The deletion window the spec asks for, in days.
pub fn pending_window(spec: &KmsKeySpec) -> Result<u32, SpecError> {
    Ok(lifecycle::pending_window(spec.pending_window_days)?)
}

/// Checks a spec on its own (before any material exists).
pub fn validate(spec: &KmsKeySpec) -> Result<(), SpecError> {
    pending_window(spec)?;
    lifecycle::rotation_period(spec.rotation.period_days)?;
    if spec.rotation.enabled && !lifecycle::supports_rotation(spec.key_spec) {
        return Err(SpecError::RotationUnsupported(spec.key_spec));
    }
    if spec.rotation.enabled && spec.origin == Origin::External {
        return Err(SpecError::RotationOfImported);
    }
    if let Some(id) = spec.key_id
        && id.is_multi_region() != spec.multi_region
    {
        let not = if id.is_multi_region() { "" } else { "not " };
        return Err(SpecError::MultiRegionId(id, not, spec.multi_region));
    }
    if let Some(region) = &spec.primary_region {
        if !crate::replica::peers_file::is_region(region) {
            return Err(SpecError::PrimaryRegionName(region.clone()));
        }
        if !spec.multi_region || spec.key_id.is_none() {
            return Err(SpecError::ReplicaUnpinned);
        }
    }
    check_replica_regions(spec)?;
    if let Some(policy) = &spec.policy {
        crate::policy::check(policy)?;
    }
    crate::tag::check(&spec.tags)?;
    Ok(())
}

fn check_replica_regions(spec: &KmsKeySpec) -> Result<(), SpecError> {
    if !spec.replica_regions.is_empty() && !spec.multi_region {
        return Err(SpecError::ReplicaRegionsSingleRegion);
    }
    for (i, region) in spec.replica_regions.iter().enumerate() {
        if !crate::replica::peers_file::is_region(region) {
            return Err(SpecError::ReplicaRegionName(region.clone()));
        }
        if spec.replica_regions[..i].contains(region) {
            return Err(SpecError::ReplicaRegionTwice(region.clone()));
        }
    }
    Ok(())
}

/// Brings `key` to what `spec` declares at `now` and says what changed; an
/// empty list means there is nothing to write. A key pending deletion is
/// brought back: declaring a key again is how its deletion is cancelled.
pub fn converge(
    key: &mut KeyRecord,
    spec: &KmsKeySpec,
    now: Millis,
) -> Result<Vec<Change>, SpecError> {
    validate(spec)?;
    if key.spec != spec.key_spec || key.usage != spec.key_usage {
        return Err(SpecError::Immutable {
            have_spec: key.spec,
            have_usage: key.usage,
            want_spec: spec.key_spec,
            want_usage: spec.key_usage,
        });
    }
    if key.origin != spec.origin {
        return Err(SpecError::OriginImmutable {
            have: key.origin.as_str(),
            want: spec.origin.as_str(),
        });
    }
    let period = lifecycle::rotation_period(spec.rotation.period_days)?;
    let mut changes = Vec::new();
    if key.deletion.is_some() {
        lifecycle::cancel_deletion(key);
        changes.push(Change::DeletionCancelled);
    }
    if key.description != spec.description {
        key.description = spec.description.clone();
        changes.push(Change::Description);
    }
    if key.tags != spec.tags {
        key.tags = spec.tags.clone();
        changes.push(Change::Tags);
    }
    if key.policy.as_deref() != spec.policy.as_deref() {
        key.policy = spec.policy.as_deref().map(Into::into);
        changes.push(Change::Policy);
    }
    if key.replica_regions != spec.replica_regions {
        key.replica_regions = spec.replica_regions.clone();
        changes.push(Change::ReplicaRegions);
    }
    if key.enabled != spec.enabled {
        key.enabled = spec.enabled;
        changes.push(if spec.enabled {
            Change::Enabled
        } else {
            Change::Disabled
        });
    }
    match (spec.rotation.enabled, key.rotation.enabled) {
        (true, false) => {
            lifecycle::enable_rotation(key, period, now);
            changes.push(Change::RotationEnabled {
                period_days: period,
            });
        }
        (true, true) if key.rotation.period_days != period => {
            lifecycle::enable_rotation(key, period, now);
            changes.push(Change::RotationEnabled {
                period_days: period,
            });
        }
        (false, true) => {
            lifecycle::disable_rotation(key);
            changes.push(Change::RotationDisabled);
        }
        _ => {}
    }
    Ok(changes)
}

#[cfg(test)]
mod tests;
