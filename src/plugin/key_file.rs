//! The sealed key file the KMS v2 plugin reads: every material version of
//! one symmetric key, still sealed under the root key, so the plugin needs
//! nothing from the cluster it encrypts. `kube-kms export-kek` writes it.
//!
//! ```json
//! {"kind": "kube-kms/key-encryption-key", "format": 1,
//!  "keyId": "<uuid>", "exported": <ms>, "source": "cluster:ns/name",
//!  "versions": [{"version": 1, "created": <ms>, "sealed": "<base64>"}]}
//! ```
//!
//! The file itself is not authenticated; each sealed blob is, and binds its
//! key id, version, spec and usage, so a file can name only material that
//! really belongs to `keyId` at those versions.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::key::{KeyRecord, KeyState, MaterialVersion, Millis};
use crate::key_id::KeyId;
use crate::seal::SealedMaterial;
use crate::spec::{KeySpec, KeyUsage};

pub const KIND: &str = "kube-kms/key-encryption-key";
pub const FORMAT: u32 = 1;
/// Far above any real key (26 versions are a few KiB); bounds what a
/// corrupted or hostile file can make the plugin allocate.
pub const MAX_FILE_LEN: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyFile {
    pub kind: String,
    pub format: u32,
    pub key_id: KeyId,
    pub exported: Millis,
    /// Where it was exported from, for people reading the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub versions: Vec<MaterialVersion>,
    /// The version new seeds are wrapped with; the newest when absent.
    /// Held back during a rotation on several control-plane nodes, so
    /// every plugin can decrypt the new version before any wraps with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_version: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    #[error("the key file is not valid JSON of the expected shape: {0}")]
    Syntax(String),
    #[error("the key file's kind is {0:?}, not {KIND:?}")]
    Kind(String),
    #[error("the key file has format {0}; this build reads format {FORMAT}")]
    Format(u32),
    #[error("the key file holds no material versions")]
    Empty,
    #[error("the key file's versions are not strictly ascending at version {0}")]
    Order(u32),
    #[error("version {version} of the key file: {why}")]
    Version { version: u32, why: String },
    #[error("the key file is larger than {MAX_FILE_LEN} bytes")]
    TooLarge,
    #[error("the key file's writeVersion {0} is not one of its versions")]
    WriteVersion(u32),
}

/// Why a key cannot be exported for the plugin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("key {0} is {1} {2}; the KMS v2 plugin needs a SYMMETRIC_DEFAULT ENCRYPT_DECRYPT key")]
    NotSymmetric(KeyId, KeySpec, KeyUsage),
    #[error("key {0} is {1}; only an Enabled key can be exported for the KMS v2 plugin")]
    NotEnabled(KeyId, &'static str),
    #[error("key {0} has no key material yet")]
    NoMaterial(KeyId),
    #[error("key {0} has no material version {1}")]
    NoVersion(KeyId, u32),
}

impl KeyFile {
    /// The file for `record`, refusing keys the plugin could not use.
    /// `write_version` holds new seeds on an older version (see the field).
    pub fn from_record(
        record: &KeyRecord,
        write_version: Option<u32>,
        source: Option<String>,
        now: Millis,
    ) -> Result<Self, ExportError> {
        if record.spec != KeySpec::SymmetricDefault || record.usage != KeyUsage::EncryptDecrypt {
            return Err(ExportError::NotSymmetric(
                record.key_id,
                record.spec,
                record.usage,
            ));
        }
        if record.state() != KeyState::Enabled {
            return Err(ExportError::NotEnabled(
                record.key_id,
                record.state().as_str(),
            ));
        }
        if record.materials.is_empty() {
            return Err(ExportError::NoMaterial(record.key_id));
        }
        if let Some(version) = write_version
            && record.material(version).is_none()
        {
            return Err(ExportError::NoVersion(record.key_id, version));
        }
        Ok(KeyFile {
            kind: KIND.to_owned(),
            format: FORMAT,
            key_id: record.key_id,
            exported: now,
            source,
            versions: record.materials.clone(),
            write_version,
        })
    }

    /// Parses and checks a file's contents: shape, ordering, and that each
    /// sealed blob's clear header names this key, its version, and a
    /// symmetric encryption key. (Authenticity is checked when unsealing.)
    pub fn parse(bytes: &[u8]) -> Result<Self, KeyFileError> {
        if bytes.len() as u64 > MAX_FILE_LEN {
            return Err(KeyFileError::TooLarge);
        }
        let file: KeyFile =
            serde_json::from_slice(bytes).map_err(|e| KeyFileError::Syntax(e.to_string()))?;
        if file.kind != KIND {
            return Err(KeyFileError::Kind(file.kind));
        }
        if file.format != FORMAT {
            return Err(KeyFileError::Format(file.format));
        }
        if file.versions.is_empty() {
            return Err(KeyFileError::Empty);
        }
        let mut previous = 0;
        for v in &file.versions {
            if v.version <= previous {
                return Err(KeyFileError::Order(v.version));
            }
            previous = v.version;
            check_blob(file.key_id, v.version, &v.sealed)?;
        }
        if let Some(version) = file.write_version
            && !file.versions.iter().any(|v| v.version == version)
        {
            return Err(KeyFileError::WriteVersion(version));
        }
        Ok(file)
    }

    /// The version new seeds are wrapped with.
    pub fn current(&self) -> &MaterialVersion {
        self.write_version
            .and_then(|w| self.versions.iter().find(|v| v.version == w))
            .or(self.versions.last())
            .expect("a parsed key file has versions")
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).expect("a key file serializes");
        json.push(b'\n');
        json
    }
}

fn check_blob(key_id: KeyId, version: u32, sealed: &SealedMaterial) -> Result<(), KeyFileError> {
    let bad = |why: String| KeyFileError::Version { version, why };
    let header = sealed.header().map_err(|e| bad(e.to_string()))?;
    let id = header.material;
    if id.key_id != key_id || id.version != version {
        return Err(bad(format!(
            "the sealed material belongs to key {} version {}",
            id.key_id, id.version
        )));
    }
    if id.spec != KeySpec::SymmetricDefault || id.usage != KeyUsage::EncryptDecrypt {
        return Err(bad(format!(
            "the sealed material is {} {}, not SYMMETRIC_DEFAULT ENCRYPT_DECRYPT",
            id.spec, id.usage
        )));
    }
    Ok(())
}

/// Reads a key file, refusing anything over [`MAX_FILE_LEN`] before
/// reading it whole.
pub fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_LEN + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Writes `bytes` to `path` atomically with mode 0600: a temporary file in
/// the same directory, fsynced, renamed over `path`, and the directory
/// fsynced, so a reader (the plugin polling the file) sees the old file or
/// the new one, never a torn write.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "path has no file name")
    })?;
    let staging = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&staging)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&staging, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&staging);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::Deletion;
    use crate::plugin::fixture;

    fn record() -> KeyRecord {
        let root = fixture::root(9);
        let mut record = KeyRecord::test(1_700_000_000_000);
        // The fixture's material is a dummy; give it real sealed versions.
        record.materials = vec![
            fixture::version(&root, record.key_id, 1),
            fixture::version(&root, record.key_id, 2),
        ];
        record
    }

    #[test]
    fn an_exported_file_parses_back() {
        let file = KeyFile::from_record(&record(), None, Some("local".into()), 5).unwrap();
        let parsed = KeyFile::parse(&file.to_json()).unwrap();
        assert_eq!(parsed, file);
        assert_eq!(parsed.current().version, 2);
        let held = KeyFile::from_record(&record(), Some(1), None, 5).unwrap();
        let parsed = KeyFile::parse(&held.to_json()).unwrap();
        assert_eq!(parsed.current().version, 1);
        assert_eq!(parsed.versions.len(), 2);
        assert!(matches!(
            KeyFile::from_record(&record(), Some(3), None, 5),
            Err(ExportError::NoVersion(_, 3))
        ));
    }

    #[test]
    fn keys_the_plugin_cannot_use_are_not_exported() {
        let mut hmac = record();
        hmac.spec = KeySpec::Hmac256;
        hmac.usage = KeyUsage::GenerateVerifyMac;
        assert!(matches!(
            KeyFile::from_record(&hmac, None, None, 0),
            Err(ExportError::NotSymmetric(..))
        ));
        let mut disabled = record();
        disabled.enabled = false;
        assert_eq!(
            KeyFile::from_record(&disabled, None, None, 0),
            Err(ExportError::NotEnabled(disabled.key_id, "Disabled"))
        );
        let mut pending = record();
        pending.deletion = Some(Deletion {
            window_days: 7,
            deletion_date: 1,
        });
        assert!(matches!(
            KeyFile::from_record(&pending, None, None, 0),
            Err(ExportError::NotEnabled(_, "PendingDeletion"))
        ));
        let mut empty = record();
        empty.materials.clear();
        assert!(matches!(
            KeyFile::from_record(&empty, None, None, 0),
            Err(ExportError::NoMaterial(_))
        ));
    }

    #[test]
    fn malformed_files_are_refused_with_the_reason() {
        let good = KeyFile::from_record(&record(), None, None, 0).unwrap();
        let json = good.to_json();
        assert!(matches!(
            KeyFile::parse(&json[..json.len() / 2]),
            Err(KeyFileError::Syntax(_))
        ));
        assert!(matches!(
            KeyFile::parse(b"{\"kind\": 1}"),
            Err(KeyFileError::Syntax(_))
        ));
        let edit = |f: &dyn Fn(&mut KeyFile)| {
            let mut file = good.clone();
            f(&mut file);
            KeyFile::parse(&file.to_json())
        };
        assert!(matches!(
            edit(&|f| f.kind = "other".into()),
            Err(KeyFileError::Kind(_))
        ));
        assert_eq!(edit(&|f| f.format = 2), Err(KeyFileError::Format(2)));
        assert_eq!(edit(&|f| f.versions.clear()), Err(KeyFileError::Empty));
        assert_eq!(edit(&|f| f.versions.reverse()), Err(KeyFileError::Order(1)));
        // A version relabelled: the blob's header still says version 1.
        assert!(matches!(
            edit(&|f| f.versions[0].version = 0),
            Err(KeyFileError::Order(0))
        ));
        assert!(matches!(
            edit(&|f| f.versions.truncate(1)).map(|_| ()),
            Ok(())
        ));
        assert!(matches!(
            edit(&|f| f.versions[1].version = 3),
            Err(KeyFileError::Version { version: 3, .. })
        ));
        // Material of another key.
        assert!(matches!(
            edit(&|f| f.key_id = KeyId::from_bytes([1; 16])),
            Err(KeyFileError::Version { version: 1, .. })
        ));
        assert!(matches!(
            edit(&|f| f.versions[0].sealed = SealedMaterial::from_bytes(vec![0xA1; 8])),
            Err(KeyFileError::Version { version: 1, .. })
        ));
        assert_eq!(
            edit(&|f| f.write_version = Some(7)),
            Err(KeyFileError::WriteVersion(7))
        );
        let huge = vec![b' '; MAX_FILE_LEN as usize + 1];
        assert_eq!(KeyFile::parse(&huge), Err(KeyFileError::TooLarge));
    }

    #[test]
    fn atomic_writes_replace_the_file_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(read(&path).unwrap(), b"two");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
