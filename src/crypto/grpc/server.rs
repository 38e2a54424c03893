//! The gRPC face of a crypto service.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use tokio_stream::wrappers::UnixListenerStream;
use tonic::{Request, Response, Status};

use super::convert::{context_from_pb, key_id_from_pb, material_id_from_pb, parse, to_status};
use super::pb;
use super::pb::crypto_service_server::{CryptoService as PbService, CryptoServiceServer};
use crate::crypto::{
    CryptoError, CryptoService, DataKeyPairRequest, DataKeyRequest, DataKeySize,
    DecapsulateRequest, DecryptRequest, EncryptRequest, ImportParametersRequest, MacRequest,
    ReEncryptRequest, SharedSecretRequest, SignRequest, UnwrapImportRequest, VerifyRequest,
};
use crate::import::ImportToken;
use crate::seal::SealedMaterial;
use crate::secret::SecretBytes;

/// Serves `service` on the unix socket at `path` until `shutdown` resolves,
/// then stops accepting and lets in-flight calls finish.
pub async fn serve(
    service: Arc<dyn CryptoService>,
    path: &Path,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let listener = super::bind_socket(path)?;
    tracing::info!(socket = %path.display(), "crypto service listening");
    let result = tonic::transport::Server::builder()
        .add_service(CryptoServiceServer::new(CryptoGrpcServer::new(service)))
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
        .await;
    let _ = std::fs::remove_file(path);
    Ok(result?)
}

pub struct CryptoGrpcServer {
    inner: Arc<dyn CryptoService>,
}

impl CryptoGrpcServer {
    pub fn new(inner: Arc<dyn CryptoService>) -> Self {
        CryptoGrpcServer { inner }
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn reply<T>(result: Result<T, CryptoError>) -> Reply<T> {
    result.map(Response::new).map_err(to_status)
}

fn sealed(bytes: Vec<u8>) -> SealedMaterial {
    SealedMaterial::from_bytes(bytes)
}

fn decrypt_request(r: pb::DecryptRequest) -> Result<DecryptRequest, CryptoError> {
    Ok(DecryptRequest {
        material: sealed(r.sealed),
        ciphertext: r.ciphertext,
        context: context_from_pb(r.context),
        algorithm: parse(&r.algorithm)?,
    })
}

#[tonic::async_trait]
impl PbService for CryptoGrpcServer {
    async fn generate_material(
        &self,
        r: Request<pb::GenerateMaterialRequest>,
    ) -> Reply<pb::SealedMaterialReply> {
        reply(
            async {
                let id = material_id_from_pb(r.into_inner().id)?;
                let sealed = self.inner.generate_material(id).await?;
                Ok(pb::SealedMaterialReply {
                    sealed: sealed.into_bytes(),
                })
            }
            .await,
        )
    }

    async fn import_material(
        &self,
        r: Request<pb::ImportMaterialRequest>,
    ) -> Reply<pb::SealedMaterialReply> {
        reply(
            async {
                let r = r.into_inner();
                let id = material_id_from_pb(r.id)?;
                let sealed = self
                    .inner
                    .import_material(id, SecretBytes::new(r.material))
                    .await?;
                Ok(pb::SealedMaterialReply {
                    sealed: sealed.into_bytes(),
                })
            }
            .await,
        )
    }

    async fn import_parameters(
        &self,
        r: Request<pb::ImportParametersRequest>,
    ) -> Reply<pb::ImportParametersReply> {
        reply(
            async {
                let r = r.into_inner();
                let key_id = key_id_from_pb(&r.key_id)?;
                let parameters = self
                    .inner
                    .import_parameters(ImportParametersRequest {
                        key_id,
                        wrapping_spec: parse(&r.wrapping_key_spec)?,
                        algorithm: parse(&r.wrapping_algorithm)?,
                        valid_to: r.valid_to,
                    })
                    .await?;
                Ok(pb::ImportParametersReply {
                    public_key: parameters.public_key,
                    import_token: parameters.token.into_bytes(),
                })
            }
            .await,
        )
    }

    async fn unwrap_import(
        &self,
        r: Request<pb::UnwrapImportRequest>,
    ) -> Reply<pb::UnwrapImportReply> {
        reply(
            async {
                let r = r.into_inner();
                let unwrapped = self
                    .inner
                    .unwrap_import(UnwrapImportRequest {
                        id: material_id_from_pb(r.id)?,
                        token: ImportToken::from_bytes(r.import_token),
                        wrapped: r.wrapped_material,
                    })
                    .await?;
                Ok(pb::UnwrapImportReply {
                    sealed: unwrapped.sealed.into_bytes(),
                    key_material_id: unwrapped.material_id,
                })
            }
            .await,
        )
    }

    async fn reseal(&self, r: Request<pb::ResealRequest>) -> Reply<pb::SealedMaterialReply> {
        reply(
            async {
                let resealed = self.inner.reseal(sealed(r.into_inner().sealed)).await?;
                Ok(pb::SealedMaterialReply {
                    sealed: resealed.into_bytes(),
                })
            }
            .await,
        )
    }

    async fn encrypt(&self, r: Request<pb::EncryptRequest>) -> Reply<pb::CiphertextReply> {
        reply(
            async {
                let r = r.into_inner();
                let ciphertext = self
                    .inner
                    .encrypt(EncryptRequest {
                        material: sealed(r.sealed),
                        plaintext: SecretBytes::new(r.plaintext),
                        context: context_from_pb(r.context),
                        algorithm: parse(&r.algorithm)?,
                    })
                    .await?;
                Ok(pb::CiphertextReply { ciphertext })
            }
            .await,
        )
    }

    async fn decrypt(&self, r: Request<pb::DecryptRequest>) -> Reply<pb::PlaintextReply> {
        reply(
            async {
                let plaintext = self.inner.decrypt(decrypt_request(r.into_inner())?).await?;
                Ok(pb::PlaintextReply {
                    plaintext: plaintext.to_vec(),
                })
            }
            .await,
        )
    }

    async fn re_encrypt(&self, r: Request<pb::ReEncryptRequest>) -> Reply<pb::CiphertextReply> {
        reply(
            async {
                let r = r.into_inner();
                let source = r
                    .source
                    .ok_or_else(|| CryptoError::Validation("source is required".into()))?;
                let ciphertext = self
                    .inner
                    .re_encrypt(ReEncryptRequest {
                        source: decrypt_request(source)?,
                        destination: sealed(r.destination_sealed),
                        destination_context: context_from_pb(r.destination_context),
                        destination_algorithm: parse(&r.destination_algorithm)?,
                    })
                    .await?;
                Ok(pb::CiphertextReply { ciphertext })
            }
            .await,
        )
    }

    async fn generate_data_key(&self, r: Request<pb::DataKeyRequest>) -> Reply<pb::DataKeyReply> {
        reply(
            async {
                let r = r.into_inner();
                let size = match r.size {
                    Some(pb::data_key_request::Size::KeySpec(spec)) => {
                        DataKeySize::Spec(parse(&spec)?)
                    }
                    Some(pb::data_key_request::Size::NumberOfBytes(n)) => DataKeySize::Bytes(n),
                    None => {
                        return Err(CryptoError::Validation("NumberOfBytes is required.".into()));
                    }
                };
                let key = self
                    .inner
                    .generate_data_key(DataKeyRequest {
                        material: sealed(r.sealed),
                        size,
                        context: context_from_pb(r.context),
                        include_plaintext: r.include_plaintext,
                    })
                    .await?;
                Ok(pb::DataKeyReply {
                    ciphertext: key.ciphertext,
                    plaintext: key.plaintext.map(|p| p.to_vec()),
                })
            }
            .await,
        )
    }

    async fn generate_data_key_pair(
        &self,
        r: Request<pb::DataKeyPairRequest>,
    ) -> Reply<pb::DataKeyPairReply> {
        reply(
            async {
                let r = r.into_inner();
                let pair = self
                    .inner
                    .generate_data_key_pair(DataKeyPairRequest {
                        material: sealed(r.sealed),
                        spec: parse(&r.key_pair_spec)?,
                        context: context_from_pb(r.context),
                        include_plaintext: r.include_plaintext,
                    })
                    .await?;
                Ok(pb::DataKeyPairReply {
                    private_key_ciphertext: pair.private_key_ciphertext,
                    private_key_plaintext: pair.private_key_plaintext.map(|p| p.to_vec()),
                    public_key: pair.public_key,
                })
            }
            .await,
        )
    }

    async fn sign(&self, r: Request<pb::SignRequest>) -> Reply<pb::SignReply> {
        reply(
            async {
                let r = r.into_inner();
                let signature = self
                    .inner
                    .sign(SignRequest {
                        material: sealed(r.sealed),
                        message: r.message,
                        message_type: parse(&r.message_type)?,
                        algorithm: parse(&r.algorithm)?,
                    })
                    .await?;
                Ok(pb::SignReply { signature })
            }
            .await,
        )
    }

    async fn verify(&self, r: Request<pb::VerifyRequest>) -> Reply<pb::Empty> {
        reply(
            async {
                let r = r.into_inner();
                self.inner
                    .verify(VerifyRequest {
                        material: sealed(r.sealed),
                        message: r.message,
                        message_type: parse(&r.message_type)?,
                        algorithm: parse(&r.algorithm)?,
                        signature: r.signature,
                    })
                    .await?;
                Ok(pb::Empty {})
            }
            .await,
        )
    }

    async fn get_public_key(&self, r: Request<pb::PublicKeyRequest>) -> Reply<pb::PublicKeyReply> {
        reply(
            async {
                let public_key = self
                    .inner
                    .get_public_key(sealed(r.into_inner().sealed))
                    .await?;
                Ok(pb::PublicKeyReply { public_key })
            }
            .await,
        )
    }

    async fn derive_shared_secret(
        &self,
        r: Request<pb::SharedSecretRequest>,
    ) -> Reply<pb::PlaintextReply> {
        reply(
            async {
                let r = r.into_inner();
                let secret = self
                    .inner
                    .derive_shared_secret(SharedSecretRequest {
                        material: sealed(r.sealed),
                        algorithm: parse(&r.algorithm)?,
                        public_key: r.public_key,
                    })
                    .await?;
                Ok(pb::PlaintextReply {
                    plaintext: secret.to_vec(),
                })
            }
            .await,
        )
    }

    async fn encapsulate(&self, r: Request<pb::EncapsulateRequest>) -> Reply<pb::EncapsulateReply> {
        reply(
            async {
                let material = sealed(r.into_inner().sealed);
                let encapsulated = self.inner.encapsulate(material).await?;
                Ok(pb::EncapsulateReply {
                    ciphertext: encapsulated.ciphertext,
                    shared_secret: encapsulated.secret.to_vec(),
                })
            }
            .await,
        )
    }

    async fn decapsulate(&self, r: Request<pb::DecapsulateRequest>) -> Reply<pb::PlaintextReply> {
        reply(
            async {
                let r = r.into_inner();
                let secret = self
                    .inner
                    .decapsulate(DecapsulateRequest {
                        material: sealed(r.sealed),
                        ciphertext: r.ciphertext,
                    })
                    .await?;
                Ok(pb::PlaintextReply {
                    plaintext: secret.to_vec(),
                })
            }
            .await,
        )
    }

    async fn generate_mac(&self, r: Request<pb::MacRequest>) -> Reply<pb::MacReply> {
        reply(
            async {
                let r = r.into_inner();
                let mac = self
                    .inner
                    .generate_mac(MacRequest {
                        material: sealed(r.sealed),
                        message: r.message,
                        algorithm: parse(&r.algorithm)?,
                    })
                    .await?;
                Ok(pb::MacReply { mac })
            }
            .await,
        )
    }

    async fn verify_mac(&self, r: Request<pb::VerifyMacRequest>) -> Reply<pb::Empty> {
        reply(
            async {
                let r = r.into_inner();
                let request = MacRequest {
                    material: sealed(r.sealed),
                    message: r.message,
                    algorithm: parse(&r.algorithm)?,
                };
                self.inner.verify_mac(request, r.mac).await?;
                Ok(pb::Empty {})
            }
            .await,
        )
    }

    async fn generate_random(&self, r: Request<pb::RandomRequest>) -> Reply<pb::PlaintextReply> {
        reply(
            async {
                let random = self
                    .inner
                    .generate_random(r.into_inner().number_of_bytes)
                    .await?;
                Ok(pb::PlaintextReply {
                    plaintext: random.to_vec(),
                })
            }
            .await,
        )
    }

    async fn root_key_info(&self, _: Request<pb::Empty>) -> Reply<pb::RootKeyInfoReply> {
        reply(
            async {
                let info = self.inner.root_key_info().await?;
                Ok(pb::RootKeyInfoReply {
                    current: info.current,
                    versions: info.versions,
                })
            }
            .await,
        )
    }

    async fn identities(&self, _: Request<pb::Empty>) -> Reply<pb::IdentitiesReply> {
        reply(
            async {
                let identities = self.inner.identities().await?;
                Ok(pb::IdentitiesReply {
                    identities: identities
                        .into_iter()
                        .map(|(version, id)| pb::Identity {
                            root_version: version,
                            public_key: id.as_bytes().to_vec(),
                        })
                        .collect(),
                })
            }
            .await,
        )
    }

    async fn replica_offer(
        &self,
        r: Request<pb::ReplicaOfferRequest>,
    ) -> Reply<pb::ReplicaOfferReply> {
        reply(
            async {
                let key_id = key_id_from_pb(&r.into_inner().key_id)?;
                let offer = self.inner.replica_offer(key_id).await?;
                Ok(pb::ReplicaOfferReply {
                    offer: offer.offer,
                    token: offer.token,
                })
            }
            .await,
        )
    }

    async fn package_replica(
        &self,
        r: Request<pb::PackageReplicaRequest>,
    ) -> Reply<pb::PackageReplicaReply> {
        reply(
            async {
                let r = r.into_inner();
                let sealed = SealedMaterial::from_bytes(r.sealed);
                let package = self.inner.package_replica(sealed, r.offer).await?;
                Ok(pb::PackageReplicaReply { package })
            }
            .await,
        )
    }

    async fn accept_replica(
        &self,
        r: Request<pb::AcceptReplicaRequest>,
    ) -> Reply<pb::AcceptReplicaReply> {
        reply(
            async {
                let r = r.into_inner();
                let accepted = self.inner.accept_replica(r.token, r.package).await?;
                Ok(pb::AcceptReplicaReply {
                    sealed: accepted.sealed.into_bytes(),
                    peer: accepted.peer,
                })
            }
            .await,
        )
    }
}
