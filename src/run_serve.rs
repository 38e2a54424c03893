//! `kube-kms serve`: wires the embedded default together from the command line.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use kube_kms::api::http::{Authentication, Endpoint};
use kube_kms::api::metrics::EndpointMetrics;
use kube_kms::api::readiness::EndpointReadiness;
use kube_kms::api::{Api, Caller, system_clock};
use kube_kms::auth::{Credential, Credentials};
use kube_kms::crypto::metered::MeteredCrypto;
use kube_kms::crypto::{CryptoService, Engine, LocalCryptoService};
use kube_kms::manifest::Snapshot;
use kube_kms::replica::peers_file::PeersFile;
use kube_kms::root::{FileRootKey, Pkcs11RootKey, RootKey};
use kube_kms::store::LocalStore;
use rand_core::{OsRng, RngCore};

use crate::cli::ServeArgs;

pub async fn run(
    args: ServeArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let quotas = args.quotas.quotas(false)?;
    catch_file_size_signals()?;
    // It holds the root key and the credentials: private when we make it.
    kube_kms::store::LocalStore::create_private_dir(&args.data_dir)?;
    let root = open_root_key(&args)?;
    let peers = match &args.peers {
        Some(path) => Some(PeersFile::load(path)?),
        None => None,
    };
    let trusted = peers.as_ref().map(PeersFile::trust).unwrap_or_default();
    let crypto = LocalCryptoService::from_engine(
        Engine::new(root, args.cache.config())
            .with_peers(trusted)
            .writing(args.ciphertext.format()),
    );
    for (version, identity) in crypto.engine().identities()? {
        tracing::info!(%identity, root_key_version = version, "crypto service identity (for other deployments' peers files)");
    }
    let _sweeper = crypto.spawn_cache_sweeper(crate::cli::CACHE_SWEEP_INTERVAL);
    let registry = args.metrics_listen.map(|_| prometheus::Registry::new());
    let local = Arc::new(crypto);
    let crypto: Arc<dyn CryptoService> = match &registry {
        Some(registry) => Arc::new(MeteredCrypto::new(local.clone(), registry)),
        None => local.clone(),
    };
    let store = Arc::new(LocalStore::open(&args.data_dir)?);
    check_root_key(store.as_ref(), crypto.as_ref()).await?;
    let api = Arc::new(
        Api::new(store, crypto, args.arn.config(), system_clock())
            .with_quotas(quotas.clone())
            .with_peers(
                peers
                    .map(kube_kms::api::peer::PeerClient::new)
                    .transpose()
                    .map(|client| client.map(|c| c.metered(registry.as_ref())))
                    .map_err(|e| anyhow::anyhow!("--peers: {e}"))?,
            ),
    );

    // A changed peers file is taken by the endpoint and the crypto
    // service together: Regions, credentials and trusted identities.
    if let Some(path) = args.peers.clone() {
        tokio::spawn(api.clone().follow_peers(path, Some(local.clone())));
    }

    // Opened first: what the manifests change is recorded too.
    let audit = args.audit.open(
        Some(args.data_dir.join("audit.jsonl")),
        args.arn.config(),
        registry.as_ref(),
    )?;
    if let Some(dir) = &args.manifests {
        let snapshot = Snapshot::read(dir).map_err(anyhow::Error::msg)?;
        let manifests = snapshot.parse().map_err(anyhow::Error::msg)?;
        let changed = kube_kms::serve::apply_manifests(&api, &manifests)
            .await
            .map_err(anyhow::Error::msg)?;
        kube_kms::serve::record_applied(&api, audit.as_ref(), &changed).await;
        tracing::info!(count = manifests.len(), dir = %dir.display(), "manifests applied; following changes to them");
        tokio::spawn(kube_kms::serve::follow_manifests(
            api.clone(),
            dir.clone(),
            snapshot,
            manifests,
            MANIFESTS_CHECK_INTERVAL,
            audit.clone(),
        ));
    }
    let auth = if args.insecure_no_auth {
        tracing::warn!(
            namespace = %args.namespace,
            "--insecure-no-auth: every request is accepted WITHOUT AUTHENTICATION; never expose this endpoint"
        );
        Authentication::Insecure(Caller::new(args.namespace.clone(), "local"))
    } else {
        let (credentials, path) = load_credentials(&args)?;
        let live = Arc::new(std::sync::RwLock::new(credentials));
        tokio::spawn(Credentials::follow(
            path,
            live.clone(),
            CREDENTIALS_CHECK_INTERVAL,
        ));
        Authentication::SigV4Live(live)
    };
    let metrics = match (args.metrics_listen, registry.clone()) {
        (Some(addr), Some(registry)) => {
            let metrics = Arc::new(EndpointMetrics::new(&registry));
            let readiness = Arc::new(EndpointReadiness {
                synced: None,
                crypto: api.crypto().clone(),
            });
            let bound = kube_kms::telemetry::serve_metrics(addr, registry, readiness)
                .await
                .with_context(|| format!("binding {addr} for metrics"))?;
            tracing::info!("metrics on http://{bound}/metrics, health on /livez and /readyz");
            Some(metrics)
        }
        _ => None,
    };
    let tls = args.tls.config()?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        "kube-kms endpoint on {}://{addr} (region {}, account {}); key policies are enforced, and one that allows the account (the default) lets in every caller the credentials file names",
        if tls.is_some() { "https" } else { "http" },
        args.arn.region,
        args.arn.account
    );
    let _lifecycle = kube_kms::serve::spawn_lifecycle(
        api.clone(),
        Duration::from_secs(args.lifecycle_interval_seconds.max(1)),
        audit.clone(),
    );
    let _usage_writer = api.spawn_usage_writer(kube_kms::api::USAGE_WRITE_INTERVAL);
    let endpoint = Arc::new(Endpoint {
        api: api.clone(),
        auth,
        tokens: None,
        metrics,
        quotas,
        audit: audit.clone(),
    });
    kube_kms::api::listen::serve(
        endpoint,
        listener,
        tls,
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

fn open_root_key(args: &ServeArgs) -> anyhow::Result<Arc<dyn RootKey>> {
    if let Some(config) = args.pkcs11.config()? {
        return Ok(Arc::new(Pkcs11RootKey::open(&config, true)?));
    }
    let path = args
        .root_key
        .clone()
        .unwrap_or_else(|| args.data_dir.join("root.key"));
    let create = args.root_key.is_none();
    let (root, created) = FileRootKey::load_or_create(&path, create)?;
    if created {
        tracing::warn!(
            path = %path.display(),
            "created a new root key: it seals every key in this store; back it up and keep it secret"
        );
    }
    Ok(Arc::new(root))
}

/// How often `serve` looks for changes to its credentials file.
const CREDENTIALS_CHECK_INTERVAL: Duration = Duration::from_secs(2);
const MANIFESTS_CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// The credentials, and the file they came from.
fn load_credentials(args: &ServeArgs) -> anyhow::Result<(Credentials, PathBuf)> {
    let path = match &args.credentials {
        Some(path) => path.clone(),
        None => {
            let path = args.data_dir.join("credentials.yaml");
            if !path.exists() {
                write_first_credentials(&path, &args.namespace, &args.arn.region)?;
            }
            path
        }
    };
    let credentials = Credentials::load(&path).map_err(anyhow::Error::msg)?;
    tracing::info!(file = %path.display(), "SigV4 credentials loaded; changes to the file apply while serving");
    Ok((credentials, path))
}

/// A first access key for a new data directory, printed once so the user
/// can export it.
fn write_first_credentials(path: &Path, namespace: &str, region: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut id = [0u8; 10];
    let mut secret = [0u8; 30];
    OsRng.fill_bytes(&mut id);
    OsRng.fill_bytes(&mut secret);
    let access_key_id = format!("AKKK{}", hex::encode_upper(id));
    let secret_access_key = zeroize::Zeroizing::new(kube_kms::b64::encode(&secret));
    let credential = Credential {
        access_key_id: access_key_id.clone(),
        secret_access_key: secret_access_key.clone(),
        principal: "admin".into(),
        namespace: namespace.into(),
    };
    let text = format!(
        "# SigV4 access keys for kube-kms serve. Keep this file secret.\ncredentials:\n  - accessKeyId: {}\n    secretAccessKey: \"{}\"\n    principal: {}\n    namespace: {}\n",
        credential.access_key_id,
        *credential.secret_access_key,
        credential.principal,
        credential.namespace
    );
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    eprintln!(
        "\nCreated {} with a first access key. To use it:\n\n  export AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY='{}' AWS_DEFAULT_REGION={region}\n",
        path.display(),
        access_key_id,
        *secret_access_key
    );
    Ok(())
}

/// Refuses to start with a root key that does not open the store's
/// material (see `root_check`); names material that alone does not open.
/// Then seals under the newest root key version what is not yet.
async fn check_root_key(store: &LocalStore, crypto: &dyn CryptoService) -> anyhow::Result<()> {
    use kube_kms::store::KeyStore;
    let keys = store.all_keys().await?;
    let check = kube_kms::root_check::check_root_key(&keys, crypto)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    check.log();
    // A root key version added since the last start: move the material to
    // it now, so the older versions stop being needed.
    let resealed = kube_kms::reseal::reseal_store(store, crypto).await?;
    for (key, version, why) in &resealed.refused {
        tracing::error!(%key, version, %why, "key material not resealed");
    }
    if resealed.materials > 0 {
        tracing::info!(
            materials = resealed.materials,
            keys = resealed.keys,
            root_key_version = resealed.root_version,
            "key material resealed under the newest root key version; \
             older versions are no longer needed by this store"
        );
    }
    Ok(())
}

/// A store write past the process's file size limit (`ulimit -f`,
/// systemd's `LimitFSIZE=`) raises SIGXFSZ, whose default action kills the
/// process. Caught, the write fails with EFBIG instead, which the store
/// reports and recovers from as from a full disk.
fn catch_file_size_signals() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut signals = signal(SignalKind::from_raw(libc::SIGXFSZ)).context("catching SIGXFSZ")?;
    tokio::spawn(async move {
        while signals.recv().await.is_some() {
            tracing::warn!(
                "a write went past the process's file size limit (SIGXFSZ); it failed and stored nothing"
            );
        }
    });
    Ok(())
}
