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

mod algorithms;

pub use algorithms::{Family, Hash};

#[cfg(test)]
mod tests;
