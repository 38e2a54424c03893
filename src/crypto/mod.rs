//! The crypto service: the only place plaintext key material exists.
//!
//! Callers hand in sealed blobs and get results out. [`CryptoService`] is
//! the boundary; [`LocalCryptoService`] runs it in-process and
//! [`grpc::GrpcCryptoClient`] reaches one over a unix socket, so both paths
//! share everything but the transport.

mod cache;
pub mod compare;
mod engine;
mod error;
pub mod grpc;
mod local;
pub mod metered;

pub use cache::{CacheConfig, MaterialCache, Unsealed};
pub use engine::Engine;
pub use error::CryptoError;
pub use local::LocalCryptoService;

use crate::ciphertext::EncryptionContext;
use crate::import::ImportToken;
use crate::key::Millis;
use crate::key_id::KeyId;
use crate::replica::{Accepted, PublicIdentity, ReplicaOffer};
use crate::seal::{MaterialId, SealedMaterial};
use crate::secret::SecretBytes;
use crate::spec::{
    DataKeyPairSpec, DataKeySpec, EncryptionAlgorithm, KeyAgreementAlgorithm, MacAlgorithm,
    MessageType, SigningAlgorithm, WrappingAlgorithm, WrappingKeySpec,
};

/// Largest plaintext for Encrypt, a MAC or a signed message (AWS's limit).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Largest data key or random byte string (AWS's limit).
pub const MAX_RANDOM_LEN: u32 = 1024;

#[derive(Debug)]
pub struct EncryptRequest {
    pub material: SealedMaterial,
    pub plaintext: SecretBytes,
    pub context: EncryptionContext,
    pub algorithm: EncryptionAlgorithm,
}

#[derive(Debug)]
pub struct DecryptRequest {
    pub material: SealedMaterial,
    pub ciphertext: Vec<u8>,
    pub context: EncryptionContext,
    pub algorithm: EncryptionAlgorithm,
}

/// Decrypt under one key and encrypt under another, without the plaintext
/// leaving the service.
#[derive(Debug)]
pub struct ReEncryptRequest {
    pub source: DecryptRequest,
    pub destination: SealedMaterial,
    pub destination_context: EncryptionContext,
    pub destination_algorithm: EncryptionAlgorithm,
}

/// How long a data key is: AWS's `KeySpec` or `NumberOfBytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKeySize {
    Spec(DataKeySpec),
    Bytes(u32),
}

#[derive(Debug)]
pub struct DataKeyRequest {
    pub material: SealedMaterial,
    pub size: DataKeySize,
    pub context: EncryptionContext,
    pub include_plaintext: bool,
}

#[derive(Debug)]
pub struct DataKey {
    pub ciphertext: Vec<u8>,
    pub plaintext: Option<SecretBytes>,
}

#[derive(Debug)]
pub struct DataKeyPairRequest {
    pub material: SealedMaterial,
    pub spec: DataKeyPairSpec,
    pub context: EncryptionContext,
    pub include_plaintext: bool,
}

#[derive(Debug)]
pub struct DataKeyPair {
    /// The PKCS#8 private key, encrypted like a data key.
    pub private_key_ciphertext: Vec<u8>,
    pub private_key_plaintext: Option<SecretBytes>,
    /// SubjectPublicKeyInfo DER.
    pub public_key: Vec<u8>,
}

#[derive(Debug)]
pub struct SignRequest {
    pub material: SealedMaterial,
    pub message: Vec<u8>,
    pub message_type: MessageType,
    pub algorithm: SigningAlgorithm,
}

#[derive(Debug)]
pub struct VerifyRequest {
    pub material: SealedMaterial,
    pub message: Vec<u8>,
    pub message_type: MessageType,
    pub algorithm: SigningAlgorithm,
    pub signature: Vec<u8>,
}

/// Key agreement between a KEY_AGREEMENT key and a peer's public key.
#[derive(Debug)]
pub struct SharedSecretRequest {
    pub material: SealedMaterial,
    pub algorithm: KeyAgreementAlgorithm,
    /// The peer's SubjectPublicKeyInfo DER.
    pub public_key: Vec<u8>,
}

/// A shared secret and its ML-KEM ciphertext (Encapsulate).
#[derive(Debug)]
pub struct Encapsulated {
    pub ciphertext: Vec<u8>,
    pub secret: SecretBytes,
}

/// Decapsulation of an ML-KEM ciphertext with an ENCAPSULATE_DECAPSULATE key.
#[derive(Debug)]
pub struct DecapsulateRequest {
    pub material: SealedMaterial,
    pub ciphertext: Vec<u8>,
}

#[derive(Debug)]
pub struct MacRequest {
    pub material: SealedMaterial,
    pub message: Vec<u8>,
    pub algorithm: MacAlgorithm,
}

/// GetParametersForImport: a wrapping key for material of `key_id`.
#[derive(Debug, Clone, Copy)]
pub struct ImportParametersRequest {
    pub key_id: KeyId,
    pub wrapping_spec: WrappingKeySpec,
    pub algorithm: WrappingAlgorithm,
    /// When the token stops being accepted.
    pub valid_to: Millis,
}

/// A wrapping public key (SubjectPublicKeyInfo DER) and the token that
/// holds its private half.
#[derive(Debug)]
pub struct ImportParameters {
    pub public_key: Vec<u8>,
    pub token: ImportToken,
}

/// ImportKeyMaterial: material wrapped under a token's key, to be sealed
/// as `id`. The caller checks the token's time (its header is clear).
#[derive(Debug)]
pub struct UnwrapImportRequest {
    pub id: MaterialId,
    pub token: ImportToken,
    pub wrapped: Vec<u8>,
}

/// Imported material, sealed, and its `KeyMaterialId`.
#[derive(Debug)]
pub struct UnwrappedMaterial {
    pub sealed: SealedMaterial,
    pub material_id: String,
}

/// The root key versions a service holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootKeyInfo {
    pub current: u32,
    pub versions: Vec<u32>,
}

/// Everything that needs plaintext key material. Verification failures are
/// errors (`InvalidSignature`, `InvalidMac`), as in AWS.
#[async_trait::async_trait]
pub trait CryptoService: Send + Sync {
    /// New material for `id`, generated inside the service, returned sealed.
    async fn generate_material(&self, id: MaterialId) -> Result<SealedMaterial, CryptoError>;
    /// Seals material supplied from outside (imports, fixtures) after
    /// checking it is well-formed for the spec.
    async fn import_material(
        &self,
        id: MaterialId,
        material: SecretBytes,
    ) -> Result<SealedMaterial, CryptoError>;
    /// A new wrapping key and import token (GetParametersForImport).
    async fn import_parameters(
        &self,
        request: ImportParametersRequest,
    ) -> Result<ImportParameters, CryptoError>;
    /// Unwraps imported material with its token's key, checks it is
    /// well-formed for `id`'s spec, and seals it (ImportKeyMaterial).
    async fn unwrap_import(
        &self,
        request: UnwrapImportRequest,
    ) -> Result<UnwrappedMaterial, CryptoError>;
    /// Re-wraps a blob under the current root key version.
    async fn reseal(&self, sealed: SealedMaterial) -> Result<SealedMaterial, CryptoError>;
    async fn encrypt(&self, request: EncryptRequest) -> Result<Vec<u8>, CryptoError>;
    async fn decrypt(&self, request: DecryptRequest) -> Result<SecretBytes, CryptoError>;
    async fn re_encrypt(&self, request: ReEncryptRequest) -> Result<Vec<u8>, CryptoError>;
    async fn generate_data_key(&self, request: DataKeyRequest) -> Result<DataKey, CryptoError>;
    async fn generate_data_key_pair(
        &self,
        request: DataKeyPairRequest,
    ) -> Result<DataKeyPair, CryptoError>;
    async fn sign(&self, request: SignRequest) -> Result<Vec<u8>, CryptoError>;
    async fn verify(&self, request: VerifyRequest) -> Result<(), CryptoError>;
    /// SubjectPublicKeyInfo DER of an asymmetric key.
    async fn get_public_key(&self, material: SealedMaterial) -> Result<Vec<u8>, CryptoError>;
    /// The raw shared secret of ECDH between the key and a peer.
    async fn derive_shared_secret(
        &self,
        request: SharedSecretRequest,
    ) -> Result<SecretBytes, CryptoError>;
    /// A fresh shared secret under an ML-KEM key's public key.
    async fn encapsulate(&self, material: SealedMaterial) -> Result<Encapsulated, CryptoError>;
    /// The shared secret an ML-KEM ciphertext holds; implicit rejection:
    /// only a ciphertext of the wrong length is an error.
    async fn decapsulate(&self, request: DecapsulateRequest) -> Result<SecretBytes, CryptoError>;
    async fn generate_mac(&self, request: MacRequest) -> Result<Vec<u8>, CryptoError>;
    async fn verify_mac(&self, request: MacRequest, mac: Vec<u8>) -> Result<(), CryptoError>;
    async fn generate_random(&self, len: u32) -> Result<SecretBytes, CryptoError>;
    async fn root_key_info(&self) -> Result<RootKeyInfo, CryptoError>;
    /// The public identity of each root key version held
    /// (docs/multi-region.md).
    async fn identities(&self) -> Result<Vec<(u32, PublicIdentity)>, CryptoError>;
    /// An offer to receive a multi-Region key's material from a peer.
    async fn replica_offer(&self, key_id: KeyId) -> Result<ReplicaOffer, CryptoError>;
    /// One material version of a multi-Region key, packaged for a peer's
    /// offer.
    async fn package_replica(
        &self,
        material: SealedMaterial,
        offer: Vec<u8>,
    ) -> Result<Vec<u8>, CryptoError>;
    /// A peer's package for this service's offer, sealed here.
    async fn accept_replica(
        &self,
        token: Vec<u8>,
        package: Vec<u8>,
    ) -> Result<Accepted, CryptoError>;
}

#[cfg(test)]
mod tests;
