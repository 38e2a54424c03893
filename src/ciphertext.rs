//! The symmetric ciphertext blob returned by Encrypt and GenerateDataKey*,
//! and the canonical encoding of encryption contexts.
//!
//! Layout (format 2; integers big-endian; see `docs/formats.md`):
//!
//! | offset | length | field                                   |
//! |--------|--------|-----------------------------------------|
//! | 0      | 1      | format = 0x02                           |
//! | 1      | 16     | key id (UUID bytes)                     |
//! | 17     | 4      | material version                        |
//! | 21     | 32     | salt (random)                           |
//! | 53     | n      | AES-256-GCM ciphertext                  |
//! | 53 + n | 16     | GCM tag                                 |
//!
//! Each blob has an AES key of its own, derived from the material and
//! bytes 0..53 (SP 800-108 counter mode, HMAC-SHA256, label
//! `kube-kms/ciphertext/2`), used with an all-zero nonce: one material
//! version may encrypt any number of messages, where random 96-bit nonces
//! under one key are good for 2³². AAD = `"kube-kms/ciphertext/2\0"` ‖
//! bytes 0..53 ‖ canonical(context).
//!
//! Format 1 (written before format 2, still decrypted): bytes 21..33 a
//! random nonce under the material itself, AAD = `"kube-kms/ciphertext/1\0"`
//! ‖ bytes 0..21 ‖ canonical(context).

use std::collections::BTreeMap;

use crate::crypto::CryptoError;
use crate::key_id::KeyId;
use crate::material::symmetric::{NONCE_LEN, SymmetricKey, TAG_LEN, random_unique};
use crate::secret::SecretBytes;

pub const FORMAT_V1: u8 = 0x01;
pub const FORMAT_V2: u8 = 0x02;
const HEADER_LEN: usize = 21;
pub const SALT_LEN: usize = 32;
/// Bytes a blob adds to its plaintext (format 2, as written).
pub const OVERHEAD: usize = HEADER_LEN + SALT_LEN + TAG_LEN;
const OVERHEAD_V1: usize = HEADER_LEN + NONCE_LEN + TAG_LEN;
/// The KDF's label and the AAD's first bytes (a zero byte follows in the AAD).
const LABEL: &[u8] = b"kube-kms/ciphertext/2";
const LABEL_V1: &[u8] = b"kube-kms/ciphertext/1";

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
        let least = match blob.first() {
            Some(&FORMAT_V2) => OVERHEAD,
            Some(&FORMAT_V1) => OVERHEAD_V1,
            _ => return Err(CryptoError::InvalidCiphertext),
        };
        if blob.len() < least {
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

    fn encode(&self, format: u8) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = format;
        out[1..17].copy_from_slice(self.key_id.as_bytes());
        out[17..21].copy_from_slice(&self.material_version.to_be_bytes());
        out
    }
}

/// `label ‖ 0x00 ‖ prefix ‖ canonical(context)`: what a blob's tag covers
/// besides its ciphertext.
fn aad(label: &[u8], prefix: &[u8], context: &EncryptionContext) -> Vec<u8> {
    let len = label.len() + 1 + prefix.len() + context.canonical_len();
    let mut aad = Vec::with_capacity(len);
    aad.extend_from_slice(label);
    aad.push(0);
    aad.extend_from_slice(prefix);
    context.write_canonical(&mut aad);
    // Sized once, on every call: the length must be exact.
    debug_assert_eq!(aad.len(), len);
    aad
}

/// The format new blobs are written in. Format 2 unless deployments that
/// read format 1 only must read them: while an endpoint, crypto service or
/// KMS v2 plugin older than format 2 runs beside this one (a rolling
/// upgrade, a multi-Region peer, another control-plane node), a blob it
/// cannot read would fail there with `InvalidCiphertextException`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    V1,
    #[default]
    V2,
}

impl Format {
    /// The format of that number (1 or 2).
    pub fn numbered(number: u8) -> Option<Format> {
        match number {
            1 => Some(Format::V1),
            2 => Some(Format::V2),
            _ => None,
        }
    }
}

/// Encrypts `plaintext` under `key` (the material `header` names).
pub fn encrypt(
    key: &SymmetricKey,
    header: CiphertextHeader,
    context: &EncryptionContext,
    plaintext: &[u8],
) -> Vec<u8> {
    encrypt_as(Format::V2, key, header, context, plaintext)
}

/// As [`encrypt`], in `format`.
pub fn encrypt_as(
    format: Format,
    key: &SymmetricKey,
    header: CiphertextHeader,
    context: &EncryptionContext,
    plaintext: &[u8],
) -> Vec<u8> {
    match format {
        Format::V2 => encrypt_with_salt(key, header, context, plaintext, &random_unique()),
        Format::V1 => {
            let (header, nonce) = (header.encode(FORMAT_V1), random_unique::<NONCE_LEN>());
            let mut blob = Vec::with_capacity(OVERHEAD_V1 + plaintext.len());
            blob.extend_from_slice(&header);
            blob.extend_from_slice(&nonce);
            key.seal_append(
                &nonce,
                &aad(LABEL_V1, &header, context),
                plaintext,
                &mut blob,
            );
            blob
        }
    }
}

/// As [`encrypt`] with a given salt: for golden vectors only. A salt must
/// never be used twice with one key.
pub fn encrypt_with_salt(
    key: &SymmetricKey,
    header: CiphertextHeader,
    context: &EncryptionContext,
    plaintext: &[u8],
    salt: &[u8; SALT_LEN],
) -> Vec<u8> {
    let mut blob = Vec::with_capacity(OVERHEAD + plaintext.len());
    blob.extend_from_slice(&header.encode(FORMAT_V2));
    blob.extend_from_slice(salt);
    let aad = aad(LABEL, &blob, context);
    key.message_key(LABEL, &blob)
        .seal_append(&aad, plaintext, &mut blob);
    blob
}

/// Decrypts a blob of either format. Any change to any byte, or a
/// different context, fails with `InvalidCiphertext`.
pub fn decrypt(
    key: &SymmetricKey,
    blob: &[u8],
    context: &EncryptionContext,
) -> Result<SecretBytes, CryptoError> {
    CiphertextHeader::parse(blob)?;
    let opened = if blob[0] == FORMAT_V2 {
        let (prefix, sealed) = blob.split_at(HEADER_LEN + SALT_LEN);
        key.message_key(LABEL, prefix)
            .open(&aad(LABEL, prefix, context), sealed)
    } else {
        let (header, rest) = blob.split_at(HEADER_LEN);
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce: &[u8; NONCE_LEN] = nonce.try_into().expect("split at its length");
        key.open(nonce, &aad(LABEL_V1, header, context), sealed)
    };
    opened.ok_or(CryptoError::InvalidCiphertext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_encode_canonically_whatever_their_order() {
        let context: EncryptionContext = [("purpose", "golden"), ("app", "kube-kms")]
            .into_iter()
            .collect();
        // tests/vectors/formats.txt's context_canonical.
        let expected = "0000000200000003617070000000086b7562652d6b6d7300000007707572706f736500000006676f6c64656e";
        assert_eq!(hex::encode(context.canonical()), expected);
        assert_eq!(EncryptionContext::default().canonical(), [0, 0, 0, 0]);
    }

    #[test]
    fn either_format_is_written_as_asked_and_decrypts() {
        let key = SymmetricKey::new(&[9; 32]).unwrap();
        let header = CiphertextHeader {
            key_id: KeyId::from_bytes([5; 16]),
            material_version: 3,
        };
        let context: EncryptionContext = [("a", "b")].into_iter().collect();
        for (format, byte, overhead) in [
            (Format::V1, FORMAT_V1, OVERHEAD_V1),
            (Format::V2, FORMAT_V2, OVERHEAD),
        ] {
            let blob = encrypt_as(format, &key, header, &context, b"text");
            assert_eq!((blob[0], blob.len()), (byte, 4 + overhead));
            assert_eq!(CiphertextHeader::parse(&blob).unwrap(), header);
            assert_eq!(decrypt(&key, &blob, &context).unwrap().as_slice(), b"text");
            let other: EncryptionContext = [("a", "c")].into_iter().collect();
            assert!(decrypt(&key, &blob, &other).is_err());
            // One byte short of the least a blob of its format holds.
            assert!(CiphertextHeader::parse(&blob[..overhead - 1]).is_err());
            assert!(CiphertextHeader::parse(&blob[..overhead]).is_ok());
        }
        assert_eq!(encrypt(&key, header, &context, b"text")[0], FORMAT_V2);
        assert_eq!(Format::default(), Format::V2);
        assert_eq!(
            [0, 1, 2, 3].map(Format::numbered),
            [None, Some(Format::V1), Some(Format::V2), None]
        );
    }
}
