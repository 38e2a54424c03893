//! Finishing a root key rotation: material sealed under an older root key
//! version is sealed again under the newest, so that the older versions
//! stop being needed and can be removed (after a suspected leak of one,
//! say). The material itself, key ids, material versions and every
//! ciphertext stay the same.

use crate::crypto::{CryptoError, CryptoService};
use crate::key::KeyRecord;
use crate::key_id::KeyId;
use crate::seal::SealedMaterial;
use crate::store::{KeyStore, StoreError};

/// The material versions of `key` (imported material pending rotation
/// included) sealed under a root key version other than `current`. A blob
/// whose header does not parse is not counted: it opens under no version,
/// and the root key check reports it.
pub fn stale_versions(key: &KeyRecord, current: u32) -> Vec<u32> {
    sealed(key)
        .filter(|(_, sealed)| {
            sealed
                .header()
                .is_ok_and(|header| header.root_version != current)
        })
        .map(|(version, _)| version)
        .collect()
}

/// Every sealed blob `key` holds, by the material version it is for.
fn sealed(key: &KeyRecord) -> impl Iterator<Item = (u32, &SealedMaterial)> {
    let versions = key.materials.iter().map(|m| (m.version, &m.sealed));
    let pending = key
        .pending_rotation
        .iter()
        .map(|p| (p.material.version, &p.sealed));
    versions.chain(pending)
}

fn sealed_mut(key: &mut KeyRecord, version: u32) -> Option<&mut SealedMaterial> {
    let pending = key
        .pending_rotation
        .as_mut()
        .filter(|p| p.material.version == version)
        .map(|p| &mut p.sealed);
    match pending {
        Some(sealed) => Some(sealed),
        None => key
            .materials
            .iter_mut()
            .find(|m| m.version == version)
            .map(|m| &mut m.sealed),
    }
}

/// What a pass over a store did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resealed {
    /// The root key version everything was sealed again under.
    pub root_version: u32,
    /// Material versions sealed again, over how many keys.
    pub materials: usize,
    pub keys: usize,
    /// Material that the crypto service would not reseal (damaged), as
    /// `(key id, material version, why)`: it stays as it was.
    pub refused: Vec<(KeyId, u32, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    #[error("resealing key material: {0}")]
    Crypto(CryptoError),
    #[error("storing resealed key material: {0}")]
    Store(StoreError),
}

/// What resealing one key did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct KeyResealed {
    /// Material versions now sealed under the newest root key version.
    pub moved: Vec<u32>,
    /// Material that does not open (damaged), as `(material version, why)`:
    /// it stays as it was, for the root key check to report, rather than
    /// stopping everything else.
    pub refused: Vec<(u32, String)>,
}

/// Seals the material versions of `key` that are sealed under a root key
/// version other than `current` again, through `crypto` (whose newest
/// version `current` is).
pub async fn reseal_key(
    key: &mut KeyRecord,
    current: u32,
    crypto: &dyn CryptoService,
) -> Result<KeyResealed, CryptoError> {
    let mut done = KeyResealed::default();
    for version in stale_versions(key, current) {
        let Some(stale) = sealed_mut(key, version) else {
            continue;
        };
        match crypto.reseal(stale.clone()).await {
            Ok(sealed) => {
                *stale = sealed;
                done.moved.push(version);
            }
            Err(
                e @ (CryptoError::SealedMaterialInvalid(_)
                | CryptoError::UnknownRootKey(_)
                | CryptoError::MalformedMaterial(_)),
            ) => done.refused.push((version, e.to_string())),
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Seals every stale material version in `store` again under the crypto
/// service's newest root key version, one key (one store write) at a time.
pub async fn reseal_store(
    store: &dyn KeyStore,
    crypto: &dyn CryptoService,
) -> Result<Resealed, ResealError> {
    let current = crypto
        .root_key_info()
        .await
        .map_err(ResealError::Crypto)?
        .current;
    let mut done = Resealed {
        root_version: current,
        ..Resealed::default()
    };
    for mut key in store.all_keys().await.map_err(ResealError::Store)? {
        let key_id = key.key_id;
        let resealed = reseal_key(&mut key, current, crypto)
            .await
            .map_err(ResealError::Crypto)?;
        done.refused.extend(
            resealed
                .refused
                .into_iter()
                .map(|(version, why)| (key_id, version, why)),
        );
        if resealed.moved.is_empty() {
            continue;
        }
        // The revision check makes this a no-op, not a lost update, if the
        // key changed meanwhile; the next pass picks it up.
        match store.update_key(key).await {
            Ok(_) => {
                done.materials += resealed.moved.len();
                done.keys += 1;
            }
            Err(StoreError::Conflict(_) | StoreError::NotFound(_)) => {}
            Err(e) => return Err(ResealError::Store(e)),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests;
