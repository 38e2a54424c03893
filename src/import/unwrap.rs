//! Wrapping keys and the unwrapping of imported material (crypto service
//! only). The algorithms are AWS's: RSAES-OAEP of the material itself, or
//! RSAES-OAEP of an ephemeral AES key followed by AES key wrap with
//! padding (RFC 5649) of the material, which carries material of any size
//! (RSA private keys).

use aws_lc_rs::key_wrap::{AES_128, AES_256, KeyEncryptionKey, KeyWrapPadded};

use crate::crypto::CryptoError;
use crate::material::rsa::{RsaKey, generate_pkcs8};
use crate::secret::SecretBytes;
use crate::spec::{EncryptionAlgorithm, WrappingAlgorithm, WrappingKeySpec};

/// A fresh wrapping key: its SubjectPublicKeyInfo DER and its PKCS#8
/// private key.
pub fn generate_wrapping_key(spec: WrappingKeySpec) -> Result<(Vec<u8>, SecretBytes), CryptoError> {
    let private = generate_pkcs8(spec.key_spec())?;
    let key = RsaKey::from_pkcs8(spec.key_spec(), &private)
        .map_err(|e| CryptoError::Internal(format!("wrapping key: {e}")))?;
    Ok((key.public_key_der().to_vec(), private))
}

/// The OAEP padding each algorithm uses for its RSA part.
fn oaep(algorithm: WrappingAlgorithm) -> EncryptionAlgorithm {
    match algorithm {
        WrappingAlgorithm::RsaesOaepSha1 | WrappingAlgorithm::RsaAesKeyWrapSha1 => {
            EncryptionAlgorithm::RsaesOaepSha1
        }
        WrappingAlgorithm::RsaesOaepSha256 | WrappingAlgorithm::RsaAesKeyWrapSha256 => {
            EncryptionAlgorithm::RsaesOaepSha256
        }
    }
}

/// The material `wrapped` holds, unwrapped with the wrapping key
/// `private_key` (PKCS#8) by `algorithm`. Anything that does not unwrap is
/// `InvalidCiphertext`, whichever part failed.
pub fn unwrap(
    spec: WrappingKeySpec,
    algorithm: WrappingAlgorithm,
    private_key: &[u8],
    wrapped: &[u8],
) -> Result<SecretBytes, CryptoError> {
    let key = RsaKey::from_pkcs8(spec.key_spec(), private_key)
        .map_err(|e| CryptoError::Internal(format!("wrapping key: {e}")))?;
    match algorithm {
        WrappingAlgorithm::RsaesOaepSha1 | WrappingAlgorithm::RsaesOaepSha256 => {
            key.decrypt(oaep(algorithm), wrapped)
        }
        WrappingAlgorithm::RsaAesKeyWrapSha1 | WrappingAlgorithm::RsaAesKeyWrapSha256 => {
            let modulus = spec.key_spec().rsa_modulus_len().unwrap_or(0);
            if wrapped.len() <= modulus {
                return Err(CryptoError::InvalidCiphertext);
            }
            let (rsa_part, aes_part) = wrapped.split_at(modulus);
            let aes_key = key.decrypt(oaep(algorithm), rsa_part)?;
            let cipher = match aes_key.len() {
                16 => &AES_128,
                32 => &AES_256,
                _ => return Err(CryptoError::InvalidCiphertext),
            };
            let kek = KeyEncryptionKey::new(cipher, &aes_key)
                .map_err(|_| CryptoError::InvalidCiphertext)?;
            let mut out = SecretBytes::new(vec![0u8; aes_part.len()]);
            let len = kek
                .unwrap_with_padding(aes_part, &mut out)
                .map_err(|_| CryptoError::InvalidCiphertext)?
                .len();
            out.truncate(len);
            Ok(out)
        }
    }
}
