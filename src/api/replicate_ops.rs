//! A primary's side of multi-Region keys (docs/multi-region.md):
//! ReplicateKey, the delivery of material versions and shared settings to
//! the replica Regions' endpoints (`KubeKmsReplication.*`, answered there
//! by `replica_ops`), and the sync that retries them. Material travels only
//! as the crypto services' offers and packages.

use serde::Deserialize;
use serde_json::{Value, json};

use super::access::{Access, Subject, principal_arn};
use super::key_ops::{Tag, check_description, check_policy, checked_tags};
use super::peer::PeerClient;
use super::replica_metrics::Delivery;
use super::wire::{check_text, decode, required};
use super::{Api, ApiError, Caller};
use crate::b64;
use crate::key::{
    KeyRecord, KeyState, MaterialVersion, Millis, Origin, Regions, Replica, Rotation,
    SharedMaterial,
};
use crate::key_id::KeyId;
use crate::lifecycle::{self, Operation, imported};
use crate::replica::peers_file::is_region;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReplicateKeyInput {
    key_id: Option<String>,
    replica_region: Option<String>,
    policy: Option<String>,
    bypass_policy_lockout_safety_check: Option<bool>,
    description: Option<String>,
    tags: Option<Vec<Tag>>,
}

/// What a replica has of its own (AWS does not share them between a
/// key's Regions): ReplicateKey's, or the defaults for a declared one.
#[derive(Default)]
pub(super) struct ReplicaSettings {
    pub(super) description: String,
    pub(super) policy: Option<String>,
    pub(super) tags: std::collections::BTreeMap<String, String>,
}

/// What a key's Regions share besides material: automatic rotation (on the
/// primary; mirrored on replicas, which never rotate on their own), where
/// the replicas are, and for a key of imported material which material is
/// which version (each Region imports the material itself).
#[derive(Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Shared {
    pub(super) rotation: Rotation,
    pub(super) replicas: Vec<String>,
    // Left out when empty: a key of generated material's digest stays as
    // before them, so its replicas are not all delivered to again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    imported: Vec<SharedMaterial>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending: Option<SharedMaterial>,
}

impl Shared {
    pub(super) fn of(key: &KeyRecord) -> Self {
        let (imported, pending) = imported::regions::shared(key);
        Shared {
            rotation: key.rotation.clone(),
            replicas: key
                .regions
                .iter()
                .flat_map(|r| &r.replicas)
                .map(|r| r.region.clone())
                .collect(),
            imported,
            pending,
        }
    }

    /// A short digest: the primary delivers again when it changes.
    fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let text = serde_json::to_vec(self).expect("serializes");
        hex::encode(&Sha256::digest(&text)[..8])
    }

    /// Applied on a replica, at `now`.
    pub(super) fn apply(self, key: &mut KeyRecord, now: Millis) {
        key.rotation = self.rotation;
        if let Some(regions) = &mut key.regions {
            regions.replicas = unsynced(self.replicas);
        }
        if key.origin == Origin::External {
            imported::regions::follow(key, &self.imported, self.pending, now);
        }
    }
}

/// The material versions of `key` that travel to its replicas: none of a
/// key of imported material, which each Region imports itself.
fn travelling(key: &KeyRecord) -> &[MaterialVersion] {
    match key.origin {
        Origin::AwsKms => &key.materials,
        Origin::External => &[],
    }
}

/// What a replica's answer says it holds pending rotation ("" for none).
fn pending_held(reply: &Value) -> &str {
    reply["PendingKeyMaterialId"].as_str().unwrap_or_default()
}

/// Replicas known by their Regions alone: the next sync delivers every
/// version (a replica keeps those it has) and what the Regions share.
pub(super) fn unsynced(regions: impl IntoIterator<Item = String>) -> Vec<Replica> {
    regions
        .into_iter()
        .map(|region| Replica {
            region,
            ..Replica::default()
        })
        .collect()
}

/// A Region member (`ReplicaRegion`, `PrimaryRegion`) as AWS checks it.
pub(super) fn checked_region(field: &str, region: Option<String>) -> Result<String, ApiError> {
    let region = required(region, field)?;
    check_text(field, &region, 1, 32)?;
    if !is_region(&region) {
        return Err(ApiError::validation(
            field,
            &region,
            "Member must satisfy regular expression pattern: ^([a-z]+-){2,3}\\d+$",
        ));
    }
    Ok(region)
}

impl Api {
    /// Refuses, as AWS does, `operation` on anything but a multi-Region
    /// key's primary, in a state that may be used.
    pub(super) fn require_primary(&self, key: &KeyRecord, operation: &str) -> Result<(), ApiError> {
        let arn = self.arn.key_arn(key.key_id);
        if !key.key_id.is_multi_region() {
            return Err(ApiError::Unsupported(format!(
                "{arn} is not a multi-Region key."
            )));
        }
        if let Some(regions) = key.regions.as_ref().filter(|r| r.replica) {
            return Err(ApiError::Unsupported(format!(
                "{arn} is a replica key; call {operation} on its primary key in {}.",
                regions.primary
            )));
        }
        self.check_state(key, Operation::Cryptographic)
    }

    pub(super) fn peer_client(&self) -> Result<std::sync::Arc<PeerClient>, ApiError> {
        self.peers().ok_or_else(|| {
            ApiError::Unsupported(
                "This endpoint has no peer Regions to replicate to (--peers; see docs/multi-region.md)."
                    .into(),
            )
        })
    }

    /// The Region a `KubeKmsReplication.*` caller speaks for.
    pub(super) fn peer_region(&self, caller: &Caller) -> Result<String, ApiError> {
        self.peers()
            .and_then(|p| {
                p.region_of(&principal_arn(&self.arn, caller), &caller.principal)
                    .map(str::to_owned)
            })
            .ok_or_else(|| {
                ApiError::AccessDenied(format!(
                    "{} is not the principal of any peer Region (--peers).",
                    caller.principal
                ))
            })
    }

    pub(super) async fn replicate_key(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: ReplicateKeyInput = decode(body)?;
        let region = checked_region("replicaRegion", input.replica_region)?;
        if let Some(description) = &input.description {
            check_description(description)?;
        }
        let tags = checked_tags(input.tags.unwrap_or_default())?;
        let document = input.policy.as_deref().map(check_policy).transpose()?;
        let key = self
            .managed_key(
                caller,
                input.key_id,
                Access::to("kms:ReplicateKey")
                    .and(&[("kms:ReplicaRegion", region.as_str())])
                    .tagging(&tags, &[]),
            )
            .await?;
        self.require_primary(&key, "ReplicateKey")?;
        if region == self.arn.region {
            return Err(ApiError::Validation(format!(
                "The replica Region {region} is the primary key's Region."
            )));
        }
        if let Some(document) = &document {
            // The replica's policy must let the caller manage it there too.
            let subject = Subject {
                replica: true,
                ..Subject::from(&key)
            };
            let bypass = input.bypass_policy_lockout_safety_check == Some(true);
            let tags = tags.iter().cloned().collect();
            self.check_lockout(caller, (subject, &tags), &[], document, bypass)?;
        }
        let settings = ReplicaSettings {
            description: input.description.unwrap_or_default(),
            policy: input.policy,
            tags: tags.into_iter().collect(),
        };
        let reply = self.replicate(key, &region, settings).await?;
        Ok(json!({
            "ReplicaKeyMetadata": reply["KeyMetadata"],
            "ReplicaPolicy": reply["Policy"],
            "ReplicaTags": reply["Tags"],
        }))
    }

    /// Makes the replica of the primary `key` in `region` (checked by the
    /// caller: a primary, another Region), records it
    /// and tells the other replicas; returns the replica Region's answer.
    /// A Region listed already is asked first: `AlreadyExistsException`
    /// while the replica is there, made again when it is gone.
    pub(super) async fn replicate(
        &self,
        mut key: KeyRecord,
        region: &str,
        settings: ReplicaSettings,
    ) -> Result<Value, ApiError> {
        if key
            .regions
            .iter()
            .flat_map(|r| &r.replicas)
            .any(|r| r.region == region)
        {
            let probe = self
                .deliver(&key, region, &[], &Shared::of(&key), None)
                .await;
            if self.count_delivery(region, &probe) != Delivery::Gone {
                return Err(ApiError::AlreadyExists(format!(
                    "{} already exists",
                    self.arn.key_arn_in(region, key.key_id)
                )));
            }
            self.forget_replica(key.key_id, region).await;
            key = self.get_key(key.key_id).await?;
        }
        let mut shared = Shared::of(&key);
        shared.replicas.push(region.to_owned());
        let spec = json!({
            "KeySpec": key.spec,
            "KeyUsage": key.usage,
            // Not shared between a key's Regions: AWS's default is none.
            "Description": settings.description,
            "Policy": settings.policy,
            "Tags": settings.tags,
            "Enabled": key.enabled,
            "Origin": key.origin,
            // Where the replica Region keeps namespaces, its replica's.
            "Namespace": key.namespace,
        });
        let digest = shared.digest();
        let reply = self
            .deliver(&key, region, travelling(&key), &shared, Some(spec))
            .await?;
        let held = pending_held(&reply).to_owned();
        let synced = key.current().map_or(0, |m| m.version);
        self.update_key(key.key_id, |record| {
            let regions = record.regions.get_or_insert_with(|| Regions {
                primary: self.arn.region.clone(),
                ..Regions::default()
            });
            if !regions.replicas.iter().any(|r| r.region == region) {
                regions.replicas.push(Replica {
                    region: region.to_owned(),
                    synced,
                    shared: digest.clone(),
                    pending_imported: held.clone(),
                });
            }
            Ok(())
        })
        .await?;
        // The other replicas learn of this one.
        self.sync_key(&self.get_key(key.key_id).await?).await;
        Ok(reply)
    }

    /// Sends `materials` of `key` to `region`: an offer from there, a
    /// package of each version for it here, and the delivery (creating the
    /// replica when `spec` is given).
    async fn deliver(
        &self,
        key: &KeyRecord,
        region: &str,
        materials: &[MaterialVersion],
        shared: &Shared,
        spec: Option<Value>,
    ) -> Result<Value, ApiError> {
        let peers = self.peer_client()?;
        let mut body = json!({
            "KeyId": key.key_id.to_string(),
            "PrimaryRegion": self.arn.region,
            "Shared": shared,
        });
        if let Some(spec) = spec {
            body["Replica"] = spec;
        }
        if materials.is_empty() {
            return peers.call(region, "DeliverReplica", &body).await;
        }
        let arn = self.arn.key_arn(key.key_id);
        let offer = peers
            .call(
                region,
                "OfferReplica",
                &json!({ "KeyId": key.key_id.to_string() }),
            )
            .await?;
        let blob = |name: &str| {
            offer[name]
                .as_str()
                .and_then(|s| b64::decode(s).ok())
                .ok_or_else(|| ApiError::Internal(format!("Region {region} sent no {name}")))
        };
        let (offer_bytes, token) = (blob("Offer")?, offer["Token"].clone());
        let mut packages = Vec::with_capacity(materials.len());
        for material in materials {
            let package = self
                .crypto
                .package_replica(material.sealed.clone(), offer_bytes.clone())
                .await
                .map_err(|e| ApiError::from_crypto(e, &arn))?;
            packages.push(b64::encode(&package));
        }
        body["Token"] = token;
        body["Packages"] = json!(packages);
        peers.call(region, "DeliverReplica", &body).await
    }

    /// Brings every replica of every primary here up to its newest
    /// material version and shared settings; called by the lifecycle
    /// runtime, so a Region that was unreachable catches up.
    pub async fn sync_replicas(&self) {
        if self.peers().is_none() {
            // Nothing to reach: not even the keys are read.
            return;
        }
        let Ok(keys) = self.store.all_keys().await else {
            return;
        };
        let mut behind = std::collections::BTreeMap::<String, i64>::new();
        for key in keys {
            // A declared replica not made yet is behind too.
            let declared = self.replicate_declared(&key).await;
            for (region, error) in declared.into_iter().chain(self.sync_key(&key).await) {
                // A replica gone is no longer one to be behind.
                if delivery(&Err::<(), _>(error)) != Delivery::Gone {
                    *behind.entry(region).or_default() += 1;
                }
            }
        }
        let (awaited, _) = self.pull_declared().await;
        if let Some(peers) = self.peers()
            && let Some(metrics) = peers.metrics()
        {
            metrics.behind(peers.regions(), &behind);
            metrics.awaited(peers.regions(), &awaited);
        }
    }

    /// Whether this endpoint has peer Regions (and so a replica sync to run).
    pub fn has_peers(&self) -> bool {
        self.peers().is_some()
    }

    /// Brings the replicas of `key` (if it is a primary here) up to date:
    /// after a change of that key, only its own Regions are waited on.
    /// Returns the failures by Region, which it logs.
    pub(super) async fn sync_key(&self, key: &KeyRecord) -> Vec<(String, ApiError)> {
        let mut failures = Vec::new();
        let primary = key.regions.as_ref().filter(|r| !r.replica);
        let Some(regions) = primary.filter(|_| self.peers().is_some()) else {
            return failures;
        };
        if key.state() == KeyState::PendingReplicaDeletion {
            self.probe_replicas(key, regions).await;
            return failures;
        }
        let current = key.current().map_or(0, |m| m.version);
        let shared = Shared::of(key);
        let digest = shared.digest();
        // A replica yet to import material pending rotation is asked again
        // each time: what it holds is learnt from its answer.
        let awaiting = imported::regions::awaiting(key);
        let behind = regions.replicas.iter().filter(|r| {
            r.synced < current || r.shared != digest || awaiting.contains(&r.region.as_str())
        });
        for replica in behind {
            let missing: Vec<MaterialVersion> = travelling(key)
                .iter()
                .filter(|m| m.version > replica.synced)
                .cloned()
                .collect();
            let region = replica.region.clone();
            let delivered = self.deliver(key, &region, &missing, &shared, None);
            // Counted as the replica answered: a record that fails after
            // is this Region's own trouble, not the delivery's.
            let delivered = delivered.await;
            let outcome = self.count_delivery(&region, &delivered);
            let result = match delivered {
                Ok(reply) => {
                    let held = pending_held(&reply);
                    // Recorded in turn: in a cluster another endpoint
                    // replica's sync of this key may hold its one request
                    // to the controller.
                    let recorded = || {
                        self.update_key(key.key_id, |record| {
                            let regions = record.regions.as_mut().expect("a primary's regions");
                            for r in regions.replicas.iter_mut().filter(|r| r.region == region) {
                                r.synced = r.synced.max(current);
                                r.shared = digest.clone();
                            }
                            imported::regions::record_held(record, &region, held);
                            Ok(())
                        })
                    };
                    in_turn(recorded).await.map(drop)
                }
                Err(e) => Err(e),
            };
            match (outcome, result) {
                (_, Ok(())) => {}
                (Delivery::Delivered, Err(e)) => {
                    tracing::warn!(key = %key.key_id, %region, error = %e, "replica brought up to date, but that is not recorded here; delivered again (harmlessly) at the next sync");
                    failures.push((region, e));
                }
                // The replica is gone there (deleted, or the Region's store
                // was lost): no longer one of the key's Regions, as AWS
                // drops a deleted replica from its primary's list.
                (Delivery::Gone, Err(e)) => {
                    tracing::warn!(key = %key.key_id, %region, error = %e, "replica gone from its Region; taken off the key's replicas");
                    self.forget_replica(key.key_id, &region).await;
                    failures.push((region, e));
                }
                (_, Err(e)) => {
                    tracing::warn!(key = %key.key_id, %region, error = %e, "replica not brought up to date; retried later");
                    failures.push((region, e));
                }
            }
        }
        failures
    }
}

impl Api {
    /// Counts a delivery to `region` by its outcome, which it returns.
    fn count_delivery<T>(&self, region: &str, result: &Result<T, ApiError>) -> Delivery {
        let outcome = delivery(result);
        if let Some(peers) = self.peers()
            && let Some(metrics) = peers.metrics()
        {
            metrics.delivered(region, outcome);
        }
        outcome
    }

    /// Asks each replica of a primary waiting for them to be deleted
    /// whether it is still there (a delivery of nothing new): the primary's
    /// window starts when the last one is gone. A replica pending deletion
    /// refuses, and is waited for; nothing else is delivered meanwhile.
    async fn probe_replicas(&self, key: &KeyRecord, regions: &Regions) {
        let shared = Shared::of(key);
        for replica in &regions.replicas {
            let region = &replica.region;
            let answer = self.deliver(key, region, &[], &shared, None).await;
            if delivery(&answer) == Delivery::Gone {
                self.count_delivery(region, &answer);
                tracing::info!(key = %key.key_id, %region, "replica deleted; the primary pending replica deletion no longer waits for it");
                self.forget_replica(key.key_id, region).await;
            }
        }
    }

    /// Takes `region` off the replicas of the primary `key_id` here.
    async fn forget_replica(&self, key_id: KeyId, region: &str) {
        let now = self.now();
        let forget = || {
            self.update_key(key_id, |record| {
                lifecycle::forget_replica(record, region, now);
                Ok(())
            })
        };
        let forgotten = in_turn(forget).await;
        if let Err(e) = forgotten {
            tracing::warn!(key = %key_id, %region, error = %e, "replica not taken off the list; tried again at the next sync");
        }
    }
}

/// What a delivery's result says of the replica: NotFound from its Region
/// means it is not there any more.
fn delivery<T>(result: &Result<T, ApiError>) -> Delivery {
    match result {
        Ok(_) => Delivery::Delivered,
        Err(e) if e.aws_type() == "NotFoundException" => Delivery::Gone,
        Err(_) => Delivery::Failed,
    }
}

/// How long a replication step's own write waits for a change of the key
/// in progress elsewhere (in a cluster, one request at a time per key goes
/// to the controller, and another endpoint replica's sync may hold it).
const IN_TURN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs `write` again while it is refused with ConflictException (a change
/// in progress), for up to [`IN_TURN_WAIT`]: for the steps that, failing,
/// would leave a step other Regions already took half done.
pub(super) async fn in_turn<T, F, Fut>(mut write: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    let pause = std::time::Duration::from_millis(250);
    let deadline = tokio::time::Instant::now() + IN_TURN_WAIT;
    loop {
        match write().await {
            Err(ApiError::Conflict(_)) if tokio::time::Instant::now() + pause <= deadline => {
                tokio::time::sleep(pause).await;
            }
            done => return done,
        }
    }
}

pub(super) fn multi_region_id(text: String) -> Result<KeyId, ApiError> {
    match text.parse::<KeyId>() {
        Ok(id) if id.is_multi_region() => Ok(id),
        _ => Err(ApiError::Validation(format!(
            "keyId: '{text}' is not a multi-Region key id"
        ))),
    }
}

#[cfg(test)]
mod tests;
