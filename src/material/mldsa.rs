//! ML-DSA keys (ML_DSA_44/65/87, FIPS 204) from AWS-LC.
//!
//! `ML_DSA_SHAKE_256` signs a RAW message as pure ML-DSA with an empty
//! context, as AWS does. AWS also takes `EXTERNAL_MU`, a 64-byte μ the
//! caller computed; AWS-LC's Rust API has no signing or verification from μ,
//! so that message type is refused with `UnsupportedOperationException`.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{
    self as lc, KeyPair, PqdsaKeyPair, PqdsaSigningAlgorithm, UnparsedPublicKey,
};

use super::SignatureKey;
use crate::crypto::CryptoError;
use crate::secret::SecretBytes;
use crate::spec::{KeySpec, MessageType, SigningAlgorithm};

fn algorithm(spec: KeySpec) -> Result<&'static PqdsaSigningAlgorithm, CryptoError> {
    match spec {
        KeySpec::MlDsa44 => Ok(&lc::ML_DSA_44_SIGNING),
        KeySpec::MlDsa65 => Ok(&lc::ML_DSA_65_SIGNING),
        KeySpec::MlDsa87 => Ok(&lc::ML_DSA_87_SIGNING),
        other => Err(CryptoError::Internal(format!(
            "{other} is not an ML-DSA spec"
        ))),
    }
}

/// A fresh key as PKCS#8 v1 holding the 32-byte seed (AWS-LC's encoding).
pub fn generate_pkcs8(spec: KeySpec) -> Result<SecretBytes, CryptoError> {
    let failed = |_| CryptoError::Internal("ML-DSA key generation failed".into());
    let pair = PqdsaKeyPair::generate(algorithm(spec)?).map_err(failed)?;
    let doc = pair.to_pkcs8v1().map_err(failed)?;
    Ok(SecretBytes::new(doc.as_ref().to_vec()))
}

/// A parsed ML-DSA private key with its public key. AWS-LC keeps the
/// secret in its own memory and clears it when the key is freed.
pub struct MlDsaKey {
    spec: KeySpec,
    pair: PqdsaKeyPair,
    public_der: Vec<u8>,
}

impl MlDsaKey {
    /// Reads PKCS#8 with the seed, the expanded key, or both (which must agree).
    pub fn from_pkcs8(spec: KeySpec, der: &[u8]) -> Result<Self, String> {
        let algorithm = algorithm(spec).map_err(|e| e.to_string())?;
        let pair = PqdsaKeyPair::from_pkcs8(algorithm, der).map_err(|e| e.to_string())?;
        let public_der = pair
            .public_key()
            .as_der()
            .map_err(|_| "public key encoding failed".to_string())?
            .as_ref()
            .to_vec();
        Ok(MlDsaKey {
            spec,
            pair,
            public_der,
        })
    }

    /// SubjectPublicKeyInfo DER.
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_der
    }

    fn check(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> Result<(), CryptoError> {
        super::check_signing(self.spec, algorithm, message_type, message)?;
        if message_type == MessageType::ExternalMu {
            return Err(CryptoError::Unsupported(
                "MessageType EXTERNAL_MU is not supported by this crypto service; send the RAW message.".into(),
            ));
        }
        Ok(())
    }
}

impl SignatureKey for MlDsaKey {
    fn sign(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.check(algorithm, message_type, message)?;
        let mut signature = vec![0u8; self.pair.algorithm().signature_len()];
        let len = self
            .pair
            .sign(message, &mut signature)
            .map_err(|_| CryptoError::Internal("ML-DSA signing failed".into()))?;
        signature.truncate(len);
        Ok(signature)
    }

    fn verify(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        self.check(algorithm, message_type, message)?;
        let verification = match self.spec {
            KeySpec::MlDsa44 => &lc::ML_DSA_44,
            KeySpec::MlDsa65 => &lc::ML_DSA_65,
            _ => &lc::ML_DSA_87,
        };
        UnparsedPublicKey::new(verification, self.pair.public_key().as_ref())
            .verify(message, signature)
            .map_err(|_| CryptoError::InvalidSignature)
    }
}

#[cfg(test)]
mod tests;
