//! A bounded cache of unsealed material, keyed by the exact sealed blob, so
//! repeated operations with one key cost the cipher, not the unseal.
//!
//! Bounded in entries (oldest evicted first) and in time (an entry leaves
//! at most `ttl` after it was unsealed, whether or not it is used). Evicted
//! material is zeroized when the last in-flight operation using it ends.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::material::LoadedKey;
use crate::seal::MaterialId;

/// Unsealed, parsed material and what it is.
#[derive(Debug)]
pub struct Unsealed {
    pub id: MaterialId,
    pub key: LoadedKey,
}

#[derive(Debug, Clone, Copy)]
pub struct CacheConfig {
    pub max_entries: usize,
    pub ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        // 1024 keys covers a busy cluster's working set; five minutes bounds
        // how long material outlives its last use.
        CacheConfig {
            max_entries: 1024,
            ttl: Duration::from_secs(300),
        }
    }
}

#[derive(Debug)]
pub struct MaterialCache {
    config: CacheConfig,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Arc<[u8]>, (Arc<Unsealed>, Instant)>,
    // Insertion order; with one ttl for all, the front expires first.
    order: VecDeque<(Arc<[u8]>, Instant)>,
}

impl Inner {
    fn expire(&mut self, now: Instant, ttl: Duration) {
        while let Some((_, inserted)) = self.order.front() {
            if now.duration_since(*inserted) < ttl {
                break;
            }
            if let Some((blob, inserted)) = self.order.pop_front() {
                self.remove_if(&blob, inserted);
            }
        }
    }

    // An entry replaced after expiry has a newer timestamp; leave it alone.
    fn remove_if(&mut self, blob: &[u8], inserted: Instant) {
        if self
            .entries
            .get(blob)
            .is_some_and(|(_, at)| *at == inserted)
        {
            self.entries.remove(blob);
        }
    }
}

impl MaterialCache {
    pub fn new(config: CacheConfig) -> Self {
        MaterialCache {
            config,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps inconsistent
        // in a way that matters: at worst an entry is missing.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, sealed: &[u8]) -> Option<Arc<Unsealed>> {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.expire(now, self.config.ttl);
        inner.entries.get(sealed).map(|(u, _)| u.clone())
    }

    pub fn insert(&self, sealed: &[u8], unsealed: Arc<Unsealed>) {
        if self.config.max_entries == 0 {
            return;
        }
        let now = Instant::now();
        let mut inner = self.lock();
        inner.expire(now, self.config.ttl);
        while inner.entries.len() >= self.config.max_entries {
            let Some((blob, inserted)) = inner.order.pop_front() else {
                break;
            };
            inner.remove_if(&blob, inserted);
        }
        let blob: Arc<[u8]> = Arc::from(sealed);
        inner.order.push_back((blob.clone(), now));
        inner.entries.insert(blob, (unsealed, now));
    }

    /// Drops expired entries; called periodically so that material leaves
    /// memory on time even when no operation touches the cache.
    pub fn sweep(&self) {
        let now = Instant::now();
        self.lock().expire(now, self.config.ttl);
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
