//! Leader election through a `coordination.k8s.io` Lease, so that only one
//! controller replica ever writes key material. Every write of the Lease is
//! conditional on the resourceVersion read, so two replicas can never both
//! believe they took it. The decision is pure ([`decide`]).
//!
//! A replica that stops cleanly gives the Lease up once its controllers have
//! finished, so that another leads within one retry instead of after the
//! Lease's full duration (a rolling update stalls key creation that long).

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

/// A replica's name in a Lease when it has no pod name: host and pid.
pub fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}-{}", host.trim(), std::process::id())
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
    // Released: by us without a holder, by client-go with an empty one.
    let released = spec.holder_identity.as_deref().is_none_or(str::is_empty);
    if expired || released {
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

/// The Lease `lease` given up by `identity`: no holder, and expired for
/// anyone who reads the holder alone. `None` if it is not ours to give up.
pub fn released(lease: &Lease, identity: &str) -> Option<Lease> {
    let spec = lease.spec.as_ref()?;
    if spec.holder_identity.as_deref() != Some(identity) {
        return None;
    }
    Some(Lease {
        metadata: ObjectMeta {
            name: lease.metadata.name.clone(),
            namespace: lease.metadata.namespace.clone(),
            resource_version: lease.metadata.resource_version.clone(),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: None,
            lease_duration_seconds: Some(1),
            acquire_time: spec.acquire_time.clone(),
            renew_time: Some(MicroTime(Timestamp::now())),
            lease_transitions: spec.lease_transitions,
            ..LeaseSpec::default()
        }),
    })
}

/// Gives the Lease up if we still hold it (conditionally on the version
/// read, so a Lease taken over meanwhile is left alone). Call only once
/// nothing more will be written under it.
pub async fn release(api: &Api<Lease>, config: &LeaseConfig) -> Result<bool, kube::Error> {
    let Some(lease) = api.get_opt(&config.name).await? else {
        return Ok(false);
    };
    let Some(free) = released(&lease, &config.identity) else {
        return Ok(false);
    };
    match api
        .replace(&config.name, &PostParams::default(), &free)
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if is_conflict(&e) => Ok(false),
        Err(e) => Err(e),
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

/// The Lease held, renewed in the background.
pub struct Held {
    /// Turns `false` (and stays false) when the Lease is lost or cannot be
    /// renewed before it would expire; the controller must stop writing then.
    pub leading: watch::Receiver<bool>,
    renewing: tokio::task::JoinHandle<()>,
}

impl Held {
    /// Stops renewing and gives the Lease up: for a clean stop, once the
    /// controllers have finished writing.
    pub async fn release(self, api: &Api<Lease>, config: &LeaseConfig) {
        self.renewing.abort();
        let _ = self.renewing.await;
        match release(api, config).await {
            Ok(true) => tracing::info!(lease = %config.name, "leader Lease released"),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "leader Lease not released; another replica leads once it expires")
            }
        }
    }
}

/// Waits until this replica holds the Lease, then keeps renewing it in the
/// background.
pub async fn acquire(api: Api<Lease>, config: LeaseConfig) -> Held {
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
    let renewing = tokio::spawn(async move {
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
    Held {
        leading: rx,
        renewing,
    }
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

    #[test]
    fn a_released_lease_is_taken_at_once() {
        let now = Timestamp::from_millisecond(100_000).unwrap();
        let mut ours = held_by("a", 99_000, 15);
        ours.metadata.resource_version = Some("7".into());
        assert_eq!(released(&held_by("b", 99_000, 15), "a"), None);
        let free = released(&ours, "a").unwrap();
        let spec = free.spec.as_ref().unwrap();
        assert_eq!(spec.holder_identity, None);
        assert_eq!(spec.lease_duration_seconds, Some(1));
        assert_eq!(spec.lease_transitions, Some(3));
        assert_eq!(free.metadata.resource_version.as_deref(), Some("7"));
        let taken = Decision::Hold {
            transitions: 4,
            acquired: None,
        };
        // Renewed just now, yet free: ours, and client-go's empty holder.
        let mut free = held_by("b", 99_999, 15);
        free.spec.as_mut().unwrap().holder_identity = None;
        assert_eq!(decide(Some(&free), "a", now), taken);
        free.spec.as_mut().unwrap().holder_identity = Some(String::new());
        assert_eq!(decide(Some(&free), "a", now), taken);
    }

    /// Against the API server: the release is a conditional replace of the
    /// version read, and nothing is written when the Lease is not ours.
    #[tokio::test]
    async fn a_clean_stop_gives_the_lease_up_only_while_it_is_ours() {
        use http::{Request, Response};
        use kube::client::Body;
        let (service, mut server) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let api: Api<Lease> = Api::namespaced(kube::Client::new(service, "default"), "kms");
        let config = LeaseConfig {
            namespace: "kms".into(),
            name: "kube-kms".into(),
            identity: "a".into(),
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        };
        let path = "/apis/coordination.k8s.io/v1/namespaces/kms/leases/kube-kms";
        for (holder, written) in [("a", true), ("b", false)] {
            let task = {
                let (api, config) = (api.clone(), config.clone());
                tokio::spawn(async move { release(&api, &config).await })
            };
            let mut lease = held_by(holder, 99_000, 15);
            lease.metadata.name = Some("kube-kms".into());
            lease.metadata.resource_version = Some("7".into());
            let (request, send) = server.next_request().await.unwrap();
            assert_eq!(
                (request.method().as_str(), request.uri().path()),
                ("GET", path)
            );
            let reply = serde_json::to_vec(&lease).unwrap();
            send.send_response(Response::new(Body::from(reply.clone())));
            if written {
                let (request, send) = server.next_request().await.unwrap();
                assert_eq!(
                    (request.method().as_str(), request.uri().path()),
                    ("PUT", path)
                );
                let body = request.into_body().collect_bytes().await.unwrap();
                let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(body["metadata"]["resourceVersion"], "7");
                assert_eq!(body["spec"]["holderIdentity"], serde_json::Value::Null);
                assert_eq!(body["spec"]["leaseDurationSeconds"], 1);
                send.send_response(Response::new(Body::from(reply)));
            }
            assert_eq!(task.await.unwrap().unwrap(), written, "held by {holder}");
        }
        let next = tokio::time::timeout(Duration::from_millis(200), server.next_request()).await;
        assert!(matches!(next, Err(_) | Ok(None)), "nothing more is sent");
    }
}
