//! What every role's local HTTP port shares: the Prometheus text route.

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
