//! Feeds the cluster index from four watches. Key Secrets are selected by
//! label, so only kube-kms key material (sealed) and access keys are cached,
//! never other Secrets. Over every namespace, or in each one served.

use std::sync::{Arc, RwLock};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::sync::watch;

use super::ClusterIndex;
use super::index::CREDENTIALS_LABEL;
use super::scope::Scope;
use crate::auth::Credentials;
use crate::operator::key_secret;
use crate::resource::{KmsAlias, KmsGrant};

/// Starts the watches and returns the index they feed, with a receiver
/// that turns `true` once all have listed. `credentials` is kept equal to
/// the index's access keys. Each kind is watched over every namespace, or
/// in each namespace of `scope`; the index is made here, for as many
/// watches as start here, so that it is synced when the last has listed
/// (not before, not never).
pub fn spawn(
    client: Client,
    scope: &Scope,
    credentials: Arc<RwLock<Credentials>>,
) -> (Arc<RwLock<ClusterIndex>>, watch::Receiver<bool>) {
    let watched = scope.watched();
    let index = Arc::new(RwLock::new(ClusterIndex::fed_by(watched.len())));
    let (synced_tx, synced_rx) = watch::channel(false);
    let synced_tx = Arc::new(synced_tx);
    for namespace in watched {
        let keys = watcher(
            scoped::<Secret>(&client, namespace),
            watcher::Config::default().labels(&key_secret::selector()),
        );
        let aliases = watcher(
            scoped::<KmsAlias>(&client, namespace),
            watcher::Config::default(),
        );
        let grants = watcher(
            scoped::<KmsGrant>(&client, namespace),
            watcher::Config::default(),
        );
        let credential_secrets = watcher(
            scoped::<Secret>(&client, namespace),
            watcher::Config::default().labels(&format!("{CREDENTIALS_LABEL}=true")),
        );
        feed(
            keys,
            namespace,
            &index,
            &synced_tx,
            ClusterIndex::key_secret_event_in,
        );
        feed(
            aliases,
            namespace,
            &index,
            &synced_tx,
            ClusterIndex::alias_event_in,
        );
        feed(
            grants,
            namespace,
            &index,
            &synced_tx,
            ClusterIndex::grant_event_in,
        );
        let credentials = credentials.clone();
        feed(
            credential_secrets,
            namespace,
            &index,
            &synced_tx,
            move |index, at, event| {
                index.credential_event_in(at, event);
                *credentials.write().expect("credentials lock") = index.credentials();
            },
        );
    }
    (index, synced_rx)
}

/// Applies every event of one watch (over `namespace`, or every one) to
/// the index, and says whether all caches have listed.
fn feed<K: Clone + Send + 'static>(
    events: impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    namespace: Option<&str>,
    index: &Arc<RwLock<ClusterIndex>>,
    synced: &Arc<watch::Sender<bool>>,
    apply: impl Fn(&mut ClusterIndex, Option<&str>, &watcher::Event<K>) + Send + 'static,
) {
    let (watch, index, synced) = (namespace.map(str::to_owned), index.clone(), synced.clone());
    tokio::spawn(events.default_backoff().for_each(move |event| {
        if let Ok(event) = event {
            let mut index = index.write().expect("cluster index lock");
            apply(&mut index, watch.as_deref(), &event);
            let _ = synced.send(index.synced());
        }
        async {}
    }));
}

/// The objects of kind `K` in `namespace`, or in every namespace.
pub fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    }
}
