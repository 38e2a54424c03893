//! One endpoint replica runs the replica sync (docs/multi-region.md): the
//! one holding a Lease, as the controller's leader does, so that a Region
//! behind gets each version once and the sync's records do not contend for
//! the key's one material request. The Lease is renewed at each turn of the
//! sync, and every turn's length while a sync runs long, and lasts three
//! turns, so another replica takes over within that when the holder goes.
//! Where the endpoint may not read or write Leases (a role from before
//! this), every replica syncs, as before, and says so once.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;

use crate::operator::lease::{self, LeaseConfig};

/// The Lease's default name.
pub const LEASE_NAME: &str = "kube-kms-replica-sync";

/// How long the holder keeps the Lease unrenewed: three turns, and never
/// under 15 seconds.
pub fn lease_duration(interval: Duration) -> Duration {
    (interval * 3).max(Duration::from_secs(15))
}

/// Runs `sync` every `interval` while this replica holds the Lease.
pub fn spawn<F, Fut>(
    leases: Api<Lease>,
    config: LeaseConfig,
    interval: Duration,
    mut sync: F,
) -> tokio::task::JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut holding = false;
        let mut told_forbidden = false;
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match lease::try_hold(&leases, &config).await {
                Ok(true) => {
                    if !holding {
                        tracing::info!(lease = %config.name, identity = %config.identity, "this replica runs the replica sync");
                    }
                    holding = true;
                    renewing_while(&leases, &config, interval, sync()).await;
                }
                // Another replica syncs.
                Ok(false) => holding = false,
                Err(kube::Error::Api(status)) if status.code == 403 => {
                    if !told_forbidden {
                        tracing::warn!(lease = %config.name, "may not use the replica sync Lease (RBAC); every replica syncs");
                        told_forbidden = true;
                    }
                    sync().await;
                }
                Err(e) => {
                    holding = false;
                    tracing::warn!(lease = %config.name, error = %e, "cannot read or write the replica sync Lease; tried again next turn");
                }
            }
        }
    })
}

/// Runs `sync`, renewing the Lease every `every` while it lasts: a sync
/// longer than the Lease's three turns (a slow peer, many keys) would
/// otherwise let another replica take the Lease and sync beside it. A
/// renewal refused or failed is logged and the sync finishes: syncs side by
/// side contend but stay correct (every replica synced before the Lease).
async fn renewing_while(
    leases: &Api<Lease>,
    config: &LeaseConfig,
    every: Duration,
    sync: impl Future<Output = ()>,
) {
    // Polled side by side, so a slow API server holds up the renewal, not
    // the sync; a renewal under way when the sync ends is dropped.
    let renewals = async {
        let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            renew.tick().await;
            match lease::try_hold(leases, config).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(lease = %config.name, "another replica took the replica sync Lease during a long sync; this one finishes its turn")
                }
                Err(e) => {
                    tracing::warn!(lease = %config.name, error = %e, "cannot renew the replica sync Lease during a long sync; tried again in a turn")
                }
            }
        }
    };
    tokio::select! {
        () = sync => {}
        _ = renewals => {} // never ends
    }
}

#[cfg(test)]
mod tests;
