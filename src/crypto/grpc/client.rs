//! A crypto service reached over its unix socket.

use std::path::Path;
use std::time::Duration;

use tonic::transport::Channel;

use super::convert::{context_to_pb, from_status, material_id_to_pb};
use super::pb;
use super::pb::crypto_service_client::CryptoServiceClient;
use crate::crypto::{
    CryptoError, CryptoService, DataKey, DataKeyPair, DataKeyPairRequest, DataKeyRequest,
    DataKeySize, DecapsulateRequest, DecryptRequest, Encapsulated, EncryptRequest,
    ImportParameters, ImportParametersRequest, MacRequest, ReEncryptRequest, RootKeyInfo,
    SharedSecretRequest, SignRequest, UnwrapImportRequest, UnwrappedMaterial, VerifyRequest,
};
use crate::import::ImportToken;
use crate::key_id::KeyId;
use crate::replica::{Accepted, PublicIdentity, ReplicaOffer};
use crate::seal::{MaterialId, SealedMaterial};
use crate::secret::SecretBytes;

/// Every call gets this long before it fails as `Unavailable`; RSA-4096 key
/// generation is the slowest operation and takes a few seconds at worst.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct GrpcCryptoClient {
    client: CryptoServiceClient<Channel>,
}

impl GrpcCryptoClient {
    /// Connects lazily to the socket at `path`: the first call dials, and a
    /// broken connection is re-dialled by later calls.
    pub fn connect_lazy(path: &Path) -> Result<Self, CryptoError> {
        let channel = super::unix_channel(path, CALL_TIMEOUT);
        Ok(GrpcCryptoClient {
            client: CryptoServiceClient::new(channel),
        })
    }

    fn client(&self) -> CryptoServiceClient<Channel> {
        self.client.clone()
    }
}

fn bytes(material: SealedMaterial) -> Vec<u8> {
    material.into_bytes()
}

fn decrypt_to_pb(r: DecryptRequest) -> pb::DecryptRequest {
    pb::DecryptRequest {
        context: context_to_pb(&r.context),
        sealed: bytes(r.material),
        ciphertext: r.ciphertext,
        algorithm: r.algorithm.as_str().to_owned(),
    }
}

#[async_trait::async_trait]
impl CryptoService for GrpcCryptoClient {
    async fn generate_material(&self, id: MaterialId) -> Result<SealedMaterial, CryptoError> {
        let request = pb::GenerateMaterialRequest {
            id: Some(material_id_to_pb(&id)),
        };
        let reply = self
            .client()
            .generate_material(request)
            .await
            .map_err(from_status)?;
        Ok(SealedMaterial::from_bytes(reply.into_inner().sealed))
    }

    async fn import_material(
        &self,
        id: MaterialId,
        material: SecretBytes,
    ) -> Result<SealedMaterial, CryptoError> {
        let request = pb::ImportMaterialRequest {
            id: Some(material_id_to_pb(&id)),
            material: material.to_vec(),
        };
        let reply = self
            .client()
            .import_material(request)
            .await
            .map_err(from_status)?;
        Ok(SealedMaterial::from_bytes(reply.into_inner().sealed))
    }

    async fn import_parameters(
        &self,
        r: ImportParametersRequest,
    ) -> Result<ImportParameters, CryptoError> {
        let request = pb::ImportParametersRequest {
            key_id: r.key_id.as_bytes().to_vec(),
            wrapping_key_spec: r.wrapping_spec.as_str().to_owned(),
            wrapping_algorithm: r.algorithm.as_str().to_owned(),
            valid_to: r.valid_to,
        };
        let reply = self
            .client()
            .import_parameters(request)
            .await
            .map_err(from_status)?
            .into_inner();
        Ok(ImportParameters {
            public_key: reply.public_key,
            token: ImportToken::from_bytes(reply.import_token),
        })
    }

    async fn unwrap_import(
        &self,
        r: UnwrapImportRequest,
    ) -> Result<UnwrappedMaterial, CryptoError> {
        let request = pb::UnwrapImportRequest {
            id: Some(material_id_to_pb(&r.id)),
            import_token: r.token.into_bytes(),
            wrapped_material: r.wrapped,
        };
        let reply = self
            .client()
            .unwrap_import(request)
            .await
            .map_err(from_status)?
            .into_inner();
        Ok(UnwrappedMaterial {
            sealed: SealedMaterial::from_bytes(reply.sealed),
            material_id: reply.key_material_id,
        })
    }

    async fn reseal(&self, sealed: SealedMaterial) -> Result<SealedMaterial, CryptoError> {
        let request = pb::ResealRequest {
            sealed: bytes(sealed),
        };
        let reply = self.client().reseal(request).await.map_err(from_status)?;
        Ok(SealedMaterial::from_bytes(reply.into_inner().sealed))
    }

    async fn encrypt(&self, r: EncryptRequest) -> Result<Vec<u8>, CryptoError> {
        let request = pb::EncryptRequest {
            context: context_to_pb(&r.context),
            sealed: bytes(r.material),
            plaintext: r.plaintext.to_vec(),
            algorithm: r.algorithm.as_str().to_owned(),
        };
        let reply = self.client().encrypt(request).await.map_err(from_status)?;
        Ok(reply.into_inner().ciphertext)
    }

    async fn decrypt(&self, r: DecryptRequest) -> Result<SecretBytes, CryptoError> {
        let reply = self
            .client()
            .decrypt(decrypt_to_pb(r))
            .await
            .map_err(from_status)?;
        Ok(SecretBytes::new(reply.into_inner().plaintext))
    }

    async fn re_encrypt(&self, r: ReEncryptRequest) -> Result<Vec<u8>, CryptoError> {
        let request = pb::ReEncryptRequest {
            destination_context: context_to_pb(&r.destination_context),
            source: Some(decrypt_to_pb(r.source)),
            destination_sealed: bytes(r.destination),
            destination_algorithm: r.destination_algorithm.as_str().to_owned(),
        };
        let reply = self
            .client()
            .re_encrypt(request)
            .await
            .map_err(from_status)?;
        Ok(reply.into_inner().ciphertext)
    }

    async fn generate_data_key(&self, r: DataKeyRequest) -> Result<DataKey, CryptoError> {
        let size = match r.size {
            DataKeySize::Spec(spec) => {
                pb::data_key_request::Size::KeySpec(spec.as_str().to_owned())
            }
            DataKeySize::Bytes(n) => pb::data_key_request::Size::NumberOfBytes(n),
        };
        let request = pb::DataKeyRequest {
            context: context_to_pb(&r.context),
            sealed: bytes(r.material),
            size: Some(size),
            include_plaintext: r.include_plaintext,
        };
        let reply = self
            .client()
            .generate_data_key(request)
            .await
            .map_err(from_status)?
            .into_inner();
        Ok(DataKey {
            ciphertext: reply.ciphertext,
            plaintext: reply.plaintext.map(SecretBytes::new),
        })
    }

    async fn generate_data_key_pair(
        &self,
        r: DataKeyPairRequest,
    ) -> Result<DataKeyPair, CryptoError> {
        let request = pb::DataKeyPairRequest {
            context: context_to_pb(&r.context),
            sealed: bytes(r.material),
            key_pair_spec: r.spec.as_str().to_owned(),
            include_plaintext: r.include_plaintext,
        };
        let reply = self
            .client()
            .generate_data_key_pair(request)
            .await
            .map_err(from_status)?
            .into_inner();
        Ok(DataKeyPair {
            private_key_ciphertext: reply.private_key_ciphertext,
            private_key_plaintext: reply.private_key_plaintext.map(SecretBytes::new),
            public_key: reply.public_key,
        })
    }

    async fn sign(&self, r: SignRequest) -> Result<Vec<u8>, CryptoError> {
        let request = pb::SignRequest {
            sealed: bytes(r.material),
            message: r.message,
            message_type: r.message_type.as_str().to_owned(),
            algorithm: r.algorithm.as_str().to_owned(),
        };
        let reply = self.client().sign(request).await.map_err(from_status)?;
        Ok(reply.into_inner().signature)
    }

    async fn verify(&self, r: VerifyRequest) -> Result<(), CryptoError> {
        let request = pb::VerifyRequest {
            sealed: bytes(r.material),
            message: r.message,
            message_type: r.message_type.as_str().to_owned(),
            algorithm: r.algorithm.as_str().to_owned(),
            signature: r.signature,
        };
        self.client().verify(request).await.map_err(from_status)?;
        Ok(())
    }

    async fn get_public_key(&self, material: SealedMaterial) -> Result<Vec<u8>, CryptoError> {
        let request = pb::PublicKeyRequest {
            sealed: bytes(material),
        };
        let reply = self
            .client()
            .get_public_key(request)
            .await
            .map_err(from_status)?;
        Ok(reply.into_inner().public_key)
    }

    async fn derive_shared_secret(
        &self,
        r: SharedSecretRequest,
    ) -> Result<SecretBytes, CryptoError> {
        let request = pb::SharedSecretRequest {
            sealed: bytes(r.material),
            algorithm: r.algorithm.as_str().to_owned(),
            public_key: r.public_key,
        };
        let reply = self
            .client()
            .derive_shared_secret(request)
            .await
            .map_err(from_status)?;
        Ok(SecretBytes::new(reply.into_inner().plaintext))
    }

    async fn encapsulate(&self, material: SealedMaterial) -> Result<Encapsulated, CryptoError> {
        let request = pb::EncapsulateRequest {
            sealed: bytes(material),
        };
        let reply = self
            .client()
            .encapsulate(request)
            .await
            .map_err(from_status)?
            .into_inner();
        Ok(Encapsulated {
            ciphertext: reply.ciphertext,
            secret: SecretBytes::new(reply.shared_secret),
        })
    }

    async fn decapsulate(&self, r: DecapsulateRequest) -> Result<SecretBytes, CryptoError> {
        let request = pb::DecapsulateRequest {
            sealed: bytes(r.material),
            ciphertext: r.ciphertext,
        };
        let reply = self
            .client()
            .decapsulate(request)
            .await
            .map_err(from_status)?;
        Ok(SecretBytes::new(reply.into_inner().plaintext))
    }

    async fn generate_mac(&self, r: MacRequest) -> Result<Vec<u8>, CryptoError> {
        let request = pb::MacRequest {
            sealed: bytes(r.material),
            message: r.message,
            algorithm: r.algorithm.as_str().to_owned(),
        };
        let reply = self
            .client()
            .generate_mac(request)
            .await
            .map_err(from_status)?;
        Ok(reply.into_inner().mac)
    }

    async fn verify_mac(&self, r: MacRequest, mac: Vec<u8>) -> Result<(), CryptoError> {
        let request = pb::VerifyMacRequest {
            sealed: bytes(r.material),
            message: r.message,
            algorithm: r.algorithm.as_str().to_owned(),
            mac,
        };
        self.client()
            .verify_mac(request)
            .await
            .map_err(from_status)?;
        Ok(())
    }

    async fn generate_random(&self, len: u32) -> Result<SecretBytes, CryptoError> {
        let request = pb::RandomRequest {
            number_of_bytes: len,
        };
        let reply = self
            .client()
            .generate_random(request)
            .await
            .map_err(from_status)?;
        Ok(SecretBytes::new(reply.into_inner().plaintext))
    }

    async fn root_key_info(&self) -> Result<RootKeyInfo, CryptoError> {
        let reply = self
            .client()
            .root_key_info(pb::Empty {})
            .await
            .map_err(from_status)?
            .into_inner();
        Ok(RootKeyInfo {
            current: reply.current,
            versions: reply.versions,
        })
    }

    async fn identities(&self) -> Result<Vec<(u32, PublicIdentity)>, CryptoError> {
        let reply = self
            .client()
            .identities(pb::Empty {})
            .await
            .map_err(from_status)?
            .into_inner();
        reply
            .identities
            .into_iter()
            .map(|i| {
                let id = hex::encode(&i.public_key)
                    .parse()
                    .map_err(|e: String| CryptoError::Internal(e))?;
                Ok((i.root_version, id))
            })
            .collect()
    }

    async fn replica_offer(&self, key_id: KeyId) -> Result<ReplicaOffer, CryptoError> {
        let request = pb::ReplicaOfferRequest {
            key_id: key_id.as_bytes().to_vec(),
        };
        let reply = self
            .client()
            .replica_offer(request)
            .await
            .map_err(from_status)?
            .into_inner();
        Ok(ReplicaOffer {
            offer: reply.offer,
            token: reply.token,
        })
    }

    async fn package_replica(
        &self,
        material: SealedMaterial,
        offer: Vec<u8>,
    ) -> Result<Vec<u8>, CryptoError> {
        let request = pb::PackageReplicaRequest {
            sealed: bytes(material),
            offer,
        };
        let reply = self.client().package_replica(request).await;
        Ok(reply.map_err(from_status)?.into_inner().package)
    }

    async fn accept_replica(
        &self,
        token: Vec<u8>,
        package: Vec<u8>,
    ) -> Result<Accepted, CryptoError> {
        let request = pb::AcceptReplicaRequest { token, package };
        let reply = self
            .client()
            .accept_replica(request)
            .await
            .map_err(from_status)?
            .into_inner();
        Ok(Accepted {
            sealed: SealedMaterial::from_bytes(reply.sealed),
            peer: reply.peer,
        })
    }
}
