//! Requests to another deployment's endpoint: a multi-Region key's other
//! Regions (docs/multi-region.md). Signed with SigV4 like any client's,
//! with the credentials the peers file gives for that Region; over HTTPS
//! verified against the peers file's CA certificates, or plain HTTP.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use super::ApiError;
use crate::replica::peers_file::{Peer, PeersFile};

/// The `X-Amz-Target` prefix of requests between deployments.
pub const TARGET_PREFIX: &str = "KubeKmsReplication.";
/// How long connecting to a peer (with its TLS handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a peer's reply to a `KubeKmsReplication.` call may take: a
/// delivery (or a move of the primary) waits for the peer's store, a
/// cluster's for its controller.
const CALL_REPLY: Duration = Duration::from_secs(crate::store::LONGEST_WRITE.as_secs() + 15);
/// How long the reply to an ask (`TrentService.ReplicateKey` on a primary)
/// may take: the primary delivers to this Region (a call the primary waits
/// `CALL_REPLY` for, with its connection) and records it in its own store.
const ASK_REPLY: Duration = Duration::from_secs(
    CONNECT_TIMEOUT.as_secs() + CALL_REPLY.as_secs() + crate::store::LONGEST_WRITE.as_secs() + 15,
);
const MAX_REPLY: usize = 1 << 20;

/// The other Regions, and how to reach them.
#[derive(Debug)]
pub struct PeerClient {
    peers: PeersFile,
    /// TLS settings of each Region with an `https://` endpoint.
    tls: BTreeMap<String, Arc<ClientConfig>>,
    /// What replication counts, with a metrics registry (kept across a
    /// reload of the peers file).
    metrics: Option<Arc<super::replica_metrics::ReplicaMetrics>>,
    /// Whether a peer's `principal` must be its caller's ARN: in a cluster
    /// principal names are chosen per namespace by whoever writes access-key
    /// Secrets there, so a bare name would let any tenant speak for a Region.
    arns_only: bool,
    /// Regions that last gave no answer in time, until when they are not
    /// asked again: a Region that hangs costs a sync one wait, not one per
    /// key, and a caller's ReplicateKey an answer at once.
    stalled: std::sync::Mutex<BTreeMap<String, tokio::time::Instant>>,
}

/// How long a Region that gave no answer in time is not asked again.
const STALLED_FOR: Duration = Duration::from_secs(30);

/// Where a peer's endpoint is.
struct Target<'a> {
    /// `host:port`, to connect to.
    address: String,
    /// The name its certificate must carry, over HTTPS.
    tls_name: Option<&'a str>,
    host: &'a str,
}

fn target(endpoint: &str) -> Option<Target<'_>> {
    let (scheme, rest) = endpoint.split_once("://")?;
    let host = rest.trim_end_matches('/');
    let (name, default_port) = match scheme {
        "http" => (None, 80),
        "https" => (Some(()), 443),
        _ => return None,
    };
    // `[::1]:4600`, `host:4600`, or a host alone.
    let hostname = match host.rsplit_once(':') {
        Some((h, port)) if port.parse::<u16>().is_ok() && !h.ends_with(':') => h,
        _ => host,
    };
    let address = if hostname.len() == host.len() {
        format!("{host}:{default_port}")
    } else {
        host.to_owned()
    };
    let bare = hostname.trim_start_matches('[').trim_end_matches(']');
    Some(Target {
        address,
        tls_name: name.map(|()| bare),
        host,
    })
}

impl PeerClient {
    /// Reads the CA files of the Regions reached over HTTPS.
    pub fn new(peers: PeersFile) -> Result<Self, String> {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let mut tls = BTreeMap::new();
        for peer in &peers.peers {
            let Some(ca) = &peer.ca_file else { continue };
            let mut roots = RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(ca)
                .map_err(|e| format!("Region {} caFile {}: {e}", peer.region, ca.display()))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("{}: {e}", ca.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("{}: {e}", ca.display()))?;
            }
            if roots.is_empty() {
                return Err(format!("{}: no certificates", ca.display()));
            }
            let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
            let mut config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            tls.insert(peer.region.clone(), Arc::new(config));
        }
        Ok(PeerClient {
            peers,
            tls,
            arns_only: false,
            metrics: None,
            stalled: Default::default(),
        })
    }

    pub fn peers(&self) -> &PeersFile {
        &self.peers
    }

    /// The Region whose requests authenticate here as `principal`.
    /// The Region whose peers-file `principal` is the caller's ARN (as key
    /// policies name it), or, unless [`PeerClient::arns_only`], its bare
    /// principal name.
    pub fn region_of(&self, arn: &str, principal: &str) -> Option<&str> {
        self.peers
            .peers
            .iter()
            .find(|p| match p.principal.as_deref() {
                Some(named) if named.starts_with("arn:") => named == arn,
                Some(named) => !self.arns_only && named == principal,
                None => false,
            })
            .map(|p| p.region.as_str())
    }

    /// The namespace `region`'s deliveries arrive in: its principal's (an
    /// ARN's path, in a cluster), or `None` for a bare principal name
    /// (`serve`, where the manifests say). Refused if the peers file names
    /// no principal for it: it cannot deliver here.
    pub fn delivery_namespace(&self, region: &str) -> Result<Option<&str>, String> {
        let principal = self
            .peers
            .region(region)
            .and_then(|p| p.principal.as_deref())
            .ok_or_else(|| {
                format!("Region {region} may not deliver replicas here: --peers names no principal for it")
            })?;
        if !principal.starts_with("arn:") {
            return Ok(None);
        }
        let path = principal
            .split_once(":user/")
            .or_else(|| principal.split_once(":role/"))
            .map(|(_, path)| path);
        match path.and_then(|p| p.split_once('/')) {
            Some((namespace, _)) => Ok(Some(namespace)),
            None => Err(format!(
                "Region {region}'s principal in --peers ({principal}) names no namespace"
            )),
        }
    }

    /// Whether `region`'s replica of a key in `namespace` there goes to the
    /// namespace of the same name here (its `replicaNamespaces`).
    pub fn keeps_namespace(&self, region: &str, namespace: &str) -> bool {
        self.peers
            .region(region)
            .is_some_and(|p| p.keeps_namespace(namespace))
    }

    /// Counts deliveries and replicas behind in `registry`.
    pub fn metered(self, registry: Option<&prometheus::Registry>) -> Self {
        PeerClient {
            metrics: registry.map(|r| Arc::new(super::replica_metrics::ReplicaMetrics::new(r))),
            ..self
        }
    }

    /// A client of `peers` (the peers file changed) that counts where this
    /// one counts and reads principals as this one does.
    pub fn reloaded(&self, peers: PeersFile) -> Result<Self, String> {
        Ok(PeerClient {
            metrics: self.metrics.clone(),
            arns_only: self.arns_only,
            ..PeerClient::new(peers)?
        })
    }

    pub(super) fn metrics(&self) -> Option<&super::replica_metrics::ReplicaMetrics> {
        self.metrics.as_deref()
    }

    /// Every peer Region's name.
    pub(super) fn regions(&self) -> impl Iterator<Item = &str> {
        self.peers.peers.iter().map(|p| p.region.as_str())
    }

    /// Peers are recognised by their callers' ARNs alone (a cluster's
    /// endpoint).
    pub fn arns_only(self) -> Self {
        PeerClient {
            arns_only: true,
            ..self
        }
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
        self.send_to(
            region,
            &format!("{TARGET_PREFIX}{operation}"),
            body,
            CALL_REPLY,
        )
        .await
    }

    /// `operation` of the AWS KMS API (`TrentService.`) in `region`, asked
    /// as any client of that endpoint asks it, its reply.
    pub async fn ask(
        &self,
        region: &str,
        operation: &str,
        body: &Value,
    ) -> Result<Value, ApiError> {
        self.send_to(
            region,
            &format!("TrentService.{operation}"),
            body,
            ASK_REPLY,
        )
        .await
    }

    /// Whether this endpoint can send requests to `region` (the peers file
    /// gives its endpoint and credentials).
    pub fn reaches(&self, region: &str) -> bool {
        self.peers.region(region).is_some_and(|peer| {
            peer.endpoint.is_some()
                && peer.access_key_id.is_some()
                && peer.secret_access_key.is_some()
        })
    }

    fn stalled(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, tokio::time::Instant>> {
        self.stalled.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stall(&self, region: &str) {
        let until = tokio::time::Instant::now() + STALLED_FOR;
        self.stalled().insert(region.to_owned(), until);
    }

    /// Whether `region` gave no answer lately, and is not asked yet.
    fn is_stalled(&self, region: &str) -> bool {
        let mut stalled = self.stalled();
        let Some(until) = stalled.get(region) else {
            return false;
        };
        if *until > tokio::time::Instant::now() {
            return true;
        }
        stalled.remove(region);
        false
    }

    async fn send_to(
        &self,
        region: &str,
        target_name: &str,
        body: &Value,
        reply_within: Duration,
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
        let target = target(endpoint).ok_or_else(|| unusable("the endpoint is not a URL"))?;
        let (Some(access_key_id), Some(secret)) = (&peer.access_key_id, &peer.secret_access_key)
        else {
            return Err(unusable("no credentials"));
        };
        let body = serde_json::to_vec(body).expect("JSON values serialize");
        let headers = crate::auth::sigv4::signed_target_headers(
            target_name,
            target.host,
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
        // The same words every time (no countdown): a declared replica's
        // status is written only when its primary's answer changes.
        if self.is_stalled(region) {
            return Err(unreachable(&format!(
                "it gave no answer in time lately, and is not asked again for {}s after that",
                STALLED_FOR.as_secs()
            )));
        }
        // A peer that is down is known soon; one at work may take as long
        // as its work does.
        let connect = async {
            let stream = tokio::net::TcpStream::connect(&target.address)
                .await
                .map_err(|e| unreachable(&e))?;
            Ok::<_, ApiError>(match target.tls_name {
                None => Stream::Plain(stream),
                Some(name) => {
                    let config = self.tls.get(region).ok_or_else(|| unusable("no caFile"))?;
                    let name = rustls_pki_types::ServerName::try_from(name.to_owned())
                        .map_err(|e| unusable(&e.to_string()))?;
                    let stream = tokio_rustls::TlsConnector::from(config.clone())
                        .connect(name, stream)
                        .await
                        .map_err(|e| unreachable(&e))?;
                    Stream::Tls(Box::new(stream))
                }
            })
        };
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| {
                self.stall(region);
                unreachable(&format!("no connection in {CONNECT_TIMEOUT:?}"))
            })??;
        let exchange = async {
            match stream {
                Stream::Plain(stream) => send(stream, request).await,
                Stream::Tls(stream) => send(*stream, request).await,
            }
            .map_err(|e| unreachable(&e))
        };
        let (status, bytes) = tokio::time::timeout(reply_within, exchange)
            .await
            .map_err(|_| {
                self.stall(region);
                unreachable(&format!("no reply in {reply_within:?}"))
            })??;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|_| unreachable(&format!("a reply that is not JSON (HTTP {status})")))?;
        if status.is_success() {
            return Ok(value);
        }
        Err(refusal(region, &value))
    }
}

/// A connection to a peer.
enum Stream {
    Plain(tokio::net::TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>),
}

/// One HTTP/1.1 exchange on `stream`: the status and the body.
async fn send<S>(
    stream: S,
    request: hyper::Request<Full<bytes::Bytes>>,
) -> Result<(hyper::StatusCode, bytes::Bytes), String>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let reply = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = reply.status();
    let bytes = Limited::new(reply.into_body(), MAX_REPLY)
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, bytes))
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

#[cfg(test)]
mod tests;
