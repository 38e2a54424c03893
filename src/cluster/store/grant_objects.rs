//! Grants as `KmsGrant` objects: made and deleted through the API server,
//! read back from the watch cache.

use kube::Api;
use kube::api::{DeleteParams, PostParams};

use super::{KubeStore, kube_error};
use crate::cluster::grants;
use crate::grant::{GrantRecord, MAX_GRANTS_PER_KEY};
use crate::key_id::KeyId;
use crate::resource::KmsGrant;
use crate::store::StoreError;

impl KubeStore {
    /// A `KmsGrant` for `grant` (or the one already made for the same
    /// named request), once the watch cache shows it; its id is the
    /// object's, not `grant`'s.
    pub(super) async fn create_grant_object(
        &self,
        grant: GrantRecord,
    ) -> Result<GrantRecord, StoreError> {
        let (namespace, key_name) = self.key_object(grant.key_id)?;
        let held = self.read(|index| index.grants_of(grant.key_id))?;
        if let Some(same) = held.iter().find(|g| g.same_request(&grant)) {
            return Ok(same.clone());
        }
        if held.len() >= MAX_GRANTS_PER_KEY {
            return Err(StoreError::LimitExceeded(format!(
                "Key {} already has {} grants, the most a key may have.",
                grant.key_id,
                held.len()
            )));
        }
        let object: KmsGrant = serde_json::from_value(grants::grant_object(&key_name, &grant))
            .map_err(|e| StoreError::Backend(format!("a KmsGrant: {e}")))?;
        let made = Api::<KmsGrant>::namespaced(self.client.clone(), &namespace)
            .create(&PostParams::default(), &object)
            .await
            .map_err(|e| kube_error(e, &format!("a KmsGrant on KmsKey {namespace}/{key_name}")))?;
        let uid = made
            .metadata
            .uid
            .ok_or_else(|| StoreError::Backend("the API server gave the KmsGrant no UID".into()))?;
        let id = grants::grant_id(&uid);
        self.converge(&format!("grant {id}"), |index| {
            index
                .grants_of(grant.key_id)
                .into_iter()
                .find(|g| g.grant_id == id)
        })
        .await
    }

    /// Deletes the `KmsGrant` declaring grant `grant_id` on `key`, and
    /// waits for the watch cache to show it gone.
    pub(super) async fn delete_grant_object(
        &self,
        key: KeyId,
        grant_id: &str,
    ) -> Result<(), StoreError> {
        let (namespace, object) = self
            .read(|index| index.grant_object(key, grant_id))?
            .ok_or_else(|| StoreError::NotFound(format!("grant {grant_id}")))?;
        Api::<KmsGrant>::namespaced(self.client.clone(), &namespace)
            .delete(&object, &DeleteParams::default())
            .await
            .map_err(|e| kube_error(e, &format!("KmsGrant {namespace}/{object}")))?;
        self.converge(&format!("grant {grant_id}"), |index| {
            index.grant_object(key, grant_id).is_none().then_some(())
        })
        .await
    }
}

#[cfg(test)]
mod tests;
