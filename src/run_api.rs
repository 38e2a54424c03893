//! `kube-kms api`: the endpoint in cluster mode.

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use kube_kms::api::delegation::AccountAccess;
use kube_kms::api::http::{Authentication, Endpoint};
use kube_kms::api::metrics::EndpointMetrics;
use kube_kms::api::readiness::EndpointReadiness;
use kube_kms::api::{Api, system_clock};
use kube_kms::auth::Credentials;
use kube_kms::cluster::rbac::SubjectAccessReviews;
use kube_kms::cluster::scope::Scope;
use kube_kms::cluster::{ClusterIndex, KubeStore, replica_sync, watch};
use kube_kms::crypto::CryptoService;
use kube_kms::crypto::metered::MeteredCrypto;
use kube_kms::operator::lease::LeaseConfig;
use kube_kms::replica::peers_file::PeersFile;
use kube_kms::root_check::{Failure, RootKeyCheck, until_made};

use crate::cli::ApiArgs;

/// How long to wait for the first listing before serving anyway (and
/// answering NotFound for what is not cached yet).
const SYNC_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn run(
    args: ApiArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let scope = Scope::parse(args.watch_namespace.as_deref()).map_err(anyhow::Error::msg)?;
    let quotas = args.quotas.quotas(true)?;
    let client = args.kube.client().await?;
    let registry = prometheus::Registry::new();
    let peers = match &args.peers {
        Some(path) => Some(PeersFile::load(path)?),
        None => None,
    };
    let trusted = peers.as_ref().map(PeersFile::trust).unwrap_or_default();
    let crypto = args.crypto.open(trusted)?;
    let in_process = crypto.in_process;
    let crypto = Arc::new(MeteredCrypto::new(crypto.service, &registry));
    let credentials = Arc::new(RwLock::new(Credentials::default()));
    let (index, mut synced) = watch::spawn(client.clone(), &scope, credentials.clone());
    // Up before the caches list, so that /livez answers while they do and
    // /readyz says why the replica is not ready yet.
    let metrics = Arc::new(EndpointMetrics::new(&registry));
    let readiness = Arc::new(EndpointReadiness {
        synced: Some(synced.clone()),
        crypto: crypto.clone(),
    });
    let bound =
        kube_kms::telemetry::serve_metrics(args.metrics_listen, registry.clone(), readiness)
            .await
            .with_context(|| format!("binding {} for metrics", args.metrics_listen))?;
    tracing::info!(addr = %bound, "metrics on /metrics, health on /livez and /readyz");
    if tokio::time::timeout(SYNC_TIMEOUT, synced.wait_for(|s| *s))
        .await
        .is_err()
    {
        tracing::warn!("watch caches not synced after {SYNC_TIMEOUT:?}; serving anyway");
    }
    // Not a request served with a root key that opens none of the material
    // (a wrong Secret mounted in the sidecar): every one would fail.
    let mut shutdown = Box::pin(shutdown);
    let check = tokio::select! {
        check = check_root_key(&index, crypto.as_ref()) => check.map_err(anyhow::Error::msg)?,
        _ = &mut shutdown => return Ok(()),
    };
    check.log();
    let tokens =
        Arc::new(kube_kms::cluster::token::TokenReviews::new(client.clone()).scoped(scope.clone()));
    let account: Option<Arc<dyn AccountAccess>> = match args.account_access {
        crate::cli::AccountAccess::Rbac => {
            tracing::info!(
                "key policies that allow the account ask Kubernetes RBAC (verbs on kmskeys)"
            );
            Some(Arc::new(
                SubjectAccessReviews::new(client.clone(), index.clone()).metered(&registry),
            ))
        }
        crate::cli::AccountAccess::AnyCaller => {
            tracing::warn!(
                "--account-access any-caller: every authenticated caller of every namespace may use every key whose policy allows the account (the default policy does)"
            );
            None
        }
    };
    let lease_client = client.clone();
    let store = Arc::new(KubeStore::new(index, client).scoped(scope));
    let api = Arc::new(
        Api::new(store, crypto, args.arn.config(), system_clock())
            .with_quotas(quotas.clone())
            .with_account_access(account)
            .with_peers(
                peers
                    .map(kube_kms::api::peer::PeerClient::new)
                    .transpose()
                    .map(|client| client.map(|c| c.arns_only().metered(Some(&registry))))
                    .map_err(|e| anyhow::anyhow!("--peers: {e}"))?,
            ),
    );
    // The crypto sidecar follows its own mount of the same file; an
    // in-process crypto service takes it with the endpoint.
    if let Some(path) = args.peers.clone() {
        tokio::spawn(api.clone().follow_peers(path, in_process));
    }
    let _replica_sync = api.has_peers().then(|| {
        let interval = Duration::from_secs(args.replica_sync_seconds);
        let identity = args
            .identity
            .clone()
            .unwrap_or_else(kube_kms::operator::lease::default_identity);
        let config = LeaseConfig {
            namespace: args.lease_namespace.clone(),
            name: args.replica_sync_lease.clone(),
            identity,
            duration: replica_sync::lease_duration(interval),
            renew_every: interval,
        };
        let leases = kube::Api::namespaced(lease_client, &args.lease_namespace);
        let api = api.clone();
        replica_sync::spawn(leases, config, interval, move || {
            let api = api.clone();
            async move { api.sync_replicas().await }
        })
    });
    let _usage_writer = api.spawn_usage_writer(kube_kms::api::USAGE_WRITE_INTERVAL);
    let audit = args.audit.open(None, args.arn.config(), Some(&registry))?;
    let endpoint = Arc::new(Endpoint {
        api: api.clone(),
        auth: Authentication::SigV4Live(credentials),
        tokens: Some(tokens),
        metrics: Some(metrics),
        quotas,
        audit: audit.clone(),
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "kube-kms endpoint serving keys from the cluster");
    kube_kms::api::listen::serve(
        endpoint,
        listener,
        args.tls.config()?,
        args.connections.max_connections,
        shutdown,
    )
    .await;
    api.flush_usage().await;
    if let Some(audit) = audit {
        audit.flush().await;
    }
    tracing::info!("endpoint stopped");
    Ok(())
}

/// The root key against the key material the watch caches hold, once the
/// check can be made (see `root_check`).
async fn check_root_key(
    index: &RwLock<ClusterIndex>,
    crypto: &dyn CryptoService,
) -> Result<RootKeyCheck, String> {
    until_made(|| async {
        let keys = index
            .read()
            .map_err(|_| Failure::Unchecked("cluster index poisoned".into()))?
            .all_keys();
        Ok(kube_kms::root_check::check_root_key(&keys, crypto).await?)
    })
    .await
}
