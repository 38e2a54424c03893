//! Multi-Region keys' replication from this Region's primaries, as metrics:
//! each delivery to another Region by outcome, and how many keys each
//! Region's replicas lag behind (versions or shared settings they lack, as
//! of the last full sync), which an alert watches: a replica behind does
//! not decrypt what the newer versions encrypt.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

#[derive(Debug)]
pub struct ReplicaMetrics {
    deliveries: IntCounterVec,
    behind: IntGaugeVec,
    /// Regions reported behind that are no peer (declared in a primary's
    /// `replicaRegions`, a typo or a peer not configured yet): their series
    /// goes once no key declares them.
    strangers: Mutex<BTreeSet<String>>,
}

/// A delivery's outcome label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    Failed,
    /// The replica is no longer there; taken off the key's replicas.
    Gone,
}

impl ReplicaMetrics {
    pub fn new(registry: &Registry) -> Self {
        let deliveries = IntCounterVec::new(
            Opts::new(
                "kubekms_replica_deliveries_total",
                "Deliveries of multi-Region keys' versions and shared settings to their \
                 replicas' Regions, by Region and outcome (delivered, failed, gone)",
            ),
            &["region", "outcome"],
        )
        .expect("valid metric");
        let behind = IntGaugeVec::new(
            Opts::new(
                "kubekms_replicas_behind",
                "Multi-Region keys of this Region whose replica in the Region lacks versions \
                 or shared settings, as of the last sync of every key",
            ),
            &["region"],
        )
        .expect("valid metric");
        let _ = registry.register(Box::new(deliveries.clone()));
        let _ = registry.register(Box::new(behind.clone()));
        ReplicaMetrics {
            deliveries,
            behind,
            strangers: Mutex::default(),
        }
    }

    pub(super) fn delivered(&self, region: &str, outcome: Delivery) {
        let outcome = match outcome {
            Delivery::Delivered => "delivered",
            Delivery::Failed => "failed",
            Delivery::Gone => "gone",
        };
        self.deliveries.with_label_values(&[region, outcome]).inc();
    }

    /// Sets each of the peer `regions`' count from a full sync's failures
    /// (absent: none behind), and of the Regions failed that are no peer,
    /// which can never be reached (and so alert) until configured.
    pub(super) fn behind<'a>(
        &self,
        regions: impl Iterator<Item = &'a str>,
        failed: &BTreeMap<String, i64>,
    ) {
        let peers: BTreeSet<&str> = regions.collect();
        for region in &peers {
            let count = failed.get(*region).copied().unwrap_or(0);
            self.behind.with_label_values(&[region]).set(count);
        }
        let strangers: BTreeSet<String> = failed
            .keys()
            .filter(|r| !peers.contains(r.as_str()))
            .cloned()
            .collect();
        for region in &strangers {
            self.behind.with_label_values(&[region]).set(failed[region]);
        }
        let mut before = self.strangers.lock().unwrap_or_else(|e| e.into_inner());
        for gone in before.difference(&strangers) {
            let _ = self.behind.remove_label_values(&[gone]);
        }
        *before = strangers;
    }
}
