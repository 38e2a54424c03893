//! Reading what a store holds into its in-memory index.

use redb::{Database, ReadableTable};

use super::{ALIASES, GRANTS, Index, KEYS, META, USAGE, USAGE_SINCE, backend, decode};
use crate::grant::GrantRecord;
use crate::key::KeyRecord;
use crate::store::{AliasRecord, StoreError};

/// Everything committed, read into memory.
pub(super) fn load_index(db: &Database) -> Result<Index, StoreError> {
    let mut index = Index::default();
    let txn = db.begin_read().map_err(backend)?;
    for entry in txn
        .open_table(KEYS)
        .map_err(backend)?
        .iter()
        .map_err(backend)?
    {
        let (id, record) = entry.map_err(backend)?;
        let key: KeyRecord = decode(record.value(), &format!("of key {}", id.value()))?;
        index.keys.insert(key.key_id, key);
    }
    for entry in txn
        .open_table(ALIASES)
        .map_err(backend)?
        .iter()
        .map_err(backend)?
    {
        let (name, record) = entry.map_err(backend)?;
        let name = name.value().replace('\0', "/");
        let alias: AliasRecord = decode(record.value(), &format!("of alias {name}"))?;
        index
            .aliases
            .insert((alias.namespace.clone(), alias.name.clone()), alias);
    }
    for entry in txn
        .open_table(GRANTS)
        .map_err(backend)?
        .iter()
        .map_err(backend)?
    {
        let (name, record) = entry.map_err(backend)?;
        let what = format!("of grant {}", name.value().replace('\0', "/"));
        let grant: GrantRecord = decode(record.value(), &what)?;
        index
            .grants
            .insert((grant.key_id, grant.grant_id.clone()), grant);
    }
    for entry in txn
        .open_table(USAGE)
        .map_err(backend)?
        .iter()
        .map_err(backend)?
    {
        let (id, record) = entry.map_err(backend)?;
        let what = format!("of key {}'s usage", id.value());
        let key = id
            .value()
            .parse()
            .map_err(|e| StoreError::Backend(format!("damaged record {what}: {e}")))?;
        index.usage.insert(key, decode(record.value(), &what)?);
    }
    let meta = txn.open_table(META).map_err(backend)?;
    let since = meta
        .get(USAGE_SINCE)
        .map_err(backend)?
        .ok_or_else(|| backend(format!("{USAGE_SINCE} missing")))?;
    index.usage_since = decode(since.value(), USAGE_SINCE)?;
    Ok(index)
}
