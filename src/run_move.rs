//! `kube-kms move-key`: a key pending deletion into another namespace.

use kube_kms::operator::key_move::{self, Move};

use crate::cli::MoveKeyArgs;

pub async fn run(args: MoveKeyArgs) -> anyhow::Result<()> {
    let client = args.kube.client().await?;
    let to_name = args.to_name.unwrap_or_else(|| args.key.clone());
    let request = Move {
        from_namespace: args.namespace,
        key_name: args.key,
        to_namespace: args.to_namespace,
        to_name,
    };
    let now = kube_kms::api::system_clock()();
    let key_id = key_move::move_key(client, &request, now).await?;
    let Move {
        from_namespace,
        to_namespace,
        to_name,
        ..
    } = &request;
    println!(
        "moved key {key_id} from namespace {from_namespace} to {to_namespace} (Secret kmskey-{to_name}), its deletion cancelled"
    );
    println!(
        "to manage it, apply a KmsKey named {to_name} in {to_namespace} with spec.keyId: {key_id} and the key's keySpec and keyUsage; its KmsAliases were not moved"
    );
    Ok(())
}
