//! The in-memory index the cluster-mode endpoint serves from, fed by watch
//! events. Pure: tested by feeding it events, no API server needed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::runtime::watcher::Event;
use zeroize::Zeroizing;

use super::grants::{GrantEntry, grant_entry};
use crate::auth::{Credential, Credentials};
use crate::grant::GrantRecord;
use crate::key::{KeyRecord, Millis};
use crate::key_id::KeyId;
use crate::operator::{alias_plan, key_secret};
use crate::resource::{Condition, KmsAlias, KmsGrant};
use crate::store::AliasRecord;

/// Label that marks a Secret as a SigV4 access key for the endpoint. Its
/// data holds `accessKeyId` and `secretAccessKey`; the caller's namespace is
/// the Secret's, its principal the `kubekms.io/principal` annotation (or the
/// Secret's name).
pub const CREDENTIALS_LABEL: &str = "kubekms.io/credentials";
pub const PRINCIPAL_ANNOTATION: &str = "kubekms.io/principal";

type ObjectKey = (String, String);

fn object_key<K: ResourceExt>(obj: &K) -> ObjectKey {
    (obj.namespace().unwrap_or_default(), obj.name_any())
}

/// One kind's objects, by namespace and name, with relists applied
/// atomically: readers never see a half-rebuilt cache. Fed by one watch
/// over every namespace, or by one watch per namespace served, each of
/// which relists its own namespace's objects.
struct Cache<T> {
    live: HashMap<ObjectKey, T>,
    /// Lists under way, by the namespace their watch covers (`None`: every
    /// namespace).
    rebuilding: HashMap<Option<String>, HashMap<ObjectKey, T>>,
    /// The watches that have listed at least once.
    listed: BTreeSet<Option<String>>,
    /// How many watches feed this cache.
    watches: usize,
}

impl<T> Cache<T> {
    fn fed_by(watches: usize) -> Self {
        Cache {
            live: HashMap::new(),
            rebuilding: HashMap::new(),
            listed: BTreeSet::new(),
            watches,
        }
    }

    fn synced(&self) -> bool {
        self.listed.len() >= self.watches
    }

    fn handle<K: ResourceExt>(
        &mut self,
        watch: Option<&str>,
        event: &Event<K>,
        parse: impl Fn(&K) -> Option<T>,
    ) {
        let watch_key = || watch.map(str::to_owned);
        match event {
            Event::Init => {
                self.rebuilding.insert(watch_key(), HashMap::new());
            }
            Event::InitApply(obj) => {
                if let (Some(map), Some(value)) =
                    (self.rebuilding.get_mut(&watch_key()), parse(obj))
                {
                    map.insert(object_key(obj), value);
                }
            }
            Event::InitDone => {
                if let Some(map) = self.rebuilding.remove(&watch_key()) {
                    // What this watch covers is replaced; other watches'
                    // namespaces are theirs.
                    self.live
                        .retain(|(namespace, _), _| watch.is_some_and(|w| w != namespace));
                    self.live.extend(map);
                }
                self.listed.insert(watch_key());
            }
            Event::Apply(obj) => match parse(obj) {
                Some(value) => {
                    self.live.insert(object_key(obj), value);
                }
                None => {
                    self.live.remove(&object_key(obj));
                }
            },
            Event::Delete(obj) => {
                self.live.remove(&object_key(obj));
            }
        }
    }
}

/// A key as its Secret holds it, with the `KmsKey` it belongs to.
#[derive(Debug, Clone)]
struct KeyEntry {
    record: KeyRecord,
    /// The KmsKey's name (from the Secret's annotation).
    key_name: Option<String>,
}

pub struct ClusterIndex {
    keys: Cache<KeyEntry>,
    by_id: HashMap<KeyId, ObjectKey>,
    aliases: Cache<AliasEntry>,
    grants: Cache<GrantEntry>,
    credentials: Cache<Credential>,
}

/// One watch per kind over every namespace.
impl Default for ClusterIndex {
    fn default() -> Self {
        ClusterIndex::fed_by(1)
    }
}

impl ClusterIndex {
    /// An index fed by `watches` watches per kind (one per namespace of a
    /// scope): synced once each has listed.
    pub fn fed_by(watches: usize) -> Self {
        ClusterIndex {
            keys: Cache::fed_by(watches),
            by_id: HashMap::new(),
            aliases: Cache::fed_by(watches),
            grants: Cache::fed_by(watches),
            credentials: Cache::fed_by(watches),
        }
    }

    /// An event of a watch over every namespace.
    pub fn key_secret_event(&mut self, event: &Event<Secret>) {
        self.key_secret_event_in(None, event)
    }

    /// An event of the watch over namespace `watch` (`None`: every one).
    pub fn key_secret_event_in(&mut self, watch: Option<&str>, event: &Event<Secret>) {
        self.keys.handle(watch, event, |secret| {
            let stored = key_secret::view(secret).ok()?;
            let mut record = stored.record;
            // The Secret's resourceVersion is the record's revision: writes
            // through the API compare against it.
            record.revision = stored
                .resource_version
                .as_deref()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            Some(KeyEntry {
                record,
                key_name: key_secret::key_name(secret),
            })
        });
        // Rebuilt from the live map: small, and never out of step with it.
        // While a key is being moved to another namespace (`move-key`) two
        // Secrets hold it for a moment: the copy, not pending deletion,
        // is the key.
        let mut by_id: HashMap<KeyId, (bool, ObjectKey)> = HashMap::new();
        for (place, entry) in &self.keys.live {
            let live = entry.record.deletion.is_none();
            let held = by_id
                .entry(entry.record.key_id)
                .or_insert((live, place.clone()));
            if (live, place) > (held.0, &held.1) {
                *held = (live, place.clone());
            }
        }
        self.by_id = by_id
            .into_iter()
            .map(|(id, (_, place))| (id, place))
            .collect();
    }

    pub fn alias_event(&mut self, event: &Event<KmsAlias>) {
        self.alias_event_in(None, event)
    }

    pub fn alias_event_in(&mut self, watch: Option<&str>, event: &Event<KmsAlias>) {
        self.aliases.handle(watch, event, alias_entry);
    }

    pub fn grant_event(&mut self, event: &Event<KmsGrant>) {
        self.grant_event_in(None, event)
    }

    pub fn grant_event_in(&mut self, watch: Option<&str>, event: &Event<KmsGrant>) {
        self.grants.handle(watch, event, grant_entry);
    }

    /// The grants on key `id`: those its namespace's `KmsGrant`s declare
    /// on its `KmsKey`.
    pub fn grants_of(&self, id: KeyId) -> Vec<GrantRecord> {
        let Some((namespace, name)) = self.key_object(id) else {
            return Vec::new();
        };
        self.grants
            .live
            .values()
            .filter(|g| g.namespace == namespace && g.key_name == name)
            .map(|g| g.record(id))
            .collect()
    }

    /// Every grant on a key this index holds.
    pub fn all_grants(&self) -> Vec<GrantRecord> {
        self.grants
            .live
            .values()
            .filter_map(|g| {
                let place = (g.namespace.clone(), key_secret::secret_name(&g.key_name));
                let key = self.keys.live.get(&place)?;
                (key.key_name.as_deref() == Some(g.key_name.as_str()))
                    .then(|| g.record(key.record.key_id))
            })
            .collect()
    }

    /// The namespace and name of the `KmsGrant` declaring grant `grant_id`
    /// on key `id`.
    pub fn grant_object(&self, id: KeyId, grant_id: &str) -> Option<(String, String)> {
        let (namespace, name) = self.key_object(id)?;
        self.grants
            .live
            .values()
            .find(|g| g.namespace == namespace && g.key_name == name && g.grant_id() == grant_id)
            .map(|g| (g.namespace.clone(), g.object.clone()))
    }

    pub fn credential_event(&mut self, event: &Event<Secret>) {
        self.credential_event_in(None, event)
    }

    pub fn credential_event_in(&mut self, watch: Option<&str>, event: &Event<Secret>) {
        self.credentials.handle(watch, event, credential);
    }

    /// Whether every cache has listed once: serve only then.
    pub fn synced(&self) -> bool {
        self.keys.synced()
            && self.aliases.synced()
            && self.grants.synced()
            && self.credentials.synced()
    }

    pub fn key(&self, id: KeyId) -> Option<KeyRecord> {
        self.entry(id).map(|e| e.record.clone())
    }

    fn entry(&self, id: KeyId) -> Option<&KeyEntry> {
        self.by_id
            .get(&id)
            .and_then(|place| self.keys.live.get(place))
    }

    /// The namespace and name of the `KmsKey` that holds key `id`.
    pub fn key_object(&self, id: KeyId) -> Option<(String, String)> {
        let entry = self.entry(id)?;
        Some((entry.record.namespace.clone(), entry.key_name.clone()?))
    }

    /// The name of the `KmsAlias` object that defines `name` in `namespace`.
    pub fn alias_object(&self, namespace: &str, name: &str) -> Option<String> {
        self.aliases
            .live
            .iter()
            .find(|(_, a)| a.namespace == namespace && a.name == name && self.resolve(a).is_some())
            .map(|((_, object), _)| object.clone())
    }

    /// Keys of one namespace, ordered by key id.
    pub fn keys_in(&self, namespace: &str) -> Vec<KeyRecord> {
        let mut keys: Vec<KeyRecord> = self
            .keys
            .live
            .iter()
            .filter(|((ns, _), _)| ns == namespace)
            .map(|(_, k)| k.record.clone())
            .collect();
        keys.sort_by_key(|k| k.key_id.to_string());
        keys
    }

    pub fn all_keys(&self) -> Vec<KeyRecord> {
        self.keys.live.values().map(|k| k.record.clone()).collect()
    }

    pub fn alias(&self, namespace: &str, name: &str) -> Option<AliasRecord> {
        self.aliases
            .live
            .values()
            .filter(|a| a.namespace == namespace && a.name == name)
            .find_map(|a| self.resolve(a))
    }

    /// Aliases of one namespace, ordered by name.
    pub fn aliases_in(&self, namespace: &str) -> Vec<AliasRecord> {
        let by_name: BTreeMap<&str, AliasRecord> = self
            .aliases
            .live
            .values()
            .filter(|a| a.namespace == namespace)
            .filter_map(|a| Some((a.name.as_str(), self.resolve(a)?)))
            .collect();
        by_name.into_values().collect()
    }

    /// The key `alias` names now, if any.
    fn resolve(&self, alias: &AliasEntry) -> Option<AliasRecord> {
        let key_id = match &alias.target {
            AliasTarget::Resolved(key_id) => *key_id,
            AliasTarget::PendingKey(key_name) => {
                let place = (alias.namespace.clone(), key_secret::secret_name(key_name));
                let entry = self.keys.live.get(&place)?;
                let pending = entry.record.deletion.is_some()
                    && entry.key_name.as_deref() == Some(key_name.as_str());
                pending.then_some(entry.record.key_id)?
            }
        };
        Some(AliasRecord {
            namespace: alias.namespace.clone(),
            name: alias.name.clone(),
            key_id,
            created: alias.created,
            updated: alias.created,
        })
    }

    /// The access keys. An access key id defined by more than one Secret
    /// is ambiguous, so it authenticates no one until that is fixed: picking
    /// one would let a Secret in one namespace take over another's callers.
    pub fn credentials(&self) -> Credentials {
        let mut count: HashMap<&str, usize> = HashMap::new();
        for c in self.credentials.live.values() {
            *count.entry(c.access_key_id.as_str()).or_default() += 1;
        }
        Credentials::new(self.credentials.live.iter().filter_map(|((ns, name), c)| {
            if count[c.access_key_id.as_str()] > 1 {
                tracing::warn!(access_key_id = %c.access_key_id, secret = %format!("{ns}/{name}"), "access key id defined by more than one Secret; refusing it");
                return None;
            }
            Some(c.clone())
        }))
    }
}

/// A `KmsAlias` as the endpoint reads it.
#[derive(Debug, Clone)]
struct AliasEntry {
    namespace: String,
    /// The full name, `alias/...`.
    name: String,
    created: Millis,
    target: AliasTarget,
}

#[derive(Debug, Clone)]
enum AliasTarget {
    /// The controller resolved it (Ready, with a target key id).
    Resolved(KeyId),
    /// Not Ready only because the `KmsKey` it names is gone or not usable:
    /// if that key is pending deletion (its object deleted, its Secret
    /// kept), the alias still names it, as an AWS alias names a key
    /// pending deletion until the key is deleted.
    PendingKey(String),
}

/// An alias the controller resolved, or one that waits on its key; others
/// (an invalid name, a name another alias holds, no status yet) do not
/// resolve.
fn alias_entry(alias: &KmsAlias) -> Option<AliasEntry> {
    let status = alias.status.as_ref()?;
    let ready = Condition::ready_in(&status.conditions)?;
    let target = if ready.status == "True" {
        AliasTarget::Resolved(status.target_key_id.as_deref()?.parse().ok()?)
    } else if [
        alias_plan::KEY_NOT_FOUND,
        alias_plan::KEY_NOT_READY,
        alias_plan::KEY_PENDING_DELETION,
    ]
    .contains(&ready.reason.as_str())
    {
        AliasTarget::PendingKey(alias.spec.target_key_ref.name.clone())
    } else {
        return None;
    };
    Some(AliasEntry {
        namespace: alias.namespace().unwrap_or_default(),
        name: alias.spec.alias_name.clone(),
        created: alias
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(0, |t| t.0.as_millisecond()),
        target,
    })
}

fn credential(secret: &Secret) -> Option<Credential> {
    let data = secret.data.as_ref()?;
    let text = |k: &str| {
        data.get(k)
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
    };
    let access_key_id = text("accessKeyId")?;
    let secret_access_key = Zeroizing::new(text("secretAccessKey")?);
    if access_key_id.is_empty() || secret_access_key.is_empty() {
        return None;
    }
    Some(Credential {
        access_key_id,
        secret_access_key,
        principal: secret
            .annotations()
            .get(PRINCIPAL_ANNOTATION)
            .cloned()
            .unwrap_or_else(|| secret.name_any()),
        namespace: secret.namespace().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests;
