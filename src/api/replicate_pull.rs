//! Replicas declared in this Region (from Git) whose primary does not list
//! this Region: each replica sync asks the primary's Region for each one
//! still without material, with the plain `ReplicateKey` any client would
//! call there, signed with the credentials the peers file has for that
//! Region. The primary's key policy decides as for any caller (the
//! Region's principal there needs `kms:ReplicateKey`); if it allows, the
//! primary pushes as always, and the delivery goes to the declared replica,
//! which keeps what it declares. No new trust: a Region that may not
//! deliver here cannot, and one that may not call ReplicateKey there is
//! refused there.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Api, ApiError};
use crate::grant::GrantRecord;
use crate::key::KeyRecord;
use crate::key_id::KeyId;
use crate::resource::KmsKeySpec;
use crate::store::AwaitedReplica;

/// A replica a `serve` manifest declares: its namespace and own settings
/// (description, policy, tags, enabled) are the manifest's, not what the
/// delivery carries, as a declared `KmsKey` keeps its spec in a cluster.
#[derive(Debug, Clone)]
pub struct DeclaredReplica {
    pub namespace: String,
    pub name: String,
    pub spec: KmsKeySpec,
    /// Grants the manifests declare on it: made once it arrives.
    pub grants: Vec<GrantRecord>,
}

/// The replicas `serve`'s manifests declare, by key id, until delivered.
pub(super) type Declared = std::sync::Mutex<BTreeMap<KeyId, DeclaredReplica>>;

impl Api {
    /// Declares a replica (a manifest's `KmsKey` with `primaryRegion`)
    /// that this endpoint does not hold yet: the replica sync asks its
    /// primary's Region for it, and its delivery takes the declaration's
    /// namespace and settings.
    pub fn declare_replica(&self, declared: DeclaredReplica) -> Result<(), ApiError> {
        let Some(id) = declared.spec.key_id else {
            return Err(ApiError::Validation("a replica pins its keyId".into()));
        };
        self.declared().insert(id, declared);
        Ok(())
    }

    /// Withdraws the declarations of replicas not yet arrived that `keep`
    /// refuses (taken out of the manifests: nothing of them exists here).
    pub fn retain_declared_replicas(&self, keep: impl Fn(KeyId) -> bool) {
        self.declared().retain(|id, _| keep(*id));
    }

    /// The declaration of replica `id` here, if one waits for it.
    pub(super) fn declared_replica(&self, id: KeyId) -> Option<DeclaredReplica> {
        self.declared().get(&id).cloned()
    }

    /// What replica `key` takes from its declaration here, if it has one:
    /// the namespace and its own settings, as any declared key takes its
    /// spec (`declared::converge`; its rotation is then its primary's, from
    /// the shared settings applied after); refused if the declaration is of
    /// another primary Region, key spec, usage or origin than what arrives.
    pub(super) fn declared_settings(
        &self,
        key: &mut KeyRecord,
        now: crate::key::Millis,
    ) -> Result<(), ApiError> {
        let Some(declared) = self.declared_replica(key.key_id) else {
            return Ok(());
        };
        let spec = &declared.spec;
        let primary = key.regions.as_ref().map_or("", |r| r.primary.as_str());
        let what = format!(
            "key {} is declared here by KmsKey {}/{}",
            key.key_id, declared.namespace, declared.name
        );
        if spec.primary_region.as_deref() != Some(primary) {
            return Err(ApiError::AlreadyExists(format!(
                "{what}, not as a replica of the key in {primary}"
            )));
        }
        if (spec.key_spec, spec.key_usage) != (key.spec, key.usage) {
            return Err(ApiError::Validation(format!(
                "{what} as {} {}, but its primary is {} {}",
                spec.key_spec, spec.key_usage, key.spec, key.usage
            )));
        }
        if spec.origin != key.origin {
            return Err(ApiError::Validation(format!(
                "{what} of origin {}, but its primary's material is of origin {}",
                spec.origin.as_str(),
                key.origin.as_str()
            )));
        }
        key.namespace = declared.namespace.clone();
        crate::declared::converge(key, spec, now)
            .map(drop)
            .map_err(|e| ApiError::Validation(e.to_string()))
    }

    /// Declares `grant` on a replica declared here that has not arrived
    /// (made when it does); gives it back if there is no such replica.
    pub fn declare_replica_grant(&self, grant: GrantRecord) -> Option<GrantRecord> {
        match self.declared().get_mut(&grant.key_id) {
            Some(declared) => {
                declared.grants.retain(|g| g.grant_id != grant.grant_id);
                declared.grants.push(grant);
                None
            }
            None => Some(grant),
        }
    }

    /// Replica `id` arrived: its declaration is carried out, and the
    /// grants declared on it are made.
    pub(super) async fn replica_arrived(&self, id: KeyId) {
        let Some(declared) = self.declared().remove(&id) else {
            return;
        };
        for grant in declared.grants {
            let grant_id = grant.grant_id.clone();
            if let Err(e) = self.declare_grant(grant).await {
                tracing::warn!(key = %id, grant = %grant_id, error = %e, "grant declared on the replica not made; re-apply the manifests (restart) to make it");
            }
        }
    }

    fn declared(&self) -> std::sync::MutexGuard<'_, BTreeMap<KeyId, DeclaredReplica>> {
        self.declared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The replicas declared here whose material has not arrived: the
    /// store's (a cluster's `KmsKey`s) and the manifests' (`serve`).
    async fn awaited_replicas(&self) -> Result<Vec<AwaitedReplica>, ApiError> {
        let mut awaited = self.store.awaited_replicas().await?;
        let declared: Vec<AwaitedReplica> = self
            .declared()
            .iter()
            .filter_map(|(id, d)| {
                Some(AwaitedReplica {
                    key_id: *id,
                    primary_region: d.spec.primary_region.clone()?,
                    namespace: d.namespace.clone(),
                    name: d.name.clone(),
                })
            })
            .collect();
        for replica in declared {
            if self.store.get_key(replica.key_id).await?.is_none() {
                awaited.push(replica);
            }
        }
        Ok(awaited)
    }

    /// Asks each awaited replica's primary Region to replicate its key
    /// here. Returns how many wait on each primary Region, and the
    /// failures by that Region, which it logs.
    pub(super) async fn pull_declared(&self) -> (BTreeMap<String, i64>, Vec<(String, ApiError)>) {
        let (mut waiting, mut failures) = (BTreeMap::new(), Vec::new());
        let Some(peers) = self.peers() else {
            return (waiting, failures);
        };
        let awaited = match self.awaited_replicas().await {
            Ok(awaited) => awaited,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the replicas declared here; tried again at the next sync");
                return (waiting, failures);
            }
        };
        for replica in awaited {
            let primary = replica.primary_region.clone();
            let key = replica.key_id;
            let declared_as = format!("{}/{}", replica.namespace, replica.name);
            let asked = match self.may_pull(&peers, &replica) {
                Err(e) => Err(e),
                Ok(()) => {
                    let body = json!({
                        "KeyId": self.arn.key_arn_in(&primary, key),
                        "ReplicaRegion": self.arn.region,
                    });
                    peers.ask(&primary, "ReplicateKey", &body).await
                }
            };
            let refusal = match &asked {
                Ok(_) | Err(ApiError::AlreadyExists(_)) => None,
                Err(e) => Some(e.to_string()),
            };
            if let Err(e) = self
                .store
                .note_replica_answer(&replica, refusal.as_deref())
                .await
            {
                tracing::warn!(%key, declared = %declared_as, error = %e, "the primary's answer not written to the declared replica");
            }
            let arrived = self.store.get_key(key).await.ok().flatten().is_some();
            if !arrived {
                *waiting.entry(primary.clone()).or_default() += 1;
            }
            match asked {
                Ok(_) => {
                    tracing::info!(%key, declared = %declared_as, %primary, arrived, "asked the primary's Region for this declared replica")
                }
                // Listed there already: its delivery is on its way (or, if
                // it was lost here, the primary's next delivery finds it
                // gone and a later ask makes it again).
                Err(ApiError::AlreadyExists(e)) => {
                    tracing::info!(%key, declared = %declared_as, %primary, error = %e, "the primary lists a replica here already; waiting for its delivery")
                }
                Err(e) => {
                    tracing::warn!(%key, declared = %declared_as, %primary, error = %e, "declared replica not replicated by its primary's Region; asked again at the next sync");
                    failures.push((primary, e));
                }
            }
        }
        (waiting, failures)
    }

    /// Whether `replica` may be asked of its primary's Region: one this
    /// Region reaches, whose deliveries may arrive here, and (in a cluster)
    /// declared where they arrive. A replica delivered goes to a declared
    /// `KmsKey` only in the namespace of the principal the primary's Region
    /// speaks as; asking for one declared elsewhere would let any tenant
    /// have this Region's principal fetch another's key.
    pub(super) fn may_pull(
        &self,
        peers: &super::peer::PeerClient,
        replica: &AwaitedReplica,
    ) -> Result<(), ApiError> {
        let primary = &replica.primary_region;
        if *primary == self.arn.region {
            return Err(ApiError::Validation(format!(
                "the replica names this Region ({primary}) as its primary's"
            )));
        }
        if !peers.reaches(primary) {
            return Err(ApiError::Unsupported(format!(
                "Region {primary} cannot be reached from here: --peers gives no endpoint and credentials for it"
            )));
        }
        match peers.delivery_namespace(primary) {
            Err(why) => Err(ApiError::Unsupported(why)),
            Ok(Some(namespace))
                if namespace != replica.namespace
                    && !peers.keeps_namespace(primary, &replica.namespace) =>
            {
                Err(ApiError::AccessDenied(format!(
                    "Region {primary}'s deliveries arrive in namespace {namespace} (its principal in --peers), or in their primary's namespace where its replicaNamespaces lists it: a replica of its keys is declared in one of those, not in {}",
                    replica.namespace
                )))
            }
            Ok(_) => Ok(()),
        }
    }
}
