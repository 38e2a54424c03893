//! Conversions between the domain types and the protobuf messages, and
//! between `CryptoError` and gRPC statuses.

use std::collections::HashMap;
use std::str::FromStr;

use tonic::{Code, Status};

use super::pb;
use crate::ciphertext::EncryptionContext;
use crate::crypto::CryptoError;
use crate::key_id::KeyId;
use crate::seal::MaterialId;

const ERROR_KIND: &str = "kubekms-error";

pub fn to_status(error: CryptoError) -> Status {
    let code = match &error {
        CryptoError::Unavailable(_) | CryptoError::RootKey(_) => Code::Unavailable,
        CryptoError::Internal(_) => Code::Internal,
        CryptoError::SealedMaterialInvalid(_) | CryptoError::UnknownRootKey(_) => {
            Code::FailedPrecondition
        }
        _ => Code::InvalidArgument,
    };
    let mut status = Status::new(code, error.detail());
    if let Ok(kind) = error.kind().parse() {
        status.metadata_mut().insert(ERROR_KIND, kind);
    }
    status
}

pub fn from_status(status: Status) -> CryptoError {
    match status
        .metadata()
        .get(ERROR_KIND)
        .and_then(|v| v.to_str().ok())
    {
        Some(kind) => CryptoError::from_wire(kind, status.message().to_owned()),
        // No kind: the failure is the transport's, not the service's.
        None => match status.code() {
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => {
                CryptoError::Unavailable(status.message().to_owned())
            }
            _ => CryptoError::Internal(format!("{:?}: {}", status.code(), status.message())),
        },
    }
}

/// Parses an AWS enum name from a request field.
pub fn parse<T: FromStr<Err = crate::spec::UnknownName>>(value: &str) -> Result<T, CryptoError> {
    value
        .parse()
        .map_err(|e: crate::spec::UnknownName| CryptoError::Validation(e.to_string()))
}

pub fn context_to_pb(context: &EncryptionContext) -> HashMap<String, String> {
    context
        .pairs()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub fn context_from_pb(map: HashMap<String, String>) -> EncryptionContext {
    map.into_iter().collect()
}

pub fn material_id_to_pb(id: &MaterialId) -> pb::MaterialId {
    pb::MaterialId {
        key_id: id.key_id.as_bytes().to_vec(),
        version: id.version,
        key_spec: id.spec.as_str().to_owned(),
        key_usage: id.usage.as_str().to_owned(),
    }
}

pub fn key_id_from_pb(bytes: &[u8]) -> Result<KeyId, CryptoError> {
    let key_id: [u8; 16] = bytes
        .try_into()
        .map_err(|_| CryptoError::Validation("key id must be 16 bytes".into()))?;
    Ok(KeyId::from_bytes(key_id))
}

pub fn material_id_from_pb(id: Option<pb::MaterialId>) -> Result<MaterialId, CryptoError> {
    let id = id.ok_or_else(|| CryptoError::Validation("material id is required".into()))?;
    Ok(MaterialId {
        key_id: key_id_from_pb(&id.key_id)?,
        version: id.version,
        spec: parse(&id.key_spec)?,
        usage: parse(&id.key_usage)?,
    })
}
