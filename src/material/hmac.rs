//! HMAC keys: HMAC_224/256/384/512 with AWS's key lengths (generated: the
//! hash output length; imported: from that up to the hash's block size)
//! and constant-time verification.

use hmac::{Hmac, Mac};
use sha2::{Sha224, Sha256, Sha384, Sha512};

use crate::secret::SecretBytes;
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
    key: SecretBytes,
}

impl HmacKey {
    pub fn new(spec: KeySpec, bytes: &[u8]) -> Option<Self> {
        let algorithm = *spec.mac_algorithms().first()?;
        (key_len(spec)..=max_key_len(spec))
            .contains(&bytes.len())
            .then(|| HmacKey {
                algorithm,
                key: SecretBytes::new(bytes.to_vec()),
            })
    }

    /// The one MAC algorithm this key supports.
    pub fn algorithm(&self) -> MacAlgorithm {
        self.algorithm
    }

    pub fn mac(&self, message: &[u8]) -> Vec<u8> {
        macro_rules! run {
            ($hash:ty) => {{
                let mut mac = <Hmac<$hash>>::new_from_slice(&self.key)
                    .expect("HMAC accepts keys of any length");
                mac.update(message);
                mac.finalize().into_bytes().to_vec()
            }};
        }
        match self.algorithm {
            MacAlgorithm::HmacSha224 => run!(Sha224),
            MacAlgorithm::HmacSha256 => run!(Sha256),
            MacAlgorithm::HmacSha384 => run!(Sha384),
            MacAlgorithm::HmacSha512 => run!(Sha512),
        }
    }

    /// Constant-time comparison of `tag` with the MAC of `message`.
    pub fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        let expected = self.mac(message);
        // Lengths are public (they are fixed per algorithm); only the bytes
        // are compared in constant time.
        expected.len() == tag.len() && bool::from(expected.ct_eq(tag))
    }
}
