//! "Healthy" = the current key can encrypt and decrypt right now. The
//! result is kept for a short while so kube-apiserver's polling and the
//! kubelet's probes cost a lookup, not a round trip each.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::key_source::KeySource;
use super::metrics::PluginMetrics;

/// What a health check saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The current key round-trips; its key_id.
    Healthy(String),
    /// A key is loaded but failed its round trip.
    Unhealthy { key_id: String, why: String },
    /// No key file has loaded yet.
    NoKey(String),
}

pub struct Health {
    ttl: Duration,
    last: Mutex<Option<(Instant, Verdict)>>,
}

impl Health {
    pub fn new(ttl: Duration) -> Self {
        Health {
            ttl,
            last: Mutex::new(None),
        }
    }

    pub fn check(&self, source: &KeySource, metrics: &PluginMetrics) -> Verdict {
        let Some(ring) = source.keyring() else {
            metrics.healthy.set(0);
            return Verdict::NoKey(source.why_no_key());
        };
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, verdict)) = last.as_ref() {
            let same_key = match verdict {
                Verdict::Healthy(id) | Verdict::Unhealthy { key_id: id, .. } => {
                    id == ring.current_name()
                }
                Verdict::NoKey(_) => false,
            };
            if same_key && at.elapsed() < self.ttl {
                return verdict.clone();
            }
        }
        let key_id = ring.current_name().to_owned();
        let verdict = match ring.round_trip() {
            Ok(()) => Verdict::Healthy(key_id),
            Err(e) => Verdict::Unhealthy {
                key_id,
                why: e.to_string(),
            },
        };
        metrics
            .healthy
            .set(i64::from(matches!(verdict, Verdict::Healthy(_))));
        *last = Some((Instant::now(), verdict.clone()));
        verdict
    }
}
