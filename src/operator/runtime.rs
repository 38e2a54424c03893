//! Runs the controllers: waits for the leader Lease, then reconciles until
//! shutdown or until the Lease is lost (then exits, so that the process
//! restarts as a follower and never writes without holding it).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::runtime::{Controller, controller};
use kube::{Api, Client, ResourceExt};
use prometheus::Registry;

use super::alias_controller::{self, AliasContext};
use super::key_census::KeyCensus;
use super::lease::{self, LeaseConfig};
use super::{Context, grant_controller, key_controller, key_secret, root_probe, sweeper};
use crate::cluster::scope::Scope;
use crate::cluster::watch::scoped;
use crate::resource::{KmsAlias, KmsGrant, KmsKey};

pub struct Settings {
    pub lease: LeaseConfig,
    pub metrics_listen: Option<SocketAddr>,
    /// The namespaces watched: every one, or some (a namespaced install).
    pub scope: Scope,
    /// Most reconciles each controller runs at once.
    pub concurrency: u16,
}

pub async fn run(
    ctx: Arc<Context>,
    registry: Registry,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let client = ctx.client.clone();
    let (leading_tx, leading_rx) = tokio::sync::watch::channel(false);
    if let Some(addr) = settings.metrics_listen {
        // Bound here, so that a port already taken stops the controller
        // with the reason instead of leaving it running without metrics.
        let bound = serve_health(addr, registry.clone(), leading_rx.clone())
            .await
            .map_err(|e| format!("binding {addr} for metrics: {e}"))?;
        tracing::info!(addr = %bound, "metrics on /metrics, health on /livez and /readyz");
    }
    let leases: Api<Lease> = Api::namespaced(client.clone(), &settings.lease.namespace);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let shutdown = Box::pin(shutdown);
    let mut shutdown = futures::future::FutureExt::fuse(shutdown);
    let held = tokio::select! {
        held = lease::acquire(leases.clone(), settings.lease.clone()) => held,
        _ = &mut shutdown => return Ok(()),
    };
    let mut leader = held.leading.clone();
    // Nothing is sealed before the root key is known to be the store's.
    let secrets = settings.scope.apis::<Secret>(&client);
    let check = tokio::select! {
        check = root_probe::ensure(&secrets, ctx.crypto.as_ref()) => check,
        _ = &mut shutdown => {
            held.release(&leases, &settings.lease).await;
            return Ok(());
        }
    };
    let check = match check {
        Ok(check) => check,
        Err(why) => {
            held.release(&leases, &settings.lease).await;
            return Err(why);
        }
    };
    check.log();
    let _ = leading_tx.send(true);
    let stopped = {
        let mut stop_rx = stop_rx.clone();
        async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        }
    };
    let shared_stop = futures::future::FutureExt::shared(stopped);
    // Bounded: unbounded, a new leader reconciles every object at once, each
    // on a connection of its own to the API server (1,366 TLS handshakes
    // within a second for 1,500 keys and their aliases). Shared among the
    // namespaces watched, each its share (at least one), so that a list of
    // namespaces holds no more connections than every namespace would.
    let config =
        controller::Config::default().concurrency(share(settings.concurrency, &settings.scope));

    // One set of controllers per namespace watched (kube-runtime's
    // controllers each watch one namespace or all of them).
    let mut controllers = Vec::new();
    let (mut key_caches, mut secret_caches) = (Vec::new(), Vec::new());
    for namespace in settings.scope.watched() {
        let (running, keys, secrets) =
            controllers_in(&client, namespace, &config, &ctx, shared_stop.clone());
        controllers.push(running);
        key_caches.push(keys);
        secret_caches.push(secrets);
    }
    // Only the leader counts keys: its caches are the ones kept current.
    let census = KeyCensus::new(key_caches, secret_caches);
    if let Err(e) = registry.register(Box::new(census)) {
        tracing::warn!(error = %e, "kubekms_keys not registered");
    }

    let watchdog = async move {
        tokio::select! {
            _ = shutdown => Ok(()),
            _ = leader.wait_for(|leading| !*leading) => Err("lost the leader Lease; exiting so that another replica leads".to_owned()),
        }
    };
    let running = futures::future::join_all(controllers);
    tokio::pin!(running);
    let outcome = tokio::select! {
        outcome = watchdog => outcome,
        _ = &mut running => Err("controllers stopped unexpectedly".to_owned()),
    };
    let _ = leading_tx.send(false);
    let _ = stop_tx.send(true);
    running.await;
    // Every reconcile has finished: nothing more is written under the Lease.
    if outcome.is_ok() {
        held.release(&leases, &settings.lease).await;
    }
    outcome
}

/// Each namespace's share of `concurrency` reconciles at once.
fn share(concurrency: u16, scope: &Scope) -> u16 {
    let namespaces = u16::try_from(scope.watched().len()).unwrap_or(u16::MAX);
    (concurrency / namespaces.max(1)).max(1)
}

/// The controllers of one namespace (`None`: every namespace), running
/// until `stop`, with the caches the key census counts.
fn controllers_in(
    client: &Client,
    namespace: Option<&str>,
    config: &controller::Config,
    ctx: &Arc<Context>,
    stop: futures::future::Shared<impl Future<Output = ()> + Send + Sync + 'static>,
) -> (
    futures::future::BoxFuture<'static, ()>,
    Store<KmsKey>,
    Store<PartialObjectMeta<Secret>>,
) {
    let keys = Controller::new(
        scoped::<KmsKey>(client, namespace),
        watcher::Config::default(),
    )
    .with_config(config.clone());
    let key_cache = keys.store();
    let keys = keys
        // A key Secret that changes or disappears under us re-reconciles its
        // KmsKey at once (metadata only; the key's name is in an annotation).
        .watches(
            scoped::<PartialObjectMeta<Secret>>(client, namespace),
            watcher::Config::default().labels(&key_secret::selector()),
            |secret| {
                let name = key_secret::key_name(&secret)?;
                Some(ObjectRef::<KmsKey>::new(&name).within(&secret.namespace()?))
            },
        )
        .graceful_shutdown_on(stop.clone())
        .run(
            key_controller::reconcile,
            key_controller::error_policy,
            ctx.clone(),
        )
        .for_each(|_| async {});

    let aliases =
        alias_controller_stream(client, namespace, config.clone(), ctx.clone(), stop.clone());
    let grants =
        grant_controller_stream(client, namespace, config.clone(), ctx.clone(), stop.clone());

    // Metadata only: the sealed bytes of every key never sit in this cache.
    let sweep = Controller::new(
        scoped::<PartialObjectMeta<Secret>>(client, namespace),
        watcher::Config::default().labels(&key_secret::selector()),
    )
    .with_config(config.clone());
    let secret_cache = sweep.store();
    let sweep = sweep
        .graceful_shutdown_on(stop)
        .run(sweeper::reconcile, sweeper::error_policy, ctx.clone())
        .for_each(|_| async {});
    let running = async move {
        tokio::join!(keys, aliases, grants, sweep);
    };
    (Box::pin(running), key_cache, secret_cache)
}

fn alias_controller_stream<S>(
    client: &Client,
    namespace: Option<&str>,
    config: controller::Config,
    shared: Arc<Context>,
    stop: S,
) -> impl Future<Output = ()> + Send + use<S>
where
    S: Future<Output = ()> + Send + Sync + 'static,
{
    let controller = Controller::new(
        scoped::<KmsAlias>(client, namespace),
        watcher::Config::default(),
    )
    .with_config(config);
    let store = controller.store();
    controller
        // An alias follows its key: a key becoming Ready (or going away)
        // re-resolves every alias that names it.
        .watches(
            scoped::<KmsKey>(client, namespace),
            watcher::Config::default(),
            naming_key(store.clone(), |a: &KmsAlias| &a.spec.target_key_ref.name),
        )
        .graceful_shutdown_on(stop)
        .run(
            alias_controller::reconcile,
            alias_controller::error_policy,
            Arc::new(AliasContext {
                shared,
                aliases: store,
            }),
        )
        .for_each(|_| async {})
}

fn grant_controller_stream<S>(
    client: &Client,
    namespace: Option<&str>,
    config: controller::Config,
    shared: Arc<Context>,
    stop: S,
) -> impl Future<Output = ()> + Send + use<S>
where
    S: Future<Output = ()> + Send + Sync + 'static,
{
    let controller = Controller::new(
        scoped::<KmsGrant>(client, namespace),
        watcher::Config::default(),
    )
    .with_config(config);
    let store = controller.store();
    controller
        // A grant follows its key: a key becoming Ready (or going away)
        // reports again every grant on it.
        .watches(
            scoped::<KmsKey>(client, namespace),
            watcher::Config::default(),
            naming_key(store, |g: &KmsGrant| &g.spec.key_ref.name),
        )
        .graceful_shutdown_on(stop)
        .run(
            grant_controller::reconcile,
            grant_controller::error_policy,
            shared,
        )
        .for_each(|_| async {})
}

/// For a `KmsKey` that changed, the objects of `objects` in its namespace
/// whose `key_name` is its name.
fn naming_key<K>(
    objects: Store<K>,
    key_name: fn(&K) -> &str,
) -> impl Fn(KmsKey) -> Vec<ObjectRef<K>> + Send + Sync + 'static
where
    K: kube::Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    move |key| {
        let namespace = key.namespace();
        let name = key.name_any();
        objects
            .state()
            .into_iter()
            .filter(|o| o.namespace() == namespace && key_name(o) == name)
            .map(|o| ObjectRef::from_obj(o.as_ref()))
            .collect()
    }
}

/// `/metrics`, `/livez` and `/readyz`. Readiness does not depend on
/// leading: a rollout must be able to start a follower while the old
/// leader still holds the Lease. Who leads is the `kubekms_leader` gauge.
async fn serve_health(
    addr: SocketAddr,
    registry: Registry,
    leading: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<SocketAddr> {
    let gauge = prometheus::IntGauge::new(
        "kubekms_leader",
        "1 while this replica holds the leader Lease",
    )
    .expect("valid metric");
    let _ = registry.register(Box::new(gauge.clone()));
    let mut watch_leading = leading.clone();
    tokio::spawn(async move {
        loop {
            gauge.set(i64::from(*watch_leading.borrow_and_update()));
            if watch_leading.changed().await.is_err() {
                return;
            }
        }
    });
    crate::telemetry::serve_metrics(addr, registry, Arc::new(Leadership(leading))).await
}

/// `/readyz` of a controller replica: ready whether it leads or not (a
/// follower stands by), saying which.
struct Leadership(tokio::sync::watch::Receiver<bool>);

#[async_trait::async_trait]
impl crate::telemetry::Probe for Leadership {
    async fn ready(&self) -> Result<&'static str, String> {
        Ok(if *self.0.borrow() {
            "ok: leader"
        } else {
            "ok: follower"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::get;

    #[test]
    fn namespaces_watched_share_the_reconciles_at_once() {
        let scope = |list: &str| Scope::parse(Some(list)).unwrap();
        assert_eq!(share(8, &Scope::Cluster), 8);
        assert_eq!(share(8, &scope("a")), 8);
        assert_eq!(share(8, &scope("a,b,c")), 2);
        assert_eq!(share(8, &scope("a,b,c,d,e,f,g,h,i")), 1);
    }

    /// `warp::serve(..).run(addr)` panicked inside its task on a taken port
    /// and the controller ran on without metrics; now the bind is an error
    /// the controller exits with.
    #[tokio::test]
    async fn a_metrics_port_already_taken_is_an_error() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (_leading, leading_rx) = tokio::sync::watch::channel(false);
        let error = serve_health(taken.local_addr().unwrap(), Registry::new(), leading_rx)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
    }

    #[tokio::test]
    async fn metrics_and_health_served_where_bound_ready_as_leader_or_follower() {
        let (leading, leading_rx) = tokio::sync::watch::channel(false);
        let bound = serve_health("127.0.0.1:0".parse().unwrap(), Registry::new(), leading_rx)
            .await
            .unwrap();
        assert_ne!(bound.port(), 0);
        let ready = get(bound, "/readyz").await;
        assert!(
            ready.starts_with("HTTP/1.1 200") && ready.ends_with("ok: follower"),
            "{ready}"
        );
        assert!(get(bound, "/metrics").await.contains("kubekms_leader 0"));
        leading.send(true).unwrap();
        let ready = get(bound, "/readyz").await;
        assert!(
            ready.starts_with("HTTP/1.1 200") && ready.ends_with("ok: leader"),
            "{ready}"
        );
        // The gauge follows on its own task.
        let mut metrics = String::new();
        for _ in 0..50 {
            metrics = get(bound, "/metrics").await;
            if metrics.contains("kubekms_leader 1") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
        assert!(metrics.contains("kubekms_leader 1"), "{metrics}");
        assert!(get(bound, "/livez").await.ends_with("ok"));
    }
}
