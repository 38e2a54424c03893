//! The flags of the crypto service (`kube-kms crypto`, `identity`,
//! `root-key`) and of the roles that open the root key themselves or talk
//! to the crypto service over its socket.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use kube_kms::crypto::CacheConfig;
use kube_kms::root::{FileRootKey, Pkcs11Config, Pkcs11RootKey, RootKey};
use zeroize::Zeroizing;

/// The crypto service a cluster role talks to: the sidecar's socket, or
/// (development only) an in-process one over the root key flags.
pub struct CryptoChoice {
    pub service: Arc<dyn kube_kms::crypto::CryptoService>,
    /// The in-process one, whose trusted peers its process changes.
    pub in_process: Option<Arc<kube_kms::crypto::LocalCryptoService>>,
}

/// How a cluster role (`api`, `controller`) reaches the crypto service:
/// the sidecar's socket, or (development only) one in its own process,
/// set up with the flags `kube-kms crypto` takes. Those flags with a socket
/// would go unused, so they are refused.
#[derive(Debug, Args)]
pub struct CryptoServiceArgs {
    /// The crypto service's unix socket (the sidecar). Without it, the root
    /// key flags run the crypto service in-process (development only).
    #[arg(
        long,
        env = "KUBE_KMS_CRYPTO_SOCKET",
        conflicts_with_all = [
            "root_key", "pkcs11_module", "pkcs11_token", "pkcs11_pin_file",
            "cache_entries", "cache_ttl_seconds", "ciphertext_format",
        ]
    )]
    pub crypto_socket: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

impl CryptoServiceArgs {
    /// Connects to the sidecar, or starts the in-process service trusting
    /// `peers` with multi-Region keys' material.
    pub fn open(&self, peers: kube_kms::replica::Peers) -> anyhow::Result<CryptoChoice> {
        if let Some(socket) = &self.crypto_socket {
            return Ok(CryptoChoice {
                service: Arc::new(
                    kube_kms::crypto::grpc::GrpcCryptoClient::connect_lazy(socket).map_err(
                        |e| anyhow::anyhow!("crypto service at {}: {e}", socket.display()),
                    )?,
                ),
                in_process: None,
            });
        }
        tracing::warn!(
            "no --crypto-socket: running the crypto service in-process (development only)"
        );
        let local = Arc::new(kube_kms::crypto::LocalCryptoService::from_engine(
            self.engine.engine(peers)?,
        ));
        // Detached: it ends once the service is dropped.
        drop(local.spawn_cache_sweeper(CACHE_SWEEP_INTERVAL));
        Ok(CryptoChoice {
            service: local.clone(),
            in_process: Some(local),
        })
    }
}

/// What the crypto service is made of: its root key, its cache of unsealed
/// keys and the format it writes ciphertexts in.
#[derive(Debug, Args)]
pub struct EngineArgs {
    #[command(flatten)]
    pub root: RootKeyArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
    #[command(flatten)]
    pub ciphertext: CiphertextArgs,
}

impl EngineArgs {
    /// Opens the root key and sets up the engine over it, trusting `peers`
    /// with multi-Region keys' material.
    pub fn engine(
        &self,
        peers: kube_kms::replica::Peers,
    ) -> anyhow::Result<kube_kms::crypto::Engine> {
        Ok(
            kube_kms::crypto::Engine::new(self.root.open()?, self.cache.config())
                .with_peers(peers)
                .writing(self.ciphertext.format()),
        )
    }
}

/// How often expired unsealed keys are swept out of a crypto service's cache.
pub const CACHE_SWEEP_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug, Args)]
pub struct CryptoArgs {
    /// Unix socket to serve on (created with mode 0600).
    #[arg(long, env = "KUBE_KMS_CRYPTO_SOCKET")]
    pub socket: PathBuf,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// The other deployments trusted with multi-Region keys' material
    /// (docs/multi-region.md); none without it.
    #[arg(long, env = "KUBE_KMS_PEERS")]
    pub peers: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct IdentityArgs {
    /// Ask the crypto service on this socket (else open the root key here).
    /// Given with the root key flags on the command line, refused; from
    /// the environment, the command line's choice wins, and where the
    /// environment sets both (a crypto sidecar's) the socket is asked.
    #[arg(long, env = "KUBE_KMS_CRYPTO_SOCKET")]
    pub socket: Option<PathBuf>,
    #[command(flatten)]
    pub root: RootKeyArgs,
}

impl IdentityArgs {
    /// Keeps what `kube-kms identity` asks (see `socket`), given where each
    /// value came from (`matches`, the subcommand's): the socket is dropped
    /// when the root key is to be opened. The error is for clap to print.
    pub fn choose(&mut self, matches: &clap::ArgMatches) -> Result<(), &'static str> {
        let typed =
            |id: &str| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
        let root_typed = ["root_key", "pkcs11_module"].into_iter().any(typed);
        match (typed("socket"), root_typed) {
            (true, true) => Err(
                "--socket asks the crypto service and the root key flags open the root key here: give one",
            ),
            (false, true) => {
                self.socket = None;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum RootKeyCommand {
    /// Write a new random 32-byte root key file with mode 0600 (never
    /// overwrites). Name it `v<N>` inside a root key directory to add a version.
    CreateFile { path: PathBuf },
    /// Generate the next root key version inside a PKCS#11 token.
    AddPkcs11Version {
        #[command(flatten)]
        pkcs11: Pkcs11Args,
    },
}

#[derive(Debug, Args)]
pub struct RootKeyArgs {
    /// Root key file (version 1) or directory of `v<N>` files, each 32 random bytes.
    #[arg(long, env = "KUBE_KMS_ROOT_KEY", conflicts_with = "pkcs11_module")]
    pub root_key: Option<PathBuf>,
    /// Create the root key file (mode 0600) if it does not exist.
    #[arg(long, env = "KUBE_KMS_CREATE_ROOT_KEY", requires = "root_key")]
    pub create_root_key: bool,
    #[command(flatten)]
    pub pkcs11: Pkcs11Args,
    /// With PKCS#11: generate root key version 1 in the token if it has none.
    #[arg(
        long,
        env = "KUBE_KMS_PKCS11_CREATE_ROOT_KEY",
        requires = "pkcs11_module"
    )]
    pub pkcs11_create_root_key: bool,
}

#[derive(Debug, Args)]
pub struct Pkcs11Args {
    /// PKCS#11 module holding the root key, e.g. /usr/lib/softhsm/libsofthsm2.so.
    #[arg(long, env = "KUBE_KMS_PKCS11_MODULE", requires_all = ["pkcs11_token", "pkcs11_pin_file"])]
    pub pkcs11_module: Option<PathBuf>,
    /// Label of the token holding the root key.
    #[arg(long, env = "KUBE_KMS_PKCS11_TOKEN")]
    pub pkcs11_token: Option<String>,
    /// File holding the token's user PIN.
    #[arg(long, env = "KUBE_KMS_PKCS11_PIN_FILE")]
    pub pkcs11_pin_file: Option<PathBuf>,
}

impl Pkcs11Args {
    pub fn config(&self) -> anyhow::Result<Option<Pkcs11Config>> {
        let (Some(module), Some(token), Some(pin_file)) = (
            &self.pkcs11_module,
            &self.pkcs11_token,
            &self.pkcs11_pin_file,
        ) else {
            return Ok(None);
        };
        let pin = Zeroizing::new(
            std::fs::read_to_string(pin_file)
                .with_context(|| format!("reading PIN file {}", pin_file.display()))?,
        );
        Ok(Some(Pkcs11Config {
            module: module.clone(),
            token_label: token.clone(),
            pin: Zeroizing::new(pin.trim_end_matches(['\r', '\n']).to_owned()),
        }))
    }
}

impl RootKeyArgs {
    pub fn open(&self) -> anyhow::Result<Arc<dyn RootKey>> {
        if let Some(config) = self.pkcs11.config()? {
            let root = Pkcs11RootKey::open(&config, self.pkcs11_create_root_key)?;
            tracing::info!(token = %config.token_label, versions = ?root.versions(), "root key in PKCS#11 token");
            return Ok(Arc::new(root));
        }
        let path = self
            .root_key
            .as_ref()
            .context("no root key: pass --root-key PATH or the --pkcs11-* flags")?;
        let (root, created) = FileRootKey::load_or_create(path, self.create_root_key)?;
        if created {
            tracing::warn!(
                path = %path.display(),
                "created a new root key; it is the key to every key this service seals: back it up and keep it secret"
            );
        }
        tracing::info!(path = %path.display(), versions = ?root.versions(), "root key loaded");
        Ok(Arc::new(root))
    }
}

/// The format of the symmetric ciphertexts this process writes.
#[derive(Debug, Args)]
pub struct CiphertextArgs {
    /// Write symmetric ciphertexts (and KMS v2 seeds) in format 1, as
    /// versions before format 2 did, while one that reads only format 1
    /// still runs beside this one: the old replicas of a rolling upgrade, a
    /// multi-Region peer, another control-plane node's plugin. Both formats
    /// are always read. Format 2 gives every ciphertext a key of its own
    /// (docs/formats.md).
    #[arg(
        long,
        env = "KUBE_KMS_CIPHERTEXT_FORMAT",
        default_value_t = 2,
        value_parser = clap::value_parser!(u8).range(1..=2)
    )]
    pub ciphertext_format: u8,
}

impl CiphertextArgs {
    pub fn format(&self) -> kube_kms::ciphertext::Format {
        let format = kube_kms::ciphertext::Format::numbered(self.ciphertext_format)
            .expect("clap keeps it to 1 or 2");
        if format == kube_kms::ciphertext::Format::V1 {
            tracing::warn!(
                "--ciphertext-format 1: new ciphertexts are written in format 1 (for versions that read nothing newer); drop the flag once none runs"
            );
        }
        format
    }
}

#[derive(Debug, Args)]
pub struct CacheArgs {
    /// Most unsealed keys held in memory at once.
    #[arg(long, env = "KUBE_KMS_CACHE_ENTRIES", default_value_t = CacheConfig::default().max_entries)]
    pub cache_entries: usize,
    /// Seconds an unsealed key stays in memory after it was unsealed.
    #[arg(long, env = "KUBE_KMS_CACHE_TTL_SECONDS", default_value_t = CacheConfig::default().ttl.as_secs())]
    pub cache_ttl_seconds: u64,
}

impl CacheArgs {
    pub fn config(&self) -> CacheConfig {
        CacheConfig {
            max_entries: self.cache_entries,
            ttl: Duration::from_secs(self.cache_ttl_seconds),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use kube_kms::crypto::EncryptRequest;
    use kube_kms::seal::MaterialId;
    use kube_kms::secret::SecretBytes;
    use kube_kms::spec::{EncryptionAlgorithm, KeySpec, KeyUsage};

    use crate::cli::{Cli, Command};

    fn parse(args: &[&str]) -> Result<super::CryptoServiceArgs, clap::Error> {
        let cli = Cli::try_parse_from([&["kube-kms"], args].concat())?;
        Ok(match cli.command {
            Command::Api(args) => args.crypto,
            Command::Controller(args) => args.crypto,
            other => panic!("not a cluster role: {other:?}"),
        })
    }

    /// With the sidecar's socket, the flags for an in-process service would
    /// go unused (a root key in the endpoint's container, a ciphertext
    /// format the sidecar does not write): refused, not ignored.
    #[test]
    fn a_crypto_socket_refuses_the_flags_of_an_in_process_service() {
        for role in ["api", "controller"] {
            for flag in [
                ["--root-key", "/r"],
                ["--pkcs11-module", "/m.so"],
                ["--pkcs11-token", "t"],
                ["--pkcs11-pin-file", "/p"],
                ["--cache-entries", "5"],
                ["--cache-ttl-seconds", "5"],
                ["--ciphertext-format", "1"],
            ] {
                let error = parse(&[&[role, "--crypto-socket", "/s"], &flag[..]].concat())
                    .expect_err(flag[0]);
                assert_eq!(error.kind(), clap::error::ErrorKind::ArgumentConflict);
            }
            assert!(parse(&[role, "--crypto-socket", "/s"]).is_ok());
        }
    }

    /// `kube-kms identity` asks the socket or opens the root key, whichever
    /// the command line names, and refuses both there (the environment's
    /// share is in tests/socket.rs: it takes a process of its own).
    #[test]
    fn identity_asks_what_the_command_line_names() {
        use clap::{CommandFactory, FromArgMatches};
        let choose = |args: &[&str]| {
            let matches = Cli::command()
                .try_get_matches_from([&["kube-kms", "identity"], args].concat())
                .unwrap();
            let given = matches.subcommand_matches("identity").unwrap();
            let Command::Identity(mut identity) = Cli::from_arg_matches(&matches).unwrap().command
            else {
                unreachable!()
            };
            identity.choose(given).map(|()| identity.socket.is_some())
        };
        assert_eq!(choose(&["--socket", "/s"]), Ok(true));
        assert_eq!(choose(&["--root-key", "/r"]), Ok(false));
        assert!(choose(&["--socket", "/s", "--root-key", "/r"]).is_err());
        assert!(
            choose(&[
                "--socket",
                "/s",
                "--pkcs11-module",
                "/m.so",
                "--pkcs11-token",
                "t",
                "--pkcs11-pin-file",
                "/p"
            ])
            .is_err()
        );
    }

    /// Without a socket, `api` and `controller` run the crypto service as
    /// `kube-kms crypto` would with the same flags: its ciphertext format and
    /// its cache's size.
    #[tokio::test]
    async fn the_in_process_service_takes_the_crypto_service_s_flags() {
        let dir = tempfile::tempdir().unwrap();
        let root_key = dir.path().join("root.key");
        for (format, entries) in [(1u8, 1usize), (2, 2)] {
            let args = parse(&[
                "api",
                "--root-key",
                root_key.to_str().unwrap(),
                "--create-root-key",
                "--ciphertext-format",
                &format.to_string(),
                "--cache-entries",
                &entries.to_string(),
            ])
            .unwrap();
            let service = args.open(Default::default()).unwrap().in_process.unwrap();
            let engine = service.engine();
            let materials: Vec<_> = (0..3)
                .map(|_| {
                    engine
                        .generate_material(MaterialId {
                            key_id: kube_kms::key_id::KeyId::random(),
                            version: 1,
                            spec: KeySpec::SymmetricDefault,
                            usage: KeyUsage::EncryptDecrypt,
                        })
                        .unwrap()
                })
                .collect();
            for material in &materials {
                let ciphertext = engine
                    .encrypt(&EncryptRequest {
                        material: material.clone(),
                        plaintext: SecretBytes::new(b"format".to_vec()),
                        context: Default::default(),
                        algorithm: EncryptionAlgorithm::SymmetricDefault,
                    })
                    .unwrap();
                assert_eq!(ciphertext[0], format);
            }
            assert_eq!(engine.cache().len(), entries);
        }
    }
}
