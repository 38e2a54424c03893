//! What every role's local HTTP port shares: the Prometheus text route.

use std::net::SocketAddr;

use prometheus::Registry;
use warp::Filter;

/// `GET /metrics`: everything in `registry`, in Prometheus text format.
pub fn metrics_route(
    registry: Registry,
) -> impl Filter<Extract = (impl warp::Reply,), Error = warp::Rejection> + Clone {
    warp::path("metrics").and(warp::path::end()).map(move || {
        let mut text = String::new();
        let encoder = prometheus::TextEncoder::new();
        if let Err(e) = encoder.encode_utf8(&registry.gather(), &mut text) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        warp::reply::with_header(text, "content-type", prometheus::TEXT_FORMAT)
    })
}

/// Serves `GET /metrics` from `registry` and `GET /livez` on `addr` in the
/// background; returns the address bound (`addr` may ask for port 0).
pub async fn serve_metrics(addr: SocketAddr, registry: Registry) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let livez = warp::path("livez").and(warp::path::end()).map(|| "ok");
    let routes = warp::get().and(metrics_route(registry).or(livez));
    tokio::spawn(warp::serve(routes).incoming(listener).run());
    Ok(bound)
}
