//! The key encryption key, unsealed: every material version of the key file,
//! ready to wrap and unwrap kube-apiserver's data-key seeds.
//!
//! The plugin is its own crypto boundary on the control-plane node: it
//! unseals with a local root key (file or PKCS#11) and holds the material
//! in memory only (zeroized when the keyring is dropped), like the crypto
//! service does.

use std::collections::BTreeMap;

use aws_lc_rs::hmac;

use super::kek_id::{CHECK_LEN, KekId};
use super::key_file::KeyFile;
use crate::ciphertext::{self, CiphertextHeader, EncryptionContext};
use crate::key_id::KeyId;
use crate::material::LoadedKey;
use crate::material::symmetric::SymmetricKey;
use crate::root::RootKey;
use crate::seal;
use crate::secret::SecretBytes;

/// Largest seed Encrypt wraps. kube-apiserver sends 32 bytes; the bound
/// keeps every ciphertext far below the 1024-byte limit.
pub const MAX_SEED_LEN: usize = 512;
/// The context every seed is wrapped under: a ciphertext of the same key
/// made through the AWS endpoint cannot be passed off as a seed, and back.
const CONTEXT_KEY: &str = "kubekms.io/use";
const CONTEXT_VALUE: &str = "kubernetes-kms-v2-seed";
const CHECK_LABEL: &[u8] = b"kube-kms/kms-v2/key-id-check/1\0";

/// Why a key file could not become the serving keyring.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("version {0}: {1}")]
    Unseal(u32, String),
    #[error("version {0} does not decrypt what it encrypts")]
    RoundTrip(u32),
    #[error(
        "the key file is for key {new}, but this plugin serves key {serving}; restart it to change keys"
    )]
    OtherKey { serving: KeyId, new: KeyId },
    #[error(
        "the key file no longer holds version {0}, which may still wrap data in etcd; refusing it"
    )]
    VersionDropped(u32),
    #[error(
        "the key file's version {0} is different material than the version {0} being served; refusing it"
    )]
    VersionChanged(u32),
    #[error(
        "the key file wraps with version {new}, older than version {serving} already in use; a key_id never goes back"
    )]
    WriteVersionBack { serving: u32, new: u32 },
}

/// Why a call was refused: all of these are the caller's input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    #[error("plaintext must be 1 to {MAX_SEED_LEN} bytes, got {0}")]
    SeedLength(usize),
    #[error(transparent)]
    NotOurs(#[from] super::kek_id::NotOurs),
    #[error("key_id {0} belongs to key {1}; this plugin serves key {2}")]
    OtherKey(String, KeyId, KeyId),
    #[error("key_id {0} names material this plugin does not hold")]
    UnknownMaterial(String),
    #[error("annotations were not issued by this plugin (it issues none)")]
    Annotations,
    #[error("ciphertext does not belong to key_id {0}")]
    Mismatch(String),
    #[error("ciphertext is malformed or was altered")]
    Ciphertext,
}

struct Version {
    kek: KekId,
    /// Printed once; Encrypt and Status hand out this exact string.
    name: String,
    key: SymmetricKey,
}

pub struct Keyring {
    key_id: KeyId,
    versions: BTreeMap<u32, Version>,
    /// The version Encrypt wraps with (the key file's `current()`).
    write: u32,
    context: EncryptionContext,
    /// The format seeds are wrapped in.
    format: ciphertext::Format,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("key_id", &self.key_id)
            .field("current", &self.current_name())
            .field("versions", &self.versions.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A public commitment to the material: HMAC-SHA256 keyed by the material
/// over a fixed label, the key id and the version (a key check value).
fn check_value(material: &[u8], key_id: KeyId, version: u32) -> [u8; CHECK_LEN] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, material);
    let mut mac = hmac::Context::with_key(&key);
    mac.update(CHECK_LABEL);
    mac.update(key_id.as_bytes());
    mac.update(&version.to_be_bytes());
    let mut check = [0u8; CHECK_LEN];
    check.copy_from_slice(&mac.sign().as_ref()[..CHECK_LEN]);
    check
}

impl Keyring {
    /// Unseals every version and proves each one round-trips.
    pub fn load(file: &KeyFile, root: &dyn RootKey) -> Result<Self, KeyringError> {
        let mut versions = BTreeMap::new();
        for v in &file.versions {
            let (id, material) = seal::unseal(root, &v.sealed)
                .map_err(|e| KeyringError::Unseal(v.version, e.to_string()))?;
            // `KeyFile::parse` checked the clear header; the unseal
            // authenticated it.
            debug_assert_eq!((id.key_id, id.version), (file.key_id, v.version));
            let kek = KekId {
                key_id: file.key_id,
                version: v.version,
                check: check_value(material.expose(), file.key_id, v.version),
            };
            let key = match material.load() {
                Ok(LoadedKey::Symmetric(key)) => key,
                _ => {
                    return Err(KeyringError::Unseal(
                        v.version,
                        "not symmetric key material".into(),
                    ));
                }
            };
            versions.insert(
                v.version,
                Version {
                    name: kek.to_string(),
                    kek,
                    key,
                },
            );
        }
        let keyring = Keyring {
            key_id: file.key_id,
            versions,
            write: file.current().version,
            context: EncryptionContext::new(BTreeMap::from([(
                CONTEXT_KEY.to_owned(),
                CONTEXT_VALUE.to_owned(),
            )])),
            format: Default::default(),
        };
        for &version in keyring.versions.keys() {
            keyring.round_trip_version(version)?;
        }
        Ok(keyring)
    }

    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    fn current(&self) -> &Version {
        &self.versions[&self.write]
    }

    /// The key_id Status reports and Encrypt returns.
    pub fn current_name(&self) -> &str {
        &self.current().name
    }

    pub fn current_version(&self) -> u32 {
        self.current().kek.version
    }

    pub fn version_count(&self) -> usize {
        self.versions.len()
    }

    /// Wraps seeds in `format` (format 2 by default).
    pub fn writing(mut self, format: ciphertext::Format) -> Self {
        self.format = format;
        self
    }

    /// Wraps `seed` with the current version; returns the ciphertext and
    /// the key_id it belongs to.
    pub fn encrypt(&self, seed: &[u8]) -> Result<(Vec<u8>, &str), SeedError> {
        if seed.is_empty() || seed.len() > MAX_SEED_LEN {
            return Err(SeedError::SeedLength(seed.len()));
        }
        let current = self.current();
        Ok((self.wrap(current, seed), &current.name))
    }

    fn wrap(&self, version: &Version, seed: &[u8]) -> Vec<u8> {
        let header = CiphertextHeader {
            key_id: self.key_id,
            material_version: version.kek.version,
        };
        ciphertext::encrypt_as(self.format, &version.key, header, &self.context, seed)
    }

    /// Unwraps a seed, after checking that `key_id` is one this plugin
    /// issued for material it holds, that no annotations came along, and
    /// that the ciphertext names the same key and version.
    pub fn decrypt(
        &self,
        key_id: &str,
        ciphertext: &[u8],
        annotations_present: bool,
    ) -> Result<SecretBytes, SeedError> {
        let kek: KekId = key_id.parse()?;
        if kek.key_id != self.key_id {
            return Err(SeedError::OtherKey(
                key_id.to_owned(),
                kek.key_id,
                self.key_id,
            ));
        }
        let version = self
            .versions
            .get(&kek.version)
            .filter(|v| v.kek == kek)
            .ok_or_else(|| SeedError::UnknownMaterial(key_id.to_owned()))?;
        if annotations_present {
            return Err(SeedError::Annotations);
        }
        let header = CiphertextHeader::parse(ciphertext).map_err(|_| SeedError::Ciphertext)?;
        if header.key_id != self.key_id || header.material_version != kek.version {
            return Err(SeedError::Mismatch(key_id.to_owned()));
        }
        ciphertext::decrypt(&version.key, ciphertext, &self.context)
            .map_err(|_| SeedError::Ciphertext)
    }

    /// Encrypts and decrypts a random seed with the current version: what
    /// "healthy" means.
    pub fn round_trip(&self) -> Result<(), KeyringError> {
        self.round_trip_version(self.current_version())
    }

    fn round_trip_version(&self, number: u32) -> Result<(), KeyringError> {
        let version = &self.versions[&number];
        let seed = crate::material::random_bytes(32);
        let wrapped = self.wrap(version, &seed);
        match self.decrypt(&version.name, &wrapped, false) {
            Ok(back) if back == seed => Ok(()),
            _ => Err(KeyringError::RoundTrip(number)),
        }
    }

    /// Whether `next` may replace this keyring without stranding data:
    /// the same key, and every version served now still there with the
    /// same material.
    pub fn check_successor(&self, next: &Keyring) -> Result<(), KeyringError> {
        if next.key_id != self.key_id {
            return Err(KeyringError::OtherKey {
                serving: self.key_id,
                new: next.key_id,
            });
        }
        for (number, version) in &self.versions {
            match next.versions.get(number) {
                None => return Err(KeyringError::VersionDropped(*number)),
                Some(v) if v.kek != version.kek => {
                    return Err(KeyringError::VersionChanged(*number));
                }
                Some(_) => {}
            }
        }
        if next.write < self.write {
            return Err(KeyringError::WriteVersionBack {
                serving: self.write,
                new: next.write,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
