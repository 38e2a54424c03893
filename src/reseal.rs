//! Finishing a root key rotation: material sealed under an older root key
//! version is sealed again under the newest, so that the older versions
//! stop being needed and can be removed (after a suspected leak of one,
//! say). The material itself, key ids, material versions and every
//! ciphertext stay the same.

use crate::crypto::{CryptoError, CryptoService};
use crate::key::KeyRecord;
use crate::key_id::KeyId;
use crate::store::{KeyStore, StoreError};

/// The material versions of `key` sealed under a root key version other
/// than `current`. A blob whose header does not parse is not counted: it
/// opens under no version, and the root key check reports it.
pub fn stale_versions(key: &KeyRecord, current: u32) -> Vec<u32> {
    key.materials
        .iter()
        .filter(|m| {
            m.sealed
                .header()
                .is_ok_and(|header| header.root_version != current)
        })
        .map(|m| m.version)
        .collect()
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
    for key in store.all_keys().await.map_err(ResealError::Store)? {
        let stale = stale_versions(&key, current);
        if stale.is_empty() {
            continue;
        }
        let key_id = key.key_id;
        let mut updated = key;
        let mut changed = 0;
        for material in updated
            .materials
            .iter_mut()
            .filter(|m| stale.contains(&m.version))
        {
            match crypto.reseal(material.sealed.clone()).await {
                Ok(sealed) => {
                    material.sealed = sealed;
                    changed += 1;
                }
                Err(
                    e @ (CryptoError::SealedMaterialInvalid(_)
                    | CryptoError::UnknownRootKey(_)
                    | CryptoError::MalformedMaterial(_)),
                ) => done.refused.push((key_id, material.version, e.to_string())),
                Err(e) => return Err(ResealError::Crypto(e)),
            }
        }
        if changed == 0 {
            continue;
        }
        // The revision check makes this a no-op, not a lost update, if the
        // key changed meanwhile; the next pass picks it up.
        match store.update_key(updated).await {
            Ok(_) => {
                done.materials += changed;
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
