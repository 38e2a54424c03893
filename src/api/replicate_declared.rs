//! Replicas declared with a primary (`spec.replicaRegions` of its
//! `KmsKey`, or of its manifest in `serve`): each sync makes those the key
//! has none in yet, as ReplicateKey would with the replica's defaults.
//! Removing a Region from the list deletes nothing: as in AWS, a replica is
//! deleted in its own Region.

use super::replicate_ops::ReplicaSettings;
use super::{Api, ApiError};
use crate::key::KeyRecord;

impl Api {
    /// Makes the replicas `key` declares and lacks, if it is a primary here
    /// that may be replicated now (a disabled key, one pending deletion or
    /// one pending import waits, as ReplicateKey would refuse it). This
    /// Region, if listed, is skipped. Returns the Regions not reached,
    /// which it logs.
    pub(super) async fn replicate_declared(&self, key: &KeyRecord) -> Vec<(String, ApiError)> {
        let mut failures = Vec::new();
        let missing: Vec<&String> = key
            .replica_regions
            .iter()
            .filter(|region| **region != self.arn.region)
            .filter(|region| {
                !key.regions
                    .iter()
                    .flat_map(|r| &r.replicas)
                    .any(|r| &r.region == *region)
            })
            .collect();
        // Checked only with something to make: every key passes here.
        if missing.is_empty()
            || self.peers().is_none()
            || self.require_primary(key, "ReplicateKey").is_err()
        {
            return failures;
        }
        for region in missing {
            // Read again: the replica made before this one is listed.
            let current = match self.get_key(key.key_id).await {
                Ok(current) => current,
                Err(e) => {
                    failures.push((region.clone(), e));
                    continue;
                }
            };
            match self
                .replicate(current, region, ReplicaSettings::default())
                .await
            {
                Ok(_) => {
                    tracing::info!(key = %key.key_id, %region, "replicated as its replicaRegions declare")
                }
                Err(e) => {
                    tracing::warn!(key = %key.key_id, %region, error = %e, "declared replica not made; tried again at the next sync");
                    failures.push((region.clone(), e));
                }
            }
        }
        failures
    }
}
