//! The crypto service's error: one variant per failure the endpoint must
//! tell apart (each maps to one AWS error type in the endpoint). Messages
//! never carry key material or plaintext.

/// A failed crypto-service operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The key's spec or usage does not allow the operation or algorithm.
    #[error("{0}")]
    InvalidKeyUsage(String),
    /// The ciphertext names a different key or material version than the
    /// material supplied with it.
    #[error("the ciphertext was not produced by this key")]
    IncorrectKey,
    /// Malformed, altered, or encryption context not matching.
    #[error("the ciphertext is invalid or its encryption context does not match")]
    InvalidCiphertext,
    #[error("the signature is not valid")]
    InvalidSignature,
    #[error("the MAC is not valid")]
    InvalidMac,
    /// Input outside AWS's limits (sizes, ranges, digest lengths).
    #[error("{0}")]
    Validation(String),
    /// The operation does not exist for this kind of key.
    #[error("{0}")]
    Unsupported(String),
    /// An import token that is altered, not ours, or not for this key.
    #[error("{0}")]
    InvalidImportToken(String),
    /// A multi-Region key's material refused on its way between crypto
    /// services: an untrusted or bad signature, an expired or mismatched
    /// offer, or a key that is not multi-Region.
    #[error("{0}")]
    ReplicationRefused(String),
    /// Supplied key material does not parse for its spec.
    #[error("{0}")]
    MalformedMaterial(String),
    /// A sealed blob that is altered, truncated or sealed by another root key.
    #[error("sealed key material is invalid: {0}")]
    SealedMaterialInvalid(String),
    /// Sealed by a root key version this service does not hold.
    #[error("root key version {0} is not known to this crypto service")]
    UnknownRootKey(u32),
    /// The root key source failed (file unreadable, HSM error).
    #[error("root key: {0}")]
    RootKey(String),
    /// The crypto service could not be reached.
    #[error("crypto service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl CryptoError {
    /// A stable, low-cardinality name: for metrics and for the wire between
    /// the crypto service and its clients.
    pub fn kind(&self) -> &'static str {
        match self {
            CryptoError::InvalidKeyUsage(_) => "InvalidKeyUsage",
            CryptoError::IncorrectKey => "IncorrectKey",
            CryptoError::InvalidCiphertext => "InvalidCiphertext",
            CryptoError::InvalidSignature => "InvalidSignature",
            CryptoError::InvalidMac => "InvalidMac",
            CryptoError::Validation(_) => "Validation",
            CryptoError::Unsupported(_) => "Unsupported",
            CryptoError::MalformedMaterial(_) => "MalformedMaterial",
            CryptoError::InvalidImportToken(_) => "InvalidImportToken",
            CryptoError::ReplicationRefused(_) => "ReplicationRefused",
            CryptoError::SealedMaterialInvalid(_) => "SealedMaterialInvalid",
            CryptoError::UnknownRootKey(_) => "UnknownRootKey",
            CryptoError::RootKey(_) => "RootKey",
            CryptoError::Unavailable(_) => "Unavailable",
            CryptoError::Internal(_) => "Internal",
        }
    }

    /// The variant's payload as sent on the wire (empty for unit variants).
    pub fn detail(&self) -> String {
        match self {
            CryptoError::InvalidKeyUsage(m)
            | CryptoError::Validation(m)
            | CryptoError::Unsupported(m)
            | CryptoError::MalformedMaterial(m)
            | CryptoError::InvalidImportToken(m)
            | CryptoError::ReplicationRefused(m)
            | CryptoError::SealedMaterialInvalid(m)
            | CryptoError::RootKey(m)
            | CryptoError::Unavailable(m)
            | CryptoError::Internal(m) => m.clone(),
            CryptoError::UnknownRootKey(v) => v.to_string(),
            CryptoError::IncorrectKey
            | CryptoError::InvalidCiphertext
            | CryptoError::InvalidSignature
            | CryptoError::InvalidMac => String::new(),
        }
    }

    /// Rebuilds an error from [`CryptoError::kind`] and [`CryptoError::detail`].
    pub fn from_wire(kind: &str, detail: String) -> Self {
        match kind {
            "InvalidKeyUsage" => CryptoError::InvalidKeyUsage(detail),
            "IncorrectKey" => CryptoError::IncorrectKey,
            "InvalidCiphertext" => CryptoError::InvalidCiphertext,
            "InvalidSignature" => CryptoError::InvalidSignature,
            "InvalidMac" => CryptoError::InvalidMac,
            "Validation" => CryptoError::Validation(detail),
            "Unsupported" => CryptoError::Unsupported(detail),
            "MalformedMaterial" => CryptoError::MalformedMaterial(detail),
            "InvalidImportToken" => CryptoError::InvalidImportToken(detail),
            "ReplicationRefused" => CryptoError::ReplicationRefused(detail),
            "SealedMaterialInvalid" => CryptoError::SealedMaterialInvalid(detail),
            "UnknownRootKey" => match detail.parse() {
                Ok(version) => CryptoError::UnknownRootKey(version),
                Err(_) => CryptoError::Internal(format!("bad root key version '{detail}'")),
            },
            "RootKey" => CryptoError::RootKey(detail),
            "Unavailable" => CryptoError::Unavailable(detail),
            _ => CryptoError::Internal(detail),
        }
    }
}
