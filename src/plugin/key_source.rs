//! The key being served, and how it follows the key file: the file is
//! polled, and a changed file replaces the keyring only if it loads, every
//! version round-trips, and it keeps every version served so far. Anything
//! else is logged and counted, and the last good key keeps serving.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::key_file::{self, KeyFile};
use super::keyring::Keyring;
use super::metrics::PluginMetrics;
use crate::root::RootKey;

/// What one look at the key file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The same bytes as last time (or the same failure).
    Unchanged,
    Loaded {
        key_id: String,
    },
    /// The file changed but cannot replace the key being served.
    Refused(String),
}

/// The key file's bytes, or why they could not be read.
type FileRead = Result<Vec<u8>, String>;

pub struct KeySource {
    path: PathBuf,
    root: Arc<dyn RootKey>,
    /// The format the keyrings it loads wrap seeds in.
    format: crate::ciphertext::Format,
    metrics: Arc<PluginMetrics>,
    serving: RwLock<Option<Arc<Keyring>>>,
    /// The last bytes read (or read error) and why they were refused, if
    /// they were: an unchanged good file costs one read and a comparison,
    /// and a bad file is reported once, not per poll.
    last_seen: Mutex<Option<(FileRead, Option<String>)>>,
    /// Why the latest file is not the one serving, while that is so.
    refusal: Mutex<Option<String>>,
}

impl KeySource {
    pub fn new(path: PathBuf, root: Arc<dyn RootKey>, metrics: Arc<PluginMetrics>) -> Self {
        KeySource {
            path,
            root,
            format: Default::default(),
            metrics,
            serving: RwLock::new(None),
            last_seen: Mutex::new(None),
            refusal: Mutex::new(None),
        }
    }

    /// The keyring serving now, if any key file has loaded yet.
    pub fn keyring(&self) -> Option<Arc<Keyring>> {
        self.serving
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Why the newest key file is not serving (while it is not).
    pub fn refusal(&self) -> Option<String> {
        self.refusal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Why there is no keyring to serve with (while there is none).
    pub fn why_no_key(&self) -> String {
        self.refusal()
            .unwrap_or_else(|| "no key file loaded yet".into())
    }

    /// Reads the key file and, if it changed, tries to serve it. A file
    /// that was refused is tried again on every call (the root key, say a
    /// PKCS#11 token, may come back), but the same refusal is reported
    /// once. Blocking (file and possibly PKCS#11 I/O): call it off the
    /// async workers.
    /// Has the keyrings it loads wrap seeds in `format`.
    pub fn writing(mut self, format: crate::ciphertext::Format) -> Self {
        self.format = format;
        self
    }

    pub fn reload(&self) -> Reload {
        let seen = key_file::read(&self.path)
            .map_err(|e| format!("cannot read key file {}: {e}", self.path.display()));
        let mut last = self.last_seen.lock().unwrap_or_else(|e| e.into_inner());
        let same_input = last.as_ref().is_some_and(|(input, _)| *input == seen);
        if same_input && last.as_ref().is_some_and(|(_, refused)| refused.is_none()) {
            return Reload::Unchanged;
        }
        let outcome = seen.clone().and_then(|bytes| self.try_serve(&bytes));
        let outcome = outcome.map_err(|why| match self.keyring() {
            Some(ring) => format!("{why}; still serving {}", ring.current_name()),
            None => why,
        });
        let refused = outcome.as_ref().err().cloned();
        if same_input && last.as_ref().is_some_and(|(_, r)| *r == refused) {
            return Reload::Unchanged;
        }
        *last = Some((seen, refused.clone()));
        *self.refusal.lock().unwrap_or_else(|e| e.into_inner()) = refused;
        match outcome {
            Ok(key_id) => {
                self.metrics.reloads.with_label_values(&["loaded"]).inc();
                Reload::Loaded { key_id }
            }
            Err(why) => {
                self.metrics.reloads.with_label_values(&["refused"]).inc();
                Reload::Refused(why)
            }
        }
    }

    fn try_serve(&self, bytes: &[u8]) -> Result<String, String> {
        let path = self.path.display();
        let file = KeyFile::parse(bytes).map_err(|e| format!("key file {path}: {e}"))?;
        let next = Keyring::load(&file, self.root.as_ref())
            .map_err(|e| format!("key file {path}: {e}"))?
            .writing(self.format);
        let mut serving = self.serving.write().unwrap_or_else(|e| e.into_inner());
        if let Some(current) = serving.as_ref() {
            current
                .check_successor(&next)
                .map_err(|e| format!("key file {path}: {e}"))?;
        }
        let key_id = next.current_name().to_owned();
        self.metrics
            .key_version
            .set(i64::from(next.current_version()));
        self.metrics.key_versions.set(next.version_count() as i64);
        self.metrics.last_reload.set(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
        );
        *serving = Some(Arc::new(next));
        Ok(key_id)
    }

    /// Polls the key file every `every`, logging what changed.
    pub fn spawn_watch(self: Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let source = self.clone();
                match tokio::task::spawn_blocking(move || source.reload()).await {
                    Ok(outcome) => log(&outcome),
                    Err(e) => tracing::error!(error = %e, "key file reload panicked"),
                }
            }
        })
    }
}

pub fn log(outcome: &Reload) {
    match outcome {
        Reload::Unchanged => {}
        Reload::Loaded { key_id } => tracing::info!(%key_id, "serving key from key file"),
        Reload::Refused(why) => tracing::error!("{why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key_id::KeyId;
    use crate::plugin::fixture::{self, key_file, version};

    #[test]
    fn follows_good_files_and_keeps_serving_through_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek.json");
        let root = fixture::root(1);
        let key = KeyId::from_bytes([5; 16]);
        let metrics = Arc::new(PluginMetrics::new(&prometheus::Registry::new()));
        let source = KeySource::new(path.clone(), Arc::new(fixture::root(1)), metrics.clone());
        assert!(matches!(source.reload(), Reload::Refused(why) if why.contains("cannot read")));
        assert_eq!(
            source.reload(),
            Reload::Unchanged,
            "the same failure is reported once"
        );
        assert!(source.keyring().is_none());

        let v1 = version(&root, key, 1);
        let write = |file: &KeyFile| key_file::write_atomic(&path, &file.to_json()).unwrap();
        write(&key_file(key, vec![v1.clone()]));
        let Reload::Loaded { key_id: first } = source.reload() else {
            panic!("v1 not loaded")
        };
        assert_eq!(source.reload(), Reload::Unchanged);
        assert_eq!(metrics.key_version.get(), 1);

        // Corrupt, truncated, another key, a dropped version: refused, and
        // the last good key keeps serving.
        let v2 = version(&root, key, 2);
        let good = key_file(key, vec![v1.clone(), v2.clone()]).to_json();
        let other = KeyId::from_bytes([6; 16]);
        for bad in [
            b"\x00garbage".to_vec(),
            good[..good.len() / 2].to_vec(),
            key_file(other, vec![version(&root, other, 1)]).to_json(),
            key_file(key, vec![v2.clone()]).to_json(),
            key_file(key, vec![version(&fixture::root(9), key, 1)]).to_json(),
        ] {
            key_file::write_atomic(&path, &bad).unwrap();
            let outcome = source.reload();
            assert!(
                matches!(&outcome, Reload::Refused(why) if why.contains(&format!("still serving {first}"))),
                "{outcome:?}"
            );
            assert_eq!(source.keyring().unwrap().current_name(), first);
            assert!(source.refusal().is_some());
        }
        key_file::write_atomic(&path, &good).unwrap();
        let Reload::Loaded { key_id: second } = source.reload() else {
            panic!("v2 not loaded")
        };
        assert_ne!(second, first);
        assert!(second.contains(":v2:"));
        assert!(source.refusal().is_none());
        assert_eq!(metrics.key_version.get(), 2);
        assert_eq!(metrics.key_versions.get(), 2);
        assert_eq!(metrics.reloads.with_label_values(&["loaded"]).get(), 2);
        assert_eq!(metrics.reloads.with_label_values(&["refused"]).get(), 6);
    }

    #[test]
    fn a_refused_file_is_tried_again_when_the_root_key_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek.json");
        let root = fixture::root(1);
        let key = KeyId::from_bytes([5; 16]);
        let file = key_file(key, vec![version(&root, key, 1)]);
        key_file::write_atomic(&path, &file.to_json()).unwrap();
        let flaky = Arc::new(Flaky {
            inner: fixture::root(1),
            down: std::sync::atomic::AtomicBool::new(true),
        });
        let metrics = Arc::new(PluginMetrics::new(&prometheus::Registry::new()));
        let source = KeySource::new(path, flaky.clone(), metrics);
        assert!(matches!(source.reload(), Reload::Refused(why) if why.contains("token gone")));
        assert_eq!(
            source.reload(),
            Reload::Unchanged,
            "the same refusal, reported once"
        );
        flaky.down.store(false, std::sync::atomic::Ordering::SeqCst);
        assert!(matches!(source.reload(), Reload::Loaded { .. }));
        assert!(source.refusal().is_none());
        assert_eq!(source.reload(), Reload::Unchanged);
    }

    /// A root key that fails while `down`, like an unplugged token.
    #[derive(Debug)]
    struct Flaky {
        inner: crate::root::FileRootKey,
        down: std::sync::atomic::AtomicBool,
    }

    impl RootKey for Flaky {
        fn current_version(&self) -> u32 {
            self.inner.current_version()
        }
        fn versions(&self) -> Vec<u32> {
            self.inner.versions()
        }
        fn seal(
            &self,
            version: u32,
            nonce: &[u8; 12],
            aad: &[u8],
            plaintext: &[u8],
        ) -> Result<Vec<u8>, crate::crypto::CryptoError> {
            self.inner.seal(version, nonce, aad, plaintext)
        }
        fn unseal(
            &self,
            version: u32,
            nonce: &[u8; 12],
            aad: &[u8],
            sealed: &[u8],
        ) -> Result<crate::secret::SecretBytes, crate::crypto::CryptoError> {
            if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(crate::crypto::CryptoError::RootKey("token gone".into()));
            }
            self.inner.unseal(version, nonce, aad, sealed)
        }
    }
}
