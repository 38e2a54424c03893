//! `kube-kms controller`: wiring for the operator's runtime.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use kube_kms::cluster::scope::Scope;
use kube_kms::crypto::metered::MeteredCrypto;
use kube_kms::operator::lease::LeaseConfig;
use kube_kms::operator::metrics::Metrics;
use kube_kms::operator::{Context, runtime};

use crate::cli::ControllerArgs;

pub async fn run(
    args: ControllerArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let scope = Scope::parse(args.watch_namespace.as_deref()).map_err(anyhow::Error::msg)?;
    let client = args.kube.client().await?;
    let registry = prometheus::Registry::new();
    let crypto = args.crypto.open(Default::default())?.service;
    let crypto = Arc::new(MeteredCrypto::new(crypto, &registry));
    let metrics = Arc::new(Metrics::new(&registry));
    let audit = args.audit.open(None, args.arn.config(), Some(&registry))?;
    let ctx = Context::new(
        client,
        crypto,
        args.arn.config(),
        kube_kms::api::system_clock(),
        metrics,
        audit,
        scope.clone(),
    );
    let identity = args
        .identity
        .clone()
        .unwrap_or_else(kube_kms::operator::lease::default_identity);
    let settings = runtime::Settings {
        lease: LeaseConfig {
            namespace: args.lease_namespace.clone(),
            name: args.lease_name.clone(),
            identity,
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        },
        metrics_listen: Some(args.metrics_listen),
        concurrency: args.max_concurrent_reconciles,
        scope,
    };
    tracing::info!(lease = %format!("{}/{}", settings.lease.namespace, settings.lease.name), "controller starting; waiting to lead");
    runtime::run(ctx, registry, settings, shutdown)
        .await
        .map_err(anyhow::Error::msg)
        .context("controller")
}
