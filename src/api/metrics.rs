//! The endpoint's metrics: requests by operation and outcome with their
//! durations (the histogram's `_count` is the request counter), and the
//! requests being handled.

use std::collections::HashMap;

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntGauge, Registry};

use super::OPERATIONS;

/// The operation label of a target that names no served operation: the
/// header is the client's, and every distinct value would be a series.
const UNKNOWN: &str = "unknown";
const OK: &str = "ok";

pub struct EndpointMetrics {
    duration: HistogramVec,
    /// The `outcome="ok"` series of each operation, resolved once: the hot
    /// path skips the label lookup.
    ok: HashMap<&'static str, Histogram>,
    in_flight: IntGauge,
}

/// Counts a request as being handled until dropped.
pub struct InFlight<'a>(&'a IntGauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl EndpointMetrics {
    pub fn new(registry: &Registry) -> Self {
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "kubekms_api_request_duration_seconds",
                "KMS API requests by operation and outcome (ok, or the AWS error type), from their \
                 body's arrival to their reply",
            )
            // Data-plane calls take tens of microseconds; CreateKey in a
            // cluster waits for the controller, up to 30 s.
            .buckets(vec![
                0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5,
                10.0, 30.0,
            ]),
            &["operation", "outcome"],
        )
        .expect("valid metric");
        let in_flight = IntGauge::new(
            "kubekms_api_requests_in_flight",
            "KMS API requests being handled",
        )
        .expect("valid metric");
        let _ = registry.register(Box::new(duration.clone()));
        let _ = registry.register(Box::new(in_flight.clone()));
        let ok = OPERATIONS
            .iter()
            .map(|op| (*op, duration.with_label_values(&[op, OK])))
            .collect();
        EndpointMetrics {
            duration,
            ok,
            in_flight,
        }
    }

    /// Marks one request as being handled, until the guard is dropped.
    pub fn begin(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    /// Records one request: `target` as the client sent it (`X-Amz-Target`),
    /// `error` its AWS error type if it failed.
    pub fn observe(&self, target: &str, error: Option<&'static str>, seconds: f64) {
        let operation = target.strip_prefix("TrentService.").unwrap_or("");
        match (error, self.ok.get_key_value(operation)) {
            (None, Some((_, ok))) => ok.observe(seconds),
            (error, known) => {
                let operation = known.map_or(UNKNOWN, |(name, _)| *name);
                self.duration
                    .with_label_values(&[operation, error.unwrap_or(OK)])
                    .observe(seconds);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(registry: &Registry, operation: &str, outcome: &str) -> u64 {
        crate::telemetry::observed(
            registry,
            "kubekms_api_request_duration_seconds",
            operation,
            outcome,
        )
    }

    #[test]
    fn requests_are_counted_by_operation_and_outcome_and_unknown_targets_share_one_series() {
        let registry = Registry::new();
        let metrics = EndpointMetrics::new(&registry);
        metrics.observe("TrentService.Encrypt", None, 0.000_2);
        metrics.observe("TrentService.Encrypt", None, 0.000_3);
        metrics.observe(
            "TrentService.Decrypt",
            Some("InvalidCiphertextException"),
            0.000_1,
        );
        metrics.observe(
            "TrentService.NoSuchThing",
            Some("UnknownOperationException"),
            0.0,
        );
        metrics.observe("Another.Thing", Some("UnknownOperationException"), 0.0);
        metrics.observe("", Some("MissingAuthenticationTokenException"), 0.0);
        assert_eq!(count(&registry, "Encrypt", "ok"), 2);
        assert_eq!(count(&registry, "Decrypt", "InvalidCiphertextException"), 1);
        assert_eq!(count(&registry, "Decrypt", "ok"), 0);
        assert_eq!(count(&registry, "unknown", "UnknownOperationException"), 2);
        assert_eq!(
            count(&registry, "unknown", "MissingAuthenticationTokenException"),
            1
        );
        // Nothing but served operations and "unknown" ever becomes a label.
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap();
        assert!(!text.contains("NoSuchThing"), "{text}");
        assert!(!text.contains("Another"), "{text}");
    }

    #[test]
    fn a_request_is_in_flight_until_its_guard_drops() {
        let registry = Registry::new();
        let metrics = EndpointMetrics::new(&registry);
        let first = metrics.begin();
        let second = metrics.begin();
        assert_eq!(metrics.in_flight.get(), 2);
        drop(first);
        assert_eq!(metrics.in_flight.get(), 1);
        drop(second);
        assert_eq!(metrics.in_flight.get(), 0);
    }
}
