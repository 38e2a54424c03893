//! The symmetric ciphertext blob returned by Encrypt and GenerateDataKey*,
//! and the canonical encoding of encryption contexts.
//!
//! Layout (format 1; integers big-endian; see `docs/formats.md`):
//!
//! | offset | length | field                                   |
//! |--------|--------|-----------------------------------------|
//! | 0      | 1      | format = 0x01                           |
//! | 1      | 16     | key id (UUID bytes)                     |
//! | 17     | 4      | material version                        |
//! | 21     | 12     | nonce (random)                          |
//! | 33     | n      | AES-256-GCM ciphertext                  |
//! | 33 + n | 16     | GCM tag                                 |
//!
//! AAD = `"kube-kms/ciphertext/1\0"` ‖ bytes 0..21 ‖ canonical(context).

use std::collections::BTreeMap;

use crate::crypto::CryptoError;
use crate::key_id::KeyId;
use crate::material::symmetric::{NONCE_LEN, SymmetricKey, TAG_LEN, random_nonce};
use crate::secret::SecretBytes;

pub const FORMAT_V1: u8 = 0x01;
const HEADER_LEN: usize = 21;
/// Bytes a blob adds to its plaintext.
pub const OVERHEAD: usize = HEADER_LEN + NONCE_LEN + TAG_LEN;
const AAD_LABEL: &[u8] = b"kube-kms/ciphertext/1\0";

/// An encryption context: string pairs bound to a ciphertext as AAD. Pair
/// order never matters; keys and values are compared exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    pub fn new(pairs: BTreeMap<String, String>) -> Self {
        EncryptionContext(pairs)
    }

    pub fn pairs(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `count ‖ (len ‖ key ‖ len ‖ value)*` with u32 big-endian lengths and
    /// pairs in ascending byte order of key, so equal maps encode equally.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.canonical_len());
        self.write_canonical(&mut out);
        out
    }

    fn canonical_len(&self) -> usize {
        4 + self
            .0
            .iter()
            .map(|(k, v)| 8 + k.len() + v.len())
            .sum::<usize>()
    }

    /// Appends [`Self::canonical`] to `out`.
    fn write_canonical(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.0.len() as u32).to_be_bytes());
        for (key, value) in &self.0 {
            out.extend_from_slice(&(key.len() as u32).to_be_bytes());
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(&(value.len() as u32).to_be_bytes());
            out.extend_from_slice(value.as_bytes());
        }
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for EncryptionContext {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        EncryptionContext(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// What the clear header of a blob names: the key and its material version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CiphertextHeader {
    pub key_id: KeyId,
    pub material_version: u32,
}

impl CiphertextHeader {
    /// Reads the header of a blob without decrypting it, so the caller can
    /// find the sealed material the blob needs.
    pub fn parse(blob: &[u8]) -> Result<Self, CryptoError> {
        if blob.len() < OVERHEAD || blob[0] != FORMAT_V1 {
            return Err(CryptoError::InvalidCiphertext);
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&blob[1..17]);
        let mut version = [0u8; 4];
        version.copy_from_slice(&blob[17..21]);
        Ok(CiphertextHeader {
            key_id: KeyId::from_bytes(id),
            material_version: u32::from_be_bytes(version),
        })
    }

    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = FORMAT_V1;
        out[1..17].copy_from_slice(self.key_id.as_bytes());
        out[17..21].copy_from_slice(&self.material_version.to_be_bytes());
        out
    }
}

fn aad(header: &[u8], context: &EncryptionContext) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + header.len() + context.canonical_len());
    aad.extend_from_slice(AAD_LABEL);
    aad.extend_from_slice(header);
    context.write_canonical(&mut aad);
    aad
}

/// Encrypts `plaintext` under `key` (the material `header` names).
pub fn encrypt(
    key: &SymmetricKey,
    header: CiphertextHeader,
    context: &EncryptionContext,
    plaintext: &[u8],
) -> Vec<u8> {
    encrypt_with_nonce(key, header, context, plaintext, &random_nonce())
}

/// As [`encrypt`] with a given nonce: for golden vectors only. A nonce must
/// never be used twice with one key.
pub fn encrypt_with_nonce(
    key: &SymmetricKey,
    header: CiphertextHeader,
    context: &EncryptionContext,
    plaintext: &[u8],
    nonce: &[u8; NONCE_LEN],
) -> Vec<u8> {
    let header = header.encode();
    let mut blob = Vec::with_capacity(OVERHEAD + plaintext.len());
    blob.extend_from_slice(&header);
    blob.extend_from_slice(nonce);
    key.seal_append(nonce, &aad(&header, context), plaintext, &mut blob);
    blob
}

/// Decrypts a blob. Any change to any byte, or a different context, fails
/// with `InvalidCiphertext`.
pub fn decrypt(
    key: &SymmetricKey,
    blob: &[u8],
    context: &EncryptionContext,
) -> Result<SecretBytes, CryptoError> {
    CiphertextHeader::parse(blob)?;
    let (header, rest) = blob.split_at(HEADER_LEN);
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let nonce: &[u8; NONCE_LEN] = nonce
        .try_into()
        .map_err(|_| CryptoError::InvalidCiphertext)?;
    key.open(nonce, &aad(header, context), sealed)
        .ok_or(CryptoError::InvalidCiphertext)
}
