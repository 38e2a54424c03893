//! Crypto service calls as their caller sees them: by operation and outcome
//! (`ok` or the error's kind), with their durations. Wraps any
//! [`CryptoService`], so the sidecar over its socket and the in-process
//! service are measured alike, transport included.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use prometheus::{Histogram, HistogramOpts, HistogramVec, Registry};

use super::{
    CryptoError, CryptoService, DataKey, DataKeyPair, DataKeyPairRequest, DataKeyRequest,
    DecapsulateRequest, DecryptRequest, Encapsulated, EncryptRequest, ImportParameters,
    ImportParametersRequest, MacRequest, ReEncryptRequest, RootKeyInfo, SharedSecretRequest,
    SignRequest, UnwrapImportRequest, UnwrappedMaterial, VerifyRequest,
};
use crate::key_id::KeyId;
use crate::replica::{Accepted, PublicIdentity, ReplicaOffer};
use crate::seal::{MaterialId, SealedMaterial};
use crate::secret::SecretBytes;

const OPERATIONS: &[&str] = &[
    "GenerateMaterial",
    "ImportMaterial",
    "Reseal",
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "Sign",
    "Verify",
    "GetPublicKey",
    "DeriveSharedSecret",
    "Encapsulate",
    "Decapsulate",
    "GenerateMac",
    "VerifyMac",
    "GenerateRandom",
    "RootKeyInfo",
    "Identities",
    "ReplicaOffer",
    "PackageReplica",
    "AcceptReplica",
];

pub struct MeteredCrypto {
    inner: Arc<dyn CryptoService>,
    duration: HistogramVec,
    /// The `outcome="ok"` series of each operation, resolved once.
    ok: HashMap<&'static str, Histogram>,
}

impl MeteredCrypto {
    /// `inner`, its calls recorded in `registry`.
    pub fn new(inner: Arc<dyn CryptoService>, registry: &Registry) -> Self {
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "kubekms_crypto_call_duration_seconds",
                "Crypto service calls by operation and outcome (ok, or the error's kind), as \
                 their caller saw them",
            )
            // Cached symmetric calls take microseconds; RSA-4096 key
            // generation seconds.
            .buckets(vec![
                0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.005, 0.025,
                0.1, 1.0, 10.0,
            ]),
            &["operation", "outcome"],
        )
        .expect("valid metric");
        let _ = registry.register(Box::new(duration.clone()));
        let ok = OPERATIONS
            .iter()
            .map(|op| (*op, duration.with_label_values(&[op, "ok"])))
            .collect();
        MeteredCrypto {
            inner,
            duration,
            ok,
        }
    }

    async fn timed<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, CryptoError>>,
    ) -> Result<T, CryptoError> {
        let started = Instant::now();
        let result = call.await;
        let seconds = started.elapsed().as_secs_f64();
        match (&result, self.ok.get(operation)) {
            (Ok(_), Some(ok)) => ok.observe(seconds),
            (result, _) => {
                let outcome = result.as_ref().err().map_or("ok", CryptoError::kind);
                self.duration
                    .with_label_values(&[operation, outcome])
                    .observe(seconds);
            }
        }
        result
    }
}

#[async_trait::async_trait]
impl CryptoService for MeteredCrypto {
    async fn generate_material(&self, id: MaterialId) -> Result<SealedMaterial, CryptoError> {
        self.timed("GenerateMaterial", self.inner.generate_material(id))
            .await
    }

    async fn import_material(
        &self,
        id: MaterialId,
        material: SecretBytes,
    ) -> Result<SealedMaterial, CryptoError> {
        self.timed("ImportMaterial", self.inner.import_material(id, material))
            .await
    }

    async fn import_parameters(
        &self,
        request: ImportParametersRequest,
    ) -> Result<ImportParameters, CryptoError> {
        self.timed("ImportParameters", self.inner.import_parameters(request))
            .await
    }

    async fn unwrap_import(
        &self,
        request: UnwrapImportRequest,
    ) -> Result<UnwrappedMaterial, CryptoError> {
        self.timed("UnwrapImport", self.inner.unwrap_import(request))
            .await
    }

    async fn reseal(&self, sealed: SealedMaterial) -> Result<SealedMaterial, CryptoError> {
        self.timed("Reseal", self.inner.reseal(sealed)).await
    }

    async fn encrypt(&self, request: EncryptRequest) -> Result<Vec<u8>, CryptoError> {
        self.timed("Encrypt", self.inner.encrypt(request)).await
    }

    async fn decrypt(&self, request: DecryptRequest) -> Result<SecretBytes, CryptoError> {
        self.timed("Decrypt", self.inner.decrypt(request)).await
    }

    async fn re_encrypt(&self, request: ReEncryptRequest) -> Result<Vec<u8>, CryptoError> {
        self.timed("ReEncrypt", self.inner.re_encrypt(request))
            .await
    }

    async fn generate_data_key(&self, request: DataKeyRequest) -> Result<DataKey, CryptoError> {
        self.timed("GenerateDataKey", self.inner.generate_data_key(request))
            .await
    }

    async fn generate_data_key_pair(
        &self,
        request: DataKeyPairRequest,
    ) -> Result<DataKeyPair, CryptoError> {
        self.timed(
            "GenerateDataKeyPair",
            self.inner.generate_data_key_pair(request),
        )
        .await
    }

    async fn sign(&self, request: SignRequest) -> Result<Vec<u8>, CryptoError> {
        self.timed("Sign", self.inner.sign(request)).await
    }

    async fn verify(&self, request: VerifyRequest) -> Result<(), CryptoError> {
        self.timed("Verify", self.inner.verify(request)).await
    }

    async fn get_public_key(&self, material: SealedMaterial) -> Result<Vec<u8>, CryptoError> {
        self.timed("GetPublicKey", self.inner.get_public_key(material))
            .await
    }

    async fn derive_shared_secret(
        &self,
        request: SharedSecretRequest,
    ) -> Result<SecretBytes, CryptoError> {
        self.timed(
            "DeriveSharedSecret",
            self.inner.derive_shared_secret(request),
        )
        .await
    }

    async fn encapsulate(&self, material: SealedMaterial) -> Result<Encapsulated, CryptoError> {
        self.timed("Encapsulate", self.inner.encapsulate(material))
            .await
    }

    async fn decapsulate(&self, request: DecapsulateRequest) -> Result<SecretBytes, CryptoError> {
        self.timed("Decapsulate", self.inner.decapsulate(request))
            .await
    }

    async fn generate_mac(&self, request: MacRequest) -> Result<Vec<u8>, CryptoError> {
        self.timed("GenerateMac", self.inner.generate_mac(request))
            .await
    }

    async fn verify_mac(&self, request: MacRequest, mac: Vec<u8>) -> Result<(), CryptoError> {
        self.timed("VerifyMac", self.inner.verify_mac(request, mac))
            .await
    }

    async fn generate_random(&self, len: u32) -> Result<SecretBytes, CryptoError> {
        self.timed("GenerateRandom", self.inner.generate_random(len))
            .await
    }

    async fn root_key_info(&self) -> Result<RootKeyInfo, CryptoError> {
        self.timed("RootKeyInfo", self.inner.root_key_info()).await
    }

    async fn identities(&self) -> Result<Vec<(u32, PublicIdentity)>, CryptoError> {
        self.timed("Identities", self.inner.identities()).await
    }

    async fn replica_offer(&self, key_id: KeyId) -> Result<ReplicaOffer, CryptoError> {
        self.timed("ReplicaOffer", self.inner.replica_offer(key_id))
            .await
    }

    async fn package_replica(
        &self,
        material: SealedMaterial,
        offer: Vec<u8>,
    ) -> Result<Vec<u8>, CryptoError> {
        self.timed(
            "PackageReplica",
            self.inner.package_replica(material, offer),
        )
        .await
    }

    async fn accept_replica(
        &self,
        token: Vec<u8>,
        package: Vec<u8>,
    ) -> Result<Accepted, CryptoError> {
        self.timed("AcceptReplica", self.inner.accept_replica(token, package))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{CacheConfig, LocalCryptoService};
    use crate::key_id::KeyId;
    use crate::root::FileRootKey;
    use crate::spec::{KeySpec, KeyUsage};

    fn count(registry: &Registry, operation: &str, outcome: &str) -> u64 {
        crate::telemetry::observed(
            registry,
            "kubekms_crypto_call_duration_seconds",
            operation,
            outcome,
        )
    }

    #[tokio::test]
    async fn calls_are_recorded_by_operation_and_outcome_and_results_pass_through() {
        let root = FileRootKey::from_keys([(1, SecretBytes::new(vec![5; 32]))]).unwrap();
        let inner = Arc::new(LocalCryptoService::new(
            Arc::new(root),
            CacheConfig::default(),
        ));
        let registry = Registry::new();
        let crypto = MeteredCrypto::new(inner, &registry);
        let id = MaterialId {
            key_id: KeyId::random(),
            version: 1,
            spec: KeySpec::SymmetricDefault,
            usage: KeyUsage::EncryptDecrypt,
        };
        let sealed = crypto.generate_material(id).await.unwrap();
        let ciphertext = crypto
            .encrypt(EncryptRequest {
                material: sealed.clone(),
                plaintext: SecretBytes::new(b"metered".to_vec()),
                context: Default::default(),
                algorithm: crate::spec::EncryptionAlgorithm::SymmetricDefault,
            })
            .await
            .unwrap();
        let mut tampered = ciphertext.clone();
        *tampered.last_mut().unwrap() ^= 1;
        let decrypt = |ciphertext| DecryptRequest {
            material: sealed.clone(),
            ciphertext,
            context: Default::default(),
            algorithm: crate::spec::EncryptionAlgorithm::SymmetricDefault,
        };
        let plain = crypto.decrypt(decrypt(ciphertext)).await.unwrap();
        assert_eq!(plain.as_slice(), b"metered");
        let refused = crypto.decrypt(decrypt(tampered)).await.unwrap_err();
        assert!(matches!(refused, CryptoError::InvalidCiphertext));

        assert_eq!(count(&registry, "GenerateMaterial", "ok"), 1);
        assert_eq!(count(&registry, "Encrypt", "ok"), 1);
        assert_eq!(count(&registry, "Decrypt", "ok"), 1);
        assert_eq!(count(&registry, "Decrypt", "InvalidCiphertext"), 1);
        assert_eq!(count(&registry, "Sign", "ok"), 0);
    }
}
