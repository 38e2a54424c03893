//! Multi-Region keys across deployments (docs/multi-region.md):
//! ReplicateKey on the primary's endpoint, and the requests it sends the
//! replica Region's endpoint (`KubeKmsReplication.*`), which answer only
//! the principal the peers file names for that Region. Material travels
//! only as the crypto services' offers and packages.

use serde::Deserialize;
use serde_json::{Value, json};

use super::access::{Access, Subject};
use super::key_ops::{Tag, check_description, check_policy, checked_tags};
use super::peer::PeerClient;
use super::wire::{check_length, decode, key_metadata, required};
use super::{Api, ApiError, Caller};
use crate::b64;
use crate::key::{KeyRecord, MaterialVersion, Regions, Replica, Rotation, RotationType};
use crate::key_id::KeyId;
use crate::lifecycle::Operation;
use crate::replica::peers_file::is_region;
use crate::seal::SealedMaterial;

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

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OfferInput {
    key_id: Option<String>,
}

/// What the primary sends to create a replica, or to bring one up to date.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeliverInput {
    key_id: Option<String>,
    primary_region: Option<String>,
    /// Only when creating the replica.
    replica: Option<ReplicaSpec>,
    /// What the Regions share, as the primary has it now.
    shared: Option<Shared>,
    /// The offer's token; needed only with packages.
    token: Option<String>,
    packages: Option<Vec<String>>,
}

/// What a key's Regions share besides material: automatic rotation (on the
/// primary; mirrored on replicas, which never rotate on their own) and
/// where the replicas are.
#[derive(Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Shared {
    pub(super) rotation: Rotation,
    pub(super) replicas: Vec<String>,
}

impl Shared {
    pub(super) fn of(key: &KeyRecord) -> Self {
        Shared {
            rotation: key.rotation.clone(),
            replicas: key
                .regions
                .iter()
                .flat_map(|r| &r.replicas)
                .map(|r| r.region.clone())
                .collect(),
        }
    }

    /// A short digest: the primary delivers again when it changes.
    fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let text = serde_json::to_vec(self).expect("serializes");
        hex::encode(&Sha256::digest(&text)[..8])
    }

    fn apply(self, key: &mut KeyRecord) {
        key.rotation = self.rotation;
        if let Some(regions) = &mut key.regions {
            regions.replicas = unsynced(self.replicas);
        }
    }
}

/// Replicas known by their Regions alone: the next sync delivers every
/// version (a replica keeps those it has) and what the Regions share.
pub(super) fn unsynced(regions: impl IntoIterator<Item = String>) -> Vec<Replica> {
    regions
        .into_iter()
        .map(|region| Replica {
            region,
            synced: 0,
            shared: String::new(),
        })
        .collect()
}

/// A Region member (`ReplicaRegion`, `PrimaryRegion`) as AWS checks it.
pub(super) fn checked_region(field: &str, region: Option<String>) -> Result<String, ApiError> {
    let region = required(region, field)?;
    check_length(field, region.len(), 1, 32)?;
    if !is_region(&region) {
        return Err(ApiError::validation(
            field,
            &region,
            "Member must satisfy regular expression pattern: ^([a-z]+-){2,3}\\d+$",
        ));
    }
    Ok(region)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReplicaSpec {
    key_spec: crate::spec::KeySpec,
    key_usage: crate::spec::KeyUsage,
    description: String,
    policy: Option<String>,
    tags: std::collections::BTreeMap<String, String>,
    enabled: bool,
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

    pub(super) fn peer_client(&self) -> Result<&PeerClient, ApiError> {
        self.peers.as_deref().ok_or_else(|| {
            ApiError::Unsupported(
                "This endpoint has no peer Regions to replicate to (--peers; see docs/multi-region.md)."
                    .into(),
            )
        })
    }

    /// The Region a `KubeKmsReplication.*` caller speaks for.
    pub(super) fn peer_region(&self, caller: &Caller) -> Result<String, ApiError> {
        self.peers
            .as_deref()
            .and_then(|p| p.region_of(&caller.principal))
            .map(str::to_owned)
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
            .managed_key(caller, input.key_id, Access::to("kms:ReplicateKey"))
            .await?;
        self.require_primary(&key, "ReplicateKey")?;
        let arn = self.arn.key_arn(key.key_id);
        if key.origin != crate::key::Origin::AwsKms {
            return Err(ApiError::Unsupported(format!(
                "{arn} has imported key material; replicating it is not supported yet."
            )));
        }
        if region == self.arn.region {
            return Err(ApiError::Validation(format!(
                "The replica Region {region} is the primary key's Region."
            )));
        }
        let known = key.regions.iter().flat_map(|r| &r.replicas);
        if known.clone().any(|r| r.region == region) {
            return Err(ApiError::AlreadyExists(format!(
                "{} already exists",
                self.arn.key_arn_in(&region, key.key_id)
            )));
        }
        if let Some(document) = &document {
            // The replica's policy must let the caller manage it there too.
            let subject = Subject {
                replica: true,
                ..Subject::from(&key)
            };
            let bypass = input.bypass_policy_lockout_safety_check == Some(true);
            self.check_lockout(caller, subject, &[], document, bypass)?;
        }
        let mut shared = Shared::of(&key);
        shared.replicas.push(region.clone());
        let spec = json!({
            "KeySpec": key.spec,
            "KeyUsage": key.usage,
            // Not shared between a key's Regions: AWS's default is none.
            "Description": input.description.unwrap_or_default(),
            "Policy": input.policy,
            "Tags": tags.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
            "Enabled": key.enabled,
        });
        let digest = shared.digest();
        let reply = self
            .deliver(&key, &region, &key.materials, &shared, Some(spec))
            .await?;
        let synced = key.current().map_or(0, |m| m.version);
        self.update_key(key.key_id, |record| {
            let regions = record.regions.get_or_insert_with(|| Regions {
                primary: self.arn.region.clone(),
                replica: false,
                replicas: Vec::new(),
            });
            if !regions.replicas.iter().any(|r| r.region == region) {
                regions.replicas.push(Replica {
                    region: region.clone(),
                    synced,
                    shared: digest.clone(),
                });
            }
            Ok(())
        })
        .await?;
        // The other replicas learn of this one.
        self.sync_replicas().await;
        Ok(json!({
            "ReplicaKeyMetadata": reply["KeyMetadata"],
            "ReplicaPolicy": reply["Policy"],
            "ReplicaTags": reply["Tags"],
        }))
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

    /// `KubeKmsReplication.OfferReplica`: an offer from this crypto service.
    pub(super) async fn offer_replica(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        self.peer_region(caller)?;
        let input: OfferInput = decode(body)?;
        let key_id = multi_region_id(required(input.key_id, "keyId")?)?;
        let offer = self
            .crypto
            .replica_offer(key_id)
            .await
            .map_err(|e| ApiError::from_crypto(e, &self.arn.key_arn(key_id)))?;
        Ok(json!({ "Offer": b64::encode(&offer.offer), "Token": b64::encode(&offer.token) }))
    }

    /// `KubeKmsReplication.DeliverReplica`: the primary's material for a
    /// replica here, created if `Replica` is given; versions already held
    /// are kept as they are.
    pub(super) async fn deliver_replica(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let sender = self.peer_region(caller)?;
        let input: DeliverInput = decode(body)?;
        let key_id = multi_region_id(required(input.key_id, "keyId")?)?;
        let primary = required(input.primary_region, "primaryRegion")?;
        if primary != sender {
            return Err(ApiError::AccessDenied(format!(
                "{} speaks for Region {sender}, not {primary}.",
                caller.principal
            )));
        }
        let arn = self.arn.key_arn(key_id);
        let packages = input.packages.unwrap_or_default();
        let token = match packages.is_empty() {
            true => Vec::new(),
            false => b64_field(input.token, "token")?,
        };
        let mut accepted = Vec::new();
        for package in packages {
            let package = b64::decode(&package)
                .map_err(|_| ApiError::Validation("packages: not base64".into()))?;
            let sealed = self
                .crypto
                .accept_replica(token.clone(), package)
                .await
                .map_err(|e| ApiError::from_crypto(e, &arn))?;
            if sealed.peer != sender {
                return Err(ApiError::AccessDenied(format!(
                    "The material was packaged by Region {}'s crypto service, not {sender}'s.",
                    sealed.peer
                )));
            }
            accepted.push(sealed.sealed);
        }
        // A replica already made here (the primary's record of it may not
        // have been written) takes the versions it lacks, as a sync does.
        let exists = self.store.get_key(key_id).await?.is_some();
        let shared = required(input.shared, "shared")?;
        let key = match input.replica {
            Some(spec) if !exists => {
                self.create_replica(caller, key_id, primary, spec, shared, accepted)
                    .await?
            }
            _ => {
                self.add_replica_material(key_id, &primary, shared, accepted)
                    .await?
            }
        };
        Ok(json!({
            "KeyMetadata": key_metadata(&key, &self.arn),
            "Policy": key.policy.as_deref().map_or_else(
                || crate::policy::default_policy(&self.arn.partition, &self.arn.account),
                str::to_owned
            ),
            "Tags": key.tags.iter().map(|(k, v)| json!({"TagKey": k, "TagValue": v})).collect::<Vec<_>>(),
        }))
    }

    async fn create_replica(
        &self,
        caller: &Caller,
        key_id: KeyId,
        primary: String,
        spec: ReplicaSpec,
        shared: Shared,
        sealed: Vec<SealedMaterial>,
    ) -> Result<KeyRecord, ApiError> {
        if let Some(policy) = &spec.policy {
            check_policy(policy)?;
        }
        check_description(&spec.description)?;
        crate::tag::check(&spec.tags).map_err(|e| ApiError::Tag(e.to_string()))?;
        if !spec.key_spec.allows_usage(spec.key_usage) {
            return Err(ApiError::Validation(format!(
                "KeyUsage {} is not compatible with KeySpec {}",
                spec.key_usage, spec.key_spec
            )));
        }
        let now = self.now();
        let materials = versions(key_id, sealed, now)?;
        if materials.is_empty() {
            return Err(ApiError::Validation(
                "packages: a replica needs its material".into(),
            ));
        }
        let mut key = KeyRecord {
            key_id,
            namespace: caller.namespace.clone(),
            description: spec.description,
            spec: spec.key_spec,
            usage: spec.key_usage,
            created: now,
            enabled: spec.enabled,
            deletion: None,
            rotation: Rotation::default(),
            on_demand_rotations: 0,
            tags: spec.tags,
            materials,
            policy: spec.policy.map(Into::into),
            revision: 0,
            origin: crate::key::Origin::AwsKms,
            imported: Vec::new(),
            pending_rotation: None,
            regions: Some(Regions {
                primary,
                replica: true,
                replicas: Vec::new(),
            }),
        };
        shared.apply(&mut key);
        if key.materials.iter().any(|m| {
            m.sealed.header().map_or(true, |h| {
                h.material.spec != key.spec || h.material.usage != key.usage
            })
        }) {
            return Err(ApiError::Validation(
                "packages: material of another key spec or usage than the replica's".into(),
            ));
        }
        Ok(self.store.create_key(key).await?)
    }

    async fn add_replica_material(
        &self,
        key_id: KeyId,
        primary: &str,
        shared: Shared,
        sealed: Vec<SealedMaterial>,
    ) -> Result<KeyRecord, ApiError> {
        let now = self.now();
        let arriving = versions(key_id, sealed, now)?;
        let mut shared = Some(shared);
        let (key, ()) = self
            .update_key(key_id, |key| {
                let ours = key
                    .regions
                    .as_ref()
                    .is_some_and(|r| r.replica && r.primary == primary);
                if !ours {
                    return Err(ApiError::AlreadyExists(format!(
                        "{} already exists here, and is not a replica of the key in {primary}.",
                        self.arn.key_arn(key_id)
                    )));
                }
                if let Some(other) = arriving.iter().find(|m| {
                    m.sealed
                        .header()
                        .is_ok_and(|h| h.material.spec != key.spec || h.material.usage != key.usage)
                }) {
                    return Err(ApiError::Validation(format!(
                        "packages: version {} is material of another key spec or usage",
                        other.version
                    )));
                }
                for material in &arriving {
                    if key.material(material.version).is_none() {
                        key.materials.push(material.clone());
                    }
                }
                // Taken once: a retried write starts from the stored record,
                // which this closure sees again.
                if let Some(shared) = shared.take() {
                    shared.apply(key);
                }
                key.materials.sort_by_key(|m| m.version);
                Ok(())
            })
            .await?;
        Ok(key)
    }

    /// Brings every replica of every primary here up to its newest
    /// material version; called after rotations and by the lifecycle
    /// runtime, so a Region that was unreachable catches up. Returns the
    /// failures (key, Region, error), which it logs.
    pub async fn sync_replicas(&self) -> Vec<(KeyId, String, ApiError)> {
        let mut failures = Vec::new();
        if self.peers.is_none() {
            return failures;
        }
        let Ok(keys) = self.store.all_keys().await else {
            return failures;
        };
        for key in keys {
            let Some(regions) = key.regions.as_ref().filter(|r| !r.replica) else {
                continue;
            };
            let current = key.current().map_or(0, |m| m.version);
            let shared = Shared::of(&key);
            let digest = shared.digest();
            let behind = regions
                .replicas
                .iter()
                .filter(|r| r.synced < current || r.shared != digest);
            for replica in behind {
                let missing: Vec<MaterialVersion> = key
                    .materials
                    .iter()
                    .filter(|m| m.version > replica.synced)
                    .cloned()
                    .collect();
                let region = replica.region.clone();
                let delivered = self.deliver(&key, &region, &missing, &shared, None);
                let result = match delivered.await {
                    Ok(_) => self
                        .update_key(key.key_id, |record| {
                            let regions = record.regions.as_mut().expect("a primary's regions");
                            for r in regions.replicas.iter_mut().filter(|r| r.region == region) {
                                r.synced = r.synced.max(current);
                                r.shared = digest.clone();
                            }
                            Ok(())
                        })
                        .await
                        .map(drop),
                    Err(e) => Err(e),
                };
                if let Err(e) = result {
                    tracing::warn!(key = %key.key_id, %region, error = %e, "replica not brought up to date; retried later");
                    failures.push((key.key_id, region, e));
                }
            }
        }
        failures
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

fn b64_field(value: Option<String>, field: &str) -> Result<Vec<u8>, ApiError> {
    b64::decode(&required(value, field)?)
        .map_err(|_| ApiError::Validation(format!("{field}: not base64")))
}

/// Accepted material as a key's versions, each checked to be `key_id`'s.
fn versions(
    key_id: KeyId,
    sealed: Vec<SealedMaterial>,
    now: crate::key::Millis,
) -> Result<Vec<MaterialVersion>, ApiError> {
    let mut versions = Vec::with_capacity(sealed.len());
    for sealed in sealed {
        let header = sealed
            .header()
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        if header.material.key_id != key_id {
            return Err(ApiError::Validation(
                "packages: material of another key".into(),
            ));
        }
        versions.push(MaterialVersion {
            version: header.material.version,
            created: now,
            rotation_type: if header.material.version == 1 {
                RotationType::Initial
            } else {
                RotationType::OnDemand
            },
            sealed,
        });
    }
    versions.sort_by_key(|m| m.version);
    versions.dedup_by_key(|m| m.version);
    Ok(versions)
}
