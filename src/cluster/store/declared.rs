//! Replicas declared in the cluster awaiting their material
//! (`KeyStore::awaited_replicas`), and the primary's answer written to
//! their status (`KeyStore::note_replica_answer`); what is pure is in
//! `cluster::awaited`.

use kube::Api;
use kube::api::{Patch, PatchParams};

use super::{KubeStore, crd_lacks, kube_error};
use crate::key::now_millis;
use crate::key_id::KeyId;
use crate::resource::KmsKey;
use crate::store::{AwaitedReplica, StoreError};

impl KubeStore {
    fn replica_answers(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<KeyId, Option<String>>> {
        self.replica_answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// `KeyStore::awaited_replicas`: one list of the KmsKeys; an arrived
    /// replica whose status still says it was refused has that taken away.
    pub(super) async fn list_awaited_replicas(&self) -> Result<Vec<AwaitedReplica>, StoreError> {
        let mut listed = Vec::new();
        for keys in self.scope.apis::<KmsKey>(&self.client) {
            let page = keys
                .list(&kube::api::ListParams::default())
                .await
                .map_err(|e| kube_error(e, "KmsKeys"))?;
            listed.extend(page.items);
        }
        let (awaited, answered) = self.read(|index| {
            let held = |id| index.key(id).is_some();
            (
                crate::cluster::awaited::awaited(&listed, held),
                crate::cluster::awaited::answered(&listed, held),
            )
        })?;
        // A refusal a status shows was written before, from here or not
        // (an older CRD shows none: what was written from here stands).
        self.replica_answers()
            .extend(crate::cluster::awaited::shown_refusals(&listed));
        for replica in answered {
            if let Err(e) = self.write_replica_answer(&replica, None).await {
                tracing::warn!(namespace = %replica.namespace, name = %replica.name, error = %e, "an arrived replica's old refusal not taken from its status; tried again at the next sync");
            }
        }
        Ok(awaited)
    }

    /// `KeyStore::note_replica_answer`: the status written when the
    /// answer differs from the one last written from here.
    pub(super) async fn write_replica_answer(
        &self,
        replica: &AwaitedReplica,
        refusal: Option<&str>,
    ) -> Result<(), StoreError> {
        let refusal = refusal.map(str::to_owned);
        if self.replica_answers().get(&replica.key_id) == Some(&refusal) {
            return Ok(());
        }
        let keys = Api::<KmsKey>::namespaced(self.client.clone(), &replica.namespace);
        let params = PatchParams::apply(crate::cluster::awaited::FIELD_MANAGER).force();
        let patch = Patch::Apply(crate::cluster::awaited::status_patch(
            refusal.as_deref(),
            now_millis(),
        ));
        match keys.patch_status(&replica.name, &params, &patch).await {
            Ok(_) => {}
            // Gone meanwhile: nothing to say it on.
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            // A CRD from before this field: the log says it instead.
            Err(e) if crd_lacks(&e, "replicationRefusal") => {}
            Err(e) => {
                return Err(kube_error(
                    e,
                    &format!("KmsKey {}/{} status", replica.namespace, replica.name),
                ));
            }
        }
        self.replica_answers().insert(replica.key_id, refusal);
        Ok(())
    }
}
