//! The embedded default: the endpoint with an in-process crypto service and
//! the local store, seeded from manifests, with a lifecycle runtime.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::api::{Api, ApiError, Caller, DeclaredReplica, FirstMaterial};
use crate::audit::{AuditLog, Call};
use crate::declared;
use crate::grant;
use crate::key::Origin;
use crate::key_id::KeyId;
use crate::manifest::{self, Manifest, Metadata, Snapshot};
use crate::resource::{KmsGrantSpec, KmsKeySpec};
use crate::secret::SecretBytes;
use crate::store::{AliasRecord, StoreError};

mod applied;

pub use applied::Applied;

/// Applies manifests in order: keys first, then aliases, then grants. The manifest is the
/// source of truth: existing keys take its description, tags, enabled flag
/// and rotation, and a pending deletion is cancelled. Returns what changed,
/// for the audit trail.
pub async fn apply_manifests(api: &Api, manifests: &[Manifest]) -> Result<Vec<Applied>, String> {
    check(manifests)?;
    check_against_store(api, manifests).await?;
    // A replica declared before and taken out of the set before it arrived
    // is no longer asked for.
    let replicas: BTreeSet<KeyId> = manifests
        .iter()
        .filter_map(|m| match m {
            Manifest::Key { metadata, spec, .. } if spec.primary_region.is_some() => {
                Some(manifest::key_id(spec, metadata))
            }
            _ => None,
        })
        .collect();
    api.retain_declared_replicas(|id| replicas.contains(&id));
    let mut changed = Vec::new();
    let mut key_ids: HashMap<(String, String), KeyId> = HashMap::new();
    for manifest in manifests {
        if let Manifest::Key {
            metadata,
            spec,
            test_material,
        } = manifest
        {
            let id = apply_key(api, metadata, spec, test_material.as_deref(), &mut changed)
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
                .ok_or_else(|| format!("{what}: its KmsKey was not applied"))?;
            let now = api.now();
            let alias = AliasRecord {
                namespace: metadata.namespace.clone(),
                name: spec.alias_name.clone(),
                key_id: *key_id,
                created: now,
                updated: now,
            };
            // Whether the alias was made (true) or pointed elsewhere (false).
            let made = match api
                .store()
                .get_alias(&alias.namespace, &alias.name)
                .await
                .map_err(|e| e.to_string())?
            {
                Some(existing) if existing.key_id == alias.key_id => None,
                Some(existing) => {
                    let moved = AliasRecord {
                        created: existing.created,
                        ..alias
                    };
                    api.store()
                        .update_alias(moved)
                        .await
                        .map_err(|e| format!("{what}: {e}"))?;
                    Some(false)
                }
                None => match api.store().create_alias(alias).await {
                    Ok(()) => Some(true),
                    Err(StoreError::AlreadyExists(_)) => None,
                    Err(e) => return Err(format!("{what}: {e}")),
                },
            };
            if let Some(created) = made {
                changed.push(applied::alias(
                    &metadata.namespace,
                    &spec.alias_name,
                    *key_id,
                    created,
                ));
            }
        }
    }
    for manifest in manifests {
        if let Manifest::Grant { metadata, spec } = manifest {
            let what = format!("KmsGrant {}/{}", metadata.namespace, metadata.name);
            let key_id = key_ids
                .get(&(metadata.namespace.clone(), spec.key_ref.name.clone()))
                .ok_or_else(|| format!("{what}: its KmsKey was not applied"))?;
            let declared = spec.record(
                manifest::grant_id(metadata),
                *key_id,
                api.now(),
                String::new(),
            );
            // A replica not arrived yet takes it when it does.
            let Some(declared) = api.declare_replica_grant(declared) else {
                continue;
            };
            if api
                .declare_grant(declared.clone())
                .await
                .map_err(|e| format!("{what}: {e}"))?
            {
                changed.push(applied::grant(&metadata.namespace, &declared));
            }
        }
    }
    Ok(changed)
}

/// What can be known wrong with a set of manifests before the store is
/// asked, checked before anything is written: a mistake in the last file
/// changes nothing rather than half the set.
fn check(manifests: &[Manifest]) -> Result<(), String> {
    manifest::check_set(manifests)?;
    for manifest in manifests {
        let (what, result) = match manifest {
            Manifest::Key {
                metadata,
                spec,
                test_material,
            } => (
                format!("KmsKey {}/{}", metadata.namespace, metadata.name),
                declared::validate(spec)
                    .map_err(|e| spec_error(e).to_string())
                    .and_then(|()| match test_material {
                        Some(b64) if crate::b64::decode(b64.trim()).is_err() => {
                            Err(TEST_MATERIAL_NOT_BASE64.to_owned())
                        }
                        _ => Ok(()),
                    }),
            ),
            Manifest::Alias { metadata, spec } => (
                format!("KmsAlias {}/{}", metadata.namespace, metadata.name),
                crate::api::validate_alias_name(&spec.alias_name).map_err(|e| e.to_string()),
            ),
            Manifest::Grant { metadata, spec } => (
                format!("KmsGrant {}/{}", metadata.namespace, metadata.name),
                check_grant(manifests, metadata, spec),
            ),
        };
        result.map_err(|e| format!("{what}: {e}"))?;
    }
    Ok(())
}

const TEST_MATERIAL_NOT_BASE64: &str = "testMaterial must be base64";

/// What the cluster's CRD rules and CreateGrant's checks refuse in a
/// `KmsGrant`, against the `KmsKey` of the set it names (`check_set` found
/// it).
fn check_grant(
    manifests: &[Manifest],
    metadata: &Metadata,
    spec: &KmsGrantSpec,
) -> Result<(), String> {
    let key = manifests.iter().find_map(|m| match m {
        Manifest::Key {
            metadata: key,
            spec: key_spec,
            ..
        } if key.namespace == metadata.namespace && key.name == spec.key_ref.name => Some(key_spec),
        _ => None,
    });
    let Some(key) = key else {
        return Err(format!("no KmsKey named {}", spec.key_ref.name));
    };
    for principal in std::iter::once(&spec.grantee_principal).chain(&spec.retiring_principal) {
        if !grant::is_principal_arn(principal) {
            return Err(format!("{principal} is not a valid ARN"));
        }
    }
    if spec.operations.is_empty() {
        return Err("operations must name at least one operation".into());
    }
    let constraints = spec.constraints();
    if constraints.encryption_context_equals.is_some()
        && constraints.encryption_context_subset.is_some()
    {
        return Err(
            "a grant has encryptionContextEquals or encryptionContextSubset, not both".into(),
        );
    }
    match grant::misfit(key.key_spec, key.key_usage, &spec.operations, &constraints) {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

/// What only the store can refuse, asked of every key of the set before
/// anything is written: a key id already used in another namespace, a
/// `testMaterial` that is not the stored material, a change `converge`
/// refuses (another key spec, say). So a set the store would refuse
/// halfway changes nothing. (A change made between this check and the
/// writes is still refused key by key, by the same checks.)
async fn check_against_store(api: &Api, manifests: &[Manifest]) -> Result<(), String> {
    let now = api.now();
    for manifest in manifests {
        let Manifest::Key {
            metadata,
            spec,
            test_material,
        } = manifest
        else {
            continue;
        };
        let what = || format!("KmsKey {}/{}", metadata.namespace, metadata.name);
        let id = manifest::key_id(spec, metadata);
        let existing = api
            .store()
            .get_key(id)
            .await
            .map_err(|e| format!("{}: {e}", what()))?;
        let Some(mut key) = existing else { continue };
        if let Some(b64) = test_material {
            let material = crate::b64::decode(b64.trim())
                .map_err(|_| format!("{}: {TEST_MATERIAL_NOT_BASE64}", what()))?;
            check_test_material(api, &key, SecretBytes::new(material))
                .await
                .map_err(|e| format!("{}: {e}", what()))?;
        }
        converge_declared(&mut key, metadata, spec, now).map_err(|e| format!("{}: {e}", what()))?;
    }
    Ok(())
}

/// Brings a stored key to what its manifest declares, within its namespace.
/// A replica's rotation is its primary's (shared between the Regions), so
/// a manifest declaring a replica leaves it as it is.
fn converge_declared(
    key: &mut crate::key::KeyRecord,
    metadata: &Metadata,
    spec: &KmsKeySpec,
    now: crate::key::Millis,
) -> Result<Vec<declared::Change>, ApiError> {
    if key.namespace != metadata.namespace {
        return Err(ApiError::Validation(format!(
            "key {} exists in namespace {}; a key cannot move between namespaces",
            key.key_id, key.namespace
        )));
    }
    if let Some(primary) = &spec.primary_region
        && !key
            .regions
            .as_ref()
            .is_some_and(|r| r.primary == *primary || !r.replica)
    {
        return Err(ApiError::AlreadyExists(format!(
            "key {} exists here, and is not a replica of the key in {primary}",
            key.key_id
        )));
    }
    let rotation = key.rotation.clone();
    let mut changes = declared::converge(key, spec, now).map_err(spec_error)?;
    if spec.primary_region.is_some() {
        key.rotation = rotation;
        changes.retain(|c| {
            !matches!(
                c,
                declared::Change::RotationEnabled { .. } | declared::Change::RotationDisabled
            )
        });
    }
    Ok(changes)
}

async fn apply_key(
    api: &Api,
    metadata: &Metadata,
    spec: &KmsKeySpec,
    test_material: Option<&str>,
    changed: &mut Vec<Applied>,
) -> Result<KeyId, ApiError> {
    let id = manifest::key_id(spec, metadata);
    declared::validate(spec).map_err(spec_error)?;
    if test_material.is_some() && spec.origin == Origin::External {
        return Err(ApiError::Validation(
            "a KmsKey of origin EXTERNAL has no testMaterial: its material is imported (ImportKeyMaterial)".into(),
        ));
    }
    let material = match test_material {
        Some(b64) => Some(SecretBytes::new(
            crate::b64::decode(b64.trim())
                .map_err(|_| ApiError::Validation(TEST_MATERIAL_NOT_BASE64.into()))?,
        )),
        None => None,
    };
    // An existing key's testMaterial was compared in check_against_store;
    // material never changes, so that answer holds here.
    let existing = api.store().get_key(id).await?;
    if existing.is_none()
        && let Some(primary) = &spec.primary_region
    {
        // Its material comes from its primary's Region, asked at each sync.
        api.declare_replica(DeclaredReplica {
            namespace: metadata.namespace.clone(),
            name: metadata.name.clone(),
            spec: spec.clone(),
            grants: Vec::new(),
        })?;
        match api.has_peers() {
            true => {
                tracing::info!(key = %id, %primary, "replica declared; asked of its primary's Region at each sync")
            }
            false => {
                tracing::warn!(key = %id, %primary, "replica declared, but without --peers nothing can deliver it")
            }
        }
        return Ok(id);
    }
    if existing.is_none() {
        let caller = Caller::new(metadata.namespace.clone(), "manifest");
        if material.is_some() {
            tracing::warn!(key = %id, "key material taken from a manifest: for test fixtures only");
        }
        let created = api
            .mint_key(
                &caller,
                id,
                spec.key_spec,
                spec.key_usage,
                spec.description.clone(),
                spec.tags.clone(),
                spec.policy.clone(),
                match (material, spec.origin) {
                    (Some(material), _) => FirstMaterial::Supplied(material),
                    (None, Origin::External) => FirstMaterial::Imported,
                    (None, Origin::AwsKms) => FirstMaterial::Generated,
                },
            )
            .await?;
        changed.push(applied::key_created(&created));
        tracing::info!(key = %id, namespace = %metadata.namespace, name = %metadata.name, "created key from manifest");
    }
    let now = api.now();
    let (key, (tags_before, changes)) = api
        .update_key(id, |key| {
            let tags_before = key.tags.clone();
            let changes = converge_declared(key, metadata, spec, now)?;
            if changes.contains(&declared::Change::DeletionCancelled) {
                tracing::info!(key = %id, "manifest re-applied: scheduled deletion cancelled");
            }
            Ok((tags_before, changes))
        })
        .await?;
    changed.extend(applied::key_changed(&key, &tags_before, &changes));
    Ok(id)
}

/// A fixture's material cannot change under a key that exists: its
/// ciphertexts would no longer open, or the fixture's ciphertexts would
/// not. Compared with the key's first material version (the one
/// `testMaterial` made), inside the crypto service.
async fn check_test_material(
    api: &Api,
    key: &crate::key::KeyRecord,
    material: SecretBytes,
) -> Result<(), ApiError> {
    let Some(first) = key.material(1) else {
        return Ok(());
    };
    let id = crate::seal::MaterialId {
        key_id: key.key_id,
        version: 1,
        spec: key.spec,
        usage: key.usage,
    };
    let arn = api.arn_config().key_arn(key.key_id);
    let same = crate::crypto::compare::holds(api.crypto().as_ref(), &first.sealed, id, material)
        .await
        .map_err(|e| ApiError::from_crypto(e, &arn))?;
    if same {
        return Ok(());
    }
    Err(ApiError::Validation(format!(
        "testMaterial is not the material key {} holds in this store, and key material cannot \
         change; give the manifest another keyId, or start from an empty --data-dir",
        key.key_id
    )))
}

fn spec_error(e: declared::SpecError) -> ApiError {
    match e {
        declared::SpecError::RotationUnsupported(_) => ApiError::Unsupported(e.to_string()),
        declared::SpecError::Policy(_) => ApiError::MalformedPolicyDocument(e.to_string()),
        _ => ApiError::Validation(e.to_string()),
    }
}

/// Keeps the store applied with the manifests in `dir`: when what its
/// files hold differs from `seen`, the snapshot `applied` was parsed from
/// (checked every `every`), the set is applied again. Objects taken out of the manifests stay, as they do
/// across a restart (a key goes by ScheduleKeyDeletion, an alias by
/// DeleteAlias), and a warning says so. A set that does not load or apply
/// is reported and the next change awaited; what was applied stays.
pub async fn follow_manifests(
    api: Arc<Api>,
    dir: PathBuf,
    mut seen: Snapshot,
    applied: Vec<Manifest>,
    every: Duration,
    audit: Option<AuditLog>,
) {
    let mut applied = objects(&applied);
    let mut unreadable: Option<String> = None;
    loop {
        tokio::time::sleep(every).await;
        let now = match Snapshot::read(&dir) {
            Ok(now) => now,
            // Said once per distinct reason, not every few seconds.
            Err(why) => {
                if unreadable.as_ref() != Some(&why) {
                    tracing::error!(error = %why, "manifests not read; what was applied stays");
                    unreadable = Some(why);
                }
                continue;
            }
        };
        unreadable = None;
        if now == seen {
            continue;
        }
        seen = now;
        let manifests = match seen.parse() {
            Ok(manifests) => manifests,
            Err(why) => {
                tracing::error!(error = %why, "manifests changed but were not applied; what was applied stays");
                continue;
            }
        };
        match apply_manifests(&api, &manifests).await {
            Ok(changed) => record_applied(&api, audit.as_ref(), &changed).await,
            Err(why) => {
                tracing::error!(error = %why, "manifests changed but were not applied; what was applied stays");
                continue;
            }
        }
        let now_applied = objects(&manifests);
        for gone in applied.difference(&now_applied) {
            tracing::warn!(
                object = %gone,
                "no longer in the manifests; it stays (ScheduleKeyDeletion deletes a key, DeleteAlias an alias)"
            );
        }
        applied = now_applied;
        tracing::info!(count = manifests.len(), dir = %dir.display(), "manifests changed; applied again");
    }
}

/// The objects a set of manifests names, as `KmsKey namespace/name (key
/// id)`: a manifest whose keyId changed names another key, and the one it
/// named before is reported as no longer in the manifests.
fn objects(manifests: &[Manifest]) -> BTreeSet<String> {
    manifests
        .iter()
        .map(|m| match m {
            Manifest::Key { metadata, spec, .. } => format!(
                "KmsKey {}/{} (key {})",
                metadata.namespace,
                metadata.name,
                manifest::key_id(spec, metadata)
            ),
            Manifest::Alias { metadata, spec } => format!(
                "KmsAlias {}/{} ({})",
                metadata.namespace, metadata.name, spec.alias_name
            ),
            Manifest::Grant { metadata, .. } => format!(
                "KmsGrant {}/{} (grant {})",
                metadata.namespace,
                metadata.name,
                manifest::grant_id(metadata)
            ),
        })
        .collect()
}

/// Records what applying manifests changed, in order.
pub async fn record_applied(api: &Api, audit: Option<&AuditLog>, changed: &[Applied]) {
    if let Some(audit) = audit {
        for change in changed {
            audit.record(change.call(api.now())).await;
        }
    }
}

/// Runs the lifecycle (rotations, ends of deletion windows) every `every`.
pub fn spawn_lifecycle(
    api: Arc<Api>,
    every: Duration,
    audit: Option<AuditLog>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            run_lifecycle(&api, audit.as_ref()).await;
        }
    })
}

/// One lifecycle run: what is due is done, and each action is an audit
/// record, as AWS records its own `RotateKey` and `DeleteKey`.
pub async fn run_lifecycle(api: &Api, audit: Option<&AuditLog>) {
    match api.run_due().await {
        Ok(done) if !done.is_empty() => {
            tracing::info!(actions = ?done, "lifecycle actions carried out");
            if let Some(audit) = audit {
                for (key, action) in &done {
                    audit
                        .record(Call::lifecycle(api.now(), *key, *action, ""))
                        .await;
                }
            }
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "lifecycle run failed; retrying next tick"),
    }
    // New versions of multi-Region primaries reach their replicas (each
    // failure is logged, and retried next tick).
    api.sync_replicas().await;
}
