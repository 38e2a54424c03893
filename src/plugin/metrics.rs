//! The plugin's metrics: gRPC calls by method and outcome (the histogram's
//! `_count` is the call counter), the key being served, and key file
//! reloads.

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry};

/// The three methods, in the order `Method as usize` indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Status,
    Encrypt,
    Decrypt,
}

impl Method {
    const ALL: [Method; 3] = [Method::Status, Method::Encrypt, Method::Decrypt];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Status => "Status",
            Method::Encrypt => "Encrypt",
            Method::Decrypt => "Decrypt",
        }
    }
}

pub struct PluginMetrics {
    duration: HistogramVec,
    /// The `code="OK"` series per method, resolved once: the hot path
    /// skips the label lookup.
    ok: [Histogram; 3],
    pub key_version: IntGauge,
    pub key_versions: IntGauge,
    pub healthy: IntGauge,
    pub reloads: IntCounterVec,
    pub last_reload: IntGauge,
}

impl PluginMetrics {
    pub fn new(registry: &Registry) -> Self {
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "kubekms_plugin_grpc_request_duration_seconds",
                "KMS v2 gRPC calls by method and gRPC status code, as the plugin served them",
            )
            .buckets(vec![
                0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.01, 0.1, 1.0,
            ]),
            &["method", "code"],
        )
        .expect("valid metric");
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("valid metric");
        let key_version = gauge(
            "kubekms_plugin_key_version",
            "Material version new seeds are wrapped with",
        );
        let key_versions = gauge(
            "kubekms_plugin_key_versions",
            "Material versions the plugin can decrypt with",
        );
        let healthy = gauge(
            "kubekms_plugin_healthy",
            "1 when the last health check's encrypt/decrypt round trip succeeded",
        );
        let last_reload = gauge(
            "kubekms_plugin_key_file_last_load_timestamp_seconds",
            "When the key being served was loaded from the key file",
        );
        let reloads = IntCounterVec::new(
            Opts::new(
                "kubekms_plugin_key_file_reloads_total",
                "Key file changes seen, by outcome (loaded, refused)",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        for metric in [
            Box::new(duration.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(key_version.clone()),
            Box::new(key_versions.clone()),
            Box::new(healthy.clone()),
            Box::new(last_reload.clone()),
            Box::new(reloads.clone()),
        ] {
            let _ = registry.register(metric);
        }
        let ok = Method::ALL.map(|m| duration.with_label_values(&[m.as_str(), "OK"]));
        PluginMetrics {
            duration,
            ok,
            key_version,
            key_versions,
            healthy,
            reloads,
            last_reload,
        }
    }

    pub fn observe(&self, method: Method, code: tonic::Code, seconds: f64) {
        if code == tonic::Code::Ok {
            self.ok[method as usize].observe(seconds);
        } else {
            self.duration
                .with_label_values(&[method.as_str(), &format!("{code:?}")])
                .observe(seconds);
        }
    }
}
