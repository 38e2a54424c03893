//! Multi-Region keys' replication from this Region's primaries, as metrics:
//! each delivery to another Region by outcome, and how many keys each
//! Region's replicas lag behind (versions or shared settings they lack, as
//! of the last full sync), which an alert watches: a replica behind does
//! not decrypt what the newer versions encrypt; and how many replicas
//! declared here still wait for their primary's material.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

#[derive(Debug)]
pub struct ReplicaMetrics {
    deliveries: IntCounterVec,
    behind: RegionGauge,
    awaited: RegionGauge,
}

/// A gauge by Region, set from a full sync: every peer Region has a value
/// (0 when none counted), and a Region counted that is no peer (named in a
/// manifest, a typo or a peer not configured yet) has one while counted.
/// A Region neither (taken out of the peers file, or no longer counted)
/// loses its series.
#[derive(Debug)]
struct RegionGauge {
    gauge: IntGaugeVec,
    /// The Regions the last sync set.
    set: Mutex<BTreeSet<String>>,
}

impl RegionGauge {
    fn new(registry: &Registry, name: &str, help: &str, label: &str) -> Self {
        let gauge = IntGaugeVec::new(Opts::new(name, help), &[label]).expect("valid metric");
        let _ = registry.register(Box::new(gauge.clone()));
        RegionGauge {
            gauge,
            set: Mutex::default(),
        }
    }

    fn set(&self, peers: &BTreeSet<&str>, counted: &BTreeMap<String, i64>) {
        let now: BTreeSet<String> = peers
            .iter()
            .map(|r| (*r).to_owned())
            .chain(counted.keys().cloned())
            .collect();
        for region in &now {
            let count = counted.get(region).copied().unwrap_or(0);
            self.gauge.with_label_values(&[region]).set(count);
        }
        let mut before = self.set.lock().unwrap_or_else(|e| e.into_inner());
        for gone in before.difference(&now) {
            let _ = self.gauge.remove_label_values(&[gone]);
        }
        *before = now;
    }
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
        let _ = registry.register(Box::new(deliveries.clone()));
        let behind = RegionGauge::new(
            registry,
            "kubekms_replicas_behind",
            "Multi-Region keys of this Region whose replica in the Region lacks versions \
             or shared settings, as of the last sync of every key",
            "region",
        );
        let awaited = RegionGauge::new(
            registry,
            "kubekms_replicas_awaited",
            "Replicas declared in this Region (KmsKeys with primaryRegion) whose material \
             has not arrived from their primary's Region, by that Region, as of the last sync",
            "primary_region",
        );
        ReplicaMetrics {
            deliveries,
            behind,
            awaited,
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
        self.behind.set(&regions.collect(), failed);
    }

    /// Sets how many declared replicas wait on each primary Region.
    pub(super) fn awaited<'a>(
        &self,
        regions: impl Iterator<Item = &'a str>,
        waiting: &BTreeMap<String, i64>,
    ) {
        self.awaited.set(&regions.collect(), waiting);
    }
}
