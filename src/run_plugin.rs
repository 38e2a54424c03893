//! `kube-kms plugin`: wiring for the KMS v2 plugin.

use std::future::Future;
use std::time::Duration;

use crate::cli::PluginArgs;

pub async fn run(
    args: PluginArgs,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.root.create_root_key && !args.root.pkcs11_create_root_key,
        "the plugin unseals with the root key that sealed the key file; it never creates one"
    );
    let root = args.root.open()?;
    // Its counters join the plugin's metrics when it starts.
    let audit = args.audit.open(None, args.arn.config(), None)?;
    let settings = kube_kms::plugin::Settings {
        socket: args.socket,
        key_file: args.key_file,
        health_listen: args.health_listen,
        reload_interval: Duration::from_millis(args.reload_interval_ms.max(100)),
        health_ttl: Duration::from_millis(args.health_cache_ms),
        audit,
        ciphertext_format: args.ciphertext.format(),
    };
    kube_kms::plugin::run(root, settings, shutdown).await
}
