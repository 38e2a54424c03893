//! Rotation: Enable/DisableKeyRotation, GetKeyRotationStatus,
//! RotateKeyOnDemand, ListKeyRotations, and the runtime step that carries
//! out what the lifecycle core says is due.

use serde::Deserialize;
use serde_json::{Value, json};

use super::access::Access;
use super::page;
use super::wire::{check_range, decode, key_material_id, timestamp};
use super::{Api, ApiError, Caller};
use crate::key::{ImportedMaterial, KeyRecord, Origin, RotationType};
use crate::key_id::KeyId;
use crate::lifecycle::{self, Action, Operation};
use crate::seal::MaterialId;
use crate::store::StoreError;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RotationInput {
    key_id: Option<String>,
    rotation_period_in_days: Option<i64>,
    limit: Option<i64>,
    marker: Option<String>,
    include_key_material: Option<String>,
}

impl Api {
    /// Refuses keys that do not rotate. Keys of imported material rotate
    /// only on demand, onto material imported for it.
    fn require_rotatable(&self, key: &KeyRecord, kind: RotationType) -> Result<(), ApiError> {
        if key.origin == Origin::External && kind != RotationType::OnDemand {
            return Err(ApiError::Unsupported(format!(
                "{} origin is EXTERNAL which is not valid for this operation.",
                self.arn.key_arn(key.key_id)
            )));
        }
        if lifecycle::supports_rotation(key.spec) {
            return Ok(());
        }
        Err(ApiError::Unsupported(format!(
            "{} key spec {} does not support key rotation; only symmetric encryption keys rotate.",
            self.arn.key_arn(key.key_id),
            key.spec
        )))
    }

    async fn rotatable_key(
        &self,
        caller: &Caller,
        key_id: Option<String>,
        access: Access<'_>,
        kind: RotationType,
    ) -> Result<KeyRecord, ApiError> {
        let key = self.managed_key(caller, key_id, access).await?;
        self.require_rotatable(&key, kind)?;
        if let Some(regions) = key.regions.as_ref().filter(|r| r.replica) {
            // Its versions come from the primary (docs/multi-region.md).
            return Err(ApiError::Unsupported(format!(
                "{} is a replica key; it rotates with its primary key in {}.",
                self.arn.key_arn(key.key_id),
                regions.primary
            )));
        }
        Ok(key)
    }

    pub(super) async fn enable_key_rotation(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: RotationInput = decode(body)?;
        if let Some(days) = input.rotation_period_in_days {
            check_range("rotationPeriodInDays", days, 90, 2560)?;
        }
        let period = lifecycle::rotation_period(input.rotation_period_in_days)
            .map_err(|e| ApiError::Validation(e.to_string()))?;
        let days = period.to_string();
        let keys = [("kms:RotationPeriodInDays", days.as_str())];
        let access = Access::to("kms:EnableKeyRotation").and(&keys);
        let key = self
            .rotatable_key(caller, input.key_id, access, RotationType::Automatic)
            .await?;
        let now = self.now();
        self.update_key(key.key_id, |key| {
            self.check_state(key, Operation::Rotation)?;
            lifecycle::enable_rotation(key, period, now);
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    pub(super) async fn disable_key_rotation(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: RotationInput = decode(body)?;
        let key = self
            .rotatable_key(
                caller,
                input.key_id,
                Access::to("kms:DisableKeyRotation"),
                RotationType::Automatic,
            )
            .await?;
        self.update_key(key.key_id, |key| {
            self.check_state(key, Operation::Rotation)?;
            lifecycle::disable_rotation(key);
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    pub(super) async fn get_key_rotation_status(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: RotationInput = decode(body)?;
        // A key that cannot rotate is reported as not rotating, as AWS does
        // now (it used to refuse): Terraform's AWS provider reads the status
        // of every key it manages, asymmetric and HMAC keys too.
        let key = self
            .managed_key(caller, input.key_id, Access::to("kms:GetKeyRotationStatus"))
            .await?;
        let mut out = json!({ "KeyRotationEnabled": key.rotation.enabled, "KeyId": self.arn.key_arn(key.key_id) });
        if key.rotation.enabled {
            out["RotationPeriodInDays"] = json!(key.rotation.period_days);
            if let Some(next) = key.rotation.next {
                out["NextRotationDate"] = timestamp(next);
            }
        }
        if lifecycle::supports_rotation(key.spec)
            && let Some(pending) = self.store.pending_rotation(key.key_id).await?
            && let Some(since) = pending.since
        {
            out["OnDemandRotationStartDate"] = timestamp(since);
        }
        Ok(out)
    }

    pub(super) async fn rotate_key_on_demand(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: RotationInput = decode(body)?;
        let key = self
            .rotatable_key(
                caller,
                input.key_id,
                Access::to("kms:RotateKeyOnDemand"),
                RotationType::OnDemand,
            )
            .await?;
        let key = self.require_replicas_hold_pending(key).await?;
        // State and the on-demand limit are checked there, on the record
        // that is written.
        let rotated = self
            .add_material_version(key.key_id, RotationType::OnDemand)
            .await?;
        if rotated.regions.is_some() {
            // The replicas get the new version now; one not reached gets it
            // at a later lifecycle run. Boxed, as in `Api::respond`.
            Box::pin(self.sync_key(&rotated)).await;
        }
        Ok(json!({ "KeyId": self.arn.key_arn(key.key_id) }))
    }

    /// A primary of imported material rotates onto new material only once
    /// each of its replicas holds it too (AWS's
    /// `PENDING_MULTI_REGION_IMPORT_AND_ROTATION`): the replicas not known
    /// to are asked first. Returns the key as read after.
    async fn require_replicas_hold_pending(&self, key: KeyRecord) -> Result<KeyRecord, ApiError> {
        if lifecycle::imported::regions::awaiting(&key).is_empty() {
            return Ok(key);
        }
        // Boxed, as in `Api::respond`.
        Box::pin(self.sync_key(&key)).await;
        let key = self.get_key(key.key_id).await?;
        let awaiting = lifecycle::imported::regions::awaiting(&key);
        if awaiting.is_empty() {
            return Ok(key);
        }
        let pending = key
            .pending_rotation
            .as_ref()
            .map(|p| &p.material.material_id);
        Err(ApiError::InvalidState(format!(
            "{}'s key material {} pending rotation is not imported yet into its replica key in {}: import the same key material there (ImportType EXISTING_KEY_MATERIAL), then rotate.",
            self.arn.key_arn(key.key_id),
            pending.map_or("", |id| id.as_str()),
            awaiting.join(", ")
        )))
    }

    /// Adds a material version: new material from the crypto service (for
    /// a key of imported material, the material waiting for the rotation),
    /// then a compare-and-set write. If another writer added a version meanwhile,
    /// the new material is discarded (never stored) and the step retried.
    pub async fn add_material_version(
        &self,
        id: KeyId,
        kind: RotationType,
    ) -> Result<KeyRecord, ApiError> {
        let arn = self.arn.key_arn(id);
        for _ in 0..8 {
            let mut key = self.get_key(id).await?;
            self.check_state(&key, Operation::Rotation)?;
            let now = self.now();
            if kind == RotationType::Automatic
                && lifecycle::plan(&key, now) != Some(Action::Rotate(kind))
            {
                // Rotation was disabled or already done since it was planned.
                return Ok(key);
            }
            if kind == RotationType::OnDemand && !lifecycle::may_rotate_on_demand(&key) {
                return Err(ApiError::LimitExceeded(format!(
                    "{arn} has reached the maximum of {} on-demand rotations.",
                    lifecycle::MAX_ON_DEMAND_ROTATIONS
                )));
            }
            if key.origin == Origin::External && key.pending_rotation.is_none() {
                return Err(ApiError::InvalidState(format!(
                    "{arn} has no key material pending rotation: import new key material (ImportType NEW_KEY_MATERIAL) first."
                )));
            }
            if self.store.mints_material() {
                return Ok(self.store.request_rotation(id).await?);
            }
            if key.origin == Origin::External {
                // The material waits in the record, sealed for its version.
                lifecycle::imported::rotate(&mut key, now);
            } else {
                let sealed = self
                    .crypto
                    .generate_material(MaterialId {
                        key_id: id,
                        version: key.next_version(),
                        spec: key.spec,
                        usage: key.usage,
                    })
                    .await
                    .map_err(|e| ApiError::from_crypto(e, &arn))?;
                lifecycle::add_version(&mut key, sealed, kind, now);
            }
            match self.store.update_key(key).await {
                Ok(stored) => return Ok(stored),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::Internal(
            "too many concurrent updates to one key; retry".into(),
        ))
    }

    pub(super) async fn list_key_rotations(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: RotationInput = decode(body)?;
        let include_all = match input.include_key_material.as_deref() {
            None | Some("ROTATIONS_ONLY") => false,
            Some("ALL_KEY_MATERIAL") => true,
            Some(other) => {
                return Err(ApiError::validation(
                    "includeKeyMaterial",
                    other,
                    "Member must satisfy enum value set: [ALL_KEY_MATERIAL, ROTATIONS_ONLY]",
                ));
            }
        };
        let key = self
            .managed_key(caller, input.key_id, Access::to("kms:ListKeyRotations"))
            .await?;
        if key.origin == Origin::External {
            return self.list_imported_material(&key, include_all, input.limit, input.marker);
        }
        self.require_rotatable(&key, RotationType::Automatic)?;
        let arn = self.arn.key_arn(key.key_id);
        let current = key.current().map(|m| m.version);
        let versions: Vec<_> = key
            .materials
            .iter()
            .filter(|m| include_all || m.rotation_type != RotationType::Initial)
            .cloned()
            .collect();
        let page = page::ROTATIONS.page(versions, input.limit, input.marker.as_deref(), |m| {
            format!("{:010}", m.version)
        })?;
        let rotations: Vec<_> = page
            .items
            .iter()
            .map(|m| {
                let mut entry = json!({
                    "KeyId": arn,
                    "KeyMaterialId": key_material_id(key.key_id, m.version),
                    "KeyMaterialState": if Some(m.version) == current { "CURRENT" } else { "NON_CURRENT" },
                });
                if m.rotation_type != RotationType::Initial {
                    entry["RotationDate"] = timestamp(m.created);
                    entry["RotationType"] = json!(if m.rotation_type == RotationType::OnDemand { "ON_DEMAND" } else { "AUTOMATIC" });
                }
                entry
            })
            .collect();
        Ok(page::response(json!({ "Rotations": rotations }), page.next))
    }

    /// ListKeyRotations of a key of imported material: its rotations, or
    /// with `ALL_KEY_MATERIAL` every material, each imported or pending
    /// import, and material pending rotation.
    fn list_imported_material(
        &self,
        key: &KeyRecord,
        include_all: bool,
        limit: Option<i64>,
        marker: Option<String>,
    ) -> Result<Value, ApiError> {
        let current = key.imported.last().map(|i| i.version);
        let versions = key.imported.iter().map(|i| (i, false));
        let pending = key.pending_rotation.iter().map(|p| (&p.material, true));
        // On a replica, the primary's material pending rotation not
        // imported here yet.
        let awaited = key.regions.as_ref().and_then(|r| r.pending.as_ref());
        let awaited = awaited
            .filter(|a| lifecycle::imported::regions::pending_held(key) != a.material_id)
            .map(|a| ImportedMaterial {
                material_id: a.material_id.clone(),
                valid_to: None,
                description: String::new(),
                imported: 0,
                version: a.version,
                since: 0,
            });
        let awaited = awaited.as_ref().map(|a| (a, true));
        let entries: Vec<_> = versions
            .chain(pending)
            .chain(awaited)
            .filter(|(i, pending)| include_all || (i.version > 1 && !pending))
            .collect();
        // On a primary, material pending rotation its replicas lack.
        let multi_region = !lifecycle::imported::regions::awaiting(key).is_empty();
        let page = page::ROTATIONS.page(entries, limit, marker.as_deref(), |(i, _)| {
            format!("{:010}", i.version)
        })?;
        let arn = self.arn.key_arn(key.key_id);
        let rotations: Vec<_> = page
            .items
            .iter()
            .map(|&(imported, pending)| {
                let held = match pending {
                    true => lifecycle::imported::regions::pending_held(key) == imported.material_id,
                    false => key.material(imported.version).is_some(),
                };
                let state = match pending {
                    true if multi_region || !held => "PENDING_MULTI_REGION_IMPORT_AND_ROTATION",
                    true => "PENDING_ROTATION",
                    false if Some(imported.version) == current => "CURRENT",
                    false => "NON_CURRENT",
                };
                let mut entry = json!({
                    "KeyId": arn,
                    "KeyMaterialId": imported.material_id,
                    "KeyMaterialState": state,
                    "ImportState": if held { "IMPORTED" } else { "PENDING_IMPORT" },
                    "ExpirationModel": if imported.valid_to.is_some() { "KEY_MATERIAL_EXPIRES" } else { "KEY_MATERIAL_DOES_NOT_EXPIRE" },
                });
                if let Some(valid_to) = imported.valid_to {
                    entry["ValidTo"] = timestamp(valid_to);
                }
                if !imported.description.is_empty() {
                    entry["KeyMaterialDescription"] = json!(imported.description);
                }
                if imported.version > 1 && !pending {
                    entry["RotationDate"] = timestamp(imported.since);
                    entry["RotationType"] = json!("ON_DEMAND");
                }
                entry
            })
            .collect();
        Ok(page::response(json!({ "Rotations": rotations }), page.next))
    }

    /// Carries out whatever the lifecycle core says is due now for every
    /// key: automatic rotations and the ends of deletion windows. Returns the
    /// actions taken.
    /// A key whose action fails (or changed meanwhile) is left for the next
    /// run; the others still get theirs.
    pub async fn run_due(&self) -> Result<Vec<(KeyId, Action)>, ApiError> {
        let now = self.now();
        let mut done = Vec::new();
        for key in self.store.all_keys().await? {
            let Some(action) = lifecycle::plan(&key, now) else {
                continue;
            };
            let result = match action {
                Action::Rotate(kind) => self
                    .add_material_version(key.key_id, kind)
                    .await
                    .map(|_| ()),
                // Only the revision that was planned on is destroyed: a deletion
                // cancelled since then makes this a conflict, not a loss.
                Action::Destroy => self
                    .store
                    .delete_key(key.key_id, key.revision)
                    .await
                    .map_err(ApiError::from),
                Action::ExpireMaterial => self.expire_material(key.key_id).await,
            };
            match result {
                Ok(()) => {
                    match action {
                        Action::Destroy => {
                            tracing::info!(key = %key.key_id, "deletion window ended; key material destroyed")
                        }
                        Action::ExpireMaterial => {
                            tracing::info!(key = %key.key_id, "imported key material expired and deleted; the key is pending import")
                        }
                        Action::Rotate(_) => {}
                    }
                    done.push((key.key_id, action));
                }
                Err(e) => {
                    tracing::warn!(key = %key.key_id, error = %e, "lifecycle action not carried out; retrying next run")
                }
            }
        }
        Ok(done)
    }
}
