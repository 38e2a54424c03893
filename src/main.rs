//! The `kube-kms` binary: parses the command line and runs one role.

mod cli;
mod run_api;
mod run_audit;
mod run_controller;
mod run_export;
mod run_move;
mod run_plugin;
mod run_serve;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use kube_kms::crypto::{CryptoService, LocalCryptoService, grpc};
use kube_kms::replica::peers_file::{self, PeersFile};
use kube_kms::root::{FileRootKey, Pkcs11RootKey};

use cli::{Cli, Command, RootKeyCommand};

fn main() -> anyhow::Result<()> {
    kube_kms::private_memory::keep_private()
        .context("keeping this process's memory out of core dumps and from ptrace")?;
    let cli = cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(log_filter(&cli.log)?)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match &cli.command {
        // The plugin's work per call is microseconds of AES: one thread
        // serves tens of thousands of calls a second, and sparing the
        // cross-thread wake-ups keeps its tail latency low.
        Command::Plugin(args) if args.worker_threads <= 1 => {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
        }
        Command::Plugin(args) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.worker_threads)
            .enable_all()
            .build()?,
        _ => tokio::runtime::Runtime::new()?,
    };
    runtime.block_on(run(cli))
}

/// `--log`, with rustls held to its errors unless the filter names it:
/// rustls warns, once per connection, about harmless choices of its peers
/// (OpenSSL-based clients such as Ruby's put the address they connect to
/// in SNI, which RFC 6066 forbids and rustls ignores), which would fill
/// the log of an endpoint such clients use.
fn log_filter(spec: &str) -> anyhow::Result<tracing_subscriber::EnvFilter> {
    let filter = tracing_subscriber::EnvFilter::try_new(spec).context("invalid --log filter")?;
    Ok(if spec.contains("rustls") {
        filter
    } else {
        filter.add_directive("rustls=error".parse()?)
    })
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => run_serve::run(*args, shutdown_signal()).await,
        Command::Crypto(args) => {
            let peers = match &args.peers {
                Some(path) => PeersFile::load(path)?.trust(),
                None => Default::default(),
            };
            let service = LocalCryptoService::from_engine(args.engine.engine(peers)?);
            // Public: what the other Regions' peers files list.
            for (version, identity) in service.engine().identities()? {
                tracing::info!(%identity, root_key_version = version, "crypto service identity (for other deployments' peers files)");
            }
            let _sweeper = service.spawn_cache_sweeper(crate::cli::CACHE_SWEEP_INTERVAL);
            let service = Arc::new(service);
            if let Some(path) = args.peers.clone() {
                let trusting = service.clone();
                tokio::spawn(PeersFile::follow(
                    path,
                    peers_file::CHECK_INTERVAL,
                    move |file| {
                        trusting.engine().trust(file.trust());
                        Ok(())
                    },
                ));
            }
            let service: Arc<dyn CryptoService> = service;
            grpc::serve(service, &args.socket, shutdown_signal())
                .await
                .map_err(|e| anyhow::anyhow!("crypto service on {}: {e}", args.socket.display()))?;
            tracing::info!("crypto service stopped");
            Ok(())
        }
        Command::Identity(args) => {
            let identities = match &args.socket {
                Some(socket) => {
                    grpc::GrpcCryptoClient::connect_lazy(socket)?
                        .identities()
                        .await?
                }
                None => kube_kms::replica::identities(args.root.open()?.as_ref())?,
            };
            for (version, identity) in identities {
                println!("{identity}  root key version {version}");
            }
            Ok(())
        }
        Command::Crdgen(args) => crdgen(&args),
        Command::Controller(args) => run_controller::run(*args, shutdown_signal()).await,
        Command::Api(args) => run_api::run(*args, shutdown_signal()).await,
        Command::Plugin(args) => run_plugin::run(args, shutdown_signal()).await,
        Command::ExportKek(args) => run_export::run(args).await,
        Command::MoveKey(args) => run_move::run(args).await,
        Command::Audit(command) => run_audit::run(command),
        Command::RootKey(RootKeyCommand::CreateFile { path }) => {
            FileRootKey::create(&path)?;
            println!("created root key file {} (mode 0600)", path.display());
            Ok(())
        }
        Command::RootKey(RootKeyCommand::AddPkcs11Version { pkcs11 }) => {
            let config = pkcs11
                .config()?
                .context("pass --pkcs11-module, --pkcs11-token and --pkcs11-pin-file")?;
            let mut root = Pkcs11RootKey::open(&config, false)
                .or_else(|_| Pkcs11RootKey::open(&config, true))?;
            let version = root.add_version()?;
            println!(
                "root key version {version} created in token '{}'",
                config.token_label
            );
            Ok(())
        }
    }
}

fn crdgen(args: &cli::CrdgenArgs) -> anyhow::Result<()> {
    if args.check {
        let stale = kube_kms::resource::stale_crd_files(args.out.iter().map(PathBuf::as_path));
        anyhow::ensure!(
            stale.is_empty(),
            "CRDs out of date (run `kube-kms crdgen`): {}",
            stale
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(());
    }
    let files = kube_kms::resource::crd_files();
    for dir in &args.out {
        std::fs::create_dir_all(dir)?;
        for (name, text) in &files {
            let path = dir.join(name);
            std::fs::write(&path, text).with_context(|| path.display().to_string())?;
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// Resolves on SIGTERM (how Kubernetes stops a pod) or Ctrl-C. The
/// handlers are installed when this is called, not when the future is
/// first polled: a role polls it only once it is serving, and a SIGTERM
/// before that would otherwise kill the process without a clean stop.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        match (term, interrupt) {
            (Ok(mut term), Ok(mut interrupt)) => tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
                _ = interrupt.recv() => tracing::info!("interrupt received, shutting down"),
            },
            (term, interrupt) => {
                let e = term.err().or(interrupt.err()).map(|e| e.to_string());
                tracing::error!("cannot listen for SIGTERM and SIGINT: {e:?}");
                std::future::pending::<()>().await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
