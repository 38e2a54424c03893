//! Grants as `KmsGrant` objects: made and deleted through the API server,
//! read back from the watch cache, and read directly when a grant token
//! names one the watch has not brought yet.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kube::Api;
use kube::api::{DeleteParams, PostParams};

use super::{KubeStore, kube_error};
use crate::cluster::grants::{self, grant_entry};
use crate::grant::{GrantRecord, MAX_GRANTS_PER_KEY, TokenRef};
use crate::key_id::KeyId;
use crate::resource::KmsGrant;
use crate::store::StoreError;

/// How long a token's object found absent (or not the grant it names) is
/// not asked for again: made-up tokens must not become a request to the
/// API server each, and a grant made since shows up through the watch.
const ABSENT_FOR: Duration = Duration::from_secs(10);
/// Bound on the objects remembered absent; a full set is emptied.
const MAX_ABSENT: usize = 10_000;

/// Token objects recently found not to declare their grant, by namespace
/// and name.
#[derive(Debug, Default)]
pub(super) struct Absent(HashMap<(String, String), Instant>);

impl Absent {
    fn recent(&mut self, place: &(String, String), now: Instant) -> bool {
        match self.0.get(place) {
            Some(at) if now.duration_since(*at) < ABSENT_FOR => true,
            Some(_) => {
                self.0.remove(place);
                false
            }
            None => false,
        }
    }

    fn remember(&mut self, place: (String, String), now: Instant) {
        if self.0.len() >= MAX_ABSENT {
            self.0.clear();
        }
        self.0.insert(place, now);
    }
}

impl KubeStore {
    /// The grant on `key` that `token` names, read from its `KmsGrant`:
    /// only if the object is in the key's namespace, on the key's
    /// `KmsKey`, and its UID gives the token's grant id.
    pub(super) async fn read_grant_object(
        &self,
        key: KeyId,
        token: &TokenRef,
    ) -> Result<Option<GrantRecord>, StoreError> {
        let Some(object) = &token.object else {
            return Ok(None);
        };
        let (namespace, key_name) = self.key_object(key)?;
        let place = (namespace.clone(), object.clone());
        let absent = || self.unseen_absent.lock().unwrap_or_else(|e| e.into_inner());
        if absent().recent(&place, Instant::now()) {
            return Ok(None);
        }
        let found = Api::<KmsGrant>::namespaced(self.client.clone(), &namespace)
            .get_opt(object)
            .await
            .map_err(|e| kube_error(e, &format!("KmsGrant {namespace}/{object}")))?;
        let grant = found
            .as_ref()
            .and_then(grant_entry)
            .filter(|entry| entry.grant_id() == token.grant_id && entry.key_name == key_name)
            .map(|entry| entry.record(key));
        if grant.is_none() {
            absent().remember(place, Instant::now());
        }
        Ok(grant)
    }

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
