//! `KeyStore` over the cluster index. Reads come from memory. Changes to
//! keys and aliases are made by applying `KmsKey`/`KmsAlias` objects, which
//! the controller (the only writer of key material) carries out; through
//! the AWS API they are refused with a message that says so.

use std::sync::{Arc, RwLock};

use super::ClusterIndex;
use crate::key::KeyRecord;
use crate::key_id::KeyId;
use crate::store::{AliasRecord, KeyStore, StoreError};

const READ_ONLY: &str = "In a cluster, keys and aliases are managed as KmsKey and KmsAlias objects (kubectl apply); this operation is not available through the API yet.";

pub struct KubeStore {
    index: Arc<RwLock<ClusterIndex>>,
}

impl KubeStore {
    pub fn new(index: Arc<RwLock<ClusterIndex>>) -> Self {
        KubeStore { index }
    }

    fn read<T>(&self, f: impl FnOnce(&ClusterIndex) -> T) -> Result<T, StoreError> {
        let index = self
            .index
            .read()
            .map_err(|_| StoreError::Backend("cluster index poisoned".into()))?;
        Ok(f(&index))
    }
}

fn read_only<T>() -> Result<T, StoreError> {
    Err(StoreError::ReadOnly(READ_ONLY.into()))
}

#[async_trait::async_trait]
impl KeyStore for KubeStore {
    async fn create_key(&self, _: KeyRecord) -> Result<KeyRecord, StoreError> {
        read_only()
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

    async fn update_key(&self, _: KeyRecord) -> Result<KeyRecord, StoreError> {
        read_only()
    }

    async fn delete_key(&self, _: KeyId, _: u64) -> Result<(), StoreError> {
        read_only()
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

    async fn create_alias(&self, _: AliasRecord) -> Result<(), StoreError> {
        read_only()
    }

    async fn update_alias(&self, _: AliasRecord) -> Result<(), StoreError> {
        read_only()
    }

    async fn delete_alias(&self, _: &str, _: &str) -> Result<(), StoreError> {
        read_only()
    }
}
