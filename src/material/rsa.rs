//! RSA keys (RSA_2048/3072/4096) for RSAES-OAEP encryption and RSASSA
//! PSS / PKCS#1 v1.5 signatures.
//!
//! Why aws-lc-rs and not the `rsa` crate: `rsa` 0.9 is affected by the Marvin
//! timing attack (RUSTSEC-2023-0071, no patched release), and a KMS is
//! exactly the decryption oracle that attack needs. AWS-LC's RSA private-key
//! operations are constant-time (blinded, with constant-time OAEP unpadding),
//! so every private-key operation here goes through it.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{
    KeyPair, KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm,
    OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
};
use aws_lc_rs::signature::{self, KeyPair as _, RsaEncoding, RsaParameters, UnparsedPublicKey};

use super::{SignatureKey, imported_digest};
use crate::crypto::CryptoError;
use crate::secret::SecretBytes;
use crate::spec::{EncryptionAlgorithm, KeySpec, MessageType, SigningAlgorithm};

pub fn generate_pkcs8(spec: KeySpec) -> Result<SecretBytes, CryptoError> {
    let size = match spec {
        KeySpec::Rsa2048 => KeySize::Rsa2048,
        KeySpec::Rsa3072 => KeySize::Rsa3072,
        KeySpec::Rsa4096 => KeySize::Rsa4096,
        other => return Err(CryptoError::Internal(format!("{other} is not an RSA spec"))),
    };
    let pair = KeyPair::generate(size)
        .map_err(|_| CryptoError::Internal("RSA key generation failed".into()))?;
    let der = pair
        .as_der()
        .map_err(|_| CryptoError::Internal("RSA key encoding failed".into()))?;
    Ok(SecretBytes::new(der.as_ref().to_vec()))
}

/// A parsed RSA private key, ready to sign and to decrypt.
pub struct RsaKey {
    signing: KeyPair,
    decrypting: OaepPrivateDecryptingKey,
    encrypting: OaepPublicEncryptingKey,
    public_der: Vec<u8>,
}

impl RsaKey {
    pub fn from_pkcs8(spec: KeySpec, pkcs8: &[u8]) -> Result<Self, String> {
        let modulus = spec.rsa_modulus_len().ok_or("not an RSA spec")?;
        let signing = KeyPair::from_pkcs8(pkcs8).map_err(|e| e.to_string())?;
        if signing.public_modulus_len() != modulus {
            return Err(format!(
                "modulus is {} bits, expected {}",
                signing.public_modulus_len() * 8,
                modulus * 8
            ));
        }
        let private = PrivateDecryptingKey::from_pkcs8(pkcs8).map_err(|e| e.to_string())?;
        let encrypting =
            OaepPublicEncryptingKey::new(private.public_key()).map_err(|e| e.to_string())?;
        let public_der = private
            .public_key()
            .as_der()
            .map_err(|e| e.to_string())?
            .as_ref()
            .to_vec();
        let decrypting = OaepPrivateDecryptingKey::new(private).map_err(|e| e.to_string())?;
        Ok(RsaKey {
            signing,
            decrypting,
            encrypting,
            public_der,
        })
    }

    /// SubjectPublicKeyInfo DER.
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_der
    }

    pub fn encrypt(
        &self,
        algorithm: EncryptionAlgorithm,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let oaep = oaep(algorithm)?;
        let max = self.encrypting.max_plaintext_size(oaep);
        if plaintext.len() > max {
            return Err(CryptoError::Validation(format!(
                "Algorithm {algorithm} and key spec RSA_{} cannot encrypt data larger than {max} bytes.",
                self.encrypting.key_size_bits()
            )));
        }
        let mut out = vec![0u8; self.encrypting.ciphertext_size()];
        let len = self
            .encrypting
            .encrypt(oaep, plaintext, &mut out, None)
            .map_err(|_| CryptoError::Internal("RSA encryption failed".into()))?
            .len();
        out.truncate(len);
        Ok(out)
    }

    pub fn decrypt(
        &self,
        algorithm: EncryptionAlgorithm,
        ciphertext: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        let oaep = oaep(algorithm)?;
        if ciphertext.len() != self.decrypting.key_size_bytes() {
            return Err(CryptoError::InvalidCiphertext);
        }
        let mut out = SecretBytes::new(vec![0u8; self.decrypting.min_output_size()]);
        let len = self
            .decrypting
            .decrypt(oaep, ciphertext, &mut out, None)
            .map_err(|_| CryptoError::InvalidCiphertext)?
            .len();
        out.truncate(len);
        Ok(out)
    }
}

impl SignatureKey for RsaKey {
    fn sign(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let (encoding, _) = algorithms(algorithm)?;
        algorithm
            .check_message(message_type, message)
            .map_err(CryptoError::Validation)?;
        let mut signature = vec![0u8; self.signing.public_modulus_len()];
        let failed = |_| CryptoError::Internal("RSA signing failed".into());
        match message_type {
            MessageType::Raw => self
                .signing
                .sign(encoding, &SystemRandom::new(), message, &mut signature)
                .map_err(failed)?,
            MessageType::Digest => self
                .signing
                .sign_digest(
                    encoding,
                    &imported_digest(algorithm.hash(), message)?,
                    &mut signature,
                )
                .map_err(failed)?,
            MessageType::ExternalMu => return Err(super::not_ml_dsa()),
        }
        Ok(signature)
    }

    fn verify(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        let (_, parameters) = algorithms(algorithm)?;
        algorithm
            .check_message(message_type, message)
            .map_err(CryptoError::Validation)?;
        let public = UnparsedPublicKey::new(parameters, self.signing.public_key().as_ref());
        let result = match message_type {
            MessageType::Raw => public.verify(message, signature),
            MessageType::Digest => {
                public.verify_digest(&imported_digest(algorithm.hash(), message)?, signature)
            }
            MessageType::ExternalMu => return Err(super::not_ml_dsa()),
        };
        result.map_err(|_| CryptoError::InvalidSignature)
    }
}

fn oaep(algorithm: EncryptionAlgorithm) -> Result<&'static OaepAlgorithm, CryptoError> {
    match algorithm {
        EncryptionAlgorithm::RsaesOaepSha1 => Ok(&OAEP_SHA1_MGF1SHA1),
        EncryptionAlgorithm::RsaesOaepSha256 => Ok(&OAEP_SHA256_MGF1SHA256),
        other => Err(CryptoError::InvalidKeyUsage(format!(
            "Algorithm {other} is incompatible with RSA keys."
        ))),
    }
}

fn algorithms(
    algorithm: SigningAlgorithm,
) -> Result<(&'static dyn RsaEncoding, &'static RsaParameters), CryptoError> {
    use SigningAlgorithm::*;
    Ok(match algorithm {
        RsassaPssSha256 => (
            &signature::RSA_PSS_SHA256,
            &signature::RSA_PSS_2048_8192_SHA256,
        ),
        RsassaPssSha384 => (
            &signature::RSA_PSS_SHA384,
            &signature::RSA_PSS_2048_8192_SHA384,
        ),
        RsassaPssSha512 => (
            &signature::RSA_PSS_SHA512,
            &signature::RSA_PSS_2048_8192_SHA512,
        ),
        RsassaPkcs1V15Sha256 => (
            &signature::RSA_PKCS1_SHA256,
            &signature::RSA_PKCS1_2048_8192_SHA256,
        ),
        RsassaPkcs1V15Sha384 => (
            &signature::RSA_PKCS1_SHA384,
            &signature::RSA_PKCS1_2048_8192_SHA384,
        ),
        RsassaPkcs1V15Sha512 => (
            &signature::RSA_PKCS1_SHA512,
            &signature::RSA_PKCS1_2048_8192_SHA512,
        ),
        other => {
            return Err(CryptoError::InvalidKeyUsage(format!(
                "Algorithm {other} is incompatible with RSA keys."
            )));
        }
    })
}
