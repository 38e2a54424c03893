//! The crypto service in-process: the [`Engine`] behind the
//! [`CryptoService`] trait. Slow operations (RSA key generation and private
//! key operations, HSM round trips on a cache miss) run on tokio's blocking
//! pool so they never stall the async workers.

use std::sync::Arc;
use std::time::Duration;

use super::{
    CacheConfig, CryptoError, CryptoService, DataKey, DataKeyPair, DataKeyPairRequest,
    DataKeyRequest, DecapsulateRequest, DecryptRequest, Encapsulated, EncryptRequest, Engine,
    ImportParameters, ImportParametersRequest, MacRequest, ReEncryptRequest, RootKeyInfo,
    SharedSecretRequest, SignRequest, UnwrapImportRequest, UnwrappedMaterial, VerifyRequest,
};
use crate::key::now_millis;
use crate::key_id::KeyId;
use crate::replica::{Accepted, PublicIdentity, ReplicaOffer};
use crate::root::RootKey;
use crate::seal::{MaterialId, SealedMaterial};
use crate::secret::SecretBytes;
use crate::spec::Family;

#[derive(Debug, Clone)]
pub struct LocalCryptoService {
    engine: Arc<Engine>,
}

impl LocalCryptoService {
    pub fn new(root: Arc<dyn RootKey>, cache: CacheConfig) -> Self {
        Self::from_engine(Engine::new(root, cache))
    }

    /// A service over `engine` (one made with [`Engine::writing`], say).
    pub fn from_engine(engine: Engine) -> Self {
        LocalCryptoService {
            engine: Arc::new(engine),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Sweeps expired material out of the cache every `every`, until the
    /// service is dropped.
    pub fn spawn_cache_sweeper(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let engine = Arc::downgrade(&self.engine);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match engine.upgrade() {
                    Some(engine) => engine.cache().sweep(),
                    None => return,
                }
            }
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> Result<T, CryptoError> + Send + 'static,
    ) -> Result<T, CryptoError> {
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || f(&engine))
            .await
            .map_err(|e| CryptoError::Internal(format!("crypto task failed: {e}")))?
    }

    /// Whether work with this material should leave the async workers.
    fn is_slow(&self, material: &SealedMaterial) -> bool {
        let rsa = material
            .header()
            .is_ok_and(|h| h.material.spec.family() == Family::Rsa);
        rsa || self.engine.cache().get(material.as_bytes()).is_none()
    }
}

#[async_trait::async_trait]
impl CryptoService for LocalCryptoService {
    async fn generate_material(&self, id: MaterialId) -> Result<SealedMaterial, CryptoError> {
        self.blocking(move |e| e.generate_material(id)).await
    }

    async fn import_material(
        &self,
        id: MaterialId,
        material: SecretBytes,
    ) -> Result<SealedMaterial, CryptoError> {
        self.blocking(move |e| e.import_material(id, material))
            .await
    }

    async fn import_parameters(
        &self,
        request: ImportParametersRequest,
    ) -> Result<ImportParameters, CryptoError> {
        self.blocking(move |e| e.import_parameters(&request)).await
    }

    async fn unwrap_import(
        &self,
        request: UnwrapImportRequest,
    ) -> Result<UnwrappedMaterial, CryptoError> {
        self.blocking(move |e| e.unwrap_import(&request)).await
    }

    async fn reseal(&self, sealed: SealedMaterial) -> Result<SealedMaterial, CryptoError> {
        self.blocking(move |e| e.reseal(&sealed)).await
    }

    async fn encrypt(&self, request: EncryptRequest) -> Result<Vec<u8>, CryptoError> {
        if self.is_slow(&request.material) {
            return self.blocking(move |e| e.encrypt(&request)).await;
        }
        self.engine.encrypt(&request)
    }

    async fn decrypt(&self, request: DecryptRequest) -> Result<SecretBytes, CryptoError> {
        if self.is_slow(&request.material) {
            return self.blocking(move |e| e.decrypt(&request)).await;
        }
        self.engine.decrypt(&request)
    }

    async fn re_encrypt(&self, request: ReEncryptRequest) -> Result<Vec<u8>, CryptoError> {
        self.blocking(move |e| e.re_encrypt(&request)).await
    }

    async fn generate_data_key(&self, request: DataKeyRequest) -> Result<DataKey, CryptoError> {
        if self.is_slow(&request.material) {
            return self.blocking(move |e| e.generate_data_key(&request)).await;
        }
        self.engine.generate_data_key(&request)
    }

    async fn generate_data_key_pair(
        &self,
        request: DataKeyPairRequest,
    ) -> Result<DataKeyPair, CryptoError> {
        self.blocking(move |e| e.generate_data_key_pair(&request))
            .await
    }

    async fn sign(&self, request: SignRequest) -> Result<Vec<u8>, CryptoError> {
        if self.is_slow(&request.material) {
            return self.blocking(move |e| e.sign(&request)).await;
        }
        self.engine.sign(&request)
    }

    async fn verify(&self, request: VerifyRequest) -> Result<(), CryptoError> {
        if self.is_slow(&request.material) {
            return self.blocking(move |e| e.verify(&request)).await;
        }
        self.engine.verify(&request)
    }

    async fn get_public_key(&self, material: SealedMaterial) -> Result<Vec<u8>, CryptoError> {
        if self.is_slow(&material) {
            return self.blocking(move |e| e.get_public_key(&material)).await;
        }
        self.engine.get_public_key(&material)
    }

    async fn derive_shared_secret(
        &self,
        request: SharedSecretRequest,
    ) -> Result<SecretBytes, CryptoError> {
        if self.is_slow(&request.material) {
            return self
                .blocking(move |e| e.derive_shared_secret(&request))
                .await;
        }
        self.engine.derive_shared_secret(&request)
    }

    async fn encapsulate(&self, material: SealedMaterial) -> Result<Encapsulated, CryptoError> {
        if self.is_slow(&material) {
            return self.blocking(move |e| e.encapsulate(&material)).await;
        }
        self.engine.encapsulate(&material)
    }

    async fn decapsulate(&self, request: DecapsulateRequest) -> Result<SecretBytes, CryptoError> {
        if self.is_slow(&request.material) {
            return self.blocking(move |e| e.decapsulate(&request)).await;
        }
        self.engine.decapsulate(&request)
    }

    async fn generate_mac(&self, request: MacRequest) -> Result<Vec<u8>, CryptoError> {
        if self.is_slow(&request.material) {
            return self.blocking(move |e| e.generate_mac(&request)).await;
        }
        self.engine.generate_mac(&request)
    }

    async fn verify_mac(&self, request: MacRequest, mac: Vec<u8>) -> Result<(), CryptoError> {
        if self.is_slow(&request.material) {
            return self.blocking(move |e| e.verify_mac(&request, &mac)).await;
        }
        self.engine.verify_mac(&request, &mac)
    }

    async fn generate_random(&self, len: u32) -> Result<SecretBytes, CryptoError> {
        self.engine.generate_random(len)
    }

    async fn root_key_info(&self) -> Result<RootKeyInfo, CryptoError> {
        Ok(self.engine.root_key_info())
    }

    // Signing and deriving run on the blocking pool: each may be a
    // round trip to an HSM.
    async fn identities(&self) -> Result<Vec<(u32, PublicIdentity)>, CryptoError> {
        self.blocking(|e| e.identities()).await
    }

    async fn replica_offer(&self, key_id: KeyId) -> Result<ReplicaOffer, CryptoError> {
        self.blocking(move |e| e.replica_offer(key_id, now_millis()))
            .await
    }

    async fn package_replica(
        &self,
        material: SealedMaterial,
        offer: Vec<u8>,
    ) -> Result<Vec<u8>, CryptoError> {
        self.blocking(move |e| e.package_replica(&material, &offer, now_millis()))
            .await
    }

    async fn accept_replica(
        &self,
        token: Vec<u8>,
        package: Vec<u8>,
    ) -> Result<Accepted, CryptoError> {
        self.blocking(move |e| e.accept_replica(&token, &package, now_millis()))
            .await
    }
}
