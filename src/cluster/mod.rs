//! The endpoint's view of a cluster (`kube-kms api`): watch caches over key
//! Secrets, `KmsAlias` objects and credential Secrets, folded into an
//! in-memory index that every request reads. No API request per call.

pub mod awaited;
pub mod grants;
pub mod index;
pub mod material;
#[cfg(test)]
mod mock_api;
pub mod rbac;
pub mod replica_sync;
pub mod rotation;
pub mod scope;
pub mod store;
pub mod token;
pub mod usage;
pub mod watch;

pub use index::ClusterIndex;
pub use store::KubeStore;
