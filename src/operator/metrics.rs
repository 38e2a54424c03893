//! Controller metrics. Labels are ours and few (controller, outcome,
//! category), never per object.

use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};

pub struct Metrics {
    pub reconciles: IntCounterVec,
    pub failures: IntCounterVec,
    pub duration: HistogramVec,
    /// Events the API server refused (RBAC, an admission policy): each one
    /// lost, so what `kubectl describe` shows is short of it.
    pub events_refused: IntCounter,
}

impl Metrics {
    pub fn new(registry: &Registry) -> Self {
        let reconciles = IntCounterVec::new(
            Opts::new(
                "kubekms_reconciles_total",
                "Reconciles by controller and outcome",
            ),
            &["controller", "outcome"],
        )
        .expect("valid metric");
        let failures = IntCounterVec::new(
            Opts::new(
                "kubekms_reconcile_errors_total",
                "Failed reconciles by controller and error category",
            ),
            &["controller", "category"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new("kubekms_reconcile_duration_seconds", "Reconcile duration").buckets(
                vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
            ),
            &["controller"],
        )
        .expect("valid metric");
        let events_refused = IntCounter::new(
            "kubekms_events_refused_total",
            "Events about KmsKeys and KmsAliases the API server refused to record",
        )
        .expect("valid metric");
        for metric in [
            Box::new(reconciles.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(failures.clone()),
            Box::new(duration.clone()),
            Box::new(events_refused.clone()),
        ] {
            // Registering twice only happens in tests sharing a registry.
            let _ = registry.register(metric);
        }
        Metrics {
            reconciles,
            failures,
            duration,
            events_refused,
        }
    }

    pub fn unregistered() -> Self {
        Metrics::new(&Registry::new())
    }
}
