//! Requests to another deployment's endpoint: a multi-Region key's other
//! Regions (docs/multi-region.md). Signed with SigV4 like any client's,
//! with the credentials the peers file gives for that Region.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::ApiError;
use crate::replica::peers_file::{Peer, PeersFile};

/// The `X-Amz-Target` prefix of requests between deployments.
pub const TARGET_PREFIX: &str = "KubeKmsReplication.";
const TIMEOUT: Duration = Duration::from_secs(15);
const MAX_REPLY: usize = 1 << 20;

/// The other Regions, and how to reach them.
#[derive(Debug)]
pub struct PeerClient {
    peers: PeersFile,
}

impl PeerClient {
    pub fn new(peers: PeersFile) -> Self {
        PeerClient { peers }
    }

    pub fn peers(&self) -> &PeersFile {
        &self.peers
    }

    /// The Region whose requests authenticate here as `principal`.
    pub fn region_of(&self, principal: &str) -> Option<&str> {
        self.peers
            .peers
            .iter()
            .find(|p| p.principal.as_deref() == Some(principal))
            .map(|p| p.region.as_str())
    }

    fn peer(&self, region: &str) -> Result<&Peer, ApiError> {
        self.peers.region(region).ok_or_else(|| {
            ApiError::Unsupported(format!(
                "Region {region} is not among this endpoint's peers (--peers)."
            ))
        })
    }

    /// `operation` (a `KubeKmsReplication.` one) in `region`, its reply.
    pub async fn call(
        &self,
        region: &str,
        operation: &str,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let peer = self.peer(region)?;
        let unusable = |why: &str| {
            ApiError::Unsupported(format!(
                "Region {region} cannot be reached from here: {why} (its entry in --peers)."
            ))
        };
        let endpoint = peer
            .endpoint
            .as_deref()
            .ok_or_else(|| unusable("no endpoint"))?;
        let host = endpoint
            .strip_prefix("http://")
            .ok_or_else(|| unusable("the endpoint is not an http:// URL"))?
            .trim_end_matches('/');
        let (Some(access_key_id), Some(secret)) = (&peer.access_key_id, &peer.secret_access_key)
        else {
            return Err(unusable("no credentials"));
        };
        let body = serde_json::to_vec(body).expect("JSON values serialize");
        let headers = crate::auth::sigv4::signed_target_headers(
            &format!("{TARGET_PREFIX}{operation}"),
            host,
            &body,
            region,
            access_key_id,
            secret,
        );
        let mut request = hyper::Request::post("/");
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(bytes::Bytes::from(body)))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let unreachable = |e: &dyn std::fmt::Display| {
            ApiError::DependencyTimeout(format!("Region {region} ({endpoint}) did not answer: {e}"))
        };
        let exchange = async {
            let stream = tokio::net::TcpStream::connect(host)
                .await
                .map_err(|e| unreachable(&e))?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| unreachable(&e))?;
            tokio::spawn(connection);
            let reply = sender
                .send_request(request)
                .await
                .map_err(|e| unreachable(&e))?;
            let status = reply.status();
            let bytes = Limited::new(reply.into_body(), MAX_REPLY)
                .collect()
                .await
                .map_err(|e| unreachable(&e))?
                .to_bytes();
            Ok::<_, ApiError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| unreachable(&format!("no reply in {TIMEOUT:?}")))??;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|_| unreachable(&format!("a reply that is not JSON (HTTP {status})")))?;
        if status.is_success() {
            return Ok(value);
        }
        Err(refusal(region, &value))
    }
}

/// The error another Region answered with, as ours: its type kept where it
/// tells the caller what to do, its message naming the Region.
fn refusal(region: &str, reply: &Value) -> ApiError {
    let kind = reply["__type"].as_str().unwrap_or("");
    let kind = kind.rsplit('#').next().unwrap_or(kind);
    let message = format!(
        "Region {region} refused: {}",
        reply["message"]
            .as_str()
            .or(reply["Message"].as_str())
            .unwrap_or(kind)
    );
    match kind {
        "AlreadyExistsException" => ApiError::AlreadyExists(message),
        "AccessDeniedException" | "UnrecognizedClientException" | "InvalidSignatureException" => {
            ApiError::AccessDenied(message)
        }
        "NotFoundException" => ApiError::NotFound(message),
        "KMSInvalidStateException" => ApiError::InvalidState(message),
        "ValidationException" => ApiError::Validation(message),
        "MalformedPolicyDocumentException" => ApiError::MalformedPolicyDocument(message),
        "TagException" => ApiError::Tag(message),
        "LimitExceededException" => ApiError::LimitExceeded(message),
        "UnsupportedOperationException" | "UnknownOperationException" => {
            ApiError::Unsupported(message)
        }
        "ThrottlingException" | "DependencyTimeoutException" => {
            ApiError::DependencyTimeout(message)
        }
        _ => ApiError::Internal(message),
    }
}
