//! What each key spec and algorithm allows: its family, its usages and
//! algorithms, its hash, its message and plaintext limits.

use super::{
    DataKeyPairSpec, EncapsulationAlgorithm, EncryptionAlgorithm, KeyAgreementAlgorithm, KeySpec,
    KeyUsage, MacAlgorithm, MessageType, SigningAlgorithm,
};

/// The hash functions the signing and MAC algorithms are built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    /// ML-DSA's hash; a 64-byte output where one is taken (μ).
    Shake256,
}

impl Hash {
    pub fn output_len(self) -> usize {
        match self {
            Hash::Sha224 => 28,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 | Hash::Shake256 => 64,
        }
    }
}

/// The family a key spec belongs to, which decides how its material is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Symmetric,
    Rsa,
    Ecc,
    /// Edwards curves (Ed25519): PKCS#8 material like `Ecc`, but EdDSA.
    Edwards,
    Hmac,
    /// ML-DSA (FIPS 204): PKCS#8 material, post-quantum signatures.
    MlDsa,
    /// ML-KEM (FIPS 203): PKCS#8 material (seed form), post-quantum key
    /// encapsulation.
    MlKem,
}

impl KeySpec {
    pub fn family(self) -> Family {
        use KeySpec::*;
        match self {
            SymmetricDefault => Family::Symmetric,
            Rsa2048 | Rsa3072 | Rsa4096 => Family::Rsa,
            EccNistP256 | EccNistP384 | EccNistP521 | EccSecgP256k1 => Family::Ecc,
            EccNistEdwards25519 => Family::Edwards,
            Hmac224 | Hmac256 | Hmac384 | Hmac512 => Family::Hmac,
            MlDsa44 | MlDsa65 | MlDsa87 => Family::MlDsa,
            MlKem512 | MlKem768 | MlKem1024 => Family::MlKem,
        }
    }

    /// The usages AWS allows for this spec.
    pub fn usages(self) -> &'static [KeyUsage] {
        use KeySpec::*;
        match self {
            SymmetricDefault => &[KeyUsage::EncryptDecrypt],
            Rsa2048 | Rsa3072 | Rsa4096 => &[KeyUsage::EncryptDecrypt, KeyUsage::SignVerify],
            EccNistP256 | EccNistP384 | EccNistP521 => {
                &[KeyUsage::SignVerify, KeyUsage::KeyAgreement]
            }
            EccSecgP256k1 | EccNistEdwards25519 => &[KeyUsage::SignVerify],
            MlDsa44 | MlDsa65 | MlDsa87 => &[KeyUsage::SignVerify],
            MlKem512 | MlKem768 | MlKem1024 => &[KeyUsage::EncapsulateDecapsulate],
            Hmac224 | Hmac256 | Hmac384 | Hmac512 => &[KeyUsage::GenerateVerifyMac],
        }
    }

    /// The spec's name in the deprecated `CustomerMasterKeySpec` enum, which
    /// AWS did not extend when it added Ed25519 (and ML-DSA, ML-KEM) to
    /// `KeySpec`.
    pub fn customer_master_key_spec(self) -> Option<&'static str> {
        match self {
            KeySpec::EccNistEdwards25519 => None,
            KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => None,
            KeySpec::MlKem512 | KeySpec::MlKem768 | KeySpec::MlKem1024 => None,
            other => Some(other.as_str()),
        }
    }

    pub fn allows_usage(self, usage: KeyUsage) -> bool {
        self.usages().contains(&usage)
    }

    /// Encryption algorithms a key of this spec and usage supports (empty
    /// unless the usage is ENCRYPT_DECRYPT), as DescribeKey lists them.
    pub fn encryption_algorithms(self, usage: KeyUsage) -> &'static [EncryptionAlgorithm] {
        if usage != KeyUsage::EncryptDecrypt {
            return &[];
        }
        match self.family() {
            Family::Symmetric => &[EncryptionAlgorithm::SymmetricDefault],
            Family::Rsa => &[
                EncryptionAlgorithm::RsaesOaepSha1,
                EncryptionAlgorithm::RsaesOaepSha256,
            ],
            Family::Ecc | Family::Edwards | Family::Hmac | Family::MlDsa | Family::MlKem => &[],
        }
    }

    /// Encapsulation algorithms a key of this spec supports: ML-KEM's.
    pub fn encapsulation_algorithms(self) -> &'static [EncapsulationAlgorithm] {
        match self.family() {
            Family::MlKem => &[EncapsulationAlgorithm::MlKem],
            _ => &[],
        }
    }

    /// The length of an ML-KEM ciphertext (FIPS 203 §8, Table 3).
    pub fn ml_kem_ciphertext_len(self) -> Option<usize> {
        match self {
            KeySpec::MlKem512 => Some(768),
            KeySpec::MlKem768 => Some(1088),
            KeySpec::MlKem1024 => Some(1568),
            _ => None,
        }
    }

    /// Signing algorithms a key of this spec and usage supports.
    pub fn signing_algorithms(self, usage: KeyUsage) -> &'static [SigningAlgorithm] {
        use SigningAlgorithm::*;
        if usage != KeyUsage::SignVerify {
            return &[];
        }
        match self {
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => &[
                RsassaPssSha256,
                RsassaPssSha384,
                RsassaPssSha512,
                RsassaPkcs1V15Sha256,
                RsassaPkcs1V15Sha384,
                RsassaPkcs1V15Sha512,
            ],
            KeySpec::EccNistP256 | KeySpec::EccSecgP256k1 => &[EcdsaSha256],
            KeySpec::EccNistP384 => &[EcdsaSha384],
            KeySpec::EccNistP521 => &[EcdsaSha512],
            KeySpec::EccNistEdwards25519 => &[Ed25519Sha512, Ed25519PhSha512],
            KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => &[MlDsaShake256],
            _ => &[],
        }
    }

    /// Key agreement algorithms a key of this spec and usage supports: ECDH
    /// for the NIST curves (secp256k1 and Ed25519 keys cannot agree keys).
    pub fn key_agreement_algorithms(self, usage: KeyUsage) -> &'static [KeyAgreementAlgorithm] {
        if usage == KeyUsage::KeyAgreement && self.allows_usage(usage) {
            &[KeyAgreementAlgorithm::Ecdh]
        } else {
            &[]
        }
    }

    /// MAC algorithms a key of this spec supports.
    pub fn mac_algorithms(self) -> &'static [MacAlgorithm] {
        match self {
            KeySpec::Hmac224 => &[MacAlgorithm::HmacSha224],
            KeySpec::Hmac256 => &[MacAlgorithm::HmacSha256],
            KeySpec::Hmac384 => &[MacAlgorithm::HmacSha384],
            KeySpec::Hmac512 => &[MacAlgorithm::HmacSha512],
            _ => &[],
        }
    }

    /// RSA modulus size in bytes.
    pub fn rsa_modulus_len(self) -> Option<usize> {
        match self {
            KeySpec::Rsa2048 => Some(256),
            KeySpec::Rsa3072 => Some(384),
            KeySpec::Rsa4096 => Some(512),
            _ => None,
        }
    }

    /// The largest plaintext AWS accepts for this spec and algorithm
    /// (RSA: modulus − 2·hash − 2, i.e. 214/190 bytes for RSA_2048).
    pub fn max_plaintext_len(self, algorithm: EncryptionAlgorithm) -> Option<usize> {
        match (self.family(), algorithm) {
            (Family::Symmetric, EncryptionAlgorithm::SymmetricDefault) => Some(4096),
            (Family::Rsa, EncryptionAlgorithm::RsaesOaepSha1) => {
                self.rsa_modulus_len().map(|k| k - 2 * 20 - 2)
            }
            (Family::Rsa, EncryptionAlgorithm::RsaesOaepSha256) => {
                self.rsa_modulus_len().map(|k| k - 2 * 32 - 2)
            }
            _ => None,
        }
    }
}

impl SigningAlgorithm {
    pub fn hash(self) -> Hash {
        use SigningAlgorithm::*;
        match self {
            RsassaPssSha256 | RsassaPkcs1V15Sha256 | EcdsaSha256 => Hash::Sha256,
            RsassaPssSha384 | RsassaPkcs1V15Sha384 | EcdsaSha384 => Hash::Sha384,
            RsassaPssSha512 | RsassaPkcs1V15Sha512 | EcdsaSha512 => Hash::Sha512,
            Ed25519Sha512 | Ed25519PhSha512 => Hash::Sha512,
            MlDsaShake256 => Hash::Shake256,
        }
    }

    /// The message types AWS accepts with this algorithm.
    pub fn message_types(self) -> &'static [MessageType] {
        use MessageType::*;
        match self {
            SigningAlgorithm::Ed25519Sha512 => &[Raw],
            SigningAlgorithm::Ed25519PhSha512 => &[Digest],
            SigningAlgorithm::MlDsaShake256 => &[Raw, ExternalMu],
            _ => &[Raw, Digest],
        }
    }

    /// Checks `message_type` is one this algorithm takes and that a digest
    /// (or μ) has the length the algorithm's hash gives.
    pub fn check_message(self, message_type: MessageType, message: &[u8]) -> Result<(), String> {
        let allowed = self.message_types();
        if !allowed.contains(&message_type) {
            let names: Vec<&str> = allowed.iter().map(|t| t.as_str()).collect();
            return Err(format!(
                "MessageType {message_type} is not valid with signing algorithm {self}; use {}.",
                names.join(" or ")
            ));
        }
        let expected = self.hash().output_len();
        match message_type {
            MessageType::Raw => Ok(()),
            MessageType::Digest if message.len() != expected => Err(format!(
                "Digest is invalid length for algorithm: expected {expected} bytes, got {}.",
                message.len()
            )),
            MessageType::ExternalMu if message.len() != expected => Err(format!(
                "EXTERNAL_MU must be {expected} bytes, got {}.",
                message.len()
            )),
            MessageType::Digest | MessageType::ExternalMu => Ok(()),
        }
    }
}

impl MacAlgorithm {
    pub fn hash(self) -> Hash {
        match self {
            MacAlgorithm::HmacSha224 => Hash::Sha224,
            MacAlgorithm::HmacSha256 => Hash::Sha256,
            MacAlgorithm::HmacSha384 => Hash::Sha384,
            MacAlgorithm::HmacSha512 => Hash::Sha512,
        }
    }
}

impl DataKeyPairSpec {
    /// The key spec whose material a data key pair of this spec has.
    pub fn key_spec(self) -> KeySpec {
        match self {
            DataKeyPairSpec::Rsa2048 => KeySpec::Rsa2048,
            DataKeyPairSpec::Rsa3072 => KeySpec::Rsa3072,
            DataKeyPairSpec::Rsa4096 => KeySpec::Rsa4096,
            DataKeyPairSpec::EccNistP256 => KeySpec::EccNistP256,
            DataKeyPairSpec::EccNistP384 => KeySpec::EccNistP384,
            DataKeyPairSpec::EccNistP521 => KeySpec::EccNistP521,
            DataKeyPairSpec::EccSecgP256k1 => KeySpec::EccSecgP256k1,
            DataKeyPairSpec::EccNistEdwards25519 => KeySpec::EccNistEdwards25519,
            DataKeyPairSpec::MlKem512 => KeySpec::MlKem512,
            DataKeyPairSpec::MlKem768 => KeySpec::MlKem768,
            DataKeyPairSpec::MlKem1024 => KeySpec::MlKem1024,
        }
    }
}
