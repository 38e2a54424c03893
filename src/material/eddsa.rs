//! Ed25519 keys (ECC_NIST_EDWARDS25519, RFC 8032).
//!
//! Two AWS algorithms: `ED25519_SHA_512` is pure Ed25519 over a RAW message;
//! `ED25519_PH_SHA_512` is Ed25519ph (HashEdDSA) and takes a DIGEST, the
//! caller's SHA-512 of the message. AWS documents that it still applies
//! Ed25519ph's own SHA-512 prehash to that digest, so the message is hashed
//! twice; we do the same, or signatures would not verify against AWS's.

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, KeypairBytes};
use ed25519_dalek::{Sha512, Signature, SigningKey};
use sha2::Digest;

use super::SignatureKey;
use crate::crypto::CryptoError;
use crate::secret::SecretBytes;
use crate::spec::{KeySpec, MessageType, SigningAlgorithm};

/// A fresh key as PKCS#8 v1 (RFC 8410 `PrivateKeyInfo`, no public key), the
/// form GenerateDataKeyPair hands out and OpenSSL reads.
pub fn generate_pkcs8() -> Result<SecretBytes, CryptoError> {
    let seed = super::random_bytes(ed25519_dalek::SECRET_KEY_LENGTH);
    let mut secret_key = [0u8; ed25519_dalek::SECRET_KEY_LENGTH];
    secret_key.copy_from_slice(&seed);
    // `KeypairBytes` zeroizes its secret when dropped (see Cargo.toml).
    let bytes = KeypairBytes {
        secret_key,
        public_key: None,
    };
    zeroize::Zeroize::zeroize(&mut secret_key);
    let doc = bytes
        .to_pkcs8_der()
        .map_err(|_| CryptoError::Internal("Ed25519 key encoding failed".into()))?;
    Ok(SecretBytes::new(doc.as_bytes().to_vec()))
}

/// A parsed Ed25519 private key with its public key.
pub struct Ed25519Key {
    signing: SigningKey,
    public_der: Vec<u8>,
}

impl Ed25519Key {
    /// Reads PKCS#8 v1 or v2; a v2 public key must match the private key.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        let signing = SigningKey::from_pkcs8_der(der).map_err(|e| e.to_string())?;
        let public_der = signing
            .verifying_key()
            .to_public_key_der()
            .map_err(|e| e.to_string())?
            .into_vec();
        Ok(Ed25519Key {
            signing,
            public_der,
        })
    }

    /// SubjectPublicKeyInfo DER (RFC 8410).
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_der
    }

    /// Checks the algorithm and message type go together, as AWS requires.
    fn check(
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> Result<(), CryptoError> {
        super::check_signing(
            KeySpec::EccNistEdwards25519,
            algorithm,
            message_type,
            message,
        )
    }

    /// Ed25519ph of `message`, with an empty context (RFC 8032 §5.1).
    fn sign_ph(&self, message: &[u8]) -> Result<Signature, CryptoError> {
        self.signing
            .sign_prehashed(Sha512::new().chain_update(message), None)
            .map_err(|_| CryptoError::Internal("Ed25519ph signing failed".into()))
    }
}

impl SignatureKey for Ed25519Key {
    fn sign(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        Self::check(algorithm, message_type, message)?;
        let signature = match message_type {
            MessageType::Raw => ed25519_dalek::Signer::sign(&self.signing, message),
            MessageType::Digest => self.sign_ph(message)?,
            MessageType::ExternalMu => return Err(super::not_ml_dsa()),
        };
        Ok(signature.to_bytes().to_vec())
    }

    fn verify(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        Self::check(algorithm, message_type, message)?;
        let signature =
            Signature::from_slice(signature).map_err(|_| CryptoError::InvalidSignature)?;
        let public = self.signing.verifying_key();
        // Strict verification refuses small-order keys and non-canonical
        // signatures, which an honest signer never produces.
        match message_type {
            MessageType::Raw => public.verify_strict(message, &signature),
            MessageType::Digest => public.verify_prehashed_strict(
                Sha512::new().chain_update(message),
                None,
                &signature,
            ),
            MessageType::ExternalMu => return Err(super::not_ml_dsa()),
        }
        .map_err(|_| CryptoError::InvalidSignature)
    }
}

#[cfg(test)]
mod tests;
