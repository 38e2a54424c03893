//! Key specs, key usages and the algorithm names of the AWS KMS API.
//!
//! Every enum here spells its values exactly as AWS does on the wire, and the
//! ones that appear in binary formats carry a stable numeric code: codes are
//! part of the sealed-material format (see `docs/formats.md`) and never change.

use std::fmt;
use std::str::FromStr;

/// A value that is not one of an enum's AWS names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Value '{value}' is not a valid {kind}")]
pub struct UnknownName {
    pub kind: &'static str,
    pub value: String,
}

/// An enum of the AWS API, spelled as AWS spells it.
pub trait AwsEnum: Sized + Copy + FromStr + 'static {
    /// Every value this project supports, in declaration order.
    fn all() -> &'static [Self];
    fn name(self) -> &'static str;
    /// Values AWS's API model has for this enum that this project does not
    /// serve, each with why: a request naming one is well formed, and is
    /// refused as unsupported rather than as malformed.
    fn elsewhere() -> &'static [(&'static str, &'static str)];
}

macro_rules! aws_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $kind:literal { $($variant:ident = $text:literal $(, $code:literal)?;)* }
        $(elsewhere { $($other:literal => $why:expr;)* })?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant,)* }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The AWS wire name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }
        }

        impl AwsEnum for $name {
            fn all() -> &'static [Self] {
                Self::ALL
            }
            fn name(self) -> &'static str {
                self.as_str()
            }
            fn elsewhere() -> &'static [(&'static str, &'static str)] {
                &[$($(($other, $why),)*)?]
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $($text => Ok($name::$variant),)*
                    _ => Err(UnknownName { kind: $kind, value: s.to_owned() }),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        // CRD schemas list the values, so `kubectl explain` shows them and
        // the API server rejects a misspelling at apply time.
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn inline_schema() -> bool {
                true
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "enum": [$($text,)*],
                })
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        aws_enum!(@codes $name { $($variant $(= $code)?;)* });
    };
    (@codes $name:ident { $($variant:ident = $code:literal;)* }) => {
        impl $name {
            /// The stable code used in binary formats.
            pub fn code(self) -> u16 {
                match self { $($name::$variant => $code,)* }
            }

            /// The value a format code stands for, if any.
            pub fn from_code(code: u16) -> Option<Self> {
                match code { $($code => Some($name::$variant),)* _ => None }
            }
        }
    };
    (@codes $name:ident { $($variant:ident;)* }) => {};
}

aws_enum! {
    /// The type of key material of a KMS key.
    ///
    /// Codes are grouped by family (0x00xx symmetric, 0x01xx RSA, 0x02xx ECC
    /// and Edwards, 0x03xx HMAC, 0x04xx ML-DSA, 0x05xx ML-KEM).
    KeySpec, "KeySpec" {
        SymmetricDefault = "SYMMETRIC_DEFAULT", 0x0001;
        Rsa2048 = "RSA_2048", 0x0101;
        Rsa3072 = "RSA_3072", 0x0102;
        Rsa4096 = "RSA_4096", 0x0103;
        EccNistP256 = "ECC_NIST_P256", 0x0201;
        EccNistP384 = "ECC_NIST_P384", 0x0202;
        EccNistP521 = "ECC_NIST_P521", 0x0203;
        EccSecgP256k1 = "ECC_SECG_P256K1", 0x0204;
        EccNistEdwards25519 = "ECC_NIST_EDWARDS25519", 0x0210;
        Hmac224 = "HMAC_224", 0x0301;
        Hmac256 = "HMAC_256", 0x0302;
        Hmac384 = "HMAC_384", 0x0303;
        Hmac512 = "HMAC_512", 0x0304;
        MlDsa44 = "ML_DSA_44", 0x0401;
        MlDsa65 = "ML_DSA_65", 0x0402;
        MlDsa87 = "ML_DSA_87", 0x0403;
        MlKem512 = "ML_KEM_512", 0x0501;
        MlKem768 = "ML_KEM_768", 0x0502;
        MlKem1024 = "ML_KEM_1024", 0x0503;
    }
    elsewhere {
        "SM2" => SM2;
    }
}

/// Why SM2 (keys, SM2DSA, SM2PKE) is not served.
const SM2: &str = "SM2, which AWS offers in its China Regions, is not implemented here";

aws_enum! {
    /// What a KMS key may be used for; fixed when the key is created.
    KeyUsage, "KeyUsageType" {
        EncryptDecrypt = "ENCRYPT_DECRYPT", 1;
        SignVerify = "SIGN_VERIFY", 2;
        GenerateVerifyMac = "GENERATE_VERIFY_MAC", 3;
        KeyAgreement = "KEY_AGREEMENT", 4;
        EncapsulateDecapsulate = "ENCAPSULATE_DECAPSULATE", 5;
    }
}

aws_enum! {
    EncapsulationAlgorithm, "EncapsulationAlgorithmSpec" {
        MlKem = "ML_KEM", 1;
    }
}

aws_enum! {
    EncryptionAlgorithm, "EncryptionAlgorithmSpec" {
        SymmetricDefault = "SYMMETRIC_DEFAULT", 1;
        RsaesOaepSha1 = "RSAES_OAEP_SHA_1", 2;
        RsaesOaepSha256 = "RSAES_OAEP_SHA_256", 3;
    }
    elsewhere {
        "SM2PKE" => SM2;
    }
}

aws_enum! {
    SigningAlgorithm, "SigningAlgorithmSpec" {
        RsassaPssSha256 = "RSASSA_PSS_SHA_256", 1;
        RsassaPssSha384 = "RSASSA_PSS_SHA_384", 2;
        RsassaPssSha512 = "RSASSA_PSS_SHA_512", 3;
        RsassaPkcs1V15Sha256 = "RSASSA_PKCS1_V1_5_SHA_256", 4;
        RsassaPkcs1V15Sha384 = "RSASSA_PKCS1_V1_5_SHA_384", 5;
        RsassaPkcs1V15Sha512 = "RSASSA_PKCS1_V1_5_SHA_512", 6;
        EcdsaSha256 = "ECDSA_SHA_256", 7;
        EcdsaSha384 = "ECDSA_SHA_384", 8;
        EcdsaSha512 = "ECDSA_SHA_512", 9;
        Ed25519Sha512 = "ED25519_SHA_512", 10;
        Ed25519PhSha512 = "ED25519_PH_SHA_512", 11;
        MlDsaShake256 = "ML_DSA_SHAKE_256", 12;
    }
    elsewhere {
        "SM2DSA" => SM2;
    }
}

aws_enum! {
    MacAlgorithm, "MacAlgorithmSpec" {
        HmacSha224 = "HMAC_SHA_224", 1;
        HmacSha256 = "HMAC_SHA_256", 2;
        HmacSha384 = "HMAC_SHA_384", 3;
        HmacSha512 = "HMAC_SHA_512", 4;
    }
}

aws_enum! {
    KeyAgreementAlgorithm, "KeyAgreementAlgorithmSpec" {
        Ecdh = "ECDH", 1;
    }
}

aws_enum! {
    DataKeySpec, "DataKeySpec" {
        Aes128 = "AES_128", 1;
        Aes256 = "AES_256", 2;
    }
}

aws_enum! {
    DataKeyPairSpec, "DataKeyPairSpec" {
        Rsa2048 = "RSA_2048", 1;
        Rsa3072 = "RSA_3072", 2;
        Rsa4096 = "RSA_4096", 3;
        EccNistP256 = "ECC_NIST_P256", 4;
        EccNistP384 = "ECC_NIST_P384", 5;
        EccNistP521 = "ECC_NIST_P521", 6;
        EccSecgP256k1 = "ECC_SECG_P256K1", 7;
        EccNistEdwards25519 = "ECC_NIST_EDWARDS25519", 8;
        MlKem512 = "ML_KEM_512", 9;
        MlKem768 = "ML_KEM_768", 10;
        MlKem1024 = "ML_KEM_1024", 11;
    }
    elsewhere {
        "SM2" => SM2;
    }
}

aws_enum! {
    /// How key material to import is wrapped (GetParametersForImport).
    WrappingAlgorithm, "AlgorithmSpec" {
        RsaesOaepSha1 = "RSAES_OAEP_SHA_1", 1;
        RsaesOaepSha256 = "RSAES_OAEP_SHA_256", 2;
        RsaAesKeyWrapSha1 = "RSA_AES_KEY_WRAP_SHA_1", 3;
        RsaAesKeyWrapSha256 = "RSA_AES_KEY_WRAP_SHA_256", 4;
    }
    elsewhere {
        "RSAES_PKCS1_V1_5" => "AWS KMS stopped taking RSAES_PKCS1_V1_5 for imports in 2023; use RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256";
        "SM2PKE" => SM2;
    }
}

aws_enum! {
    /// The RSA key that wraps key material to import.
    WrappingKeySpec, "WrappingKeySpec" {
        Rsa2048 = "RSA_2048", 1;
        Rsa3072 = "RSA_3072", 2;
        Rsa4096 = "RSA_4096", 3;
    }
    elsewhere {
        "SM2" => SM2;
    }
}

impl WrappingKeySpec {
    /// The key spec whose material a wrapping key of this size is.
    pub fn key_spec(self) -> KeySpec {
        match self {
            WrappingKeySpec::Rsa2048 => KeySpec::Rsa2048,
            WrappingKeySpec::Rsa3072 => KeySpec::Rsa3072,
            WrappingKeySpec::Rsa4096 => KeySpec::Rsa4096,
        }
    }
}

aws_enum! {
    /// Whether imported key material expires (ImportKeyMaterial).
    ExpirationModel, "ExpirationModelType" {
        KeyMaterialExpires = "KEY_MATERIAL_EXPIRES";
        KeyMaterialDoesNotExpire = "KEY_MATERIAL_DOES_NOT_EXPIRE";
    }
}

aws_enum! {
    /// Whether an import brings the key's material back or new material.
    ImportType, "ImportType" {
        NewKeyMaterial = "NEW_KEY_MATERIAL";
        ExistingKeyMaterial = "EXISTING_KEY_MATERIAL";
    }
}

aws_enum! {
    MessageType, "MessageType" {
        Raw = "RAW", 1;
        Digest = "DIGEST", 2;
        // ML-DSA's 64-byte message representative μ (FIPS 204 §6.2).
        ExternalMu = "EXTERNAL_MU", 3;
    }
}

aws_enum! {
    /// What a grant may allow (CreateGrant's `Operations`).
    GrantOperation, "GrantOperation" {
        Decrypt = "Decrypt";
        Encrypt = "Encrypt";
        GenerateDataKey = "GenerateDataKey";
        GenerateDataKeyWithoutPlaintext = "GenerateDataKeyWithoutPlaintext";
        ReEncryptFrom = "ReEncryptFrom";
        ReEncryptTo = "ReEncryptTo";
        Sign = "Sign";
        Verify = "Verify";
        GetPublicKey = "GetPublicKey";
        CreateGrant = "CreateGrant";
        RetireGrant = "RetireGrant";
        DescribeKey = "DescribeKey";
        GenerateDataKeyPair = "GenerateDataKeyPair";
        GenerateDataKeyPairWithoutPlaintext = "GenerateDataKeyPairWithoutPlaintext";
        GenerateMac = "GenerateMac";
        VerifyMac = "VerifyMac";
        DeriveSharedSecret = "DeriveSharedSecret";
        Encapsulate = "Encapsulate";
        Decapsulate = "Decapsulate";
    }
}

/// The hash functions the algorithms above are built on.
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

#[cfg(test)]
mod tests;
