//! Controller metrics. Labels are ours and few (controller, outcome,
//! category), never per object.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

pub struct Metrics {
    pub reconciles: IntCounterVec,
    pub failures: IntCounterVec,
    pub duration: HistogramVec,
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
        for metric in [
            Box::new(reconciles.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(failures.clone()),
            Box::new(duration.clone()),
        ] {
            // Registering twice only happens in tests sharing a registry.
            let _ = registry.register(metric);
        }
        Metrics {
            reconciles,
            failures,
            duration,
        }
    }

    pub fn unregistered() -> Self {
        Metrics::new(&Registry::new())
    }
}
