//! The endpoint's error: one variant per AWS error type, and the one place
//! where crypto-service and store errors become AWS errors.

use crate::crypto::CryptoError;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Disabled(String),
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    InvalidCiphertext(String),
    #[error("{0}")]
    IncorrectKey(String),
    #[error("{0}")]
    InvalidKeyUsage(String),
    #[error("{0}")]
    InvalidSignature(String),
    #[error("{0}")]
    InvalidMac(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    Serialization(String),
    #[error("{0}")]
    InvalidArn(String),
    #[error("{0}")]
    InvalidAliasName(String),
    #[error("{0}")]
    InvalidMarker(String),
    #[error("{0}")]
    InvalidGrantId(String),
    #[error("{0}")]
    InvalidGrantToken(String),
    #[error("{0}")]
    InvalidImportToken(String),
    #[error("{0}")]
    ExpiredImportToken(String),
    #[error("{0}")]
    IncorrectKeyMaterial(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Tag(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    CustomKeyStoreNotFound(String),
    #[error("{0}")]
    MalformedPolicyDocument(String),
    #[error("The request would have succeeded, but the DryRun option is set.")]
    DryRun,
    #[error("{0}")]
    AccessDenied(String),
    /// Too many requests of some kind; SDKs retry with backoff.
    #[error("{0}")]
    Throttling(String),
    /// Unknown access key id.
    #[error("{0}")]
    UnrecognizedClient(String),
    /// Bad or expired SigV4 signature.
    #[error("{0}")]
    SignatureInvalid(String),
    #[error("{0}")]
    MissingAuthenticationToken(String),
    #[error("{0}")]
    IncompleteSignature(String),
    #[error("{0}")]
    UnknownOperation(String),
    #[error("{0}")]
    Internal(String),
    #[error("{0}")]
    DependencyTimeout(String),
    /// The request's body did not arrive in time (HTTP 408, as the common
    /// AWS `RequestTimeout` errors are for slow clients).
    #[error("{0}")]
    RequestTimeout(String),
}

impl ApiError {
    /// The `__type` AWS clients read.
    pub fn aws_type(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) => "NotFoundException",
            ApiError::Disabled(_) => "DisabledException",
            ApiError::InvalidState(_) => "KMSInvalidStateException",
            ApiError::InvalidCiphertext(_) => "InvalidCiphertextException",
            ApiError::IncorrectKey(_) => "IncorrectKeyException",
            ApiError::InvalidKeyUsage(_) => "InvalidKeyUsageException",
            ApiError::InvalidSignature(_) => "KMSInvalidSignatureException",
            ApiError::InvalidMac(_) => "KMSInvalidMacException",
            ApiError::Validation(_) => "ValidationException",
            ApiError::Serialization(_) => "SerializationException",
            ApiError::InvalidArn(_) => "InvalidArnException",
            ApiError::InvalidAliasName(_) => "InvalidAliasNameException",
            ApiError::InvalidMarker(_) => "InvalidMarkerException",
            ApiError::InvalidGrantId(_) => "InvalidGrantIdException",
            ApiError::InvalidGrantToken(_) => "InvalidGrantTokenException",
            ApiError::InvalidImportToken(_) => "InvalidImportTokenException",
            ApiError::ExpiredImportToken(_) => "ExpiredImportTokenException",
            ApiError::IncorrectKeyMaterial(_) => "IncorrectKeyMaterialException",
            ApiError::AlreadyExists(_) => "AlreadyExistsException",
            ApiError::LimitExceeded(_) => "LimitExceededException",
            ApiError::Unsupported(_) => "UnsupportedOperationException",
            ApiError::Tag(_) => "TagException",
            ApiError::Conflict(_) => "ConflictException",
            ApiError::CustomKeyStoreNotFound(_) => "CustomKeyStoreNotFoundException",
            ApiError::MalformedPolicyDocument(_) => "MalformedPolicyDocumentException",
            ApiError::DryRun => "DryRunOperationException",
            ApiError::AccessDenied(_) => "AccessDeniedException",
            ApiError::Throttling(_) => "ThrottlingException",
            ApiError::UnrecognizedClient(_) => "UnrecognizedClientException",
            ApiError::SignatureInvalid(_) => "InvalidSignatureException",
            ApiError::MissingAuthenticationToken(_) => "MissingAuthenticationTokenException",
            ApiError::IncompleteSignature(_) => "IncompleteSignatureException",
            ApiError::UnknownOperation(_) => "UnknownOperationException",
            ApiError::Internal(_) => "KMSInternalException",
            ApiError::DependencyTimeout(_) => "DependencyTimeoutException",
            ApiError::RequestTimeout(_) => "RequestTimeoutException",
        }
    }

    /// HTTP status as real AWS sends it: 400 for every client error
    /// (reference §1.2), 500/503 for ours.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Internal(_) => 500,
            ApiError::DependencyTimeout(_) => 503,
            ApiError::MissingAuthenticationToken(_) => 403,
            ApiError::RequestTimeout(_) => 408,
            _ => 400,
        }
    }

    pub fn validation(field: &str, value: impl std::fmt::Display, constraint: &str) -> Self {
        ApiError::Validation(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
        ))
    }

    /// A crypto-service error for the key `arn`.
    pub fn from_crypto(error: CryptoError, arn: &str) -> Self {
        match error {
            CryptoError::InvalidKeyUsage(m) if m.starts_with("key usage") => ApiError::InvalidKeyUsage(format!("{arn} {m}")),
            CryptoError::InvalidKeyUsage(m) => ApiError::InvalidKeyUsage(m),
            CryptoError::IncorrectKey => ApiError::IncorrectKey(
                "The key ID in the request does not identify a CMK that can perform this operation.".into(),
            ),
            CryptoError::InvalidCiphertext => ApiError::InvalidCiphertext(String::new()),
            CryptoError::InvalidSignature => ApiError::InvalidSignature(String::new()),
            CryptoError::InvalidMac => ApiError::InvalidMac(String::new()),
            CryptoError::InvalidImportToken(m) => ApiError::InvalidImportToken(m),
            // The other deployment is not trusted, or sent what does not
            // check: said plainly, as the operator must fix the peers.
            CryptoError::ReplicationRefused(m) => ApiError::AccessDenied(m),
            CryptoError::Validation(m) | CryptoError::MalformedMaterial(m) => ApiError::Validation(m),
            CryptoError::Unsupported(m) => ApiError::Unsupported(format!("{arn} {m}")),
            CryptoError::Unavailable(m) => ApiError::DependencyTimeout(format!("crypto service unavailable: {m}")),
            // Sealed material we cannot open is our failure, never the caller's;
            // the detail goes to the log, not the response.
            other => {
                tracing::error!(error = %other, key = arn, "crypto service failure");
                ApiError::Internal("The request could not be completed due to an internal error.".into())
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::AlreadyExists(m) => ApiError::AlreadyExists(format!("{m} already exists")),
            StoreError::NotFound(m) => ApiError::NotFound(format!("{m} does not exist")),
            StoreError::ReadOnly(m) => ApiError::Unsupported(m),
            StoreError::LimitExceeded(m) => ApiError::LimitExceeded(m),
            StoreError::Forbidden(m) => ApiError::AccessDenied(m),
            StoreError::Invalid(m) => ApiError::Validation(m),
            StoreError::InProgress(m) => ApiError::Conflict(m),
            StoreError::Timeout(m) => {
                tracing::warn!(error = %m, "key store change not carried out in time");
                ApiError::DependencyTimeout(m)
            }
            other => {
                tracing::error!(error = %other, "key store failure");
                ApiError::Internal(
                    "The request could not be completed due to an internal error.".into(),
                )
            }
        }
    }
}
