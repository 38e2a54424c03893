//! Key usage in a cluster. Each replica of the endpoint records uses in
//! memory (as `serve` does) and writes a key's latest one to its `KmsKey`
//! status (`lastUsage`), at most once an hour per key: a busy key costs the
//! API server one status write an hour per replica, not one per batch.
//! Another replica's answer can therefore be up to an hour behind. A
//! replica reads the field before it writes and leaves a later use there
//! alone, so the field never moves back to an older use.

use std::collections::HashMap;

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use crate::key::Millis;
use crate::key_id::KeyId;
use crate::resource::{KeyLastUsage, KmsKey, KmsKeyStatus};
use crate::store::StoredUsage;
use crate::usage::{KeyUsage, UsedFor, later};

/// How often one replica writes one key's last use.
pub const WRITE_EVERY: Millis = 60 * 60 * 1000;
/// The field manager of the endpoint's status writes; the controller's is
/// another, so neither's server-side apply removes the other's fields.
pub const FIELD_MANAGER: &str = "kube-kms-api";

/// Which uses are written when. Pure: the store writes what it says.
#[derive(Debug, Default)]
pub struct Throttle {
    /// When this replica last wrote each key's use.
    written: HashMap<KeyId, Millis>,
    /// Each key's latest use not written yet.
    waiting: HashMap<KeyId, KeyUsage>,
}

impl Throttle {
    /// Takes `uses` in and returns the ones to write now: those of keys
    /// this replica has not written for an hour (or ever), or every one
    /// waiting if `all` (a clean stop). The rest wait.
    pub fn due(
        &mut self,
        uses: Vec<(KeyId, KeyUsage)>,
        now: Millis,
        all: bool,
    ) -> Vec<(KeyId, KeyUsage)> {
        for (id, used) in uses {
            self.keep_latest(id, used);
        }
        let due: Vec<KeyId> = self
            .waiting
            .keys()
            .filter(|id| {
                all || self
                    .written
                    .get(id)
                    .is_none_or(|&at| now.saturating_sub(at) >= WRITE_EVERY)
            })
            .copied()
            .collect();
        due.into_iter()
            .filter_map(|id| Some((id, self.waiting.remove(&id)?)))
            .collect()
    }

    /// `id`'s use was written (or has nowhere to go) at `now`.
    pub fn written(&mut self, id: KeyId, now: Millis) {
        self.written.insert(id, now);
    }

    /// A write that failed: the use waits for the next call, unless a
    /// later one came meanwhile.
    pub fn retry(&mut self, id: KeyId, used: KeyUsage) {
        self.keep_latest(id, used);
    }

    /// `used` waits, unless a later use of `id` already does.
    fn keep_latest(&mut self, id: KeyId, used: KeyUsage) {
        let waiting = self.waiting.get(&id).copied();
        self.waiting
            .insert(id, later(waiting, Some(used)).unwrap_or(used));
    }

    /// `id` no longer exists.
    pub fn forget(&mut self, id: KeyId) {
        self.written.remove(&id);
        self.waiting.remove(&id);
    }
}

/// How long a `KmsKey`'s usage, once read, answers GetKeyLastUsage: a
/// caller polling it costs the API server a GET a minute per key, not one
/// per call (the field itself is up to an hour behind).
pub const READ_FRESH: Millis = 60 * 1000;

/// The usage read from each key's `KmsKey`, and when.
#[derive(Debug, Default)]
pub struct ReadCache {
    read: HashMap<KeyId, (Millis, StoredUsage)>,
}

impl ReadCache {
    /// `id`'s usage as read less than [`READ_FRESH`] ago.
    pub fn get(&self, id: KeyId, now: Millis) -> Option<StoredUsage> {
        self.read
            .get(&id)
            .filter(|(at, _)| now.saturating_sub(*at) < READ_FRESH)
            .map(|(_, stored)| *stored)
    }

    pub fn put(&mut self, id: KeyId, now: Millis, stored: StoredUsage) {
        // Stale entries go as new ones come: at most one per key read.
        self.read
            .retain(|_, (at, _)| now.saturating_sub(*at) < READ_FRESH);
        self.read.insert(id, (now, stored));
    }
}

/// The server-side apply of `used` to a `KmsKey`'s status.
pub fn status_patch(used: &KeyUsage) -> Value {
    json!({
        "apiVersion": "kubekms.io/v1alpha1",
        "kind": "KmsKey",
        "status": {"lastUsage": to_status(used)},
    })
}

fn to_status(used: &KeyUsage) -> KeyLastUsage {
    let at = Timestamp::from_millisecond(used.at).unwrap_or_default();
    KeyLastUsage {
        operation: used.operation.as_str().to_owned(),
        timestamp: at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        request_id: used.request_id.to_string(),
    }
}

/// What a `KmsKey`'s status holds of its key's use. A field it cannot read
/// (written by hand, say) counts as absent.
pub fn stored(key: &KmsKey) -> StoredUsage {
    let Some(status) = &key.status else {
        return StoredUsage::default();
    };
    StoredUsage {
        since: status.usage_tracked_since.as_deref().and_then(millis),
        last: last_usage(status),
    }
}

fn last_usage(status: &KmsKeyStatus) -> Option<KeyUsage> {
    let last = status.last_usage.as_ref()?;
    Some(KeyUsage {
        operation: UsedFor::named(&last.operation)?,
        at: millis(&last.timestamp)?,
        request_id: last.request_id.parse().ok()?,
    })
}

fn millis(text: &str) -> Option<Millis> {
    text.parse::<Timestamp>().ok().map(|t| t.as_millisecond())
}

#[cfg(test)]
mod tests;
