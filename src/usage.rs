//! Key last usage, as GetKeyLastUsage reports it: each key's latest
//! successful cryptographic operation. A use is recorded in memory on the
//! request path (one map entry per key), and the uses not yet written go to
//! the store in batches, so using a key costs no disk write. A batch that
//! did not reach the store before the process died is lost; AWS's own
//! figure is eventually consistent too.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::key::Millis;
use crate::key_id::KeyId;
use crate::request_id::RequestId;

/// The operations a use is recorded for: AWS's
/// `KeyLastUsageTrackingOperation`, the successful cryptographic ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UsedFor {
    Encrypt,
    Decrypt,
    ReEncrypt,
    GenerateDataKey,
    GenerateDataKeyWithoutPlaintext,
    GenerateDataKeyPair,
    GenerateDataKeyPairWithoutPlaintext,
    Sign,
    Verify,
    GenerateMac,
    VerifyMac,
    DeriveSharedSecret,
    Encapsulate,
    Decapsulate,
}

impl UsedFor {
    pub const ALL: [UsedFor; 14] = [
        UsedFor::Encrypt,
        UsedFor::Decrypt,
        UsedFor::ReEncrypt,
        UsedFor::GenerateDataKey,
        UsedFor::GenerateDataKeyWithoutPlaintext,
        UsedFor::GenerateDataKeyPair,
        UsedFor::GenerateDataKeyPairWithoutPlaintext,
        UsedFor::Sign,
        UsedFor::Verify,
        UsedFor::GenerateMac,
        UsedFor::VerifyMac,
        UsedFor::DeriveSharedSecret,
        UsedFor::Encapsulate,
        UsedFor::Decapsulate,
    ];

    /// The operation named `name` (AWS's spelling), if it is one.
    pub fn named(name: &str) -> Option<UsedFor> {
        Self::ALL.into_iter().find(|op| op.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UsedFor::Encrypt => "Encrypt",
            UsedFor::Decrypt => "Decrypt",
            UsedFor::ReEncrypt => "ReEncrypt",
            UsedFor::GenerateDataKey => "GenerateDataKey",
            UsedFor::GenerateDataKeyWithoutPlaintext => "GenerateDataKeyWithoutPlaintext",
            UsedFor::GenerateDataKeyPair => "GenerateDataKeyPair",
            UsedFor::GenerateDataKeyPairWithoutPlaintext => "GenerateDataKeyPairWithoutPlaintext",
            UsedFor::Sign => "Sign",
            UsedFor::Verify => "Verify",
            UsedFor::GenerateMac => "GenerateMac",
            UsedFor::VerifyMac => "VerifyMac",
            UsedFor::DeriveSharedSecret => "DeriveSharedSecret",
            UsedFor::Encapsulate => "Encapsulate",
            UsedFor::Decapsulate => "Decapsulate",
        }
    }
}

/// One use of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyUsage {
    pub operation: UsedFor,
    pub at: Millis,
    pub request_id: RequestId,
}

/// The later of two uses; `a` on a tie (the one already known).
pub fn later(a: Option<KeyUsage>, b: Option<KeyUsage>) -> Option<KeyUsage> {
    match (a, b) {
        (Some(a), Some(b)) if b.at > a.at => Some(b),
        (Some(a), _) => Some(a),
        (None, b) => b,
    }
}

/// The latest use of each key seen by this process, and whether the store
/// has it yet.
#[derive(Debug, Default)]
pub struct UsageLog {
    entries: Mutex<HashMap<KeyId, Entry>>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    usage: KeyUsage,
    written: bool,
}

impl UsageLog {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<KeyId, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a use of `key`, unless a later one is already recorded
    /// (concurrent requests finish in any order).
    pub fn record(&self, key: KeyId, usage: KeyUsage) {
        let mut entries = self.entries();
        match entries.get_mut(&key) {
            Some(entry) if entry.usage.at > usage.at => {}
            Some(entry) => {
                *entry = Entry {
                    usage,
                    written: false,
                }
            }
            None => {
                entries.insert(
                    key,
                    Entry {
                        usage,
                        written: false,
                    },
                );
            }
        }
    }

    /// The latest use of `key` this process has seen.
    pub fn latest(&self, key: KeyId) -> Option<KeyUsage> {
        self.entries().get(&key).map(|e| e.usage)
    }

    /// The uses the store does not have yet, now counted as written; hand
    /// back the ones that could not be written with [`UsageLog::unwritten`].
    pub fn take_unwritten(&self) -> Vec<(KeyId, KeyUsage)> {
        let mut entries = self.entries();
        entries
            .iter_mut()
            .filter(|(_, e)| !e.written)
            .map(|(id, e)| {
                e.written = true;
                (*id, e.usage)
            })
            .collect()
    }

    /// Uses a write failed to store: they are written with the next batch,
    /// unless a later use of the same key has replaced them meanwhile.
    pub fn unwritten(&self, batch: &[(KeyId, KeyUsage)]) {
        let mut entries = self.entries();
        for (id, usage) in batch {
            if let Some(entry) = entries.get_mut(id).filter(|e| e.usage == *usage) {
                entry.written = false;
            }
        }
    }

    /// Forgets a key that no longer exists.
    pub fn forget(&self, key: KeyId) {
        self.entries().remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(operation: UsedFor, at: Millis) -> KeyUsage {
        KeyUsage {
            operation,
            at,
            request_id: RequestId::next(),
        }
    }

    fn key(n: u128) -> KeyId {
        KeyId::from_bytes(n.to_be_bytes())
    }

    #[test]
    fn the_latest_use_wins_whatever_order_requests_finish_in() {
        let log = UsageLog::default();
        let (first, second) = (usage(UsedFor::Encrypt, 10), usage(UsedFor::Decrypt, 20));
        log.record(key(1), second);
        log.record(key(1), first);
        assert_eq!(log.latest(key(1)), Some(second));
        let third = usage(UsedFor::Sign, 20);
        log.record(key(1), third);
        assert_eq!(
            log.latest(key(1)),
            Some(third),
            "a tie goes to the later record"
        );
        assert_eq!(log.latest(key(2)), None);
    }

    #[test]
    fn each_use_is_handed_to_the_store_once_and_again_if_its_write_failed() {
        let log = UsageLog::default();
        let a = usage(UsedFor::Encrypt, 10);
        let b = usage(UsedFor::GenerateMac, 11);
        log.record(key(1), a);
        log.record(key(2), b);
        let mut batch = log.take_unwritten();
        batch.sort_by_key(|(id, _)| *id);
        assert_eq!(batch, vec![(key(1), a), (key(2), b)]);
        assert!(log.take_unwritten().is_empty());

        // The write failed; meanwhile key 2 was used again.
        let c = usage(UsedFor::VerifyMac, 12);
        log.record(key(2), c);
        log.unwritten(&batch);
        let mut again = log.take_unwritten();
        again.sort_by_key(|(id, _)| *id);
        assert_eq!(again, vec![(key(1), a), (key(2), c)]);

        log.forget(key(1));
        assert_eq!(log.latest(key(1)), None);
        log.unwritten(&again);
        assert_eq!(log.take_unwritten(), vec![(key(2), c)]);
    }

    #[test]
    fn later_prefers_the_known_use_on_a_tie() {
        let (a, b) = (usage(UsedFor::Encrypt, 5), usage(UsedFor::Decrypt, 5));
        assert_eq!(later(Some(a), Some(b)), Some(a));
        assert_eq!(later(Some(a), Some(usage(UsedFor::Sign, 6))).unwrap().at, 6);
        assert_eq!(later(None, Some(b)), Some(b));
        assert_eq!(later(Some(a), None), Some(a));
        assert_eq!(later(None, None), None);
    }

    #[test]
    fn operations_are_named_as_aws_names_them() {
        for op in [
            UsedFor::GenerateDataKeyPairWithoutPlaintext,
            UsedFor::Decapsulate,
        ] {
            let json = serde_json::to_string(&op).unwrap();
            assert_eq!(json, format!("\"{}\"", op.as_str()));
        }
    }
}
