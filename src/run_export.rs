//! `kube-kms export-kek`: a key's sealed versions into a key file for the
//! KMS v2 plugin, from the controller's Secret in a cluster or from the
//! embedded default's store. Nothing is unsealed here.

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube_kms::key::KeyRecord;
use kube_kms::key_id::KeyId;
use kube_kms::operator::key_secret;
use kube_kms::plugin::key_file::{self, KeyFile};
use kube_kms::store::{KeyStore, LocalStore};

use crate::cli::ExportKekArgs;

pub async fn run(args: ExportKekArgs) -> anyhow::Result<()> {
    let (record, source) = match &args.data_dir {
        Some(dir) => (
            from_local(dir, &args.namespace, &args.key).await?,
            format!("local:{}", dir.display()),
        ),
        None => (
            from_cluster(&args).await?,
            format!("cluster:{}/{}", args.namespace, args.key),
        ),
    };
    let now = kube_kms::api::system_clock()();
    let file = KeyFile::from_record(&record, args.write_version, Some(source), now)?;
    key_file::write_atomic(&args.out, &file.to_json())
        .with_context(|| format!("writing {}", args.out.display()))?;
    let versions: Vec<String> = file
        .versions
        .iter()
        .map(|v| v.version.to_string())
        .collect();
    println!(
        "wrote {}: key {}, material versions {} (wraps with {})",
        args.out.display(),
        file.key_id,
        versions.join(", "),
        file.current().version
    );
    Ok(())
}

async fn from_local(
    dir: &std::path::Path,
    namespace: &str,
    key: &str,
) -> anyhow::Result<KeyRecord> {
    // Opening creates a store; exporting from the wrong directory must not.
    anyhow::ensure!(
        dir.join(LocalStore::FILE_NAME).is_file(),
        "no key store in {} (the --data-dir of `kube-kms serve`)",
        dir.display()
    );
    let store = LocalStore::open(dir).with_context(|| {
        format!(
            "opening the store in {} (is `kube-kms serve` still running on it?)",
            dir.display()
        )
    })?;
    let id = if key.starts_with("alias/") {
        store
            .get_alias(namespace, key)
            .await?
            .with_context(|| format!("no alias {key} in namespace {namespace}"))?
            .key_id
    } else {
        let id = key.rsplit_once(":key/").map_or(key, |(_, id)| id);
        id.parse::<KeyId>()
            .map_err(|_| anyhow::anyhow!("{key:?} is not a key id, key ARN or alias name"))?
    };
    store
        .get_key(id)
        .await?
        .with_context(|| format!("no key {id} in {}", dir.display()))
}

async fn from_cluster(args: &ExportKekArgs) -> anyhow::Result<KeyRecord> {
    let client = args.kube.client().await?;
    let secrets: Api<Secret> = Api::namespaced(client, &args.namespace);
    let secret = if let Ok(id) = args.key.parse::<KeyId>() {
        let selector = format!(
            "{},{}={id}",
            key_secret::selector(),
            key_secret::KEY_ID_LABEL
        );
        let mut found = secrets
            .list(&kube::api::ListParams::default().labels(&selector))
            .await?
            .items;
        anyhow::ensure!(
            found.len() == 1,
            "{} key Secrets for key id {id} in namespace {}",
            found.len(),
            args.namespace
        );
        found.remove(0)
    } else {
        let name = key_secret::secret_name(&args.key);
        secrets.get_opt(&name).await?.with_context(|| {
            format!(
                "no Secret {name} in namespace {}: is KmsKey {} Ready?",
                args.namespace, args.key
            )
        })?
    };
    Ok(key_secret::view(&secret)?.record)
}
