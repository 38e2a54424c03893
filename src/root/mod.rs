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

/// The error for a blob that does not authenticate under the root key.
pub(crate) fn unseal_failed() -> CryptoError {
    CryptoError::SealedMaterialInvalid(
        "authentication failed: the blob was altered or sealed by a different root key".into(),
    )
}
