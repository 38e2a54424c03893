//! The Kubernetes KMS v2 plugin (`kube-kms plugin`): kube-apiserver's
//! envelope encryption of Secrets in etcd, with a kube-kms key.
//!
//! It never depends on the cluster it encrypts: the key comes from a sealed
//! key file on the node (`key_file`, written by `kube-kms export-kek`) and
//! a root key from a host file or PKCS#11. `key_source` follows the file;
//! `keyring` does the cryptography; `service` is the gRPC face;
//! `health` the cached round trip behind Status and `/healthz`.

mod health;
pub mod kek_id;
pub mod key_file;
mod key_source;
pub mod keyring;
mod metrics;
mod service;

#[cfg(test)]
mod fixture;

pub use health::{Health, Verdict};
pub use key_source::{KeySource, Reload};
pub use metrics::PluginMetrics;
pub use service::{KmsService, VERSION};

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_stream::wrappers::UnixListenerStream;
use warp::Filter;

use crate::root::RootKey;

#[allow(clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("v2");
}

pub struct Settings {
    pub socket: PathBuf,
    pub key_file: PathBuf,
    pub health_listen: SocketAddr,
    /// How often the key file is checked for changes.
    pub reload_interval: Duration,
    /// How long a health verdict is reused.
    pub health_ttl: Duration,
    /// Where every call is recorded, if anywhere.
    pub audit: Option<crate::audit::AuditLog>,
    /// The format seeds are wrapped in.
    pub ciphertext_format: crate::ciphertext::Format,
}

/// Runs the plugin until `shutdown` resolves: in-flight calls finish, the
/// socket is removed.
pub async fn run(
    root: Arc<dyn RootKey>,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let registry = prometheus::Registry::new();
    let metrics = Arc::new(PluginMetrics::new(&registry));
    if let Some(audit) = &settings.audit {
        audit.register(&registry);
    }
    let source = Arc::new(
        KeySource::new(settings.key_file.clone(), root, metrics.clone())
            .writing(settings.ciphertext_format),
    );
    let first = {
        let source = source.clone();
        tokio::task::spawn_blocking(move || source.reload()).await?
    };
    key_source::log(&first);
    if source.keyring().is_none() {
        tracing::warn!(
            "no usable key yet: Status and /healthz report unhealthy until {} loads",
            settings.key_file.display()
        );
    }
    let _watch = source.clone().spawn_watch(settings.reload_interval);
    let health = Arc::new(Health::new(settings.health_ttl));

    let listener = tokio::net::TcpListener::bind(settings.health_listen)
        .await
        .map_err(|e| anyhow::anyhow!("health port {}: {e}", settings.health_listen))?;
    // The bound address: with port 0 the kernel picked it.
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "/healthz, /livez and /metrics listening");
    let routes = health_routes(source.clone(), health.clone(), metrics.clone(), registry);
    tokio::spawn(warp::serve(routes).incoming(listener).run());

    let socket = crate::crypto::grpc::bind_socket(&settings.socket)
        .map_err(|e| anyhow::anyhow!("socket {}: {e}", settings.socket.display()))?;
    tracing::info!(socket = %settings.socket.display(), "KMS v2 plugin listening");
    let audit = settings.audit.clone();
    let service = KmsService::new(source, health, metrics, settings.audit);
    let result = tonic::transport::Server::builder()
        .add_service(pb::key_management_service_server::KeyManagementServiceServer::new(service))
        .serve_with_incoming_shutdown(UnixListenerStream::new(socket), shutdown)
        .await;
    let _ = std::fs::remove_file(&settings.socket);
    if let Some(audit) = audit {
        audit.flush().await;
    }
    result?;
    tracing::info!("KMS v2 plugin stopped");
    Ok(())
}

/// `/healthz` is deep (the cached round trip) and says why when it fails;
/// `/livez` is shallow, so a missing or bad key file never gets the
/// plugin restarted (a restart cannot fix it, and would drop the last good
/// key it is still serving).
fn health_routes(
    source: Arc<KeySource>,
    health: Arc<Health>,
    metrics: Arc<PluginMetrics>,
    registry: prometheus::Registry,
) -> impl Filter<Extract = (impl warp::Reply,), Error = warp::Rejection> + Clone {
    let healthz = warp::path("healthz").and(warp::path::end()).map(move || {
        let (status, body) = match health.check(&source, &metrics) {
            Verdict::Healthy(key_id) => {
                let note = source
                    .refusal()
                    .map(|why| format!("\nwarning: {why}"))
                    .unwrap_or_default();
                (warp::http::StatusCode::OK, format!("ok {key_id}{note}"))
            }
            Verdict::Unhealthy { key_id, why } => (
                warp::http::StatusCode::SERVICE_UNAVAILABLE,
                format!("unhealthy {key_id}: {why}"),
            ),
            Verdict::NoKey(why) => (
                warp::http::StatusCode::SERVICE_UNAVAILABLE,
                format!("no key: {why}"),
            ),
        };
        warp::reply::with_status(body, status)
    });
    let livez = warp::path("livez").and(warp::path::end()).map(|| "ok");
    warp::get().and(
        healthz
            .or(livez)
            .or(crate::telemetry::metrics_route(registry)),
    )
}
