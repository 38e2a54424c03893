//! The embedded default's store: redb in a data directory. Every write is
//! one transaction committed with fsync before the call returns.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableTable, TableDefinition};

use super::{AliasRecord, KeyStore, StoreError};
use crate::key::KeyRecord;
use crate::key_id::KeyId;

/// key id → JSON `KeyRecord`.
const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("keys");
/// `namespace` NUL `alias name` → JSON `AliasRecord`.
const ALIASES: TableDefinition<&str, &[u8]> = TableDefinition::new("aliases");

#[derive(Clone)]
pub struct LocalStore {
    db: Arc<Database>,
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalStore")
    }
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn alias_key(namespace: &str, name: &str) -> String {
    format!("{namespace}\0{name}")
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Backend(format!("corrupt record: {e}")))
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(backend)
}

impl LocalStore {
    /// Opens (or creates) `dir/kube-kms.redb`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| backend(format!("{}: {e}", dir.display())))?;
        let db = Database::create(dir.join("kube-kms.redb")).map_err(backend)?;
        let txn = db.begin_write().map_err(backend)?;
        txn.open_table(KEYS).map_err(backend)?;
        txn.open_table(ALIASES).map_err(backend)?;
        txn.commit().map_err(backend)?;
        Ok(LocalStore { db: Arc::new(db) })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| backend(format!("store task failed: {e}")))?
    }

    fn scan<T: serde::de::DeserializeOwned>(
        db: &Database,
        table: TableDefinition<&str, &[u8]>,
        prefix: Option<&str>,
    ) -> Result<Vec<T>, StoreError> {
        let txn = db.begin_read().map_err(backend)?;
        let table = txn.open_table(table).map_err(backend)?;
        let mut out = Vec::new();
        let range = match prefix {
            Some(p) => table.range(p..).map_err(backend)?,
            None => table.iter().map_err(backend)?,
        };
        for entry in range {
            let (k, v) = entry.map_err(backend)?;
            if let Some(p) = prefix
                && !k.value().starts_with(p)
            {
                break;
            }
            out.push(decode(v.value())?);
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl KeyStore for LocalStore {
    async fn create_key(&self, mut key: KeyRecord) -> Result<KeyRecord, StoreError> {
        self.run(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            {
                let mut table = txn.open_table(KEYS).map_err(backend)?;
                let id = key.key_id.to_string();
                if table.get(id.as_str()).map_err(backend)?.is_some() {
                    return Err(StoreError::AlreadyExists(format!("key {id}")));
                }
                key.revision = 1;
                table
                    .insert(id.as_str(), encode(&key)?.as_slice())
                    .map_err(backend)?;
            }
            txn.commit().map_err(backend)?;
            Ok(key)
        })
        .await
    }

    async fn get_key(&self, id: KeyId) -> Result<Option<KeyRecord>, StoreError> {
        self.run(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(KEYS).map_err(backend)?;
            let found = table.get(id.to_string().as_str()).map_err(backend)?;
            found.map(|v| decode(v.value())).transpose()
        })
        .await
    }

    async fn list_keys(&self, namespace: &str) -> Result<Vec<KeyRecord>, StoreError> {
        let namespace = namespace.to_owned();
        let keys = self.all_keys().await?;
        Ok(keys
            .into_iter()
            .filter(|k| k.namespace == namespace)
            .collect())
    }

    async fn all_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.run(|db| Self::scan(db, KEYS, None)).await
    }

    async fn update_key(&self, mut key: KeyRecord) -> Result<KeyRecord, StoreError> {
        self.run(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            {
                let mut table = txn.open_table(KEYS).map_err(backend)?;
                let id = key.key_id.to_string();
                let stored: KeyRecord = match table.get(id.as_str()).map_err(backend)? {
                    Some(v) => decode(v.value())?,
                    None => return Err(StoreError::NotFound(format!("key {id}"))),
                };
                if stored.revision != key.revision {
                    return Err(StoreError::Conflict(format!("key {id}")));
                }
                key.revision += 1;
                table
                    .insert(id.as_str(), encode(&key)?.as_slice())
                    .map_err(backend)?;
            }
            txn.commit().map_err(backend)?;
            Ok(key)
        })
        .await
    }

    async fn delete_key(&self, id: KeyId) -> Result<(), StoreError> {
        self.run(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            {
                let mut keys = txn.open_table(KEYS).map_err(backend)?;
                keys.remove(id.to_string().as_str()).map_err(backend)?;
                let mut aliases = txn.open_table(ALIASES).map_err(backend)?;
                let mut doomed = Vec::new();
                for entry in aliases.iter().map_err(backend)? {
                    let (k, v) = entry.map_err(backend)?;
                    let alias: AliasRecord = decode(v.value())?;
                    if alias.key_id == id {
                        doomed.push(k.value().to_owned());
                    }
                }
                for k in doomed {
                    aliases.remove(k.as_str()).map_err(backend)?;
                }
            }
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn get_alias(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<AliasRecord>, StoreError> {
        let key = alias_key(namespace, name);
        self.run(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(ALIASES).map_err(backend)?;
            let found = table.get(key.as_str()).map_err(backend)?;
            found.map(|v| decode(v.value())).transpose()
        })
        .await
    }

    async fn list_aliases(&self, namespace: &str) -> Result<Vec<AliasRecord>, StoreError> {
        let prefix = alias_key(namespace, "");
        self.run(move |db| Self::scan(db, ALIASES, Some(&prefix)))
            .await
    }

    async fn create_alias(&self, alias: AliasRecord) -> Result<(), StoreError> {
        self.run(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            {
                let mut table = txn.open_table(ALIASES).map_err(backend)?;
                let key = alias_key(&alias.namespace, &alias.name);
                if table.get(key.as_str()).map_err(backend)?.is_some() {
                    return Err(StoreError::AlreadyExists(alias.name.clone()));
                }
                table
                    .insert(key.as_str(), encode(&alias)?.as_slice())
                    .map_err(backend)?;
            }
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn update_alias(&self, alias: AliasRecord) -> Result<(), StoreError> {
        self.run(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            {
                let mut table = txn.open_table(ALIASES).map_err(backend)?;
                let key = alias_key(&alias.namespace, &alias.name);
                if table.get(key.as_str()).map_err(backend)?.is_none() {
                    return Err(StoreError::NotFound(alias.name.clone()));
                }
                table
                    .insert(key.as_str(), encode(&alias)?.as_slice())
                    .map_err(backend)?;
            }
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn delete_alias(&self, namespace: &str, name: &str) -> Result<(), StoreError> {
        let key = alias_key(namespace, name);
        let name = name.to_owned();
        self.run(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            {
                let mut table = txn.open_table(ALIASES).map_err(backend)?;
                if table.remove(key.as_str()).map_err(backend)?.is_none() {
                    return Err(StoreError::NotFound(name));
                }
            }
            txn.commit().map_err(backend)
        })
        .await
    }
}
