//! Reading what a store holds into its in-memory index.

use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, TableDefinition, TableError};

use super::compat::decode_known;
use super::{ALIASES, GRANTS, Index, KEYS, META, USAGE, USAGE_SINCE, backend, decode};
use crate::grant::GrantRecord;
use crate::key::KeyRecord;
use crate::store::{AliasRecord, StoreError};

type Table = TableDefinition<'static, &'static str, &'static [u8]>;

/// A table, or none if this store has not got it yet (a new store, or one
/// from before it was added): nothing is created while reading.
fn table(
    txn: &ReadTransaction,
    definition: Table,
) -> Result<Option<ReadOnlyTable<&'static str, &'static [u8]>>, StoreError> {
    match txn.open_table(definition) {
        Ok(table) => Ok(Some(table)),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(backend(e)),
    }
}

/// Every row of a table that may be missing, as (key, record) pairs
/// handed to `each`.
fn each_row(
    txn: &ReadTransaction,
    definition: Table,
    mut each: impl FnMut(&str, &[u8]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let Some(table) = table(txn, definition)? else {
        return Ok(());
    };
    for entry in table.iter().map_err(backend)? {
        let (key, record) = entry.map_err(backend)?;
        each(key.value(), record.value())?;
    }
    Ok(())
}

/// Everything committed, read into memory; every record is checked to
/// hold nothing this version does not know (`compat`). `usage_since` is 0
/// when the store has not recorded it yet.
pub(super) fn load_index(txn: &ReadTransaction) -> Result<Index, StoreError> {
    let mut index = Index::default();
    each_row(txn, KEYS, |id, record| {
        let key: KeyRecord = decode_known(record, &format!("of key {id}"))?;
        index.keys.insert(key.key_id, key);
        Ok(())
    })?;
    each_row(txn, ALIASES, |name, record| {
        let name = name.replace('\0', "/");
        let alias: AliasRecord = decode_known(record, &format!("of alias {name}"))?;
        index
            .aliases
            .insert((alias.namespace.clone(), alias.name.clone()), alias);
        Ok(())
    })?;
    each_row(txn, GRANTS, |name, record| {
        let what = format!("of grant {}", name.replace('\0', "/"));
        let grant: GrantRecord = decode_known(record, &what)?;
        index
            .grants
            .insert((grant.key_id, grant.grant_id.clone()), grant);
        Ok(())
    })?;
    each_row(txn, USAGE, |id, record| {
        let what = format!("of key {id}'s usage");
        let key = id
            .parse()
            .map_err(|e| StoreError::Backend(format!("damaged record {what}: {e}")))?;
        index.usage.insert(key, decode_known(record, &what)?);
        Ok(())
    })?;
    if let Some(meta) = table(txn, META)?
        && let Some(since) = meta.get(USAGE_SINCE).map_err(backend)?
    {
        index.usage_since = decode(since.value(), USAGE_SINCE)?;
    }
    Ok(index)
}
