//! A test's namespaces go when it ends, so that runs against a shared
//! cluster leave nothing behind.

use std::fmt::Debug;
use std::path::Path;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use kube_kms::resource::{KmsAlias, KmsGrant, KmsKey};
use serde::de::DeserializeOwned;

/// Set to keep every test's namespaces (a failed test's are always kept).
pub const KEEP_VAR: &str = "KUBE_KMS_E2E_KEEP_NAMESPACES";

/// Deletes the namespace `prefix` and every `<prefix>-…` one, first taking
/// the finalizers off the key Secrets and custom resources in them: only a
/// running controller takes those off, and the test's is gone, so its
/// namespaces would stay Terminating for good.
pub async fn remove_namespaces(kubeconfig: &Path, prefix: &str) -> Result<(), String> {
    let client = super::client_for(&kubeconfig.to_path_buf()).await?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let listed = namespaces
        .list(&Default::default())
        .await
        .map_err(|e| e.to_string())?;
    let ours = listed
        .items
        .into_iter()
        .map(|n| n.name_any())
        .filter(|name| {
            name == prefix
                || name
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('-'))
        });
    for name in ours {
        release::<Secret>(&client, &name).await?;
        release::<KmsKey>(&client, &name).await?;
        release::<KmsAlias>(&client, &name).await?;
        release::<KmsGrant>(&client, &name).await?;
        match namespaces.delete(&name, &Default::default()).await {
            Ok(_) => {}
            Err(e) if gone(&e) => {}
            Err(e) => return Err(format!("delete namespace {name}: {e}")),
        }
    }
    Ok(())
}

/// Takes every finalizer off the objects of kind `K` in `namespace`.
async fn release<K>(client: &Client, namespace: &str) -> Result<(), String>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let listed = api
        .list(&Default::default())
        .await
        .map_err(|e| format!("list in {namespace}: {e}"))?;
    let none = Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}}));
    for object in listed.items.iter().filter(|o| !o.finalizers().is_empty()) {
        match api
            .patch(&object.name_any(), &PatchParams::default(), &none)
            .await
        {
            Ok(_) => {}
            Err(e) if gone(&e) => {}
            Err(e) => return Err(format!("finalizers of {}: {e}", object.name_any())),
        }
    }
    Ok(())
}

/// Whether the API server said the object is not there (any more).
fn gone(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}
