//! The crypto engine, operation by operation, for every spec and usage.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::signature::{self as lc, UnparsedPublicKey};
use p256::pkcs8::DecodePublicKey;
use sha2::Digest;

use super::*;
use crate::ciphertext::{CiphertextHeader, EncryptionContext};
use crate::key_id::KeyId;
use crate::material::random_bytes;
use crate::root::FileRootKey;
use crate::seal::MaterialId;
use crate::secret::SecretBytes;
use crate::spec::*;

fn root(versions: &[(u32, &SecretBytes)]) -> Arc<FileRootKey> {
    Arc::new(FileRootKey::from_keys(versions.iter().map(|(v, k)| (*v, (*k).clone()))).unwrap())
}

fn engine() -> Engine {
    Engine::new(root(&[(1, &random_bytes(32))]), CacheConfig::default())
}

fn id(spec: KeySpec, usage: KeyUsage) -> MaterialId {
    MaterialId {
        key_id: KeyId::random(),
        version: 1,
        spec,
        usage,
    }
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs.iter().map(|(k, v)| (*k, *v)).collect()
}

fn encrypt_req(
    material: &SealedMaterial,
    plaintext: &[u8],
    context: EncryptionContext,
    algorithm: EncryptionAlgorithm,
) -> EncryptRequest {
    EncryptRequest {
        material: material.clone(),
        plaintext: SecretBytes::new(plaintext.to_vec()),
        context,
        algorithm,
    }
}

fn decrypt_req(
    material: &SealedMaterial,
    ciphertext: &[u8],
    context: EncryptionContext,
    algorithm: EncryptionAlgorithm,
) -> DecryptRequest {
    DecryptRequest {
        material: material.clone(),
        ciphertext: ciphertext.to_vec(),
        context,
        algorithm,
    }
}

mod agreement;
mod compare;
mod data_keys;
mod encryption;
mod material;
mod signing;
