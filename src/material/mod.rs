//! Plaintext key material: generation, encoding and the parsed, ready-to-use
//! form of each key spec. Only the crypto service ever holds these types.
//!
//! Encoding of the material bytes per family (what sealing wraps):
//! symmetric: the 32-byte AES-256 key; HMAC: the raw key, as long as the
//! hash output; RSA, ECC, Ed25519, ML-DSA and ML-KEM: the private key as
//! PKCS#8 `PrivateKeyInfo` DER (ML-KEM: its seed form).

pub mod ecc;
pub mod eddsa;
pub mod hmac;
pub mod mldsa;
pub mod mlkem;
pub mod rsa;
pub mod symmetric;

use std::fmt;

use rand_core::{OsRng, RngCore};

use crate::crypto::CryptoError;
use crate::secret::SecretBytes;
use crate::spec::{Family, Hash, KeySpec, KeyUsage, MessageType, SigningAlgorithm};

/// Plaintext key material of one spec. Zeroized on drop; `Debug` redacts it.
pub struct KeyMaterial {
    spec: KeySpec,
    bytes: SecretBytes,
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("spec", &self.spec)
            .field("bytes", &"<redacted>")
            .finish()
    }
}

impl KeyMaterial {
    /// Fresh material for `spec` from the operating system's CSPRNG.
    pub fn generate(spec: KeySpec) -> Result<Self, CryptoError> {
        let bytes = match spec.family() {
            Family::Symmetric => random_bytes(symmetric::KEY_LEN),
            Family::Hmac => random_bytes(hmac::key_len(spec)),
            Family::Rsa => rsa::generate_pkcs8(spec)?,
            Family::Ecc => ecc::generate_pkcs8(spec)?,
            Family::Edwards => eddsa::generate_pkcs8()?,
            Family::MlDsa => mldsa::generate_pkcs8(spec)?,
            Family::MlKem => mlkem::generate_pkcs8(spec)?,
        };
        Ok(KeyMaterial { spec, bytes })
    }

    /// Material supplied from outside (imports, test fixtures), checked to be
    /// well-formed for `spec` before anything seals it.
    pub fn from_bytes(spec: KeySpec, bytes: SecretBytes) -> Result<Self, CryptoError> {
        let material = KeyMaterial { spec, bytes };
        material.load()?;
        Ok(material)
    }

    pub fn spec(&self) -> KeySpec {
        self.spec
    }

    /// The encoded material. Callers must keep it inside zeroizing buffers.
    pub fn expose(&self) -> &[u8] {
        &self.bytes
    }

    /// Parses the material into the form operations use.
    pub fn load(&self) -> Result<LoadedKey, CryptoError> {
        let bad = |why: &str| {
            CryptoError::MalformedMaterial(format!("material is not a valid {}: {why}", self.spec))
        };
        Ok(match self.spec.family() {
            Family::Symmetric => LoadedKey::Symmetric(
                symmetric::SymmetricKey::new(&self.bytes).ok_or_else(|| bad("wrong length"))?,
            ),
            Family::Hmac => LoadedKey::Hmac(
                hmac::HmacKey::new(self.spec, &self.bytes).ok_or_else(|| bad("wrong length"))?,
            ),
            Family::Rsa => LoadedKey::Rsa(
                rsa::RsaKey::from_pkcs8(self.spec, &self.bytes).map_err(|e| bad(&e))?,
            ),
            Family::Ecc => LoadedKey::Ecc(
                ecc::EccKey::from_pkcs8(self.spec, &self.bytes).map_err(|e| bad(&e))?,
            ),
            Family::Edwards => {
                LoadedKey::Ed25519(eddsa::Ed25519Key::from_pkcs8(&self.bytes).map_err(|e| bad(&e))?)
            }
            Family::MlDsa => LoadedKey::MlDsa(
                mldsa::MlDsaKey::from_pkcs8(self.spec, &self.bytes).map_err(|e| bad(&e))?,
            ),
            Family::MlKem => LoadedKey::MlKem(
                mlkem::MlKemKey::from_pkcs8(self.spec, &self.bytes).map_err(|e| bad(&e))?,
            ),
        })
    }
}

/// Key material parsed for use. Each variant zeroizes its secret on drop
/// (RustCrypto types through `zeroize`; AWS-LC clears memory it frees).
pub enum LoadedKey {
    Symmetric(symmetric::SymmetricKey),
    Hmac(hmac::HmacKey),
    Rsa(rsa::RsaKey),
    Ecc(ecc::EccKey),
    Ed25519(eddsa::Ed25519Key),
    MlDsa(mldsa::MlDsaKey),
    MlKem(mlkem::MlKemKey),
}

impl fmt::Debug for LoadedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let family = match self {
            LoadedKey::Symmetric(_) => "Symmetric",
            LoadedKey::Hmac(_) => "Hmac",
            LoadedKey::Rsa(_) => "Rsa",
            LoadedKey::Ecc(_) => "Ecc",
            LoadedKey::Ed25519(_) => "Ed25519",
            LoadedKey::MlDsa(_) => "MlDsa",
            LoadedKey::MlKem(_) => "MlKem",
        };
        write!(f, "LoadedKey::{family}(<redacted>)")
    }
}

impl LoadedKey {
    /// The key as a signing key, if it is one.
    pub fn signature_key(&self) -> Option<&dyn SignatureKey> {
        match self {
            LoadedKey::Rsa(key) => Some(key),
            LoadedKey::Ecc(key) => Some(key),
            LoadedKey::Ed25519(key) => Some(key),
            LoadedKey::MlDsa(key) => Some(key),
            LoadedKey::Symmetric(_) | LoadedKey::Hmac(_) | LoadedKey::MlKem(_) => None,
        }
    }

    /// The SubjectPublicKeyInfo DER of an asymmetric key.
    pub fn public_key_der(&self) -> Option<&[u8]> {
        match self {
            LoadedKey::Rsa(key) => Some(key.public_key_der()),
            LoadedKey::Ecc(key) => Some(key.public_key_der()),
            LoadedKey::Ed25519(key) => Some(key.public_key_der()),
            LoadedKey::MlDsa(key) => Some(key.public_key_der()),
            LoadedKey::MlKem(key) => Some(key.public_key_der()),
            LoadedKey::Symmetric(_) | LoadedKey::Hmac(_) => None,
        }
    }
}

/// What every SIGN_VERIFY key does, whatever its family. Verification
/// failure is `InvalidSignature`, as in AWS.
pub trait SignatureKey {
    fn sign(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> Result<Vec<u8>, CryptoError>;

    fn verify(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError>;
}

/// Checks `spec` signs with `algorithm`, and `message` fits `message_type`.
fn check_signing(
    spec: KeySpec,
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
) -> Result<(), CryptoError> {
    if !spec
        .signing_algorithms(KeyUsage::SignVerify)
        .contains(&algorithm)
    {
        return Err(CryptoError::InvalidKeyUsage(format!(
            "Algorithm {algorithm} is incompatible with key spec {spec}."
        )));
    }
    algorithm
        .check_message(message_type, message)
        .map_err(CryptoError::Validation)
}

/// A caller-supplied digest, whose length must match the algorithm's hash.
fn imported_digest(hash: Hash, bytes: &[u8]) -> Result<aws_lc_rs::digest::Digest, CryptoError> {
    let algorithm = match hash {
        Hash::Sha224 => &aws_lc_rs::digest::SHA224,
        Hash::Sha256 => &aws_lc_rs::digest::SHA256,
        Hash::Sha384 => &aws_lc_rs::digest::SHA384,
        Hash::Sha512 => &aws_lc_rs::digest::SHA512,
        Hash::Shake256 => return Err(not_ml_dsa()),
    };
    aws_lc_rs::digest::Digest::import_less_safe(bytes, algorithm)
        .map_err(|_| digest_length_error(hash, bytes.len()))
}

fn digest_length_error(hash: Hash, got: usize) -> CryptoError {
    CryptoError::Validation(format!(
        "Digest is invalid length for algorithm: expected {} bytes, got {got}.",
        hash.output_len()
    ))
}

/// A message type or hash only ML-DSA takes reached another family: the
/// algorithm's message check let through what it should have refused.
fn not_ml_dsa() -> CryptoError {
    CryptoError::Internal("an ML-DSA message type reached another key family".into())
}

/// `len` bytes from the operating system's CSPRNG, in a zeroizing buffer.
pub fn random_bytes(len: usize) -> SecretBytes {
    let mut bytes = SecretBytes::new(vec![0u8; len]);
    OsRng.fill_bytes(&mut bytes);
    bytes
}
