//! The gRPC face: `v2.KeyManagementService` over a [`KeySource`]. Every
//! refusal of the caller's input is `InvalidArgument`; having no key at
//! all is `Unavailable`. Nothing here panics on input.

use std::sync::Arc;
use std::time::Instant;

use tonic::{Code, Request, Response, Status};

use super::health::{Health, Verdict};
use super::key_source::KeySource;
use super::keyring::Keyring;
use super::metrics::{Method, PluginMetrics};
use super::pb;

/// The API version Status reports (kube-apiserver 1.29+).
pub const VERSION: &str = "v2";

pub struct KmsService {
    source: Arc<KeySource>,
    health: Arc<Health>,
    metrics: Arc<PluginMetrics>,
}

impl KmsService {
    pub fn new(source: Arc<KeySource>, health: Arc<Health>, metrics: Arc<PluginMetrics>) -> Self {
        KmsService {
            source,
            health,
            metrics,
        }
    }

    fn keyring(&self) -> Result<Arc<Keyring>, Status> {
        self.source
            .keyring()
            .ok_or_else(|| Status::unavailable(self.source.why_no_key()))
    }

    fn timed<T>(
        &self,
        method: Method,
        call: impl FnOnce() -> Result<T, Status>,
    ) -> Result<T, Status> {
        let started = Instant::now();
        let result = call();
        let code = result.as_ref().map_or_else(Status::code, |_| Code::Ok);
        self.metrics
            .observe(method, code, started.elapsed().as_secs_f64());
        result
    }
}

#[tonic::async_trait]
impl pb::key_management_service_server::KeyManagementService for KmsService {
    async fn status(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        self.timed(Method::Status, || {
            let (key_id, healthz) = match self.health.check(&self.source, &self.metrics) {
                Verdict::Healthy(key_id) => (key_id, "ok".to_owned()),
                Verdict::Unhealthy { key_id, why } => (key_id, why),
                Verdict::NoKey(why) => return Err(Status::unavailable(why)),
            };
            Ok(Response::new(pb::StatusResponse {
                version: VERSION.to_owned(),
                healthz,
                key_id,
            }))
        })
    }

    async fn encrypt(
        &self,
        request: Request<pb::EncryptRequest>,
    ) -> Result<Response<pb::EncryptResponse>, Status> {
        let request = request.into_inner();
        self.timed(Method::Encrypt, || {
            let ring = self.keyring()?;
            let (ciphertext, key_id) = ring
                .encrypt(&request.plaintext)
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            tracing::debug!(uid = %request.uid, %key_id, "wrapped a seed");
            Ok(Response::new(pb::EncryptResponse {
                ciphertext,
                key_id: key_id.to_owned(),
                annotations: Default::default(),
            }))
        })
    }

    async fn decrypt(
        &self,
        request: Request<pb::DecryptRequest>,
    ) -> Result<Response<pb::DecryptResponse>, Status> {
        let request = request.into_inner();
        self.timed(Method::Decrypt, || {
            let ring = self.keyring()?;
            let plaintext = ring
                .decrypt(
                    &request.key_id,
                    &request.ciphertext,
                    !request.annotations.is_empty(),
                )
                .map_err(|e| {
                    tracing::warn!(uid = %request.uid, error = %e, "refused a Decrypt");
                    Status::invalid_argument(e.to_string())
                })?;
            Ok(Response::new(pb::DecryptResponse {
                // The seed leaves the process here, by contract; the
                // zeroizing buffer is cleared once copied out.
                plaintext: plaintext.to_vec(),
            }))
        })
    }
}
