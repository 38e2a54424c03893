//! When keys were last used, kept in their `KmsKey`'s status
//! (`KeyStore::key_usage`, `record_usage`, `flush_usage`): written at most
//! once in a while per key (`usage::Throttle`), read likewise; what is pure
//! is in `cluster::usage`.

use kube::Api;
use kube::api::{Patch, PatchParams};

use super::{KubeStore, crd_lacks, kube_error};
use crate::cluster::usage;
use crate::key::now_millis;
use crate::key_id::KeyId;
use crate::resource::KmsKey;
use crate::store::{StoreError, StoredUsage};
use crate::usage::KeyUsage;

impl KubeStore {
    fn throttle(&self) -> std::sync::MutexGuard<'_, usage::Throttle> {
        self.usage.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read_cache(&self) -> std::sync::MutexGuard<'_, usage::ReadCache> {
        self.usage_read.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the uses the throttle lets through (every one waiting if
    /// `all`) to their keys' `KmsKey` status; returns the keys that no
    /// longer exist. A failed write waits for the next call.
    pub(super) async fn write_usage(
        &self,
        uses: Vec<(KeyId, KeyUsage)>,
        all: bool,
    ) -> Result<Vec<KeyId>, StoreError> {
        let now = now_millis();
        let due = self.throttle().due(uses, now, all);
        let mut gone = Vec::new();
        let mut failed = None;
        for (id, used) in due {
            let Some((namespace, name)) = self.read(|index| index.key_object(id))? else {
                // Not in the caches: the key is gone (or has no KmsKey to
                // hold its use; the uses in memory still answer for it).
                if self.read(|index| index.key(id).is_none())? {
                    gone.push(id);
                    self.throttle().forget(id);
                }
                continue;
            };
            let keys = Api::<KmsKey>::namespaced(self.client.clone(), &namespace);
            // Another replica may have written a later use meanwhile: one
            // held back for the hour must not replace it. A read an hour
            // per key per replica; the race left is that read's to the
            // write's (milliseconds), not the hour's.
            match keys.get_opt(&name).await {
                Ok(Some(key)) => {
                    let stored = usage::stored(&key);
                    self.read_cache().put(id, now, stored);
                    if stored.last.is_some_and(|last| last.at >= used.at) {
                        self.throttle().written(id, now);
                        continue;
                    }
                }
                // No KmsKey (a key held without one): nowhere to write.
                Ok(None) => {
                    self.throttle().written(id, now);
                    continue;
                }
                Err(e) => {
                    self.throttle().retry(id, used);
                    failed = Some(kube_error(e, &format!("KmsKey {namespace}/{name}")));
                    continue;
                }
            }
            let params = PatchParams::apply(usage::FIELD_MANAGER).force();
            let patch = Patch::Apply(usage::status_patch(&used));
            match keys.patch_status(&name, &params, &patch).await {
                Ok(_) => self.throttle().written(id, now),
                // No KmsKey (a key held without one): nowhere to write.
                Err(kube::Error::Api(status)) if status.code == 404 => {
                    self.throttle().written(id, now)
                }
                // A CRD from before usage tracking: nowhere to write either
                // (the uses in memory still answer), and the log says why.
                Err(e) if crd_lacks(&e, "lastUsage") => {
                    self.throttle().written(id, now);
                    if self.old_crd_warned.due(now) {
                        tracing::warn!(
                            "the KmsKey CRD in the cluster is older than this endpoint (it has no status.lastUsage): apply this version's CRDs (kubectl apply -f charts/kube-kms/crds/); until then key usage is kept in memory only"
                        );
                    }
                }
                Err(e) => {
                    self.throttle().retry(id, used);
                    failed = Some(kube_error(e, &format!("KmsKey {namespace}/{name} status")));
                }
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(gone),
        }
    }

    /// `KeyStore::key_usage`: the key's `KmsKey` status, read at most
    /// once in a while (`usage::ReadCache`).
    pub(super) async fn read_usage(&self, id: KeyId) -> Result<StoredUsage, StoreError> {
        let now = now_millis();
        if let Some(stored) = self.read_cache().get(id, now) {
            return Ok(stored);
        }
        let Some((namespace, name)) = self.read(|index| index.key_object(id))? else {
            return Ok(StoredUsage::default());
        };
        let keys = Api::<KmsKey>::namespaced(self.client.clone(), &namespace);
        let key = keys
            .get_opt(&name)
            .await
            .map_err(|e| kube_error(e, &format!("KmsKey {namespace}/{name}")))?;
        let stored = key.map_or_else(StoredUsage::default, |key| usage::stored(&key));
        self.read_cache().put(id, now, stored);
        Ok(stored)
    }
}
