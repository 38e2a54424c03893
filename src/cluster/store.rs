//! `KeyStore` over the cluster index. Reads come from memory. Writes become
//! changes to `KmsKey`/`KmsAlias` objects, which the controller (the only
//! writer of key material) carries out; a write returns once the watch
//! shows its effect where callers depend on it (new keys, aliases).

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::{Api, Client};
use serde_json::json;

use super::scope::Scope;
use super::{ClusterIndex, material, rotation, usage};
use crate::grant::{GrantRecord, TokenRef};
use crate::key::{KeyRecord, KeyState, Millis, now_millis};
use crate::key_id::KeyId;
use crate::resource::{KmsAlias, KmsKey, MaterialRequest, crd_lacks};
use crate::store::{
    AliasRecord, AwaitedReplica, KeyStore, PendingRotation, StoreError, StoredUsage,
};
use crate::usage::KeyUsage;

/// How long a write waits for the controller to make it visible.
const CONVERGE_TIMEOUT: Duration = crate::store::LONGEST_WRITE;
/// How long a change to what a key declares (description, tags, enabled,
/// policy, rotation) waits to show in reads before the call returns anyway.
const DECLARED_VISIBLE_WAIT: Duration = Duration::from_secs(5);

pub struct KubeStore {
    index: Arc<RwLock<ClusterIndex>>,
    client: Client,
    /// When this store started: where a `KmsKey` does not say since when
    /// its use is tracked (its controller predates tracking), since then.
    started: Millis,
    usage: Mutex<usage::Throttle>,
    usage_read: Mutex<usage::ReadCache>,
    /// When the log last said the KmsKey CRD lacks `status.lastUsage`.
    old_crd_warned: crate::reminder::Reminder,
    /// Grant objects tokens named that were not there, for a while.
    unseen_absent: Mutex<grant_objects::Absent>,
    /// The namespaces watched (`--watch-namespace`), or every one.
    scope: Scope,
    /// The answer last written to each declared replica's status.
    replica_answers: Mutex<std::collections::BTreeMap<KeyId, Option<String>>>,
}

/// Takes back a `KmsKey` that CreateKey made and the controller did not
/// mint in time: the caller is told the key was not created, and a client
/// retrying the call (boto3 retries a 503) must not leave a key behind per
/// attempt. Deleted as any key is: had the controller minted it meanwhile,
/// it waits out the shortest window, 7 days, then its material goes.
async fn withdraw(keys: &Api<KmsKey>, created: &KmsKey) {
    let name = created.metadata.name.clone().unwrap_or_default();
    let shortest = json!({"spec": {"pendingWindowDays": 7}});
    let only_this_one = DeleteParams {
        preconditions: Some(Preconditions {
            uid: created.metadata.uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let withdrawn = async {
        keys.patch(&name, &PatchParams::default(), &Patch::Merge(&shortest))
            .await?;
        keys.delete(&name, &only_this_one).await
    }
    .await;
    match withdrawn {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(e) => {
            tracing::error!(key = %name, error = %e, "could not withdraw a KmsKey the controller did not mint in time")
        }
    }
}

pub(super) fn kube_error(e: kube::Error, what: &str) -> StoreError {
    match &e {
        kube::Error::Api(s) if s.code == 409 => StoreError::AlreadyExists(what.to_owned()),
        kube::Error::Api(s) if s.code == 404 => StoreError::NotFound(what.to_owned()),
        // The ResourceQuota admission plugin's refusal: the namespace's
        // `count/kmskeys.kubekms.io` (or aliases) is used up. The caller
        // can act on it, so it is told, in AWS's terms, with the numbers.
        kube::Error::Api(s) if s.code == 403 && s.message.contains("exceeded quota") => {
            StoreError::LimitExceeded(format!(
                "{what} would exceed the namespace's ResourceQuota ({})",
                s.message
                    .split_once("exceeded quota: ")
                    .map_or(s.message.as_str(), |(_, quota)| quota)
            ))
        }
        // An admission webhook or ValidatingAdmissionPolicy refusing the
        // object: the cluster's rule about what may be declared, which the
        // caller can act on (RBAC's refusal, the install's fault, says
        // "cannot" and stays an internal error).
        kube::Error::Api(s) if s.code == 403 && is_admission_denial(&s.message) => {
            StoreError::Forbidden(format!("{what} refused by the cluster: {}", s.message))
        }
        // The CRD's schema or rules, or a policy whose reason is Invalid.
        kube::Error::Api(s) if s.code == 422 => {
            StoreError::Invalid(format!("{what} refused by the cluster: {}", s.message))
        }
        _ => StoreError::Backend(format!("{what}: {e}")),
    }
}

/// kube-apiserver's wording when admission (not RBAC) refuses a request.
fn is_admission_denial(message: &str) -> bool {
    message.contains("admission webhook") && message.contains("denied the request")
        || message.contains("ValidatingAdmissionPolicy") && message.contains("denied request")
}

impl KubeStore {
    pub fn new(index: Arc<RwLock<ClusterIndex>>, client: Client) -> Self {
        KubeStore {
            index,
            client,
            started: now_millis(),
            usage: Mutex::default(),
            usage_read: Mutex::default(),
            old_crd_warned: crate::reminder::Reminder::new(usage::WRITE_EVERY),
            unseen_absent: Mutex::default(),
            scope: Scope::Cluster,
            replica_answers: Mutex::default(),
        }
    }

    /// Lists only the objects of `scope`'s namespaces, as the watches do.
    pub fn scoped(self, scope: Scope) -> Self {
        KubeStore { scope, ..self }
    }

    fn read<T>(&self, f: impl FnOnce(&ClusterIndex) -> T) -> Result<T, StoreError> {
        let index = self
            .index
            .read()
            .map_err(|_| StoreError::Backend("cluster index poisoned".into()))?;
        Ok(f(&index))
    }

    /// Waits until the index shows what `check` looks for.
    async fn converge<T>(
        &self,
        what: &str,
        check: impl Fn(&ClusterIndex) -> Option<T>,
    ) -> Result<T, StoreError> {
        self.converge_within(CONVERGE_TIMEOUT, what, check).await
    }

    /// `converge`, giving up after `within`.
    async fn converge_within<T>(
        &self,
        within: Duration,
        what: &str,
        check: impl Fn(&ClusterIndex) -> Option<T>,
    ) -> Result<T, StoreError> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(found) = self.read(&check)? {
                return Ok(found);
            }
            if Instant::now() > deadline {
                return Err(StoreError::Timeout(format!(
                    "{what}: not done by the controller within {within:?}; \
                     it is still asked for and will be carried out when the controller runs"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `alias` resolves to its key.
    async fn resolved(&self, alias: &AliasRecord) -> Result<(), StoreError> {
        self.converge(&format!("alias {}", alias.name), |index| {
            index
                .alias(&alias.namespace, &alias.name)
                .filter(|a| a.key_id == alias.key_id)
        })
        .await
        .map(|_| ())
    }

    fn key_object(&self, id: KeyId) -> Result<(String, String), StoreError> {
        self.read(|index| index.key_object(id))?
            .ok_or_else(|| StoreError::NotFound(format!("key {id}")))
    }
}

impl KubeStore {
    /// Writes what `key` declares (`patch` of its KmsKey `name`), then waits
    /// briefly for the caller's next read to show it (Ansible reports the
    /// key as it reads it right after changing it). AWS KMS is eventually
    /// consistent too, so past a short wait it returns anyway: the change
    /// is in the KmsKey, and the controller carries it out when it runs.
    async fn declare(
        &self,
        keys: &Api<KmsKey>,
        (name, what): (&str, &str),
        key: &KeyRecord,
        patch: &serde_json::Value,
    ) -> Result<(), StoreError> {
        keys.patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .map_err(|e| kube_error(e, what))?;
        let shown = self
            .converge_within(DECLARED_VISIBLE_WAIT, what, |index| {
                index
                    .key(key.key_id)
                    .filter(|shown| key_change(shown, key) == KeyChange::Patch(None))
            })
            .await;
        if let Err(e) = shown {
            tracing::debug!(error = %e, "a declared change is not visible yet");
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl KeyStore for KubeStore {
    fn mints_material(&self) -> bool {
        true
    }

    fn usage_tracked_since(&self) -> Option<Millis> {
        Some(self.started)
    }

    async fn key_usage(&self, id: KeyId) -> Result<StoredUsage, StoreError> {
        self.read_usage(id).await
    }

    async fn record_usage(&self, uses: Vec<(KeyId, KeyUsage)>) -> Result<Vec<KeyId>, StoreError> {
        self.write_usage(uses, false).await
    }

    async fn flush_usage(&self) -> Result<(), StoreError> {
        self.write_usage(Vec::new(), true).await.map(drop)
    }

    async fn create_key(&self, key: KeyRecord) -> Result<KeyRecord, StoreError> {
        let id = key.key_id;
        // Its controller would never mint it (a replica delivered into a
        // namespace the peers file keeps, say): refused before it is made.
        if !self.scope.serves(&key.namespace) {
            return Err(StoreError::Forbidden(format!(
                "key {id} cannot be made in namespace {}: this endpoint serves {} only (--watch-namespace)",
                key.namespace, self.scope
            )));
        }
        let name = id.to_string();
        let manifest: KmsKey = serde_json::from_value(key_manifest(&name, &key))
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let keys = Api::<KmsKey>::namespaced(self.client.clone(), &key.namespace);
        if let Some(request) = replica_delivery(&key)
            && let Some(declared) = material::declared_replica(&keys, &key).await?
        {
            // Declared (from Git) before its primary replicated it: the
            // delivery goes to that object, which keeps what it declares.
            material::request(&keys, &declared, &request).await?;
            return self
                .converge(&format!("key {id}"), |index| index.key(id))
                .await;
        }
        let created = keys
            .create(&PostParams::default(), &manifest)
            .await
            .map_err(|e| kube_error(e, &format!("KmsKey {name}")))?;
        match self
            .converge(&format!("key {id}"), |index| index.key(id))
            .await
        {
            Err(StoreError::Timeout(_)) => {
                withdraw(&keys, &created).await;
                Err(StoreError::Timeout(format!(
                    "key {id} was not created: the controller did not mint it within \
                     {CONVERGE_TIMEOUT:?}, and the request for it was withdrawn. Retry later."
                )))
            }
            converged => converged,
        }
    }

    async fn awaited_replicas(&self) -> Result<Vec<AwaitedReplica>, StoreError> {
        self.list_awaited_replicas().await
    }

    async fn note_replica_answer(
        &self,
        replica: &AwaitedReplica,
        refusal: Option<&str>,
    ) -> Result<(), StoreError> {
        self.write_replica_answer(replica, refusal).await
    }

    async fn get_key(&self, id: KeyId) -> Result<Option<KeyRecord>, StoreError> {
        self.read(|index| index.key(id))
    }

    async fn list_keys(&self, namespace: &str) -> Result<Vec<KeyRecord>, StoreError> {
        self.read(|index| index.keys_in(namespace))
    }

    async fn all_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.read(|index| index.all_keys())
    }

    async fn update_key(&self, key: KeyRecord) -> Result<KeyRecord, StoreError> {
        let id = key.key_id;
        let current = self
            .read(|index| index.key(id))?
            .ok_or_else(|| StoreError::NotFound(format!("key {id}")))?;
        if current.revision != key.revision {
            return Err(StoreError::Conflict(format!("key {id}")));
        }
        let (namespace, name) = self.key_object(id)?;
        let keys: Api<KmsKey> = Api::namespaced(self.client.clone(), &namespace);
        let what = format!("KmsKey {namespace}/{name}");
        // Material is the controller's to write: asked of it, and waited for.
        match material::change(&current, &key) {
            None => {}
            Some(None) => {
                return Err(StoreError::ReadOnly(format!(
                    "key {id}: in a cluster only the controller makes key material"
                )));
            }
            Some(Some(change)) => {
                let request = MaterialRequest::new(change, now_millis());
                material::request(&keys, &name, &request).await?;
                let shown = self
                    .converge(&what, |index| {
                        index
                            .key(id)
                            .filter(|shown| material::carried_out(shown, &request.change))
                    })
                    .await?;
                // What the Regions of a multi-Region key share may change
                // with its material (rotation settings, which replica is
                // the primary): declared in the KmsKey, as any change. Told
                // from the record before: `shown` has the Regions already.
                return match key_change(&current, &key) {
                    KeyChange::Patch(Some(patch)) if shown.deletion.is_none() => {
                        self.declare(&keys, (&name, &what), &key, &patch).await?;
                        Ok(key)
                    }
                    _ => Ok(shown),
                };
            }
        }
        match key_change(&current, &key) {
            KeyChange::Patch(None) => {}
            // AWS lets a key pending deletion take a new policy; here what a
            // key declares lives in its KmsKey, which is deleted by then.
            KeyChange::Patch(Some(_)) if current.deletion.is_some() => {
                return Err(StoreError::ReadOnly(format!(
                    "key {id} is pending deletion: its KmsKey {namespace}/{name} is deleted, so \
                     nothing it declares can change until CancelKeyDeletion (or applying the \
                     KmsKey again) declares it again"
                )));
            }
            KeyChange::Patch(Some(patch)) => {
                self.declare(&keys, (&name, &what), &key, &patch).await?
            }
            KeyChange::Schedule { window_days } => {
                let patch = json!({"spec": {"pendingWindowDays": window_days}});
                keys.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(|e| kube_error(e, &what))?;
                keys.delete(&name, &DeleteParams::default())
                    .await
                    .map_err(|e| kube_error(e, &what))?;
                // Returns once the controller has recorded the schedule, with
                // the deletion date it recorded (a few ms after this call's
                // own clock), so the reply says what DescribeKey will.
                return self
                    .converge(&what, |index| {
                        index.key(id).filter(|k| k.deletion.is_some())
                    })
                    .await;
            }
            KeyChange::Cancel => {
                if current.state() == KeyState::PendingReplicaDeletion {
                    held::release(&keys, &name, &what).await?;
                }
                let manifest: KmsKey = serde_json::from_value(key_manifest(&name, &key))
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                keys.create(&PostParams::default(), &manifest)
                    .await
                    .map_err(|e| match kube_error(e, &what) {
                        // The deleted object is still finalizing; try again.
                        StoreError::AlreadyExists(m) => StoreError::Conflict(m),
                        other => other,
                    })?;
                return self
                    .converge(&what, |index| {
                        index.key(id).filter(|k| k.deletion.is_none())
                    })
                    .await;
            }
        }
        Ok(key)
    }

    async fn delete_key(&self, id: KeyId, _: u64) -> Result<(), StoreError> {
        Err(StoreError::ReadOnly(format!(
            "key {id}: in a cluster, only the controller destroys key material, when a deletion window ends"
        )))
    }

    async fn pending_rotation(&self, id: KeyId) -> Result<Option<PendingRotation>, StoreError> {
        let (namespace, name) = self.key_object(id)?;
        let key = Api::<KmsKey>::namespaced(self.client.clone(), &namespace)
            .get(&name)
            .await
            .map_err(|e| kube_error(e, &format!("KmsKey {namespace}/{name}")))?;
        Ok(rotation::pending(&key))
    }

    async fn request_rotation(&self, id: KeyId) -> Result<KeyRecord, StoreError> {
        let (namespace, name) = self.key_object(id)?;
        let keys = Api::<KmsKey>::namespaced(self.client.clone(), &namespace);
        rotation::request(&keys, &name, crate::key::now_millis()).await?;
        self.read(|index| index.key(id))?
            .ok_or_else(|| StoreError::NotFound(format!("key {id}")))
    }

    async fn get_alias(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<AliasRecord>, StoreError> {
        self.read(|index| index.alias(namespace, name))
    }

    async fn list_aliases(&self, namespace: &str) -> Result<Vec<AliasRecord>, StoreError> {
        self.read(|index| index.aliases_in(namespace))
    }

    async fn create_alias(&self, alias: AliasRecord) -> Result<(), StoreError> {
        if self
            .read(|index| index.alias_object(&alias.namespace, &alias.name))?
            .is_some()
        {
            return Err(StoreError::AlreadyExists(format!("alias {}", alias.name)));
        }
        let (_, key_name) = self.key_object(alias.key_id)?;
        let object = alias_object_name(&alias.name);
        let manifest: KmsAlias = serde_json::from_value(json!({
            "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsAlias",
            "metadata": {"name": object, "namespace": alias.namespace},
            "spec": {"aliasName": alias.name, "targetKeyRef": {"name": key_name}},
        }))
        .map_err(|e| StoreError::Backend(e.to_string()))?;
        Api::<KmsAlias>::namespaced(self.client.clone(), &alias.namespace)
            .create(&PostParams::default(), &manifest)
            .await
            .map_err(|e| kube_error(e, &format!("alias {}", alias.name)))?;
        self.resolved(&alias).await
    }

    async fn update_alias(&self, alias: AliasRecord) -> Result<(), StoreError> {
        let object = self
            .read(|index| index.alias_object(&alias.namespace, &alias.name))?
            .ok_or_else(|| StoreError::NotFound(format!("alias {}", alias.name)))?;
        let (_, key_name) = self.key_object(alias.key_id)?;
        let patch = json!({"spec": {"targetKeyRef": {"name": key_name}}});
        Api::<KmsAlias>::namespaced(self.client.clone(), &alias.namespace)
            .patch(&object, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| kube_error(e, &format!("alias {}", alias.name)))?;
        self.resolved(&alias).await
    }

    async fn delete_alias(&self, namespace: &str, name: &str) -> Result<(), StoreError> {
        let object = self
            .read(|index| index.alias_object(namespace, name))?
            .ok_or_else(|| StoreError::NotFound(format!("alias {name}")))?;
        Api::<KmsAlias>::namespaced(self.client.clone(), namespace)
            .delete(&object, &DeleteParams::default())
            .await
            .map_err(|e| kube_error(e, &format!("alias {name}")))?;
        self.converge(&format!("alias {name}"), |index| {
            index.alias_object(namespace, name).is_none().then_some(())
        })
        .await
    }

    // Grants are `KmsGrant` objects; the endpoint reads them from its
    // watch cache and waits for it to show its own changes.
    async fn grants(&self, key: KeyId) -> Result<Vec<GrantRecord>, StoreError> {
        self.read(|index| index.grants_of(key))
    }

    async fn all_grants(&self) -> Result<Vec<GrantRecord>, StoreError> {
        self.read(|index| index.all_grants())
    }

    async fn create_grant(&self, grant: GrantRecord) -> Result<GrantRecord, StoreError> {
        self.create_grant_object(grant).await
    }

    async fn delete_grant(&self, key: KeyId, grant_id: &str) -> Result<(), StoreError> {
        self.delete_grant_object(key, grant_id).await
    }

    fn grant_object_name(&self, key: KeyId, grant_id: &str) -> Option<String> {
        let index = self.index.read().unwrap_or_else(|e| e.into_inner());
        index.grant_object(key, grant_id).map(|(_, name)| name)
    }

    async fn unseen_grant(
        &self,
        key: KeyId,
        token: &TokenRef,
    ) -> Result<Option<GrantRecord>, StoreError> {
        self.read_grant_object(key, token).await
    }
}

mod declared;
mod grant_objects;
mod held;
mod key_usage;
mod objects;

pub use objects::{KeyChange, alias_object_name, key_change, key_manifest, replica_delivery};
#[cfg(test)]
mod tests;
