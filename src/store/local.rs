//! The embedded default's store: redb in a data directory, with an in-memory
//! index in front. Every write is one transaction committed with fsync before
//! the call returns; reads come from the index, so the request path does no
//! I/O (the counterpart of the watch caches the cluster store reads).
//!
//! A write that fails in redb (a full disk, say) closes the database: redb
//! refuses every later write on a handle that saw an I/O error. The next
//! write opens it again and reloads the index from what is on disk, so
//! writes resume once the cause is gone, without a restart; reads go on
//! being served from the index meanwhile.

use std::collections::BTreeMap;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use redb::{Database, TableDefinition};

use super::{AliasRecord, KeyStore, StoreError, StoredUsage};
use crate::grant::{GrantRecord, MAX_GRANTS_PER_KEY};
use crate::key::{KeyRecord, Millis};
use crate::key_id::KeyId;
use crate::usage::KeyUsage;

/// key id → JSON `KeyRecord`.
const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("keys");
/// `namespace` NUL `alias name` → JSON `AliasRecord`.
const ALIASES: TableDefinition<&str, &[u8]> = TableDefinition::new("aliases");
/// `key id` NUL `grant id` → JSON `GrantRecord`.
const GRANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("grants");
/// key id → JSON `KeyUsage`, the key's last use.
const USAGE: TableDefinition<&str, &[u8]> = TableDefinition::new("key_usage");
/// The store's own facts: [`USAGE_SINCE`].
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// When the store began keeping key usage (JSON epoch milliseconds): when
/// it was created, or when a version that keeps it first opened it.
const USAGE_SINCE: &str = "usage_tracked_since";

/// What is committed, in memory. Changed only after a commit succeeds,
/// while holding the writer lock, so it never runs ahead of the disk.
#[derive(Default)]
struct Index {
    keys: BTreeMap<KeyId, KeyRecord>,
    aliases: BTreeMap<(String, String), AliasRecord>,
    grants: BTreeMap<(KeyId, String), GrantRecord>,
    usage: BTreeMap<KeyId, KeyUsage>,
    usage_since: Millis,
}

#[derive(Clone)]
pub struct LocalStore {
    index: Arc<RwLock<Index>>,
    // One writer at a time: checks against the index and the commit that
    // follows them are atomic.
    writer: Arc<Mutex<Writer>>,
}

/// The database, open unless a write failed since it was last opened.
struct Writer {
    path: PathBuf,
    db: Option<Database>,
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

fn grant_key(key: KeyId, grant_id: &str) -> String {
    format!("{key}\0{grant_id}")
}

/// A stored record; `what` names it in the error if it is damaged.
fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Backend(format!("damaged record {what}: {e}")))
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(backend)
}

/// One change, applied to redb and then to the index.
enum Write {
    PutKey(KeyRecord),
    /// A key, its usage and the aliases pointing at it.
    DeleteKey(KeyId, Vec<(String, String)>),
    PutUsage(KeyId, KeyUsage),
    PutAlias(AliasRecord),
    DeleteAlias(String, String),
    PutGrant(GrantRecord),
    DeleteGrants(Vec<(KeyId, String)>),
}

impl LocalStore {
    /// The database file in a data directory.
    pub const FILE_NAME: &str = "kube-kms.redb";

    /// Opens (or creates) `dir/kube-kms.redb` and loads its index.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_at(dir, crate::key::now_millis())
    }

    /// As [`LocalStore::open`]; a store it creates began tracking key usage
    /// at `now`, for an `Api` whose clock is not the system's (tests).
    pub fn open_at(dir: &Path, now: Millis) -> Result<Self, StoreError> {
        Self::create_private_dir(dir)?;
        let path = dir.join(Self::FILE_NAME);
        // The keys' descriptions, tags and policies are nobody else's
        // business: a new store is created private (redb would create it
        // 0644); an existing one keeps its mode. redb takes an empty file
        // as a new database, so a crash right after this is harmless.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(backend(format!("{}: {e}", path.display()))),
        }
        let (db, index) = open_database(&path, now)?;
        Ok(LocalStore {
            index: Arc::new(RwLock::new(index)),
            writer: Arc::new(Mutex::new(Writer { path, db: Some(db) })),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a write on the blocking pool under the writer lock: `decide`
    /// sees the committed index and returns the changes to make; they are
    /// committed (fsync) and only then applied to the index.
    async fn write<T: Send + 'static>(
        &self,
        decide: impl FnOnce(&Index) -> Result<(Vec<Write>, T), StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut writer = store.writer.lock().unwrap_or_else(|e| e.into_inner());
            let db = match writer.db.take() {
                Some(db) => db,
                None => {
                    // The last write failed: what is on disk is the truth
                    // (that write may or may not have reached it).
                    let (db, index) = open_database(&writer.path, crate::key::now_millis())?;
                    *store.index.write().unwrap_or_else(|e| e.into_inner()) = index;
                    tracing::info!(path = %writer.path.display(), "key store reopened after a failed write");
                    db
                }
            };
            let (writes, out) = match decide(&store.read()) {
                Ok(decided) => decided,
                Err(e) => {
                    writer.db = Some(db);
                    return Err(e);
                }
            };
            // Kept closed if the commit fails; see the module comment.
            if !writes.is_empty() {
                commit(&db, &writes)?;
            }
            writer.db = Some(db);
            let mut index = store.index.write().unwrap_or_else(|e| e.into_inner());
            for w in writes {
                match w {
                    Write::PutKey(k) => {
                        index.keys.insert(k.key_id, k);
                    }
                    Write::DeleteKey(id, doomed) => {
                        index.keys.remove(&id);
                        index.usage.remove(&id);
                        for d in doomed {
                            index.aliases.remove(&d);
                        }
                    }
                    Write::PutAlias(a) => {
                        index
                            .aliases
                            .insert((a.namespace.clone(), a.name.clone()), a);
                    }
                    Write::DeleteAlias(ns, name) => {
                        index.aliases.remove(&(ns, name));
                    }
                    Write::PutUsage(id, usage) => {
                        index.usage.insert(id, usage);
                    }
                    Write::PutGrant(g) => {
                        index.grants.insert((g.key_id, g.grant_id.clone()), g);
                    }
                    Write::DeleteGrants(doomed) => {
                        for d in doomed {
                            index.grants.remove(&d);
                        }
                    }
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| backend(format!("store task failed: {e}")))?
    }
}

/// Commits `writes` in one transaction (fsync before it returns).
fn commit(db: &Database, writes: &[Write]) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(backend)?;
    {
        let mut keys = txn.open_table(KEYS).map_err(backend)?;
        let mut aliases = txn.open_table(ALIASES).map_err(backend)?;
        let mut usage = txn.open_table(USAGE).map_err(backend)?;
        let mut grants = txn.open_table(GRANTS).map_err(backend)?;
        for w in writes {
            match w {
                Write::PutKey(k) => {
                    keys.insert(k.key_id.to_string().as_str(), encode(k)?.as_slice())
                        .map_err(backend)?;
                }
                Write::DeleteKey(id, doomed) => {
                    keys.remove(id.to_string().as_str()).map_err(backend)?;
                    usage.remove(id.to_string().as_str()).map_err(backend)?;
                    for (ns, name) in doomed {
                        aliases
                            .remove(alias_key(ns, name).as_str())
                            .map_err(backend)?;
                    }
                }
                Write::PutAlias(a) => {
                    aliases
                        .insert(
                            alias_key(&a.namespace, &a.name).as_str(),
                            encode(a)?.as_slice(),
                        )
                        .map_err(backend)?;
                }
                Write::DeleteAlias(ns, name) => {
                    aliases
                        .remove(alias_key(ns, name).as_str())
                        .map_err(backend)?;
                }
                Write::PutUsage(id, used) => {
                    usage
                        .insert(id.to_string().as_str(), encode(used)?.as_slice())
                        .map_err(backend)?;
                }
                Write::PutGrant(g) => {
                    grants
                        .insert(
                            grant_key(g.key_id, &g.grant_id).as_str(),
                            encode(g)?.as_slice(),
                        )
                        .map_err(backend)?;
                }
                Write::DeleteGrants(doomed) => {
                    for (key, id) in doomed {
                        grants
                            .remove(grant_key(*key, id).as_str())
                            .map_err(backend)?;
                    }
                }
            }
        }
    }
    txn.commit().map_err(backend)?;
    Ok(())
}

impl LocalStore {
    /// Creates `dir` and its missing parents, mode 0700 (an existing one is
    /// left as it is).
    pub fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| backend(format!("{}: {e}", dir.display())))
    }
}

/// Opens the database at `path`, or creates it, and reads it into an
/// index, taking `now` as when it began tracking key usage. A store this
/// version cannot keep whole is refused before anything is written to it
/// (`compat`); what a store from an older version lacks (tables, `meta`
/// entries) is added only after everything in it was read.
fn open_database(path: &Path, now: Millis) -> Result<(Database, Index), StoreError> {
    // redb asserts, rather than returning an error, on some damaged files
    // (a truncated one among them): say which file, and what to do.
    let db = match std::panic::catch_unwind(|| Database::create(path)) {
        Ok(Err(redb::DatabaseError::DatabaseAlreadyOpen)) => {
            return Err(backend(format!(
                "{} is in use by another process (another kube-kms serve with the same --data-dir?)",
                path.display()
            )));
        }
        Ok(opened) => opened.map_err(|e| backend(format!("{}: {e}", path.display())))?,
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            return Err(backend(format!(
                "{}: the file is damaged ({why}); restore it from a backup",
                path.display()
            )));
        }
    };
    let in_file = |e: StoreError| match e {
        StoreError::Backend(m) => backend(format!("{}: {m}", path.display())),
        other => other,
    };
    let (setup, mut index) = {
        let txn = db.begin_read().map_err(backend)?;
        let setup = compat::check(&txn).map_err(in_file)?;
        (setup, load_index(&txn).map_err(in_file)?)
    };
    if setup.needed() {
        let txn = db.begin_write().map_err(backend)?;
        txn.open_table(KEYS).map_err(backend)?;
        txn.open_table(ALIASES).map_err(backend)?;
        txn.open_table(USAGE).map_err(backend)?;
        txn.open_table(GRANTS).map_err(backend)?;
        {
            let mut meta = txn.open_table(META).map_err(backend)?;
            if setup.usage_since {
                meta.insert(USAGE_SINCE, encode(&now)?.as_slice())
                    .map_err(backend)?;
                index.usage_since = now;
            }
            if setup.format {
                meta.insert(compat::FORMAT, encode(&compat::STORE_FORMAT)?.as_slice())
                    .map_err(backend)?;
            }
        }
        txn.commit().map_err(backend)?;
    }
    Ok((db, index))
}

#[async_trait::async_trait]
impl KeyStore for LocalStore {
    async fn create_key(&self, key: KeyRecord) -> Result<KeyRecord, StoreError> {
        self.write(move |index| {
            if index.keys.contains_key(&key.key_id) {
                return Err(StoreError::AlreadyExists(format!("key {}", key.key_id)));
            }
            let key = KeyRecord { revision: 1, ..key };
            Ok((vec![Write::PutKey(key.clone())], key))
        })
        .await
    }

    async fn get_key(&self, id: KeyId) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.read().keys.get(&id).cloned())
    }

    async fn list_keys(&self, namespace: &str) -> Result<Vec<KeyRecord>, StoreError> {
        Ok(self
            .read()
            .keys
            .values()
            .filter(|k| k.namespace == namespace)
            .cloned()
            .collect())
    }

    async fn all_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        Ok(self.read().keys.values().cloned().collect())
    }

    async fn update_key(&self, key: KeyRecord) -> Result<KeyRecord, StoreError> {
        self.write(move |index| {
            let stored = index
                .keys
                .get(&key.key_id)
                .ok_or_else(|| StoreError::NotFound(format!("key {}", key.key_id)))?;
            if stored.revision != key.revision {
                return Err(StoreError::Conflict(format!("key {}", key.key_id)));
            }
            let key = KeyRecord {
                revision: key.revision + 1,
                ..key
            };
            Ok((vec![Write::PutKey(key.clone())], key))
        })
        .await
    }

    async fn delete_key(&self, id: KeyId, revision: u64) -> Result<(), StoreError> {
        self.write(move |index| {
            match index.keys.get(&id) {
                None => return Err(StoreError::NotFound(format!("key {id}"))),
                Some(stored) if stored.revision != revision => {
                    return Err(StoreError::Conflict(format!("key {id}")));
                }
                Some(_) => {}
            }
            let doomed = index
                .aliases
                .iter()
                .filter(|(_, a)| a.key_id == id)
                .map(|(k, _)| k.clone())
                .collect();
            let grants = grants_of(index, id).map(|(k, _)| k.clone()).collect();
            Ok((
                vec![Write::DeleteKey(id, doomed), Write::DeleteGrants(grants)],
                (),
            ))
        })
        .await
    }

    fn usage_tracked_since(&self) -> Option<Millis> {
        Some(self.read().usage_since)
    }

    async fn key_usage(&self, id: KeyId) -> Result<StoredUsage, StoreError> {
        Ok(StoredUsage {
            since: None,
            last: self.read().usage.get(&id).copied(),
        })
    }

    async fn record_usage(&self, uses: Vec<(KeyId, KeyUsage)>) -> Result<Vec<KeyId>, StoreError> {
        if uses.is_empty() {
            return Ok(Vec::new());
        }
        self.write(move |index| {
            let (kept, gone): (Vec<_>, Vec<_>) = uses
                .into_iter()
                .partition(|(id, _)| index.keys.contains_key(id));
            let writes = kept
                .into_iter()
                .filter(|(id, used)| index.usage.get(id).is_none_or(|stored| used.at > stored.at))
                .map(|(id, used)| Write::PutUsage(id, used))
                .collect();
            Ok((writes, gone.into_iter().map(|(id, _)| id).collect()))
        })
        .await
    }

    async fn get_alias(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<AliasRecord>, StoreError> {
        Ok(self
            .read()
            .aliases
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned())
    }

    async fn list_aliases(&self, namespace: &str) -> Result<Vec<AliasRecord>, StoreError> {
        Ok(self
            .read()
            .aliases
            .values()
            .filter(|a| a.namespace == namespace)
            .cloned()
            .collect())
    }

    async fn create_alias(&self, alias: AliasRecord) -> Result<(), StoreError> {
        self.write(move |index| {
            if index
                .aliases
                .contains_key(&(alias.namespace.clone(), alias.name.clone()))
            {
                return Err(StoreError::AlreadyExists(alias.name.clone()));
            }
            Ok((vec![Write::PutAlias(alias)], ()))
        })
        .await
    }

    async fn update_alias(&self, alias: AliasRecord) -> Result<(), StoreError> {
        self.write(move |index| {
            if !index
                .aliases
                .contains_key(&(alias.namespace.clone(), alias.name.clone()))
            {
                return Err(StoreError::NotFound(alias.name.clone()));
            }
            Ok((vec![Write::PutAlias(alias)], ()))
        })
        .await
    }

    async fn grants(&self, key: KeyId) -> Result<Vec<GrantRecord>, StoreError> {
        Ok(grants_of(&self.read(), key)
            .map(|(_, g)| g.clone())
            .collect())
    }

    async fn all_grants(&self) -> Result<Vec<GrantRecord>, StoreError> {
        Ok(self.read().grants.values().cloned().collect())
    }

    async fn create_grant(&self, grant: GrantRecord) -> Result<GrantRecord, StoreError> {
        self.write(move |index| {
            if !index.keys.contains_key(&grant.key_id) {
                return Err(StoreError::NotFound(format!("key {}", grant.key_id)));
            }
            let mut held = 0;
            for (_, g) in grants_of(index, grant.key_id) {
                if g.same_request(&grant) {
                    return Ok((Vec::new(), g.clone()));
                }
                held += 1;
            }
            if held >= MAX_GRANTS_PER_KEY {
                return Err(StoreError::LimitExceeded(format!(
                    "Key {} already has {held} grants, the most a key may have.",
                    grant.key_id
                )));
            }
            Ok((vec![Write::PutGrant(grant.clone())], grant))
        })
        .await
    }

    async fn delete_grant(&self, key: KeyId, grant_id: &str) -> Result<(), StoreError> {
        let place = (key, grant_id.to_owned());
        self.write(move |index| {
            if !index.grants.contains_key(&place) {
                return Err(StoreError::NotFound(format!("grant {}", place.1)));
            }
            Ok((vec![Write::DeleteGrants(vec![place])], ()))
        })
        .await
    }

    async fn delete_alias(&self, namespace: &str, name: &str) -> Result<(), StoreError> {
        let (namespace, name) = (namespace.to_owned(), name.to_owned());
        self.write(move |index| {
            if !index
                .aliases
                .contains_key(&(namespace.clone(), name.clone()))
            {
                return Err(StoreError::NotFound(name));
            }
            Ok((vec![Write::DeleteAlias(namespace, name)], ()))
        })
        .await
    }
}

mod compat;
mod load;
use load::load_index;

/// One key's grants in the index.
fn grants_of(index: &Index, key: KeyId) -> impl Iterator<Item = (&(KeyId, String), &GrantRecord)> {
    index
        .grants
        .range((key, String::new())..)
        .take_while(move |((k, _), _)| *k == key)
}

#[cfg(test)]
mod tests;
