//! Sealed key material: key material wrapped under a root key version.
//!
//! Layout (format 1; integers big-endian; see `docs/formats.md`):
//!
//! | offset | length | field                                   |
//! |--------|--------|-----------------------------------------|
//! | 0      | 1      | format = 0xA1                           |
//! | 1      | 4      | root key version that sealed it         |
//! | 5      | 16     | key id (UUID bytes)                     |
//! | 21     | 4      | material version                        |
//! | 25     | 2      | key spec code (`spec::KeySpec::code`)   |
//! | 27     | 1      | key usage code                          |
//! | 28     | 12     | nonce (random)                          |
//! | 40     | n      | AES-256-GCM ciphertext of the material  |
//! | 40 + n | 16     | GCM tag                                 |
//!
//! AAD = `"kube-kms/sealed-material/1\0"` ‖ bytes 0..28, so a blob cannot be
//! moved to another key, version, spec or usage, nor relabelled as sealed by
//! another root key version.

use std::fmt;

use crate::crypto::CryptoError;
use crate::key_id::KeyId;
use crate::material::KeyMaterial;
use crate::material::symmetric::{NONCE_LEN, TAG_LEN, random_nonce};
use crate::root::{RootKey, open_framed, seal_framed};
use crate::spec::{KeySpec, KeyUsage};

pub const FORMAT_V1: u8 = 0xA1;
const HEADER_LEN: usize = 28;
const AAD_LABEL: &[u8] = b"kube-kms/sealed-material/1\0";

/// What a sealed blob is: which key, which material version, what kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaterialId {
    pub key_id: KeyId,
    pub version: u32,
    pub spec: KeySpec,
    pub usage: KeyUsage,
}

/// The clear header of a sealed blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealHeader {
    pub root_version: u32,
    pub material: MaterialId,
}

impl SealHeader {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = FORMAT_V1;
        out[1..5].copy_from_slice(&self.root_version.to_be_bytes());
        out[5..21].copy_from_slice(self.material.key_id.as_bytes());
        out[21..25].copy_from_slice(&self.material.version.to_be_bytes());
        out[25..27].copy_from_slice(&self.material.spec.code().to_be_bytes());
        out[27] = self.material.usage.code() as u8;
        out
    }

    fn parse(blob: &[u8]) -> Result<Self, CryptoError> {
        let invalid = |why: &str| CryptoError::SealedMaterialInvalid(why.to_owned());
        if blob.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
            return Err(invalid("too short"));
        }
        if blob[0] != FORMAT_V1 {
            return Err(invalid("unknown format"));
        }
        let u32_at =
            |at: usize| u32::from_be_bytes([blob[at], blob[at + 1], blob[at + 2], blob[at + 3]]);
        let mut id = [0u8; 16];
        id.copy_from_slice(&blob[5..21]);
        let spec = KeySpec::from_code(u16::from_be_bytes([blob[25], blob[26]]))
            .ok_or_else(|| invalid("unknown key spec"))?;
        let usage =
            KeyUsage::from_code(u16::from(blob[27])).ok_or_else(|| invalid("unknown key usage"))?;
        Ok(SealHeader {
            root_version: u32_at(1),
            material: MaterialId {
                key_id: KeyId::from_bytes(id),
                version: u32_at(21),
                spec,
                usage,
            },
        })
    }
}

/// A sealed blob. Safe to store and log the length of; its header is public.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedMaterial(Vec<u8>);

impl fmt::Debug for SealedMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.header() {
            Ok(h) => write!(
                f,
                "SealedMaterial({} v{} {} {} root v{})",
                h.material.key_id,
                h.material.version,
                h.material.spec,
                h.material.usage,
                h.root_version
            ),
            Err(_) => write!(f, "SealedMaterial(<{} unparseable bytes>)", self.0.len()),
        }
    }
}

impl SealedMaterial {
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        SealedMaterial(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// Reads the clear header (no root key needed; not authenticated until
    /// [`unseal`] succeeds).
    pub fn header(&self) -> Result<SealHeader, CryptoError> {
        SealHeader::parse(&self.0)
    }
}

/// Seals `material` under the root key's current version.
pub fn seal(
    root: &dyn RootKey,
    id: MaterialId,
    material: &KeyMaterial,
) -> Result<SealedMaterial, CryptoError> {
    seal_with_nonce(root, id, material, &random_nonce())
}

/// A fixture: fresh `spec` material for ENCRYPT_DECRYPT sealed as `key_id`
/// version `version` under a throwaway root key. Its header is real (what
/// the controller and the cluster store read); nothing here opens the rest.
#[cfg(test)]
pub fn test_sealed(
    key_id: crate::key_id::KeyId,
    version: u32,
    spec: crate::spec::KeySpec,
) -> SealedMaterial {
    let root =
        crate::root::FileRootKey::from_keys([(1, crate::material::random_bytes(32))]).unwrap();
    let material = KeyMaterial::generate(spec).unwrap();
    let usage = crate::spec::KeyUsage::EncryptDecrypt;
    let id = MaterialId {
        key_id,
        version,
        spec,
        usage,
    };
    seal(&root, id, &material).unwrap()
}

/// As [`seal`] with a given nonce: for golden vectors only.
pub fn seal_with_nonce(
    root: &dyn RootKey,
    id: MaterialId,
    material: &KeyMaterial,
    nonce: &[u8; NONCE_LEN],
) -> Result<SealedMaterial, CryptoError> {
    if material.spec() != id.spec || !id.spec.allows_usage(id.usage) {
        return Err(CryptoError::Internal(format!(
            "cannot seal {} material as {} {}",
            material.spec(),
            id.spec,
            id.usage
        )));
    }
    let header = SealHeader {
        root_version: root.current_version(),
        material: id,
    }
    .encode();
    let version = root.current_version();
    let blob = seal_framed(root, version, AAD_LABEL, &header, nonce, material.expose())?;
    Ok(SealedMaterial(blob))
}

/// Authenticates and unwraps a sealed blob.
pub fn unseal(
    root: &dyn RootKey,
    sealed: &SealedMaterial,
) -> Result<(MaterialId, KeyMaterial), CryptoError> {
    // `header` checked the blob is long enough.
    let header = sealed.header()?;
    let bytes = open_framed(
        root,
        header.root_version,
        AAD_LABEL,
        HEADER_LEN,
        sealed.as_bytes(),
    )?;
    let material = KeyMaterial::from_bytes(header.material.spec, bytes)
        .map_err(|_| CryptoError::SealedMaterialInvalid("material does not parse".into()))?;
    Ok((header.material, material))
}

/// Re-wraps a blob under the root key's current version; id, version and
/// material stay the same. A blob already under the current version is
/// returned unchanged.
pub fn reseal(root: &dyn RootKey, sealed: &SealedMaterial) -> Result<SealedMaterial, CryptoError> {
    let header = sealed.header()?;
    let (id, material) = unseal(root, sealed)?;
    if header.root_version == root.current_version() {
        return Ok(sealed.clone());
    }
    seal(root, id, &material)
}

#[cfg(test)]
mod tests;
