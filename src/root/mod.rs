//! Root key sources: the keys that seal all key material. A source holds one
//! or more versions; it seals with the newest and unseals with any it knows.

mod file;
mod pkcs11;

pub use file::FileRootKey;
pub use pkcs11::{Pkcs11Config, Pkcs11RootKey};

use crate::crypto::CryptoError;
use crate::material::symmetric::NONCE_LEN;
use crate::secret::SecretBytes;

/// A root key source. Implementations never let the key bytes out.
pub trait RootKey: Send + Sync + std::fmt::Debug {
    /// The version new seals use (the highest one known).
    fn current_version(&self) -> u32;

    /// Every version this source can unseal with, ascending.
    fn versions(&self) -> Vec<u32>;

    /// AES-256-GCM under root key `version`; returns ciphertext ‖ tag.
    fn seal(
        &self,
        version: u32,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError>;

    /// Inverse of [`RootKey::seal`]. An unknown version is `UnknownRootKey`;
    /// a failed authentication is `SealedMaterialInvalid`.
    fn unseal(
        &self,
        version: u32,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<SecretBytes, CryptoError>;
}

/// The framing of every blob sealed under the root key (sealed material,
/// import tokens): `header ‖ nonce ‖ AES-256-GCM(plaintext)` under root key
/// `version`, with `label ‖ header` as associated data, so the header is
/// clear but cannot be changed.
pub fn seal_framed(
    root: &dyn RootKey,
    version: u32,
    label: &[u8],
    header: &[u8],
    nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut aad = label.to_vec();
    aad.extend_from_slice(header);
    let sealed = root.seal(version, nonce, &aad, plaintext)?;
    let mut blob = Vec::with_capacity(header.len() + NONCE_LEN + sealed.len());
    blob.extend_from_slice(header);
    blob.extend_from_slice(nonce);
    blob.extend_from_slice(&sealed);
    Ok(blob)
}

/// The plaintext of a blob [`seal_framed`] made with a header of
/// `header_len` bytes naming root key `version`. The caller has checked
/// the blob holds at least the header and the nonce.
pub fn open_framed(
    root: &dyn RootKey,
    version: u32,
    label: &[u8],
    header_len: usize,
    blob: &[u8],
) -> Result<SecretBytes, CryptoError> {
    let (header, rest) = blob.split_at(header_len);
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let nonce: &[u8; NONCE_LEN] = nonce.try_into().expect("split at NONCE_LEN");
    let mut aad = label.to_vec();
    aad.extend_from_slice(header);
    root.unseal(version, nonce, &aad, sealed)
}

/// The error for a blob that does not authenticate under the root key.
pub(crate) fn unseal_failed() -> CryptoError {
    CryptoError::SealedMaterialInvalid(
        "authentication failed: the blob was altered or sealed by a different root key".into(),
    )
}
