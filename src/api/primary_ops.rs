//! UpdatePrimaryRegion: a multi-Region key's primary moves to the Region of
//! one of its replicas (docs/multi-region.md). Called on the primary's
//! endpoint, as AWS has it: it brings the new primary up to date, tells
//! the other replicas (`KubeKmsReplication.MovePrimary`), promotes the new
//! primary, and makes its own key a replica. Every step is one a retry
//! repeats harmlessly, so a call that failed half way can be made again.

use serde::Deserialize;
use serde_json::{Value, json};

use super::access::Access;
use super::replicate_ops::{Shared, checked_region, in_turn, multi_region_id, unsynced};
use super::wire::{decode, required};
use super::{Api, ApiError, Caller};
use crate::key::{Regions, Rotation};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdatePrimaryInput {
    key_id: Option<String>,
    primary_region: Option<String>,
}

/// What the primary tells a replica: the Region of the primary from now
/// on, and, for the new primary, what it takes over.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MoveInput {
    key_id: Option<String>,
    primary_region: Option<String>,
    replicas: Option<Vec<String>>,
    rotation: Option<Rotation>,
}

impl Api {
    pub(super) async fn update_primary_region(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: UpdatePrimaryInput = decode(body)?;
        let region = checked_region("primaryRegion", input.primary_region)?;
        let key = self
            .managed_key(
                caller,
                input.key_id,
                Access::to("kms:UpdatePrimaryRegion")
                    .and(&[("kms:PrimaryRegion", region.as_str())]),
            )
            .await?;
        self.require_primary(&key, "UpdatePrimaryRegion")?;
        let arn = self.arn.key_arn(key.key_id);
        if region == self.arn.region {
            return Err(ApiError::Validation(format!(
                "{arn} is already the primary key; {region} is its Region."
            )));
        }
        if let Some(pending) = &key.pending_rotation {
            // Which Region's import of it would count is left unsaid: it is
            // rotated onto, or deleted, first.
            return Err(ApiError::InvalidState(format!(
                "{arn} has key material {} pending rotation: rotate the key (RotateKeyOnDemand) or delete that key material before its primary Region changes.",
                pending.material.material_id
            )));
        }
        let known: Vec<String> = Shared::of(&key).replicas;
        if !known.contains(&region) {
            return Err(ApiError::NotFound(format!(
                "{} does not exist",
                self.arn.key_arn_in(&region, key.key_id)
            )));
        }
        let peers = self.peer_client()?;
        // 1. The new primary holds every version before it takes over.
        if let Some((_, error)) = self
            .sync_key(&key)
            .await
            .into_iter()
            .find(|(r, _)| *r == region)
        {
            return Err(error);
        }
        // 2. The other replicas take deliveries from the new primary.
        let others: Vec<String> = known.iter().filter(|r| **r != region).cloned().collect();
        let id = key.key_id.to_string();
        for other in &others {
            let body = json!({ "KeyId": id, "PrimaryRegion": region });
            peers.call(other, "MovePrimary", &body).await?;
        }
        // 3. The new primary takes over, this Region among its replicas.
        let mut after: Vec<String> = others;
        after.push(self.arn.region.clone());
        let body = json!({
            "KeyId": id,
            "PrimaryRegion": region,
            "Replicas": after,
            "Rotation": key.rotation,
        });
        peers.call(&region, "MovePrimary", &body).await?;
        // 4. This Region's key becomes a replica of it (failing here
        // would leave two primaries: a change in progress is waited out).
        in_turn(|| {
            self.update_key(key.key_id, |record| {
                record.regions = Some(Regions {
                    primary: region.clone(),
                    replica: true,
                    replicas: unsynced(after.iter().cloned()),
                    pending: None,
                });
                Ok(())
            })
        })
        .await?;
        Ok(json!({}))
    }

    /// `KubeKmsReplication.MovePrimary`, from the key's primary: the
    /// primary is now in `PrimaryRegion`, this one's if it says so.
    pub(super) async fn move_primary(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let sender = self.peer_region(caller)?;
        let input: MoveInput = decode(body)?;
        let key_id = multi_region_id(required(input.key_id, "keyId")?)?;
        let new = required(input.primary_region, "primaryRegion")?;
        let here = new == self.arn.region;
        let arn = self.arn.key_arn(key_id);
        let moved = || {
            self.update_key(key_id, |key| {
                let Some(regions) = key.regions.as_mut() else {
                    return Err(ApiError::InvalidState(format!(
                        "{arn} is not a replica here."
                    )));
                };
                // Already done: a retry.
                if regions.primary == new && regions.replica != here {
                    return Ok(());
                }
                if !regions.replica || regions.primary != sender {
                    return Err(ApiError::AccessDenied(format!(
                        "Region {sender} is not the primary of {arn}."
                    )));
                }
                regions.primary = new.clone();
                if here {
                    regions.replica = false;
                    regions.replicas = unsynced(input.replicas.clone().unwrap_or_default());
                    regions.pending = None;
                    if let Some(rotation) = input.rotation.clone() {
                        key.rotation = rotation;
                    }
                }
                Ok(())
            })
        };
        in_turn(moved).await?;
        Ok(json!({}))
    }
}
