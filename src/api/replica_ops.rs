//! A replica's side of multi-Region keys (docs/multi-region.md): the
//! requests another Region's primary sends (`KubeKmsReplication.*`),
//! answered only for the principal the peers file names for that Region.
//! An offer from this crypto service; the delivery of the primary's
//! material, accepted by it, which creates the replica or adds versions.

use serde::Deserialize;
use serde_json::{Value, json};

use super::key_ops::{check_description, check_policy};
use super::replicate_ops::{Shared, in_turn, multi_region_id};
use super::wire::{decode, key_metadata, required};
use super::{Api, ApiError, Caller};
use crate::b64;
use crate::key::{KeyRecord, MaterialVersion, Origin, Regions, Rotation, RotationType};
use crate::key_id::KeyId;
use crate::lifecycle::imported;
use crate::seal::SealedMaterial;

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

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReplicaSpec {
    key_spec: crate::spec::KeySpec,
    key_usage: crate::spec::KeyUsage,
    description: String,
    policy: Option<String>,
    tags: std::collections::BTreeMap<String, String>,
    enabled: bool,
    /// EXTERNAL: the replica is made without material, pending import.
    #[serde(default)]
    origin: Origin,
    /// The primary's namespace there (an older primary sends none).
    namespace: Option<String>,
}

impl Api {
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
        let shared = required(input.shared, "shared")?;
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
        let key = match input.replica {
            Some(spec) if !exists => {
                self.create_replica(caller, key_id, primary, spec, shared, accepted)
                    .await?
            }
            // In a cluster a change of the key in progress (its owner's
            // import just carried out, say) is waited out, not refused: the
            // primary would otherwise try again only at its next sync.
            _ => {
                let add = || {
                    self.add_replica_material(key_id, &primary, shared.clone(), accepted.clone())
                };
                in_turn(add).await?
            }
        };
        let mut reply = json!({
            "KeyMetadata": key_metadata(&key, &self.arn),
            "Policy": self.policy_of(&key),
            "Tags": key.tags.iter().map(|(k, v)| json!({"TagKey": k, "TagValue": v})).collect::<Vec<_>>(),
        });
        // The primary rotates onto new imported material only once every
        // replica holds it.
        let held = imported::regions::pending_held(&key);
        if !held.is_empty() {
            reply["PendingKeyMaterialId"] = json!(held);
        }
        Ok(reply)
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
        match spec.origin {
            Origin::AwsKms if materials.is_empty() => {
                return Err(ApiError::Validation(
                    "packages: a replica needs its material".into(),
                ));
            }
            Origin::External if !materials.is_empty() => {
                return Err(ApiError::Validation(
                    "packages: imported key material does not travel; each Region imports it"
                        .into(),
                ));
            }
            _ => {}
        }
        // The primary's namespace where this Region's peers file keeps it
        // for the sender, else the sender's principal's.
        let namespace = match spec.namespace {
            Some(namespace)
                if self
                    .peers()
                    .is_some_and(|p| p.keeps_namespace(&primary, &namespace)) =>
            {
                namespace
            }
            _ => caller.namespace.clone(),
        };
        let mut key = KeyRecord {
            key_id,
            namespace,
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
            origin: spec.origin,
            imported: Vec::new(),
            pending_rotation: None,
            regions: Some(Regions {
                primary,
                replica: true,
                replicas: Vec::new(),
                pending: None,
            }),
            replica_regions: Vec::new(),
        };
        self.declared_settings(&mut key, now)?;
        shared.apply(&mut key, now);
        if key.materials.iter().any(|m| {
            m.sealed.header().map_or(true, |h| {
                h.material.spec != key.spec || h.material.usage != key.usage
            })
        }) {
            return Err(ApiError::Validation(
                "packages: material of another key spec or usage than the replica's".into(),
            ));
        }
        let created = self.store.create_key(key).await?;
        self.replica_arrived(key_id).await;
        Ok(created)
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
                // Still listed by its primary until it is gone (then the
                // primary's next delivery, NotFound, takes it off the list).
                if key.deletion.is_some() {
                    return Err(ApiError::InvalidState(format!(
                        "{} is pending deletion.",
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
                // Applied on every try: a retried write starts again from
                // the stored record.
                shared.clone().apply(key, now);
                key.materials.sort_by_key(|m| m.version);
                Ok(())
            })
            .await?;
        Ok(key)
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
