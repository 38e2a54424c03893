//! What every role's local HTTP port shares: the Prometheus text route.

use std::net::SocketAddr;
use std::sync::Arc;

use prometheus::Registry;
use warp::Filter;
use warp::http::StatusCode;

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

/// How many observations the histogram `name` holds for `operation` and
/// `outcome`, in `registry`: for tests of the metrics that use them.
#[cfg(test)]
pub fn observed(registry: &Registry, name: &str, operation: &str, outcome: &str) -> u64 {
    registry
        .gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric())
        .filter(|m| {
            let labels: Vec<_> = m
                .get_label()
                .iter()
                .map(|l| (l.name(), l.value()))
                .collect();
            labels == [("operation", operation), ("outcome", outcome)]
        })
        .map(|m| m.get_histogram().get_sample_count())
        .sum()
}

/// What `/readyz` asks.
#[async_trait::async_trait]
pub trait Probe: Send + Sync {
    /// The body to answer with (`ok`, or more), or what is not ready.
    async fn ready(&self) -> Result<&'static str, String>;
}

/// Serves `GET /metrics` from `registry`, `GET /livez`, and `GET /readyz`
/// from `probe` (503 with the reason while it fails) on `addr` in the
/// background; returns the address bound (`addr` may ask for port 0).
pub async fn serve_metrics(
    addr: SocketAddr,
    registry: Registry,
    probe: Arc<dyn Probe>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let livez = warp::path("livez").and(warp::path::end()).map(|| "ok");
    let readyz = warp::path("readyz").and(warp::path::end()).then(move || {
        let probe = probe.clone();
        async move {
            match probe.ready().await {
                Ok(body) => warp::reply::with_status(body.to_owned(), StatusCode::OK),
                Err(why) => {
                    tracing::debug!(%why, "not ready");
                    warp::reply::with_status(
                        format!("not ready: {why}"),
                        StatusCode::SERVICE_UNAVAILABLE,
                    )
                }
            }
        }
    });
    let routes = warp::get().and(metrics_route(registry).or(livez).or(readyz));
    tokio::spawn(warp::serve(routes).incoming(listener).run());
    Ok(bound)
}

/// `GET path` from `addr`, the whole response (tests of what
/// `serve_metrics` serves).
#[cfg(test)]
pub(crate) async fn get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Result<&'static str, String>);

    #[async_trait::async_trait]
    impl Probe for Fixed {
        async fn ready(&self) -> Result<&'static str, String> {
            self.0.clone()
        }
    }

    #[tokio::test]
    async fn readyz_answers_503_with_the_reason_until_the_probe_passes() {
        let any = "127.0.0.1:0".parse().unwrap();
        let failing = Arc::new(Fixed(Err("crypto service: unavailable".into())));
        let addr = serve_metrics(any, Registry::new(), failing).await.unwrap();
        let text = get(addr, "/readyz").await;
        assert!(text.starts_with("HTTP/1.1 503"), "{text}");
        assert!(
            text.ends_with("not ready: crypto service: unavailable"),
            "{text}"
        );
        // Liveness does not depend on it.
        assert!(get(addr, "/livez").await.starts_with("HTTP/1.1 200"));

        let passing = Arc::new(Fixed(Ok("ok")));
        let addr = serve_metrics(any, Registry::new(), passing).await.unwrap();
        let text = get(addr, "/readyz").await;
        assert!(
            text.starts_with("HTTP/1.1 200") && text.ends_with("ok"),
            "{text}"
        );
    }
}
