//! Where keys and aliases live. The endpoint and the lifecycle runtime see
//! only [`KeyStore`]; `local` is the embedded default's store (redb), and the
//! Kubernetes store will implement the same trait.

mod local;

pub use local::LocalStore;

use serde::{Deserialize, Serialize};

use crate::grant::{GrantRecord, TokenRef};
use crate::key::{KeyRecord, Millis};
use crate::key_id::KeyId;
use crate::usage::KeyUsage;

/// What a store holds of one key's use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredUsage {
    /// Since when the key's use is tracked, where the store knows it per
    /// key; else [`KeyStore::usage_tracked_since`] says.
    pub since: Option<Millis>,
    /// The latest use the store has.
    pub last: Option<KeyUsage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasRecord {
    pub namespace: String,
    /// The full name, `alias/...`.
    pub name: String,
    pub key_id: KeyId,
    pub created: Millis,
    pub updated: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0} does not exist")]
    NotFound(String),
    /// The record changed since it was read; read again and retry.
    #[error("{0} was changed concurrently")]
    Conflict(String),
    #[error("store: {0}")]
    Backend(String),
    /// The change was asked for but not carried out in time (in a
    /// cluster: by the controller); the message says what became of it.
    #[error("{0}")]
    Timeout(String),
    /// This store does not take this write (the message says where to
    /// make the change instead).
    #[error("{0}")]
    ReadOnly(String),
    /// A quota on the store's side (in a cluster: the namespace's
    /// ResourceQuota) leaves no room for this record.
    #[error("{0}")]
    LimitExceeded(String),
    /// A policy on the store's side forbids this write (in a cluster: an
    /// admission webhook or ValidatingAdmissionPolicy); the message is the
    /// policy's.
    #[error("{0}")]
    Forbidden(String),
    /// The store's schema refuses the record (in a cluster: the CRD's rules
    /// or a ValidatingAdmissionPolicy whose reason is Invalid).
    #[error("{0}")]
    Invalid(String),
    /// An earlier change of the same kind is still being carried out (in a
    /// cluster: an on-demand rotation the controller has not made yet).
    #[error("{0}")]
    InProgress(String),
}

/// The longest a store's write waits before it answers (a cluster's waits
/// for its controller to carry it out): what anyone waiting on another
/// deployment's write (a delivery to a replica Region) must allow.
pub const LONGEST_WRITE: std::time::Duration = std::time::Duration::from_secs(30);

/// A replica of a multi-Region key declared in this Region (from Git)
/// whose material has not arrived: this Region asks its primary's Region
/// for it (ReplicateKey there) at each replica sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwaitedReplica {
    pub key_id: KeyId,
    /// The Region its primary is in.
    pub primary_region: String,
    /// Where it is declared: its namespace is where it goes.
    pub namespace: String,
    pub name: String,
}

/// An on-demand rotation asked for and not made yet: in a cluster, the
/// controller rotates after RotateKeyOnDemand has returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingRotation {
    /// When it was asked for, if known (the endpoint's requests say; an
    /// annotation set by hand does not).
    pub since: Option<Millis>,
}

/// Keys and aliases. Writes are durable when they return. Updates are
/// compare-and-set on `KeyRecord::revision`.
#[async_trait::async_trait]
pub trait KeyStore: Send + Sync {
    /// Stores a new key; `AlreadyExists` if its id is taken.
    async fn create_key(&self, key: KeyRecord) -> Result<KeyRecord, StoreError>;
    async fn get_key(&self, id: KeyId) -> Result<Option<KeyRecord>, StoreError>;
    /// Keys of one namespace, ordered by key id.
    async fn list_keys(&self, namespace: &str) -> Result<Vec<KeyRecord>, StoreError>;
    /// Every key, for the lifecycle runtime.
    async fn all_keys(&self) -> Result<Vec<KeyRecord>, StoreError>;
    /// Replaces a key if its stored revision is still `key.revision`;
    /// returns it with its new revision.
    async fn update_key(&self, key: KeyRecord) -> Result<KeyRecord, StoreError>;
    /// Removes a key, every alias pointing at it and its grants, if its stored revision
    /// is still `revision` (`Conflict` otherwise).
    async fn delete_key(&self, id: KeyId, revision: u64) -> Result<(), StoreError>;

    async fn get_alias(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<AliasRecord>, StoreError>;
    /// Aliases of one namespace, ordered by name.
    async fn list_aliases(&self, namespace: &str) -> Result<Vec<AliasRecord>, StoreError>;
    /// `AlreadyExists` if the name is taken in the namespace.
    async fn create_alias(&self, alias: AliasRecord) -> Result<(), StoreError>;
    /// Points an existing alias at another key; `NotFound` if it does not exist.
    async fn update_alias(&self, alias: AliasRecord) -> Result<(), StoreError>;
    async fn delete_alias(&self, namespace: &str, name: &str) -> Result<(), StoreError>;

    /// One key's grants.
    async fn grants(&self, key: KeyId) -> Result<Vec<GrantRecord>, StoreError>;
    /// Every key's grants (ListRetirableGrants).
    async fn all_grants(&self) -> Result<Vec<GrantRecord>, StoreError>;
    /// Stores a new grant, unless one of its key's grants is the same
    /// request (`GrantRecord::same_request`): then returns that one.
    /// `NotFound` if the key is gone; `LimitExceeded` past
    /// `grant::MAX_GRANTS_PER_KEY`.
    async fn create_grant(&self, grant: GrantRecord) -> Result<GrantRecord, StoreError>;
    /// Removes a grant; `NotFound` if the key has no such grant.
    async fn delete_grant(&self, key: KeyId, grant_id: &str) -> Result<(), StoreError>;

    /// The name of the object declaring grant `grant_id` on `key`, where
    /// grants are objects (a cluster's `KmsGrant`s): CreateGrant's token
    /// names it, so that [`KeyStore::unseen_grant`] can find it.
    fn grant_object_name(&self, _key: KeyId, _grant_id: &str) -> Option<String> {
        None
    }

    /// The grant on `key` a presented token names that [`KeyStore::grants`]
    /// does not show yet (a replica whose watch has not brought it): read
    /// from where it is declared. `None` where grants are seen at once.
    async fn unseen_grant(
        &self,
        _key: KeyId,
        _token: &TokenRef,
    ) -> Result<Option<GrantRecord>, StoreError> {
        Ok(None)
    }

    /// Whether this store creates key material itself (a cluster, where the
    /// controller is the only minter). Then `create_key` receives a record
    /// without materials and returns it with version 1, and rotations go
    /// through [`KeyStore::request_rotation`].
    fn mints_material(&self) -> bool {
        false
    }

    /// When this store began keeping key usage (GetKeyLastUsage's
    /// `TrackingStartDate` for keys created before it), or `None` if it
    /// does not keep it.
    fn usage_tracked_since(&self) -> Option<Millis> {
        None
    }

    /// What the store holds of `id`'s use.
    async fn key_usage(&self, _id: KeyId) -> Result<StoredUsage, StoreError> {
        Ok(StoredUsage::default())
    }

    /// Keeps each key's latest use, durably: a use earlier than the one
    /// stored is ignored, and uses of keys that no longer exist are dropped;
    /// returns those keys.
    async fn record_usage(&self, _uses: Vec<(KeyId, KeyUsage)>) -> Result<Vec<KeyId>, StoreError> {
        Err(StoreError::ReadOnly(
            "this store does not keep key usage".into(),
        ))
    }

    /// Writes every use [`KeyStore::record_usage`] took in and kept back
    /// (a store that spaces its writes out), at a clean stop.
    async fn flush_usage(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// The on-demand rotation of `id` asked for and not made yet, if any
    /// (only a store whose minter rotates later has one).
    async fn pending_rotation(&self, _id: KeyId) -> Result<Option<PendingRotation>, StoreError> {
        Ok(None)
    }

    /// Replicas declared here whose material has not arrived (in a
    /// cluster: `KmsKey`s with `primaryRegion` and no Secret yet).
    async fn awaited_replicas(&self) -> Result<Vec<AwaitedReplica>, StoreError> {
        Ok(Vec::new())
    }

    /// Keeps where its owner looks the answer of `replica`'s primary Region
    /// when last asked for it: `refusal`, or none (in a cluster: the
    /// `KmsKey`'s status, written when the answer changes). A store
    /// without such a place keeps nothing; the log has it.
    async fn note_replica_answer(
        &self,
        _replica: &AwaitedReplica,
        _refusal: Option<&str>,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// Asks the store's minter for one on-demand rotation of `id`;
    /// `InProgress` while an earlier one is pending.
    async fn request_rotation(&self, id: KeyId) -> Result<KeyRecord, StoreError> {
        Err(StoreError::ReadOnly(format!(
            "{id}: this store does not mint material"
        )))
    }
}
