//! Elliptic-curve keys (ECC_NIST_P256/P384/P521, ECC_SECG_P256K1) for ECDSA
//! with DER-encoded signatures, each curve with its one AWS hash, and ECDH
//! on the NIST curves (DeriveSharedSecret).

use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rand_core::OsRng;
use signature::hazmat::{PrehashSigner, PrehashVerifier};
use signature::{Signer, Verifier};

use super::SignatureKey;
use crate::crypto::CryptoError;
use crate::secret::SecretBytes;
use crate::spec::{KeyAgreementAlgorithm, KeySpec, KeyUsage, MessageType, SigningAlgorithm};

pub fn generate_pkcs8(spec: KeySpec) -> Result<SecretBytes, CryptoError> {
    fn encode(doc: pkcs8::Result<pkcs8::SecretDocument>) -> Result<SecretBytes, CryptoError> {
        let doc = doc.map_err(|_| CryptoError::Internal("EC key encoding failed".into()))?;
        Ok(SecretBytes::new(doc.as_bytes().to_vec()))
    }
    match spec {
        KeySpec::EccNistP256 => encode(p256::SecretKey::random(&mut OsRng).to_pkcs8_der()),
        KeySpec::EccNistP384 => encode(p384::SecretKey::random(&mut OsRng).to_pkcs8_der()),
        KeySpec::EccNistP521 => encode(p521::SecretKey::random(&mut OsRng).to_pkcs8_der()),
        KeySpec::EccSecgP256k1 => encode(k256::SecretKey::random(&mut OsRng).to_pkcs8_der()),
        other => Err(CryptoError::Internal(format!("{other} is not an ECC spec"))),
    }
}

enum Signing {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    P521(p521::ecdsa::SigningKey),
    K256(k256::ecdsa::SigningKey),
}

/// A parsed EC private key with its public key.
pub struct EccKey {
    spec: KeySpec,
    signing: Signing,
    public_der: Vec<u8>,
}

impl EccKey {
    pub fn from_pkcs8(spec: KeySpec, der: &[u8]) -> Result<Self, String> {
        fn spki(doc: spki::Result<spki::Document>) -> Result<Vec<u8>, String> {
            doc.map(|d| d.as_bytes().to_vec())
                .map_err(|e| e.to_string())
        }
        let (signing, public_der) = match spec {
            KeySpec::EccNistP256 => {
                let secret = p256::SecretKey::from_pkcs8_der(der).map_err(|e| e.to_string())?;
                let public = spki(secret.public_key().to_public_key_der())?;
                (Signing::P256(secret.into()), public)
            }
            KeySpec::EccNistP384 => {
                let secret = p384::SecretKey::from_pkcs8_der(der).map_err(|e| e.to_string())?;
                let public = spki(secret.public_key().to_public_key_der())?;
                (Signing::P384(secret.into()), public)
            }
            KeySpec::EccNistP521 => {
                let secret = p521::SecretKey::from_pkcs8_der(der).map_err(|e| e.to_string())?;
                let public = spki(secret.public_key().to_public_key_der())?;
                let key = p521::ecdsa::SigningKey::from_bytes(&secret.to_bytes())
                    .map_err(|e| e.to_string())?;
                (Signing::P521(key), public)
            }
            KeySpec::EccSecgP256k1 => {
                let secret = k256::SecretKey::from_pkcs8_der(der).map_err(|e| e.to_string())?;
                let public = spki(secret.public_key().to_public_key_der())?;
                (Signing::K256(secret.into()), public)
            }
            _ => return Err("not an ECC spec".into()),
        };
        Ok(EccKey {
            spec,
            signing,
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
        super::check_signing(self.spec, algorithm, message_type, message)
    }

    /// ECDH with a peer's SubjectPublicKeyInfo on this key's curve: the
    /// raw shared secret (the x-coordinate), which AWS returns as is.
    pub fn shared_secret(
        &self,
        algorithm: KeyAgreementAlgorithm,
        peer: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        if !self
            .spec
            .key_agreement_algorithms(KeyUsage::KeyAgreement)
            .contains(&algorithm)
        {
            return Err(CryptoError::InvalidKeyUsage(format!(
                "Algorithm {algorithm} is incompatible with key spec {}.",
                self.spec
            )));
        }
        let bad_peer = |_| {
            CryptoError::Validation(format!(
                "PublicKey must be a DER-encoded SubjectPublicKeyInfo of an {} public key.",
                self.spec
            ))
        };
        macro_rules! agree {
            ($curve:ident, $key:expr) => {{
                let peer = $curve::PublicKey::from_public_key_der(peer).map_err(bad_peer)?;
                let shared =
                    $curve::ecdh::diffie_hellman($key.as_nonzero_scalar(), peer.as_affine());
                SecretBytes::new(shared.raw_secret_bytes().to_vec())
            }};
        }
        Ok(match &self.signing {
            Signing::P256(key) => agree!(p256, key),
            Signing::P384(key) => agree!(p384, key),
            Signing::P521(key) => agree!(p521, key),
            Signing::K256(_) => {
                return Err(CryptoError::InvalidKeyUsage(format!(
                    "Algorithm {algorithm} is incompatible with key spec {}.",
                    self.spec
                )));
            }
        })
    }
}

impl SignatureKey for EccKey {
    fn sign(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.check(algorithm, message_type, message)?;
        let failed = |_| CryptoError::Internal("ECDSA signing failed".into());
        macro_rules! sign {
            ($curve:ident, $key:expr) => {{
                let sig: $curve::ecdsa::Signature = match message_type {
                    MessageType::Raw => $key.try_sign(message).map_err(failed)?,
                    MessageType::Digest => $key.sign_prehash(message).map_err(failed)?,
                    MessageType::ExternalMu => return Err(super::not_ml_dsa()),
                };
                sig.to_der().as_bytes().to_vec()
            }};
        }
        Ok(match &self.signing {
            Signing::P256(key) => sign!(p256, key),
            Signing::P384(key) => sign!(p384, key),
            Signing::P521(key) => sign!(p521, key),
            Signing::K256(key) => sign!(k256, key),
        })
    }

    fn verify(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        self.check(algorithm, message_type, message)?;
        macro_rules! verify {
            ($curve:ident, $key:expr) => {{
                let key = $curve::ecdsa::VerifyingKey::from($key);
                let sig = $curve::ecdsa::Signature::from_der(signature)
                    .map_err(|_| CryptoError::InvalidSignature)?;
                match message_type {
                    MessageType::Raw => key.verify(message, &sig),
                    MessageType::Digest => key.verify_prehash(message, &sig),
                    MessageType::ExternalMu => return Err(super::not_ml_dsa()),
                }
                .map_err(|_| CryptoError::InvalidSignature)
            }};
        }
        match &self.signing {
            Signing::P256(key) => verify!(p256, key),
            Signing::P384(key) => verify!(p384, key),
            Signing::P521(key) => verify!(p521, key),
            Signing::K256(key) => verify!(k256, key),
        }
    }
}
