//! Key import (BYOK): the import token that carries a wrapping key, the
//! unwrapping of material wrapped under it, and the id of imported
//! material. The wrapping key's private half and the unwrapped material
//! exist only inside the crypto service; the endpoint sees the token (a
//! sealed blob with a clear header) and the public key.

pub mod token;
pub mod unwrap;

use sha2::{Digest, Sha256};

use crate::key_id::KeyId;

pub use token::{ImportToken, TokenHeader};

/// AWS's `KeyMaterialId` of imported material: derived from the key id and
/// the material (as AWS derives it), so that a re-import can be checked to
/// bring the same material without keeping it. 64 hex digits.
pub fn material_id(key_id: KeyId, material: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(b"kube-kms/imported-material-id/1\0");
    hash.update(key_id.as_bytes());
    hash.update(material);
    hex::encode(hash.finalize())
}

#[cfg(test)]
pub(crate) mod tests;
