//! The embedded default: the endpoint with an in-process crypto service and
//! the local store, seeded from manifests, with a lifecycle runtime.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use zeroize::Zeroizing;

use crate::api::{Api, ApiError, Caller};
use crate::key_id::KeyId;
use crate::lifecycle;
use crate::manifest::{KmsKeySpec, Manifest, Metadata};
use crate::store::{AliasRecord, StoreError};

/// Applies manifests in order: keys first, then aliases. The manifest is the
/// source of truth: existing keys take its description, tags, enabled flag
/// and rotation, and a pending deletion is cancelled.
pub async fn apply_manifests(api: &Api, manifests: &[Manifest]) -> Result<(), String> {
    let mut key_ids: HashMap<(String, String), KeyId> = HashMap::new();
    for manifest in manifests {
        if let Manifest::Key { metadata, spec } = manifest {
            let id = apply_key(api, metadata, spec)
                .await
                .map_err(|e| format!("KmsKey {}/{}: {e}", metadata.namespace, metadata.name))?;
            key_ids.insert((metadata.namespace.clone(), metadata.name.clone()), id);
        }
    }
    for manifest in manifests {
        if let Manifest::Alias { metadata, spec } = manifest {
            let what = format!("KmsAlias {}/{}", metadata.namespace, metadata.name);
            crate::api::validate_alias_name(&spec.alias_name)
                .map_err(|e| format!("{what}: {e}"))?;
            let key_id = key_ids
                .get(&(metadata.namespace.clone(), spec.target_key_ref.name.clone()))
                .ok_or_else(|| {
                    format!(
                        "{what}: no KmsKey named {} in namespace {}",
                        spec.target_key_ref.name, metadata.namespace
                    )
                })?;
            let now = api.now();
            let alias = AliasRecord {
                namespace: metadata.namespace.clone(),
                name: spec.alias_name.clone(),
                key_id: *key_id,
                created: now,
                updated: now,
            };
            match api
                .store()
                .get_alias(&alias.namespace, &alias.name)
                .await
                .map_err(|e| e.to_string())?
            {
                Some(existing) if existing.key_id == alias.key_id => {}
                Some(existing) => {
                    let moved = AliasRecord {
                        created: existing.created,
                        ..alias
                    };
                    api.store()
                        .update_alias(moved)
                        .await
                        .map_err(|e| format!("{what}: {e}"))?;
                }
                None => match api.store().create_alias(alias).await {
                    Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
                    Err(e) => return Err(format!("{what}: {e}")),
                },
            }
        }
    }
    Ok(())
}

async fn apply_key(api: &Api, metadata: &Metadata, spec: &KmsKeySpec) -> Result<KeyId, ApiError> {
    let id = spec.key_id(metadata);
    lifecycle::pending_window(spec.pending_window_days)
        .map_err(|e| ApiError::Validation(e.to_string()))?;
    let period = lifecycle::rotation_period(spec.rotation.period_days)
        .map_err(|e| ApiError::Validation(e.to_string()))?;
    if spec.rotation.enabled && !lifecycle::supports_rotation(spec.key_spec) {
        return Err(ApiError::Unsupported(format!(
            "{} keys do not rotate",
            spec.key_spec
        )));
    }
    let existing = api.store().get_key(id).await?;
    if existing.is_none() {
        let caller = Caller {
            namespace: metadata.namespace.clone(),
            principal: "manifest".into(),
        };
        let material = match &spec.test_material {
            Some(b64) => Some(Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|_| ApiError::Validation("testMaterial must be base64".into()))?,
            )),
            None => None,
        };
        if material.is_some() {
            tracing::warn!(key = %id, "key material taken from a manifest: for test fixtures only");
        }
        api.mint_key(
            &caller,
            id,
            spec.key_spec,
            spec.key_usage,
            spec.description.clone(),
            spec.tags.clone(),
            material,
        )
        .await?;
        tracing::info!(key = %id, namespace = %metadata.namespace, name = %metadata.name, "created key from manifest");
    }
    let now = api.now();
    api.update_key(id, |key| {
        if key.namespace != metadata.namespace || key.spec != spec.key_spec || key.usage != spec.key_usage {
            return Err(ApiError::Validation(format!(
                "key {id} exists as {} {} in namespace {}; keySpec, keyUsage and namespace cannot change",
                key.spec, key.usage, key.namespace
            )));
        }
        if key.deletion.is_some() {
            tracing::info!(key = %id, "manifest re-applied: scheduled deletion cancelled");
            lifecycle::cancel_deletion(key);
        }
        key.description = spec.description.clone();
        key.tags = spec.tags.clone();
        key.enabled = spec.enabled;
        match (spec.rotation.enabled, key.rotation.enabled) {
            (true, false) => lifecycle::enable_rotation(key, period, now),
            (true, true) if key.rotation.period_days != period => lifecycle::enable_rotation(key, period, now),
            (false, true) => lifecycle::disable_rotation(key),
            _ => {}
        }
        Ok(())
    })
    .await?;
    Ok(id)
}

/// Runs the lifecycle (rotations, ends of deletion windows) every `every`.
pub fn spawn_lifecycle(api: Arc<Api>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match api.run_due().await {
                Ok(done) if !done.is_empty() => {
                    tracing::info!(actions = ?done, "lifecycle actions carried out")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "lifecycle run failed; retrying next tick"),
            }
        }
    })
}
