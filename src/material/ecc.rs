//! Elliptic-curve keys (ECC_NIST_P256/P384/P521, ECC_SECG_P256K1) for ECDSA
//! with DER-encoded signatures, each curve with its one AWS hash, and ECDH
//! on the NIST curves (DeriveSharedSecret).
//!
//! Why AWS-LC: its ECDSA draws each nonce at random (hedged with a hash of
//! the key and digest, so signatures vary as AWS KMS's do) and wipes the
//! nonce and its inverse when done, and the memory it frees is cleared; it
//! is also several times faster than a pure-Rust curve. The material's
//! format (PKCS#8) is the same whichever library made it.

use aws_lc_rs::agreement::{self, ParsedPublicKey, ParsedPublicKeyFormat};
use std::sync::OnceLock;

use aws_lc_rs::encoding::{AsDer, EcPrivateKeyRfc5915Der};
use aws_lc_rs::error::KeyRejected;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, EcdsaVerificationAlgorithm, KeyPair as _,
    UnparsedPublicKey,
};

use super::{SignatureKey, imported_digest};
use crate::crypto::CryptoError;
use crate::secret::SecretBytes;
use crate::spec::{KeyAgreementAlgorithm, KeySpec, KeyUsage, MessageType, SigningAlgorithm};

/// What AWS-LC calls a key spec's curve: its ECDSA (with the curve's one
/// hash) and, on the NIST curves, its ECDH.
struct Curve {
    signing: &'static EcdsaSigningAlgorithm,
    verifying: &'static EcdsaVerificationAlgorithm,
    agreement: Option<&'static agreement::Algorithm>,
}

fn curve(spec: KeySpec) -> Option<Curve> {
    Some(match spec {
        KeySpec::EccNistP256 => Curve {
            signing: &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            verifying: &signature::ECDSA_P256_SHA256_ASN1,
            agreement: Some(&agreement::ECDH_P256),
        },
        KeySpec::EccNistP384 => Curve {
            signing: &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            verifying: &signature::ECDSA_P384_SHA384_ASN1,
            agreement: Some(&agreement::ECDH_P384),
        },
        KeySpec::EccNistP521 => Curve {
            signing: &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
            verifying: &signature::ECDSA_P521_SHA512_ASN1,
            agreement: Some(&agreement::ECDH_P521),
        },
        KeySpec::EccSecgP256k1 => Curve {
            signing: &signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
            verifying: &signature::ECDSA_P256K1_SHA256_ASN1,
            agreement: None,
        },
        _ => return None,
    })
}

pub fn generate_pkcs8(spec: KeySpec) -> Result<SecretBytes, CryptoError> {
    let curve =
        curve(spec).ok_or_else(|| CryptoError::Internal(format!("{spec} is not an ECC spec")))?;
    let failed = |_| CryptoError::Internal("EC key generation failed".into());
    // The document wipes itself when dropped.
    let document = EcdsaKeyPair::generate(curve.signing)
        .map_err(failed)?
        .to_pkcs8v1()
        .map_err(failed)?;
    Ok(SecretBytes::new(document.as_ref().to_vec()))
}

/// A parsed EC private key with its public key.
pub struct EccKey {
    spec: KeySpec,
    signing: EcdsaKeyPair,
    verifying: &'static EcdsaVerificationAlgorithm,
    /// The curve's ECDH, on the curves that have it.
    agreement_algorithm: Option<&'static agreement::Algorithm>,
    /// The same private key for ECDH, made at the first agreement: a
    /// SIGN_VERIFY key never needs it, and parsing it costs as much again
    /// as the signing key's own parse at every load.
    agreement: OnceLock<agreement::PrivateKey>,
    public_der: Vec<u8>,
}

impl EccKey {
    /// Parses PKCS#8 (RFC 5208) material, which must be on `spec`'s curve.
    pub fn from_pkcs8(spec: KeySpec, der: &[u8]) -> Result<Self, String> {
        let curve = curve(spec).ok_or("not an ECC spec")?;
        let signing = EcdsaKeyPair::from_pkcs8(curve.signing, der).map_err(rejected)?;
        let public_der = signing
            .public_key()
            .as_der()
            .map_err(|e| e.to_string())?
            .as_ref()
            .to_vec();
        Ok(EccKey {
            spec,
            signing,
            verifying: curve.verifying,
            agreement_algorithm: curve.agreement,
            agreement: OnceLock::new(),
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
        let incompatible = || {
            CryptoError::InvalidKeyUsage(format!(
                "Algorithm {algorithm} is incompatible with key spec {}.",
                self.spec
            ))
        };
        if !self
            .spec
            .key_agreement_algorithms(KeyUsage::KeyAgreement)
            .contains(&algorithm)
        {
            return Err(incompatible());
        }
        let ecdh = self.agreement_algorithm.ok_or_else(incompatible)?;
        let private = match self.agreement.get() {
            Some(private) => private,
            None => {
                let failed = || CryptoError::Internal("EC key conversion failed".into());
                // RFC 5915 DER in a wiping buffer.
                let der: EcPrivateKeyRfc5915Der<'static> =
                    self.signing.private_key().as_der().map_err(|_| failed())?;
                let private = agreement::PrivateKey::from_private_key_der(ecdh, der.as_ref())
                    .map_err(|_| failed())?;
                // Another thread may have set it meanwhile: either is the key.
                let _ = self.agreement.set(private);
                self.agreement.get().expect("set just now")
            }
        };
        let bad_peer = || {
            CryptoError::Validation(format!(
                "PublicKey must be a DER-encoded SubjectPublicKeyInfo of an {} public key.",
                self.spec
            ))
        };
        // AWS takes the peer's key as SubjectPublicKeyInfo only; AWS-LC
        // would also take a bare point.
        let peer =
            ParsedPublicKey::try_from(agreement::UnparsedPublicKey::new(private.algorithm(), peer))
                .map_err(|_| bad_peer())?;
        if peer.format() != ParsedPublicKeyFormat::X509 {
            return Err(bad_peer());
        }
        agreement::agree(private, peer, (), |shared| {
            Ok(SecretBytes::new(shared.to_vec()))
        })
        .map_err(|()| bad_peer())
    }
}

/// Why AWS-LC refused material, in words (its own are one code word).
fn rejected(why: KeyRejected) -> String {
    match why.to_string().as_str() {
        "WrongAlgorithm" => "the private key is on another curve".into(),
        code => format!("not a PKCS#8 EC private key ({code})"),
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
        let signature = match message_type {
            MessageType::Raw => self.signing.sign(&SystemRandom::new(), message),
            MessageType::Digest => self
                .signing
                .sign_digest(&imported_digest(algorithm.hash(), message)?),
            MessageType::ExternalMu => return Err(super::not_ml_dsa()),
        }
        .map_err(failed)?;
        Ok(signature.as_ref().to_vec())
    }

    fn verify(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        self.check(algorithm, message_type, message)?;
        let public = UnparsedPublicKey::new(self.verifying, self.signing.public_key().as_ref());
        match message_type {
            MessageType::Raw => public.verify(message, signature),
            MessageType::Digest => {
                public.verify_digest(&imported_digest(algorithm.hash(), message)?, signature)
            }
            MessageType::ExternalMu => return Err(super::not_ml_dsa()),
        }
        .map_err(|_| CryptoError::InvalidSignature)
    }
}
