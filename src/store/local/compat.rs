//! Whether this version can keep a store without losing any of it.
//!
//! Records are JSON read into this version's types, so a field a newer
//! version added would be dropped the next time this one wrote that record
//! back (a rotation, a tag), a table it added would go unmaintained (a
//! deleted key's rows left behind), and a meaning it changed would be
//! misread. A store is therefore opened only if everything in it is known
//! here: every table, every `meta` entry, every field of every record, and
//! a store format no newer than [`STORE_FORMAT`]. Anything else refuses
//! the store before a byte of it is written, naming what was not known.

use redb::{MultimapTableHandle, ReadTransaction, ReadableTable, TableHandle};
use serde_json::Value;

use super::{ALIASES, GRANTS, KEYS, META, USAGE, USAGE_SINCE, backend};
use crate::store::StoreError;

/// The store format this version writes and reads. Raise it for a change
/// that versions before it would misread even with every field known (a
/// value's meaning, a key's layout); a new field or table needs no raise,
/// since the checks here refuse it in older versions on their own.
pub(super) const STORE_FORMAT: u64 = 1;

/// `meta` entry: the store format the store was last opened with (JSON
/// number). Absent in stores from before it was kept, which are format 1.
pub(super) const FORMAT: &str = "store_format";

/// What opening a store that passed [`check`] still has to write.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Setup {
    /// Some of this version's tables are missing (a new store, or one from
    /// before a table was added).
    pub tables: bool,
    /// `usage_tracked_since` is missing.
    pub usage_since: bool,
    /// The store's format is missing or older than [`STORE_FORMAT`].
    pub format: bool,
}

impl Setup {
    pub fn needed(&self) -> bool {
        self.tables || self.usage_since || self.format
    }
}

/// Refuses a store with a table, a `meta` entry or a format this version
/// does not know; otherwise says what opening it must add.
pub(super) fn check(txn: &ReadTransaction) -> Result<Setup, StoreError> {
    let known = [
        KEYS.name(),
        ALIASES.name(),
        GRANTS.name(),
        USAGE.name(),
        META.name(),
    ];
    let mut present = Vec::new();
    for table in txn.list_tables().map_err(backend)? {
        let name = table.name().to_owned();
        if !known.contains(&name.as_str()) {
            return Err(newer(&format!("a table `{name}`")));
        }
        present.push(name);
    }
    if let Some(table) = txn.list_multimap_tables().map_err(backend)?.next() {
        return Err(newer(&format!("a table `{}`", table.name())));
    }
    let mut setup = Setup {
        tables: known.iter().any(|k| !present.iter().any(|p| p == k)),
        usage_since: true,
        format: true,
    };
    if !present.iter().any(|p| p == META.name()) {
        return Ok(setup);
    }
    let meta = txn.open_table(META).map_err(backend)?;
    for entry in meta.iter().map_err(backend)? {
        let (name, value) = entry.map_err(backend)?;
        match name.value() {
            USAGE_SINCE => setup.usage_since = false,
            FORMAT => {
                let format: u64 = serde_json::from_slice(value.value())
                    .map_err(|e| backend(format!("damaged record {FORMAT}: {e}")))?;
                if format > STORE_FORMAT {
                    return Err(newer(&format!(
                        "store format {format} (this version reads up to {STORE_FORMAT})"
                    )));
                }
                setup.format = format < STORE_FORMAT;
            }
            other => return Err(newer(&format!("a meta entry `{other}`"))),
        }
    }
    Ok(setup)
}

/// A record as this version reads it, refused if it has a field this
/// version does not know (it would be dropped when the record is next
/// written). `what` names it in the error.
pub(super) fn decode_known<T>(bytes: &[u8], what: &str) -> Result<T, StoreError>
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let damaged = |e: serde_json::Error| StoreError::Backend(format!("damaged record {what}: {e}"));
    let stored: Value = serde_json::from_slice(bytes).map_err(damaged)?;
    let record: T = serde_json::from_value(stored.clone()).map_err(damaged)?;
    match crate::unknown_fields::of(&stored, &record) {
        Some(path) => Err(newer(&format!("a field `{path}` in the record {what}"))),
        None => Ok(record),
    }
}

fn newer(what: &str) -> StoreError {
    StoreError::Backend(format!(
        "the store has {what}: a newer kube-kms wrote it, and this version would lose \
         what it does not know; run that version or a later one (nothing was changed)"
    ))
}
