//! SYMMETRIC_DEFAULT keys: AES-256-GCM with a 96-bit random nonce.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

pub const KEY_LEN: usize = 32;
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;

/// An AES-256-GCM key with its expanded key schedule (zeroized on drop by
/// the `aes` crate's `zeroize` feature).
pub struct SymmetricKey(Aes256Gcm);

impl SymmetricKey {
    pub fn new(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != KEY_LEN {
            return None;
        }
        Aes256Gcm::new_from_slice(bytes).ok().map(SymmetricKey)
    }

    /// Encrypts with the given nonce; returns ciphertext ‖ tag.
    pub fn seal_with_nonce(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Vec<u8> {
        self.0
            .encrypt(
                &Nonce::from(*nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            // Only fails for inputs far beyond GCM's 64 GiB limit.
            .unwrap_or_default()
    }

    /// Decrypts ciphertext ‖ tag; `None` if authentication fails.
    pub fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        sealed: &[u8],
    ) -> Option<Zeroizing<Vec<u8>>> {
        self.0
            .decrypt(&Nonce::from(*nonce), Payload { msg: sealed, aad })
            .ok()
            .map(Zeroizing::new)
    }
}

/// A fresh random nonce from the operating system's CSPRNG.
pub fn random_nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    nonce
}
