//! Accepting connections for the endpoint: plain HTTP or HTTPS (rustls on
//! AWS-LC), HTTP/1.1 and HTTP/2, with time limits for slow and idle
//! clients and caps on open connections and requests in flight, drained
//! gracefully on shutdown.
//!
//! One loop for both: connections are served by hyper, with
//! [`Endpoint::serve`] as the service.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use warp::http::Request;
use warp::hyper::body::Incoming;
use warp::hyper::service::service_fn;

use super::deadline::Deadline;
use super::http::{Endpoint, Peer};
use super::idle::{Activity, serve_until_idle};

/// The default for `--max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// The loop's limits: without the time limits a client that stops half way
/// (or never starts) holds a connection and a task for as long as it likes;
/// without the caps, many clients together can, or one HTTP/2 client with
/// many streams.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// How many connections may be open at once, and how many requests
    /// may be in flight at once: HTTP/1 carries one at a time, HTTP/2 many,
    /// and each may buffer a body of up to 256 KiB.
    connections: usize,
    /// How many streams one HTTP/2 connection may have open at once
    /// (hyper's default is 200).
    streams: u32,
    /// How long a shutdown waits for requests in flight.
    drain: Duration,
    /// How long a client has to complete the TLS handshake.
    handshake: Duration,
    /// How long a request's body may take to arrive.
    body: Duration,
    /// How long a connection may carry no request, whatever its protocol:
    /// before its first, between two, or while a request's head is still
    /// arriving (so a head that takes longer is cut off with it).
    idle: Duration,
}

/// A drain inside Kubernetes' default 30 s grace period, so the pod exits
/// before it is killed. Body and idle: hyper's and Vault's defaults for
/// header and read timeouts are of this order; boto3 reconnects when the
/// server closed an idle connection.
const LIMITS: Limits = Limits {
    connections: DEFAULT_MAX_CONNECTIONS,
    streams: 32,
    drain: Duration::from_secs(25),
    handshake: Duration::from_secs(10),
    body: Duration::from_secs(30),
    idle: Duration::from_secs(30),
};

/// Serves HTTP, or HTTPS with `tls`, on `listener` with at most
/// `max_connections` open at once and as many requests in flight, until
/// `shutdown` resolves; then lets the requests in flight finish (for at
/// most 25 s).
pub async fn serve(
    endpoint: Arc<Endpoint>,
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    max_connections: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    tracing::info!(
        addr = ?listener.local_addr().ok(),
        tls = tls.is_some(),
        max_connections,
        "KMS endpoint listening"
    );
    let limits = Limits {
        connections: max_connections.max(1),
        ..LIMITS
    };
    let tls = tls.map(TlsAcceptor::from);
    accept_loop(endpoint, listener, tls, shutdown, limits).await;
}

async fn accept_loop(
    endpoint: Arc<Endpoint>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
) {
    // No hyper timer: the idle limit below bounds a slow head as hyper's
    // header read timeout would, for HTTP/2 too, without the boxed timer
    // hyper arms for every request (2-5 % of an Encrypt's CPU).
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http2().max_concurrent_streams(limits.streams);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.connections));
    // A request waits for one of these before its body is read, so bodies
    // buffered at once stay within the same bound as over HTTP/1; what an
    // HTTP/2 client sends meanwhile stays within hyper's 1 MiB window.
    let in_flight = Arc::new(Semaphore::new(limits.connections));
    let mut warned: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        // At the cap, stop accepting: new clients wait in the kernel's
        // backlog instead of taking file descriptors and tasks.
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if warned.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                    warned = Some(Instant::now());
                    tracing::warn!(
                        limit = limits.connections,
                        "connection limit reached; new connections wait until one closes (--max-connections)"
                    );
                }
                tokio::select! {
                    slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                    () = &mut shutdown => break,
                }
            }
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Replies go out whole; Nagle would only hold back a TLS record's tail.
        let _ = tcp.set_nodelay(true);
        let (watcher, tls) = (graceful.watcher(), tls.clone());
        let builder = builder.clone();
        let activity = Activity::new();
        let service = {
            let (endpoint, activity, in_flight) =
                (endpoint.clone(), activity.clone(), in_flight.clone());
            let peer = Some(Peer {
                ip: peer.ip(),
                tls: tls.is_some(),
            });
            service_fn(move |request: Request<Incoming>| {
                let request_begun = activity.begin();
                // The body's time runs from its arrival, wait for a slot included.
                let request = request.map(|body| Deadline::new(body, limits.body));
                let (endpoint, in_flight) = (endpoint.clone(), in_flight.clone());
                async move {
                    let permit = in_flight.acquire().await;
                    let response = endpoint.serve(request, peer).await;
                    drop((permit, request_begun));
                    Ok::<_, Infallible>(response)
                }
            })
        };
        tokio::spawn(async move {
            let _slot = slot;
            let served = match tls {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(tcp), service);
                    serve_until_idle(watcher.watch(conn), &activity, limits.idle).await
                }
                Some(acceptor) => {
                    // Bounded: a client that never finishes its handshake
                    // would otherwise hold this task, and a shutdown, open.
                    let stream =
                        match tokio::time::timeout(limits.handshake, acceptor.accept(tcp)).await {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    serve_until_idle(watcher.watch(conn), &activity, limits.idle).await
                }
            };
            match served {
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "connection ended with an error")
                }
                None => tracing::debug!(%peer, "idle connection closed"),
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            seconds = limits.drain.as_secs_f64(),
            "requests still in flight after the drain period; closing their connections"
        );
    }
}

/// A failed `accept` is the client's problem (it reset, say) or ours (out
/// of file descriptors): for ours, pause instead of spinning on the error.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

pub use super::certificate::{TlsFiles, tls_config};

#[cfg(test)]
mod tests;
