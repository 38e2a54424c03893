//! The `kube-kms` binary: parses the command line and runs one role.

mod cli;
mod run_serve;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use kube_kms::crypto::{CryptoService, LocalCryptoService, grpc};
use kube_kms::root::{FileRootKey, Pkcs11RootKey};

use cli::{Cli, Command, RootKeyCommand};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log).context("invalid --log filter")?,
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => run_serve::run(*args, shutdown_signal()).await,
        Command::Crypto(args) => {
            let root = args.root.open()?;
            let service = LocalCryptoService::new(root, args.cache.config());
            let _sweeper = service.spawn_cache_sweeper(Duration::from_secs(10));
            let service: Arc<dyn CryptoService> = Arc::new(service);
            grpc::serve(service, &args.socket, shutdown_signal())
                .await
                .map_err(|e| anyhow::anyhow!("crypto service on {}: {e}", args.socket.display()))?;
            tracing::info!("crypto service stopped");
            Ok(())
        }
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

/// Resolves on SIGTERM (how Kubernetes stops a pod) or Ctrl-C.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::error!("cannot listen for SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupt received, shutting down"),
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
