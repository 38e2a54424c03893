//! Command-line interface: one binary, a subcommand per role. Every flag can
//! also be set through the environment variable it names.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand};

mod crypto;
#[cfg(test)]
mod documented;
pub use crypto::*;

/// The command line, with what clap cannot decide itself: for `identity`,
/// whether a value typed or one from the environment is used (see
/// [`IdentityArgs::choose`]).
pub fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let (Command::Identity(args), Some(given)) =
        (&mut cli.command, matches.subcommand_matches("identity"))
        && let Err(why) = args.choose(given)
    {
        let mut command = Cli::command();
        command.build();
        let identity = command
            .find_subcommand_mut("identity")
            .expect("a subcommand");
        identity
            .error(clap::error::ErrorKind::ArgumentConflict, why)
            .exit();
    }
    cli
}

#[derive(Debug, Parser)]
#[command(
    name = "kube-kms",
    version,
    about = "A Kubernetes-native key management service speaking the AWS KMS API"
)]
pub struct Cli {
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `kube_kms=debug`.
    /// rustls logs only its errors unless the filter names it (`info,rustls=debug`).
    #[arg(long, env = "KUBE_KMS_LOG", default_value = "info", global = true)]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the AWS-KMS-compatible endpoint without a cluster: in-process
    /// crypto service, local store in a data directory.
    Serve(Box<ServeArgs>),
    /// Run the crypto service ("the HSM") on a unix socket.
    Crypto(CryptoArgs),
    /// Print a crypto service's identities (one per root key version), for
    /// the peers files of the deployments it shares multi-Region keys with.
    Identity(IdentityArgs),
    /// Create root key versions.
    #[command(subcommand)]
    RootKey(RootKeyCommand),
    /// Write the CustomResourceDefinitions, generated from the Rust types.
    Crdgen(CrdgenArgs),
    /// Run the controller: reconcile KmsKey and KmsAlias objects into sealed
    /// key material in Secrets (leader-elected).
    Controller(Box<ControllerArgs>),
    /// Run the AWS-KMS-compatible endpoint against a cluster: keys from the
    /// controller's Secrets and KmsAlias objects, access keys from Secrets
    /// labelled kubekms.io/credentials=true.
    Api(Box<ApiArgs>),
    /// Run the Kubernetes KMS v2 plugin on a unix socket: kube-apiserver
    /// envelope-encrypts resources in etcd with the key in --key-file.
    Plugin(PluginArgs),
    /// Write a KmsKey's sealed material versions to a key file for the KMS
    /// v2 plugin, from a cluster or from the embedded default's store.
    ExportKek(ExportKekArgs),
    /// Move a key out of its namespace into another, where a KmsKey can
    /// manage it: a key pending deletion (its KmsKey deleted), or whose
    /// Secret is being deleted (with its namespace).
    MoveKey(MoveKeyArgs),
    /// Work with an audit trail.
    #[command(subcommand)]
    Audit(crate::run_audit::AuditCommand),
}

#[derive(Debug, Args)]
pub struct PluginArgs {
    /// Unix socket kube-apiserver dials (created with mode 0600).
    #[arg(
        long,
        env = "KUBE_KMS_PLUGIN_SOCKET",
        default_value = "/var/run/kmsplugin/kms.sock"
    )]
    pub socket: PathBuf,
    /// The sealed key file `kube-kms export-kek` wrote; re-read when it changes.
    #[arg(
        long,
        env = "KUBE_KMS_KEY_FILE",
        default_value = "/etc/kubernetes/kube-kms/kek.json"
    )]
    pub key_file: PathBuf,
    /// The root key that sealed the key file: a file or directory of
    /// versions (--root-key), or the --pkcs11-* flags.
    #[command(flatten)]
    pub root: RootKeyArgs,
    /// Address for /healthz, /livez and /metrics (the pod uses the host's
    /// network, so loopback by default).
    #[arg(long, env = "KUBE_KMS_HEALTH_LISTEN", default_value = "127.0.0.1:9787")]
    pub health_listen: std::net::SocketAddr,
    /// Milliseconds between checks of the key file for changes.
    #[arg(long, env = "KUBE_KMS_RELOAD_INTERVAL_MS", default_value_t = 5000)]
    pub reload_interval_ms: u64,
    /// Milliseconds a health verdict (an encrypt/decrypt round trip) is reused.
    #[arg(long, env = "KUBE_KMS_HEALTH_CACHE_MS", default_value_t = 5000)]
    pub health_cache_ms: u64,
    #[command(flatten)]
    pub ciphertext: CiphertextArgs,
    /// Threads serving calls; 1 (the default) runs everything on one
    /// thread, which benchmarks best on small control-plane nodes.
    #[arg(long, env = "KUBE_KMS_WORKER_THREADS", default_value_t = 1)]
    pub worker_threads: usize,
    /// What the audit records' ARNs say.
    #[command(flatten)]
    pub arn: ArnArgs,
    #[command(flatten)]
    pub audit: crate::run_audit::AuditArgs,
}

#[derive(Debug, Args)]
pub struct ExportKekArgs {
    /// The key: in a cluster, the KmsKey's name or key id; in a local store
    /// (--data-dir), its key id, key ARN or alias name (alias/...).
    #[arg(long)]
    pub key: String,
    /// Key file to write (atomically, mode 0600).
    #[arg(long)]
    pub out: PathBuf,
    /// Wrap new seeds with this (older) version instead of the newest: the
    /// first step of a rotation on several control-plane nodes
    /// (docs/kms-plugin.md).
    #[arg(long)]
    pub write_version: Option<u32>,
    /// Export from the embedded default's data directory instead of a
    /// cluster (`kube-kms serve` must not be running on it).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The key's namespace (in a local store: the namespace aliases resolve in).
    #[arg(long, short = 'n', default_value = "default")]
    pub namespace: String,
    #[command(flatten)]
    pub kube: KubeArgs,
}

#[derive(Debug, Args)]
pub struct MoveKeyArgs {
    /// The KmsKey name the key was created under (its Secret is
    /// kmskey-<name>).
    #[arg(long, required_unless_present = "all", conflicts_with = "all")]
    pub key: Option<String>,
    /// Every key in the namespace that can move (pending deletion, or whose
    /// Secret is being deleted), each under its own name.
    #[arg(long)]
    pub all: bool,
    /// The namespace it is in.
    #[arg(long, short = 'n')]
    pub namespace: String,
    /// The namespace to move it to.
    #[arg(long)]
    pub to_namespace: String,
    /// The KmsKey name to manage it under there (default: --key).
    #[arg(long, conflicts_with = "all")]
    pub to_name: Option<String>,
    #[command(flatten)]
    pub kube: KubeArgs,
}

#[derive(Debug, Args)]
pub struct ApiArgs {
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Address to listen on.
    #[arg(long, env = "KUBE_KMS_LISTEN", default_value = "0.0.0.0:4600")]
    pub listen: std::net::SocketAddr,
    #[command(flatten)]
    pub crypto: CryptoServiceArgs,
    #[command(flatten)]
    pub arn: ArnArgs,
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub connections: ConnectionArgs,
    #[command(flatten)]
    pub quotas: QuotaArgs,
    #[command(flatten)]
    pub audit: crate::run_audit::AuditArgs,
    /// Address for /metrics and /livez.
    #[arg(long, env = "KUBE_KMS_METRICS_LISTEN", default_value = "0.0.0.0:9090")]
    pub metrics_listen: std::net::SocketAddr,
    /// Serve only this namespace's keys and callers, or those of several
    /// namespaces separated by commas (default: every namespace), as the
    /// controller of the same install watches them.
    #[arg(long, env = "KUBE_KMS_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// The other deployments (Regions) multi-Region keys are replicated to
    /// and from, and how to reach them (docs/multi-region.md). The crypto
    /// service (`kube-kms crypto --peers`) must trust the same identities.
    #[arg(long, env = "KUBE_KMS_PEERS")]
    pub peers: Option<PathBuf>,
    /// Seconds between bringing the replicas of this cluster's multi-Region
    /// primaries up to date (the controller's rotations add versions the
    /// endpoint did not make; with --peers).
    #[arg(long, env = "KUBE_KMS_REPLICA_SYNC_SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub replica_sync_seconds: u64,
    /// The Lease that picks the one endpoint replica running that sync.
    #[arg(long, env = "KUBE_KMS_REPLICA_SYNC_LEASE", default_value = kube_kms::cluster::replica_sync::LEASE_NAME)]
    pub replica_sync_lease: String,
    /// Namespace of that Lease (default: this pod's namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "kube-kms")]
    pub lease_namespace: String,
    /// This replica's name in the Lease (default: the pod name, else host and pid).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// What decides where a key policy allows the account (the default
    /// policy does), and operations on the account (CreateKey, ListKeys,
    /// ...): Kubernetes RBAC, verbs on `kmskeys`; or `any-caller`, every
    /// authenticated caller of every namespace (no tenancy between
    /// namespaces).
    #[arg(
        long,
        env = "KUBE_KMS_ACCOUNT_ACCESS",
        value_enum,
        default_value = "rbac"
    )]
    pub account_access: AccountAccess,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AccountAccess {
    Rbac,
    AnyCaller,
}

#[derive(Debug, Args)]
pub struct KubeArgs {
    /// Kubeconfig to use out of cluster (default: in-cluster config, then
    /// $KUBECONFIG, then ~/.kube/config).
    #[arg(long, env = "KUBE_KMS_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
}

impl KubeArgs {
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        let config = match &self.kubeconfig {
            Some(path) => {
                let kubeconfig = kube::config::Kubeconfig::read_from(path)
                    .with_context(|| format!("reading kubeconfig {}", path.display()))?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?
            }
            None => kube::Config::infer().await?,
        };
        Ok(kube::Client::try_from(config)?)
    }
}

#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// Most connections open at once, and requests in flight; past it, new
    /// clients wait in the listen backlog until one closes (and requests,
    /// unread, until one is answered). Keep it below the file descriptor limit.
    #[arg(long, env = "KUBE_KMS_MAX_CONNECTIONS", default_value_t = kube_kms::api::listen::DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u32).range(1..).map(|n| n as usize))]
    pub max_connections: usize,
}

#[derive(Debug, Args)]
pub struct QuotaArgs {
    /// Request quotas per namespace (AWS: per account): `aws`, AWS KMS's
    /// default rates, or `off`. Default: `aws` for `api`, `off` for `serve`.
    #[arg(long, env = "KUBE_KMS_REQUEST_QUOTAS", value_parser = ["aws", "off"])]
    pub request_quotas: Option<String>,
    /// One quota's requests per second, QUOTA=RATE (an operation's name,
    /// `cryptographic` for the symmetric ones, `rsa` / `ecc` / `ml-dsa` / `ml-kem` for
    /// those with such keys, or `GenerateDataKeyPair/<KeyPairSpec>`);
    /// repeatable or comma-separated.
    /// Turns quotas on.
    #[arg(
        long = "request-quota",
        env = "KUBE_KMS_REQUEST_QUOTA",
        value_delimiter = ','
    )]
    pub request_quota: Vec<String>,
}

impl QuotaArgs {
    /// The quotas to enforce, if any; `on_by_default` for the role.
    pub fn quotas(
        &self,
        on_by_default: bool,
    ) -> anyhow::Result<Option<Arc<kube_kms::api::quota::RequestQuotas>>> {
        use kube_kms::api::quota::{QuotaConfig, RequestQuotas};
        let on = match self.request_quotas.as_deref() {
            Some("off") if !self.request_quota.is_empty() => {
                anyhow::bail!("--request-quota sets a quota, but --request-quotas is off")
            }
            Some(mode) => mode == "aws",
            None => on_by_default || !self.request_quota.is_empty(),
        };
        if !on {
            tracing::info!("request quotas off");
            return Ok(None);
        }
        let config = QuotaConfig::aws_with(&self.request_quota).map_err(anyhow::Error::msg)?;
        tracing::info!(changed = ?self.request_quota, "request quotas per namespace: AWS KMS's rates");
        Ok(Some(Arc::new(RequestQuotas::new(config))))
    }
}

#[derive(Debug, Args)]
pub struct TlsArgs {
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(long, env = "KUBE_KMS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "KUBE_KMS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// The server TLS configuration, when HTTPS was asked for. The files
    /// are checked every 10 s while serving, and a renewed certificate is
    /// served from the next handshake on.
    pub fn config(&self) -> anyhow::Result<Option<Arc<tokio_rustls::rustls::ServerConfig>>> {
        use kube_kms::api::certificate::{Certificate, TlsFiles};
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let certificate = Certificate::load(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        })
        .map_err(anyhow::Error::msg)?;
        let config = certificate.server_config().map_err(anyhow::Error::msg)?;
        tokio::spawn(certificate.follow(std::time::Duration::from_secs(10)));
        Ok(Some(config))
    }
}

#[derive(Debug, Args)]
pub struct ArnArgs {
    /// The partition key and alias ARNs name.
    #[arg(long, env = "KUBE_KMS_PARTITION", default_value = "aws")]
    pub partition: String,
    /// The region ARNs name; SigV4 requests must be signed for it.
    #[arg(long, env = "KUBE_KMS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// The account id ARNs name.
    #[arg(long, env = "KUBE_KMS_ACCOUNT", default_value = "111122223333")]
    pub account: String,
}

impl ArnArgs {
    pub fn config(&self) -> kube_kms::api::ArnConfig {
        kube_kms::api::ArnConfig {
            partition: self.partition.clone(),
            region: self.region.clone(),
            account: self.account.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct ControllerArgs {
    #[command(flatten)]
    pub kube: KubeArgs,
    /// The controller's own lifecycle actions (automatic rotations, ends of
    /// deletion windows) are audit records, on standard output by default.
    #[command(flatten)]
    pub audit: crate::run_audit::AuditArgs,
    #[command(flatten)]
    pub crypto: CryptoServiceArgs,
    #[command(flatten)]
    pub arn: ArnArgs,
    /// Namespace of the leader Lease (default: this pod's namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "kube-kms")]
    pub lease_namespace: String,
    #[arg(
        long,
        env = "KUBE_KMS_LEASE_NAME",
        default_value = "kube-kms-controller"
    )]
    pub lease_name: String,
    /// This replica's name in the Lease (default: the pod name, else host and pid).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Address for /metrics, /livez and /readyz.
    #[arg(long, env = "KUBE_KMS_METRICS_LISTEN", default_value = "0.0.0.0:9090")]
    pub metrics_listen: std::net::SocketAddr,
    /// Watch only this namespace, or several separated by commas (default:
    /// every namespace).
    #[arg(long, env = "KUBE_KMS_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// Most reconciles each controller (keys, aliases, Secrets) runs at once:
    /// each holds a connection to the API server, and a key's may be
    /// generating RSA material in the crypto service. Several namespaces
    /// watched share it (each its share, at least one).
    #[arg(long, env = "KUBE_KMS_MAX_CONCURRENT_RECONCILES", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub max_concurrent_reconciles: u16,
}

#[derive(Debug, Args)]
pub struct CrdgenArgs {
    /// Directories to write `<plural>.<group>.yaml` files into: the
    /// repository's `crds/`, the chart's and the kustomization's.
    #[arg(long, num_args = 1.., default_values = kube_kms::resource::CRD_DIRS)]
    pub out: Vec<PathBuf>,
    /// Write nothing; fail if the files in --out differ from the generated ones.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "KUBE_KMS_LISTEN", default_value = "127.0.0.1:4600")]
    pub listen: std::net::SocketAddr,
    /// Directory for the key store, and for the root key and credentials
    /// files when they are not given.
    #[arg(long, env = "KUBE_KMS_DATA_DIR", default_value = "kube-kms-data")]
    pub data_dir: PathBuf,
    /// Root key file or directory (default: DATA_DIR/root.key, created on first start).
    #[arg(long, env = "KUBE_KMS_ROOT_KEY")]
    pub root_key: Option<PathBuf>,
    #[command(flatten)]
    pub pkcs11: Pkcs11Args,
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub quotas: QuotaArgs,
    #[command(flatten)]
    pub audit: crate::run_audit::AuditArgs,
    #[command(flatten)]
    pub connections: ConnectionArgs,
    /// SigV4 credentials file (default: DATA_DIR/credentials.yaml, created
    /// with one random access key on first start).
    #[arg(long, env = "KUBE_KMS_CREDENTIALS")]
    pub credentials: Option<PathBuf>,
    /// Accept every request, signed or not, as the caller `local` in
    /// --namespace. For local experiments only.
    #[arg(long, env = "KUBE_KMS_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
    /// The namespace unauthenticated callers belong to with --insecure-no-auth.
    #[arg(long, env = "KUBE_KMS_NAMESPACE", default_value = "default")]
    pub namespace: String,
    /// The other deployments (Regions) multi-Region keys are replicated to
    /// and from, and how to reach them (docs/multi-region.md).
    #[arg(long, env = "KUBE_KMS_PEERS")]
    pub peers: Option<PathBuf>,
    /// Directory of KmsKey/KmsAlias/KmsGrant YAML manifests, applied at start and
    /// again whenever its files change.
    #[arg(long, env = "KUBE_KMS_MANIFESTS")]
    pub manifests: Option<PathBuf>,
    #[command(flatten)]
    pub arn: ArnArgs,
    /// Seconds between lifecycle runs (automatic rotation, ends of deletion windows).
    #[arg(
        long,
        env = "KUBE_KMS_LIFECYCLE_INTERVAL_SECONDS",
        default_value_t = 60
    )]
    pub lifecycle_interval_seconds: u64,
    #[command(flatten)]
    pub cache: CacheArgs,
    #[command(flatten)]
    pub ciphertext: CiphertextArgs,
    /// Serve /metrics (Prometheus) and /livez on this address; none by default.
    #[arg(long, env = "KUBE_KMS_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}
