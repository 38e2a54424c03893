//! `kube-kms move-key`: keys pending deletion into another namespace.

use anyhow::Context as _;
use kube_kms::operator::key_move::{self, Move};

use crate::cli::MoveKeyArgs;

pub async fn run(args: MoveKeyArgs) -> anyhow::Result<()> {
    let client = args.kube.client().await?;
    // Without --key, clap has made sure of --all.
    let moves: Vec<(String, String)> = match &args.key {
        Some(key) => {
            let to_name = args.to_name.clone().unwrap_or_else(|| key.clone());
            vec![(key.clone(), to_name)]
        }
        None => key_move::key_names(client.clone(), &args.namespace)
            .await
            .with_context(|| format!("listing the key Secrets of namespace {}", args.namespace))?
            .into_iter()
            .map(|name| (name.clone(), name))
            .collect(),
    };
    anyhow::ensure!(
        !moves.is_empty(),
        "no key Secrets in namespace {}",
        args.namespace
    );
    let mut failed = 0;
    for (key_name, to_name) in moves {
        let request = Move {
            from_namespace: args.namespace.clone(),
            key_name,
            to_namespace: args.to_namespace.clone(),
            to_name,
        };
        let now = kube_kms::api::system_clock()();
        match key_move::move_key(client.clone(), &request, now).await {
            Ok(key_id) => println!(
                "moved key {key_id} ({}/{}) to {}/{}, its deletion cancelled; to manage it, apply a KmsKey named {} there with spec.keyId: {key_id} and the key's keySpec and keyUsage",
                request.from_namespace,
                request.key_name,
                request.to_namespace,
                request.to_name,
                request.to_name
            ),
            Err(e) => {
                failed += 1;
                eprintln!(
                    "not moved: {}/{}: {e}",
                    request.from_namespace, request.key_name
                );
            }
        }
    }
    println!("KmsAliases are not moved: apply them in the new namespace");
    anyhow::ensure!(failed == 0, "{failed} key(s) not moved");
    Ok(())
}
