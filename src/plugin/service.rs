//! The gRPC face: `v2.KeyManagementService` over a [`KeySource`]. Every
//! refusal of the caller's input is `InvalidArgument`; having no key at
//! all is `Unavailable`. Nothing here panics on input.

use std::sync::Arc;
use std::time::Instant;

use tonic::{Code, Request, Response, Status};

use super::health::{Health, Verdict};
use super::kek_id::KekId;
use super::key_source::KeySource;
use super::keyring::Keyring;
use super::metrics::{Method, PluginMetrics};
use super::pb;
use crate::audit::record::PLUGIN;
use crate::audit::{AuditLog, Call, RequestParameters};
use crate::request_id::RequestId;

/// The API version Status reports (kube-apiserver 1.29+).
pub const VERSION: &str = "v2";

pub struct KmsService {
    source: Arc<KeySource>,
    health: Arc<Health>,
    metrics: Arc<PluginMetrics>,
    audit: Option<AuditLog>,
}

impl KmsService {
    pub fn new(
        source: Arc<KeySource>,
        health: Arc<Health>,
        metrics: Arc<PluginMetrics>,
        audit: Option<AuditLog>,
    ) -> Self {
        KmsService {
            source,
            health,
            metrics,
            audit,
        }
    }

    /// Records a call in the audit trail: kube-apiserver's request uid and
    /// the KEK named (never a seed or a ciphertext).
    async fn audit<T>(
        &self,
        method: Method,
        uid: &str,
        kek: Option<&str>,
        result: &Result<T, Status>,
    ) {
        let Some(audit) = &self.audit else {
            return;
        };
        let mut parameters = serde_json::Map::new();
        if !uid.is_empty() {
            parameters.insert("Uid".into(), uid.into());
        }
        if let Some(kek) = kek {
            parameters.insert("KeyId".into(), kek.into());
        }
        // Named as a request body would name them; the trail camel-cases.
        let body = serde_json::to_vec(&parameters).unwrap_or_default();
        audit
            .record(Call {
                event_source: PLUGIN,
                time: crate::key::now_millis(),
                operation: method.as_str().into(),
                request_id: RequestId::next(),
                caller: Some(("".into(), "kube-apiserver".into())),
                source: None,
                user_agent: None,
                parameters: RequestParameters::of_body(&body[..]),
                keys: kek
                    .and_then(|k| k.parse::<KekId>().ok())
                    .map(|k| k.key_id)
                    .into_iter()
                    .collect(),
                error: result
                    .as_ref()
                    .err()
                    .map(|s| (grpc_code(s.code()), s.message().to_owned())),
            })
            .await;
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
        let result = self.timed(Method::Status, || {
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
        });
        let kek = result.as_ref().ok().map(|r| r.get_ref().key_id.clone());
        self.audit(Method::Status, "", kek.as_deref(), &result)
            .await;
        result
    }

    async fn encrypt(
        &self,
        request: Request<pb::EncryptRequest>,
    ) -> Result<Response<pb::EncryptResponse>, Status> {
        let request = request.into_inner();
        let result = self.timed(Method::Encrypt, || {
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
        });
        let kek = result.as_ref().ok().map(|r| r.get_ref().key_id.clone());
        self.audit(Method::Encrypt, &request.uid, kek.as_deref(), &result)
            .await;
        result
    }

    async fn decrypt(
        &self,
        request: Request<pb::DecryptRequest>,
    ) -> Result<Response<pb::DecryptResponse>, Status> {
        let request = request.into_inner();
        let result = self.timed(Method::Decrypt, || {
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
        });
        self.audit(
            Method::Decrypt,
            &request.uid,
            Some(&request.key_id),
            &result,
        )
        .await;
        result
    }
}

/// A gRPC status code's name, as an audit record's `errorCode`.
fn grpc_code(code: Code) -> &'static str {
    match code {
        Code::Ok => "Ok",
        Code::Cancelled => "Cancelled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}
