//! Before serving: does the root key open what the store holds?
//!
//! A root key other than the one a store was sealed under (another file, a
//! wrong Secret mounted) would otherwise start cleanly, fail every
//! cryptographic request with an internal error, and seal every key created
//! meanwhile under the wrong root key: a store split between two root keys.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::crypto::{CryptoError, CryptoService};
use crate::key::KeyRecord;

/// Material versions tried per root key version: one damaged blob should
/// not stop the service, a root key that opens none of them should.
const PROBES: usize = 3;

/// What the check found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RootKeyCheck {
    /// Root key versions the store's material is sealed under, each opened.
    pub versions: Vec<u32>,
    /// Material that did not open though other material under the same root
    /// key version did, or whose header does not parse: damaged blobs, as
    /// `(key id, material version, why)`.
    pub damaged: Vec<(String, u32, String)>,
}

impl RootKeyCheck {
    /// Logs what was opened, and each blob that alone did not open.
    pub fn log(&self) {
        for (key, version, why) in &self.damaged {
            tracing::error!(key, version, %why, "key material does not open; requests with it will fail");
        }
        if !self.versions.is_empty() {
            tracing::info!(root_key_versions = ?self.versions, "the root key opens the stored key material");
        }
    }
}

/// Why the check did not pass.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The root key opens none of the material sealed under one of the
    /// root key versions in use: not the store's root key.
    #[error("{0}")]
    Refused(String),
    /// The crypto service failed otherwise (unreachable, say): nothing was
    /// learnt about the root key.
    #[error("checking the root key: {0}")]
    Crypto(CryptoError),
}

/// Why a check that runs until it is made did not pass.
#[derive(Debug)]
pub enum Failure {
    /// The root key is not the one the material was sealed under: final.
    Refused(String),
    /// The check could not be made (the API server or the crypto service
    /// not reachable yet, the sidecar still starting): worth retrying.
    Unchecked(String),
}

impl From<CheckError> for Failure {
    fn from(e: CheckError) -> Self {
        match e {
            CheckError::Crypto(_) => Failure::Unchecked(e.to_string()),
            CheckError::Refused(_) => Failure::Refused(e.to_string()),
        }
    }
}

/// Waits between attempts while the check cannot be made, doubling up to
/// the last.
const RETRY: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(30));

/// Runs `attempt` until the check is made: its result, or why the root key
/// was refused.
pub async fn until_made<F, Fut>(mut attempt: F) -> Result<RootKeyCheck, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<RootKeyCheck, Failure>>,
{
    let mut wait = RETRY.0;
    loop {
        match attempt().await {
            Ok(check) => return Ok(check),
            Err(Failure::Refused(why)) => return Err(why),
            Err(Failure::Unchecked(why)) => {
                tracing::warn!(%why, retry_in_s = wait.as_secs(), "cannot check the root key yet");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RETRY.1);
            }
        }
    }
}

/// Opens (and discards the result of resealing) up to three material
/// versions sealed under each root key version found in `keys`. An error
/// when, for some root key version, none opens.
pub async fn check_root_key(
    keys: &[KeyRecord],
    crypto: &dyn CryptoService,
) -> Result<RootKeyCheck, CheckError> {
    let mut check = RootKeyCheck::default();
    let mut by_version: BTreeMap<u32, Vec<_>> = BTreeMap::new();
    for key in keys {
        for material in &key.materials {
            let root_version = match material.sealed.header() {
                Ok(header) => header.root_version,
                Err(e) => {
                    check
                        .damaged
                        .push((key.key_id.to_string(), material.version, e.to_string()));
                    continue;
                }
            };
            let probes = by_version.entry(root_version).or_default();
            if probes.len() < PROBES {
                probes.push((key.key_id.to_string(), material));
            }
        }
    }
    for (root_version, probes) in by_version {
        let mut failures = Vec::new();
        for (key_id, material) in &probes {
            match crypto.reseal(material.sealed.clone()).await {
                Ok(_) => {}
                Err(
                    e @ (CryptoError::SealedMaterialInvalid(_)
                    | CryptoError::UnknownRootKey(_)
                    | CryptoError::MalformedMaterial(_)),
                ) => failures.push((key_id.clone(), material.version, e.to_string())),
                Err(e) => return Err(CheckError::Crypto(e)),
            }
        }
        if failures.len() == probes.len() {
            let (key_id, version, why) = &failures[0];
            return Err(CheckError::Refused(format!(
                "the root key does not open this store's key material sealed under root key \
                 version {root_version} ({} of {} tried; key {key_id} version {version}: {why}). \
                 Is this the root key the store was created with?",
                failures.len(),
                probes.len()
            )));
        }
        check.versions.push(root_version);
        check.damaged.extend(failures);
    }
    Ok(check)
}

#[cfg(test)]
mod tests;
