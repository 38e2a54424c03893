//! HMAC keys: HMAC_224/256/384/512 with AWS's key lengths (generated: the
//! hash output length; imported: from that up to the hash's block size)
//! and constant-time verification.
//!
//! AWS-LC computes them: its HMAC contexts (the key's inner and outer hash
//! states) are wiped when dropped.

use aws_lc_rs::hmac;

use crate::spec::{KeySpec, MacAlgorithm};

/// The length of key material AWS generates for an HMAC spec.
pub fn key_len(spec: KeySpec) -> usize {
    match spec {
        KeySpec::Hmac224 => 28,
        KeySpec::Hmac256 => 32,
        KeySpec::Hmac384 => 48,
        _ => 64,
    }
}

/// The longest key material AWS imports for an HMAC spec: the hash's
/// block size (a longer key would be hashed down first).
pub fn max_key_len(spec: KeySpec) -> usize {
    match spec {
        KeySpec::Hmac224 | KeySpec::Hmac256 => 64,
        _ => 128,
    }
}

pub struct HmacKey {
    algorithm: MacAlgorithm,
    /// Boxed: AWS-LC's context is 1.2 KB, and this sits in `LoadedKey`.
    key: Box<hmac::Key>,
}

impl HmacKey {
    pub fn new(spec: KeySpec, bytes: &[u8]) -> Option<Self> {
        let algorithm = *spec.mac_algorithms().first()?;
        let lc = match algorithm {
            MacAlgorithm::HmacSha224 => hmac::HMAC_SHA224,
            MacAlgorithm::HmacSha256 => hmac::HMAC_SHA256,
            MacAlgorithm::HmacSha384 => hmac::HMAC_SHA384,
            MacAlgorithm::HmacSha512 => hmac::HMAC_SHA512,
        };
        (key_len(spec)..=max_key_len(spec))
            .contains(&bytes.len())
            .then(|| HmacKey {
                algorithm,
                key: Box::new(hmac::Key::new(lc, bytes)),
            })
    }

    /// The one MAC algorithm this key supports.
    pub fn algorithm(&self) -> MacAlgorithm {
        self.algorithm
    }

    pub fn mac(&self, message: &[u8]) -> Vec<u8> {
        hmac::sign(&self.key, message).as_ref().to_vec()
    }

    /// Constant-time comparison of `tag` with the MAC of `message` (a tag
    /// of the wrong length is refused; lengths are fixed per algorithm).
    pub fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
        hmac::verify(&self.key, message, tag).is_ok()
    }
}
