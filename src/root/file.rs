//! Root keys held in files: 32 random bytes each (in a cluster, a mounted
//! Secret). A path is either one file (version 1) or a directory whose
//! files named `v<N>` are versions N.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::{RootKey, unseal_failed};
use crate::crypto::CryptoError;
use crate::material::random_bytes;
use crate::material::symmetric::{KEY_LEN, NONCE_LEN, SymmetricKey};
use crate::secret::SecretBytes;

pub struct FileRootKey {
    keys: BTreeMap<u32, SymmetricKey>,
}

impl fmt::Debug for FileRootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "FileRootKey(versions {:?})",
            self.keys.keys().collect::<Vec<_>>()
        )
    }
}

fn io_error(path: &Path, e: impl fmt::Display) -> CryptoError {
    CryptoError::RootKey(format!("{}: {e}", path.display()))
}

impl FileRootKey {
    /// Loads a root key file or directory of `v<N>` files.
    pub fn load(path: &Path) -> Result<Self, CryptoError> {
        let meta = std::fs::metadata(path).map_err(|e| io_error(path, e))?;
        let mut keys = BTreeMap::new();
        if meta.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| io_error(path, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| io_error(path, e))?;
                let name = entry.file_name();
                // Kubernetes Secret volumes also hold `..data` links; only
                // `v<N>` names are versions.
                let Some(version) = name
                    .to_str()
                    .and_then(|n| n.strip_prefix('v'))
                    .and_then(|n| n.parse::<u32>().ok())
                else {
                    continue;
                };
                keys.insert(version, read_key(&entry.path())?);
            }
            if keys.is_empty() {
                return Err(io_error(
                    path,
                    "no root key files named v<N> in this directory",
                ));
            }
        } else {
            keys.insert(1, read_key(path)?);
        }
        Ok(FileRootKey { keys })
    }

    /// Creates a new root key file with mode 0600; fails if it exists, so an
    /// existing key is never overwritten.
    pub fn create(path: &Path) -> Result<Self, CryptoError> {
        let key = random_bytes(KEY_LEN);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| io_error(path, e))?;
        file.write_all(&key).map_err(|e| io_error(path, e))?;
        file.sync_all().map_err(|e| io_error(path, e))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Make the new directory entry durable too.
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io_error(dir, e))?;
        }
        Self::from_keys([(1, key)])
    }

    /// Loads `path`, creating it first if it does not exist and `create` is set.
    pub fn load_or_create(path: &Path, create: bool) -> Result<(Self, bool), CryptoError> {
        if create && !path.exists() {
            return Ok((Self::create(path)?, true));
        }
        Ok((Self::load(path)?, false))
    }

    /// From raw keys, for tests and tooling.
    pub fn from_keys(
        keys: impl IntoIterator<Item = (u32, SecretBytes)>,
    ) -> Result<Self, CryptoError> {
        let mut map = BTreeMap::new();
        for (version, bytes) in keys {
            let key = SymmetricKey::new(&bytes).ok_or_else(|| {
                CryptoError::RootKey(format!(
                    "root key version {version} must be {KEY_LEN} bytes"
                ))
            })?;
            map.insert(version, key);
        }
        if map.is_empty() {
            return Err(CryptoError::RootKey("no root key versions".into()));
        }
        Ok(FileRootKey { keys: map })
    }
}

fn read_key(path: &Path) -> Result<SymmetricKey, CryptoError> {
    let bytes = SecretBytes::new(std::fs::read(path).map_err(|e| io_error(path, e))?);
    if bytes.len() != KEY_LEN {
        return Err(io_error(
            path,
            format!(
                "a root key file must hold exactly {KEY_LEN} bytes, this one holds {}",
                bytes.len()
            ),
        ));
    }
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "root key file is readable by group or others; it should be mode 0600");
    }
    SymmetricKey::new(&bytes).ok_or_else(|| io_error(path, "invalid key"))
}

impl RootKey for FileRootKey {
    fn current_version(&self) -> u32 {
        self.keys.keys().next_back().copied().unwrap_or(0)
    }

    fn versions(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    fn seal(
        &self,
        version: u32,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let key = self
            .keys
            .get(&version)
            .ok_or(CryptoError::UnknownRootKey(version))?;
        Ok(key.seal_with_nonce(nonce, aad, plaintext))
    }

    fn unseal(
        &self,
        version: u32,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        let key = self
            .keys
            .get(&version)
            .ok_or(CryptoError::UnknownRootKey(version))?;
        key.open(nonce, aad, sealed).ok_or_else(unseal_failed)
    }
}
