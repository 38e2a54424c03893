//! Test fixtures: key files with real sealed material.

use crate::key::{MaterialVersion, RotationType};
use crate::key_id::KeyId;
use crate::material::KeyMaterial;
use crate::root::FileRootKey;
use crate::seal::{self, MaterialId};
use crate::spec::{KeySpec, KeyUsage};

use super::key_file::{FORMAT, KIND, KeyFile};

pub fn root(byte: u8) -> FileRootKey {
    FileRootKey::from_keys(vec![(1, vec![byte; 32].into())]).expect("root key")
}

/// Fresh material for `key_id` at `version`, sealed under `root`.
pub fn version(root: &FileRootKey, key_id: KeyId, version: u32) -> MaterialVersion {
    let id = MaterialId {
        key_id,
        version,
        spec: KeySpec::SymmetricDefault,
        usage: KeyUsage::EncryptDecrypt,
    };
    let material = KeyMaterial::generate(KeySpec::SymmetricDefault).expect("material");
    MaterialVersion {
        version,
        created: 1_700_000_000_000 + i64::from(version),
        rotation_type: if version == 1 {
            RotationType::Initial
        } else {
            RotationType::OnDemand
        },
        sealed: seal::seal(root, id, &material).expect("seal"),
    }
}

pub fn key_file(key_id: KeyId, versions: Vec<MaterialVersion>) -> KeyFile {
    KeyFile {
        kind: KIND.to_owned(),
        format: FORMAT,
        key_id,
        exported: 1_700_000_000_000,
        source: None,
        versions,
        write_version: None,
    }
}
