//! The HTTP shell: AWS JSON 1.1 over hyper. `POST /` with
//! `X-Amz-Target: TrentService.<Operation>`, SigV4-authenticated; errors as
//! `{"__type", "message"}`. Also `GET /healthz`.

use std::sync::Arc;

use bytes::{Buf, Bytes};
use http_body::Body;
use serde_json::json;
use warp::http::header::{CONTENT_LENGTH, HOST, USER_AGENT};
use warp::http::{self as http, HeaderMap, HeaderName, Method, StatusCode, Version};
use warp::reply::Response;

use super::metrics::EndpointMetrics;
use super::quota::RequestQuotas;
use super::{Api, ApiError, Caller};
use crate::audit::{AuditLog, Call, RequestParameters};
use crate::auth::{AuthError, Credentials, SignedRequest};
use crate::request_id::RequestId;

/// Largest request body accepted. The biggest legitimate KMS request (a
/// 32 KiB policy, or 4 KiB of plaintext as base64 with a context) is far
/// smaller.
pub const MAX_BODY_BYTES: u64 = 256 * 1024;

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// How callers are identified.
#[derive(Debug, Clone)]
pub enum Authentication {
    SigV4(Credentials),
    /// SigV4 against credentials that change while serving (Secrets in a
    /// cluster).
    SigV4Live(Arc<std::sync::RwLock<Credentials>>),
    /// Every request is this caller, signed or not: local experiments only.
    Insecure(Caller),
}

pub struct Endpoint {
    pub api: Arc<Api>,
    pub auth: Authentication,
    /// Verifies `Authorization: Bearer` tokens (ServiceAccount tokens in a
    /// cluster); without one, only SigV4 is accepted.
    pub tokens: Option<Arc<dyn TokenReviewer>>,
    /// Where requests are counted, if anywhere.
    pub metrics: Option<Arc<EndpointMetrics>>,
    /// Request quotas per namespace, if enforced.
    pub quotas: Option<Arc<RequestQuotas>>,
    /// Where every call is recorded, if anywhere.
    pub audit: Option<AuditLog>,
}

/// Turns a bearer token into a caller, or refuses it.
#[async_trait::async_trait]
pub trait TokenReviewer: Send + Sync {
    async fn review(&self, token: &str) -> Result<Caller, ApiError>;
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// A constant, so naming the header allocates nothing per reply.
const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-amzn-requestid");

fn error_response(error: &ApiError, request_id: &RequestId) -> Response {
    let body = super::reply::to_bytes(
        &json!({ "__type": error.aws_type(), "message": error.to_string() }),
    );
    let mut response = Response::new(body.into());
    *response.status_mut() =
        StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    set_headers(&mut response, request_id);
    response
}

fn set_headers(response: &mut Response, request_id: &RequestId) {
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        warp::http::HeaderValue::from_static(CONTENT_TYPE),
    );
    if let Ok(id) = warp::http::HeaderValue::from_bytes(request_id.as_str().as_bytes()) {
        headers.insert(REQUEST_ID_HEADER, id);
    }
}

fn auth_error(error: AuthError) -> ApiError {
    match error {
        AuthError::Missing => ApiError::MissingAuthenticationToken(error.to_string()),
        AuthError::Incomplete(m) => ApiError::IncompleteSignature(m),
        AuthError::UnknownAccessKey => ApiError::UnrecognizedClient(error.to_string()),
        AuthError::BadSignature(m) => ApiError::SignatureInvalid(m),
    }
}

impl Endpoint {
    fn authenticate(
        &self,
        request: &Request<'_>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Caller, ApiError> {
        let live;
        let credentials = match &self.auth {
            Authentication::Insecure(caller) => return Ok(caller.clone()),
            Authentication::SigV4(credentials) => credentials,
            Authentication::SigV4Live(shared) => {
                live = shared
                    .read()
                    .map_err(|_| ApiError::Internal("credentials unavailable".into()))?;
                &*live
            }
        };
        // Borrowed views: a value that is not UTF-8 cannot be part of a
        // valid signature, so leaving it out only fails requests that
        // would fail anyway.
        let mut views = Vec::with_capacity(headers.len() + 2);
        views.extend(
            headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str(), std::str::from_utf8(v.as_bytes()).ok()?))),
        );
        if let Some(authority) = request.authority {
            // Signers name it `:authority` (the JavaScript SDK) or `host`
            // (the Rust SDK, whose HTTP/2 client then sends no `Host`).
            views.push((":authority", authority));
            if !headers.contains_key(HOST) {
                views.push(("host", authority));
            }
        }
        let request = SignedRequest {
            method: request.method.as_str(),
            path: request.path,
            query: request.query,
            headers: &views,
            body,
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let region = &self.api.arn_config().region;
        let credential =
            crate::auth::verify(&request, credentials, region, now).map_err(auth_error)?;
        Ok(Caller::new(
            credential.namespace.clone(),
            credential.principal.clone(),
        ))
    }

    /// Answers one call. A body that was refused (too large, cut off) is
    /// answered with its error, and recorded like any failed call.
    async fn handle(
        &self,
        request: Request<'_>,
        headers: &HeaderMap,
        body: Result<Bytes, Refused>,
    ) -> Response {
        let request_id = RequestId::next();
        let target = headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        // The operation's name; none when the target names none.
        // Requests between deployments keep their prefix, so no AWS name
        // can ever reach them.
        let operation = target.strip_prefix("TrentService.").or_else(|| {
            target
                .starts_with(super::peer::TARGET_PREFIX)
                .then_some(target)
        });
        let started = std::time::Instant::now();
        let _in_flight = self.metrics.as_ref().map(|m| m.begin());
        let mut caller = None;
        let result = async {
            let body = body.as_ref().map_err(|refused| refused.error())?;
            let caller = caller.insert(match (bearer(headers), &self.tokens) {
                (Some(token), Some(reviewer)) => reviewer.review(token).await?,
                _ => self.authenticate(&request, headers, body)?,
            });
            caller.request_id = request_id;
            caller.source = request.peer;
            let operation = operation.ok_or_else(|| {
                ApiError::UnknownOperation(format!("Unknown operation '{target}'"))
            })?;
            if let Some(quotas) = &self.quotas {
                quotas.admit(&caller.namespace, operation, body, started)?;
            }
            self.api.respond(caller, operation, body).await
        }
        .await;
        if let Some(metrics) = &self.metrics {
            let error = result.as_ref().err().map(ApiError::aws_type);
            metrics.observe(target, error, started.elapsed().as_secs_f64());
        }
        if let Some(audit) = &self.audit {
            audit
                .record(Call {
                    event_source: crate::audit::record::ENDPOINT,
                    time: self.api.now(),
                    operation: operation.unwrap_or(target).into(),
                    request_id,
                    keys: caller.as_ref().map(|c| c.keys.take()).unwrap_or_default(),
                    caller: caller
                        .as_ref()
                        .map(|c| (c.namespace.as_str().into(), c.principal.as_str().into())),
                    source: request.peer.map(|p| p.ip),
                    user_agent: headers
                        .get(USER_AGENT)
                        .and_then(|v| v.to_str().ok())
                        .map(Into::into),
                    parameters: match (&body, &result) {
                        (Err(_), _) => RequestParameters::none(),
                        // Answered: its parser read the whole body.
                        (Ok(b), Ok(_)) => RequestParameters::of_accepted_body(b),
                        (Ok(b), Err(_)) => RequestParameters::of_body(&b[..]),
                    },
                    error: result.as_ref().err().map(|e| (e.aws_type(), e.to_string())),
                })
                .await;
        }
        match result {
            Ok(reply) => {
                let principal = caller.as_ref().map_or("", |c| c.principal.as_str());
                tracing::debug!(%request_id, operation = %target, %principal, elapsed_us = started.elapsed().as_micros() as u64, "ok");
                let mut response = Response::new(reply.into_body().into());
                set_headers(&mut response, &request_id);
                response
            }
            Err(error) => {
                tracing::info!(%request_id, operation = %target, error = error.aws_type(), "request failed");
                error_response(&error, &request_id)
            }
        }
    }
}

/// What is signed of a request besides its headers and body, and where
/// it came from.
struct Request<'a> {
    method: Method,
    path: &'a str,
    query: &'a str,
    /// HTTP/2's `:authority`: it stands in for `Host` there (RFC 9113
    /// §8.3.1), and HTTP/2 signers sign it under that name or as `host`.
    authority: Option<&'a str>,
    peer: Option<Peer>,
}

/// Where a request came from (the connection's peer), for its audit record
/// and key policies; the listener hands it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub ip: std::net::IpAddr,
    /// The connection is TLS (`aws:SecureTransport`).
    pub tls: bool,
}

/// Why a request body was not read: it stopped coming (the listener's
/// deadline) or the client went away, in which case no one reads the
/// answer; or it was over [`MAX_BODY_BYTES`].
#[derive(Debug, Clone, Copy)]
enum Refused {
    Incomplete,
    TooLarge,
}

impl Refused {
    fn error(self) -> ApiError {
        match self {
            Refused::TooLarge => {
                ApiError::Validation(format!("Request body exceeds {MAX_BODY_BYTES} bytes"))
            }
            Refused::Incomplete => ApiError::RequestTimeout(
                "The request body did not arrive in time; the connection is closed.".into(),
            ),
        }
    }
}

/// Reads a request body of at most [`MAX_BODY_BYTES`]. One that declares
/// more in `Content-Length` is refused before any of it is read; one without
/// a length (chunked, or HTTP/2 without the header), which HTTP allows, is
/// refused as soon as it grows past the limit, so it never takes more
/// memory than an accepted one.
async fn read_body<B: Body>(length: Option<u64>, body: B) -> Result<Bytes, Refused> {
    if length.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(Refused::TooLarge);
    }
    let mut body = std::pin::pin!(body);
    // The next piece of data; trailers are skipped.
    let mut next = async || loop {
        match std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            Some(Ok(frame)) => {
                if let Ok(mut chunk) = frame.into_data() {
                    return Ok(Some(chunk.copy_to_bytes(chunk.remaining())));
                }
            }
            Some(Err(_)) => return Err(Refused::Incomplete),
            None => return Ok(None),
        }
    };
    let too_large = |n: usize| n as u64 > MAX_BODY_BYTES;
    let Some(first) = next().await? else {
        return Ok(Bytes::new());
    };
    if too_large(first.len()) {
        return Err(Refused::TooLarge);
    }
    // A body that came in one piece (the usual case) is passed on uncopied.
    let Some(mut piece) = next().await? else {
        return Ok(first);
    };
    let mut whole = bytes::BytesMut::with_capacity(length.map_or(first.len(), |n| n as usize));
    whole.extend_from_slice(&first);
    loop {
        if too_large(whole.len() + piece.len()) {
            return Err(Refused::TooLarge);
        }
        whole.extend_from_slice(&piece);
        match next().await? {
            Some(more) => piece = more,
            None => return Ok(whole.freeze()),
        }
    }
}

impl Endpoint {
    /// Answers one HTTP request from `peer`: the KMS API on `POST` (any
    /// path, which the signature covers), health on `GET /healthz`, and an
    /// AWS error for anything else, which is not an API call and so not for
    /// the trail. Written against hyper directly: warp's filters cloned
    /// every request's headers and allocated a rejection for a request
    /// without a query.
    pub async fn serve<B: Body>(&self, request: http::Request<B>, peer: Option<Peer>) -> Response {
        let (parts, body) = request.into_parts();
        if parts.method != Method::POST {
            if parts.method == Method::GET && parts.uri.path() == "/healthz" {
                return Response::new("ok".into());
            }
            let error = ApiError::UnknownOperation(
                "Only POST / with an X-Amz-Target header is served".into(),
            );
            return error_response(&error, &RequestId::next());
        }
        let length = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        let body = read_body(length, body).await;
        let request = Request {
            method: Method::POST,
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            // hyper keeps HTTP/2's `:authority` in the URI, not the headers.
            authority: match parts.version {
                Version::HTTP_2 => parts.uri.authority().map(|a| a.as_str()),
                _ => None,
            },
            peer,
        };
        self.handle(request, &parts.headers, body).await
    }
}
