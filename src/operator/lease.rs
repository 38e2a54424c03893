//! Leader election through a `coordination.k8s.io` Lease, so that only one
//! controller replica ever writes key material. Every write of the Lease is
//! conditional on the resourceVersion read, so two replicas can never both
//! believe they took it. The decision is pure ([`decide`]).

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use tokio::sync::watch;

use super::is_conflict;

#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// This replica (the pod name).
    pub identity: String,
    /// How long a holder keeps the Lease without renewing it.
    pub duration: Duration,
    /// How often the holder renews; well inside `duration`.
    pub renew_every: Duration,
}

/// What to do with the Lease as read.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// No Lease yet: create it, held by us.
    Create,
    /// Ours (renew) or expired (take over): write it, held by us.
    Hold {
        transitions: i32,
        acquired: Option<MicroTime>,
    },
    /// Someone else holds it; look again later.
    Wait,
}

pub fn decide(lease: Option<&Lease>, identity: &str, now: Timestamp) -> Decision {
    let Some(spec) = lease.and_then(|l| l.spec.as_ref()) else {
        return if lease.is_none() {
            Decision::Create
        } else {
            Decision::Hold {
                transitions: 0,
                acquired: None,
            }
        };
    };
    let transitions = spec.lease_transitions.unwrap_or(0);
    if spec.holder_identity.as_deref() == Some(identity) {
        return Decision::Hold {
            transitions,
            acquired: spec.acquire_time.clone(),
        };
    }
    let expired = match (&spec.renew_time, spec.lease_duration_seconds) {
        (Some(renewed), Some(seconds)) => {
            renewed.0.as_millisecond() + i64::from(seconds) * 1000 < now.as_millisecond()
        }
        _ => true,
    };
    if expired || spec.holder_identity.is_none() {
        Decision::Hold {
            transitions: transitions + 1,
            acquired: None,
        }
    } else {
        Decision::Wait
    }
}

fn lease_object(
    config: &LeaseConfig,
    transitions: i32,
    acquired: Option<MicroTime>,
    resource_version: Option<String>,
) -> Lease {
    let now = MicroTime(Timestamp::now());
    Lease {
        metadata: ObjectMeta {
            name: Some(config.name.clone()),
            namespace: Some(config.namespace.clone()),
            resource_version,
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(config.identity.clone()),
            lease_duration_seconds: Some(config.duration.as_secs() as i32),
            acquire_time: Some(acquired.unwrap_or_else(|| now.clone())),
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }),
    }
}

/// One attempt to hold the Lease: `Ok(true)` when we hold it now.
pub async fn try_hold(api: &Api<Lease>, config: &LeaseConfig) -> Result<bool, kube::Error> {
    let current = api.get_opt(&config.name).await?;
    let result = match decide(current.as_ref(), &config.identity, Timestamp::now()) {
        Decision::Wait => return Ok(false),
        Decision::Create => {
            api.create(&PostParams::default(), &lease_object(config, 0, None, None))
                .await
        }
        Decision::Hold {
            transitions,
            acquired,
        } => {
            let version = current.and_then(|l| l.metadata.resource_version);
            let lease = lease_object(config, transitions, acquired, version);
            api.replace(&config.name, &PostParams::default(), &lease)
                .await
        }
    };
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_conflict(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Waits until this replica holds the Lease, then keeps renewing it in the
/// background. The returned receiver turns `false` (and stays false) when
/// the Lease is lost or cannot be renewed before it would expire; the
/// controller must stop writing then.
pub async fn acquire(api: Api<Lease>, config: LeaseConfig) -> watch::Receiver<bool> {
    loop {
        match try_hold(&api, &config).await {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read or write the leader Lease"),
        }
        tokio::time::sleep(config.renew_every).await;
    }
    tracing::info!(lease = %config.name, identity = %config.identity, "became leader");
    let (tx, rx) = watch::channel(true);
    tokio::spawn(async move {
        let mut last_renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(config.renew_every).await;
            match try_hold(&api, &config).await {
                Ok(true) => last_renewed = tokio::time::Instant::now(),
                Ok(false) => {
                    tracing::error!("leader Lease taken by another replica");
                    let _ = tx.send(false);
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot renew the leader Lease");
                    // Give up before another replica may take it over.
                    if last_renewed.elapsed() + config.renew_every >= config.duration {
                        let _ = tx.send(false);
                        return;
                    }
                }
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_by(who: &str, renewed_ms: i64, seconds: i32) -> Lease {
        Lease {
            metadata: ObjectMeta::default(),
            spec: Some(LeaseSpec {
                holder_identity: Some(who.into()),
                lease_duration_seconds: Some(seconds),
                renew_time: Some(MicroTime(Timestamp::from_millisecond(renewed_ms).unwrap())),
                lease_transitions: Some(3),
                ..LeaseSpec::default()
            }),
        }
    }

    #[test]
    fn leases_are_created_renewed_waited_for_and_taken_over_when_expired() {
        let now = Timestamp::from_millisecond(100_000).unwrap();
        assert_eq!(decide(None, "a", now), Decision::Create);
        assert_eq!(
            decide(Some(&held_by("a", 99_000, 15)), "a", now),
            Decision::Hold {
                transitions: 3,
                acquired: None
            }
        );
        assert_eq!(
            decide(Some(&held_by("b", 99_000, 15)), "a", now),
            Decision::Wait
        );
        assert_eq!(
            decide(Some(&held_by("b", 85_001, 15)), "a", now),
            Decision::Wait
        );
        assert_eq!(
            decide(Some(&held_by("b", 84_000, 15)), "a", now),
            Decision::Hold {
                transitions: 4,
                acquired: None
            }
        );
    }
}
