//! Reconciles `KmsKey` objects: carries out `key_plan` against the API
//! server and the crypto service, and reports the result.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{self, finalizer};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::key_plan::{self, Cleanup, KeyPlan, MaterialChanged, Refusal};
use super::key_secret::{self, KeySecret};
use super::{
    CONFLICT_RETRY, Context, ERROR_RETRY, Error, FINALIZER, REFUSED_RETRY, RESYNC, is_conflict,
    key_status,
};
use crate::declared::Change;
use crate::key::{KeyRecord, Millis, Origin, RotationType};
use crate::key_id::KeyId;
use crate::resource::{Condition, KmsKey, KmsKeyStatus, MATERIAL_ANNOTATION, crd_lacks};
use crate::seal::MaterialId;
use crate::{lifecycle, reseal};

const FIELD_MANAGER: &str = "kube-kms-controller";

pub async fn reconcile(key: Arc<KmsKey>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let namespace = key
        .namespace()
        .ok_or_else(|| Error::NotNamespaced(key.name_any()))?;
    let keys: Api<KmsKey> = Api::namespaced(ctx.client.clone(), &namespace);
    let ours = key.finalizers().iter().any(|f| f == FINALIZER);
    let result = async {
        // Cleaned up before the finalizer helper would let the object go:
        // a primary waiting for its replicas holds it.
        if ours
            && key.metadata.deletion_timestamp.is_some()
            && let Some(held) = cleanup(&key, &ctx).await?
        {
            return Ok(held);
        }
        finalizer(&keys, FINALIZER, key, |event| async {
            match event {
                finalizer::Event::Apply(key) => apply(&key, &ctx).await,
                finalizer::Event::Cleanup(_) => Ok(Action::await_change()),
            }
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e)))
    }
    .await;
    ctx.metrics
        .duration
        .with_label_values(&["kmskey"])
        .observe(started.elapsed().as_secs_f64());
    result
}

/// Retries errors soon; conflicts are normal (someone wrote first) and
/// retried the same way, re-reading everything.
pub fn error_policy(key: Arc<KmsKey>, error: &Error, ctx: Arc<Context>) -> Action {
    let category = error.category();
    ctx.metrics
        .failures
        .with_label_values(&["kmskey", category])
        .inc();
    if category == "conflict" {
        tracing::debug!(key = %key.name_any(), %error, "write conflict; retrying from a fresh read");
        return Action::requeue(CONFLICT_RETRY);
    }
    tracing::warn!(key = %key.name_any(), namespace = ?key.namespace(), category, %error, "reconcile failed");
    Action::requeue(ERROR_RETRY)
}

async fn apply(key: &KmsKey, ctx: &Context) -> Result<Action, Error> {
    let namespace = key.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let name = key_secret::secret_name(&key.name_any());
    let found = secrets.get_opt(&name).await?;
    let now = (ctx.clock)();
    let written = match key_plan::plan(key, found.as_ref(), now) {
        KeyPlan::Refuse(refusal) => return refuse(key, ctx, refusal).await,
        KeyPlan::Replica(replica) => {
            let key_id = replica.record.key_id;
            if let Some(refusal) = key_id_in_use(ctx, key_id).await? {
                return refuse(key, ctx, refusal).await;
            }
            let object = key_secret::build(&key.name_any(), &uid(key), &replica);
            match secrets.create(&PostParams::default(), &object).await {
                Ok(_) => {}
                Err(e) if is_conflict(&e) => return Ok(Action::requeue(CONFLICT_RETRY)),
                Err(e) => return Err(e.into()),
            }
            let primary = key.spec.primary_region.clone().unwrap_or_default();
            let note = format!("created replica {key_id} of the key in {primary}");
            event(ctx, key, EventType::Normal, "Replicated", note).await;
            // The Secret records the request as carried out: a failed
            // removal is retried by the next reconcile.
            clear_material_request(ctx, key).await?;
            *replica
        }
        KeyPlan::Create { key_id, pinned } => {
            if pinned && let Some(refusal) = key_id_in_use(ctx, key_id).await? {
                return refuse(key, ctx, refusal).await;
            }
            // A key of imported material waits for its owner's import.
            let sealed = match key.spec.origin {
                Origin::External => None,
                Origin::AwsKms => Some(
                    ctx.crypto
                        .generate_material(MaterialId {
                            key_id,
                            version: 1,
                            spec: key.spec.key_spec,
                            usage: key.spec.key_usage,
                        })
                        .await?,
                ),
            };
            let minted = key_plan::minted(key, key_id, sealed, now);
            let object = key_secret::build(&key.name_any(), &uid(key), &minted);
            match secrets.create(&PostParams::default(), &object).await {
                Ok(_) => {}
                // Another writer got there first. Drop what we minted and
                // start over from what it stored: never two keys.
                Err(e) if is_conflict(&e) => return Ok(Action::requeue(CONFLICT_RETRY)),
                Err(e) => return Err(e.into()),
            }
            event(
                ctx,
                key,
                EventType::Normal,
                "Created",
                format!("created key {key_id}"),
            )
            .await;
            minted
        }
        KeyPlan::Update(mut update) => {
            if update.rotate.is_some() && update.secret.record.origin == Origin::External {
                // Imported material waits in the record, sealed for its
                // version: nothing to mint.
                lifecycle::imported::rotate(&mut update.secret.record, now);
            } else if let Some(kind) = update.rotate {
                let record = &update.secret.record;
                let sealed = ctx
                    .crypto
                    .generate_material(MaterialId {
                        key_id: record.key_id,
                        version: record.next_version(),
                        spec: record.spec,
                        usage: record.usage,
                    })
                    .await?;
                lifecycle::add_version(&mut update.secret.record, sealed, kind, now);
            }
            let resealed = reseal_stale(ctx, &mut update.secret.record).await?;
            update.write |= resealed.is_some();
            if update.write {
                let object = key_secret::build(&key.name_any(), &uid(key), &update.secret);
                match secrets
                    .replace(&name, &PostParams::default(), &object)
                    .await
                {
                    Ok(_) => {}
                    Err(e) if is_conflict(&e) => {
                        return Ok(Action::requeue(Duration::from_secs(1)));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if update.write && update.rotate == Some(RotationType::Automatic) {
                let action = lifecycle::Action::Rotate(RotationType::Automatic);
                ctx.record_lifecycle(update.secret.record.key_id, &namespace, action)
                    .await;
            }
            if update.write && !update.expired.is_empty() {
                let action = lifecycle::Action::ExpireMaterial;
                ctx.record_lifecycle(update.secret.record.key_id, &namespace, action)
                    .await;
            }
            if update.clear_material_request && !clear_material_request(ctx, key).await? {
                report_update(ctx, key, &update).await;
                return Ok(Action::requeue(Duration::from_secs(1)));
            }
            report_update(ctx, key, &update).await;
            if let Some((versions, root_version)) = resealed {
                let message = format!(
                    "material versions {versions:?} sealed again under root key version {root_version}"
                );
                tracing::info!(key = %key.name_any(), namespace, %message, "resealed");
                event(ctx, key, EventType::Normal, "Resealed", message).await;
            }
            update.secret
        }
    };
    let mut status = key_status::reconciled(
        key,
        &written.record,
        &ctx.arn,
        written.rotate_handled.clone(),
        now,
    );
    // Deleted by hand (or with its namespace) while this KmsKey lives: the
    // finalizer holds it and the key works, which nothing else would say.
    if found.is_some_and(|s| s.metadata.deletion_timestamp.is_some()) {
        let was = key
            .status
            .as_ref()
            .and_then(|s| Condition::ready_in(&s.conditions));
        let shown = was.is_some_and(|c| c.reason == key_status::SECRET_BEING_DELETED);
        let message = key_status::held(key, &mut status, &name, now);
        if !shown {
            event(
                ctx,
                key,
                EventType::Warning,
                key_status::SECRET_BEING_DELETED,
                message,
            )
            .await;
        }
    }
    write_status(key, ctx, status).await?;
    ctx.metrics
        .reconciles
        .with_label_values(&["kmskey", "reconciled"])
        .inc();
    let due = lifecycle::next_due(&written.record)
        .map(|at| Duration::from_millis(at.saturating_sub(now).max(1000) as u64))
        .unwrap_or(RESYNC);
    Ok(Action::requeue(due.min(RESYNC)))
}

/// Why `key_id` may not be created here: a Secret of a namespace the
/// controller watches holds it already (a controller scoped with
/// `--watch-namespace` may not list Secrets beyond its namespaces).
async fn key_id_in_use(ctx: &Context, key_id: KeyId) -> Result<Option<Refusal>, Error> {
    let selector = format!("{}={key_id}", key_secret::KEY_ID_LABEL);
    for secrets in ctx.scope.apis::<Secret>(&ctx.client) {
        let others = secrets
            .list_metadata(&ListParams::default().labels(&selector))
            .await?;
        if let Some(other) = others.items.first() {
            return Ok(Some(Refusal {
                reason: "KeyIdInUse",
                message: format!(
                    "key {key_id} already exists as Secret {}/{}",
                    other.namespace().unwrap_or_default(),
                    other.name_any()
                ),
            }));
        }
    }
    Ok(None)
}

/// Seals again, under the crypto service's newest root key version, the
/// material versions of `record` sealed under an older one (a root key
/// version was added), so that the older versions stop being needed.
/// Returns the versions moved and the root key version, if any moved.
async fn reseal_stale(
    ctx: &Context,
    record: &mut KeyRecord,
) -> Result<Option<(Vec<u32>, u32)>, Error> {
    let current = ctx.crypto.root_key_info().await?.current;
    let resealed = reseal::reseal_key(record, current, ctx.crypto.as_ref()).await?;
    for (version, why) in &resealed.refused {
        tracing::error!(key_id = %record.key_id, version, %why, "key material not resealed");
    }
    Ok((!resealed.moved.is_empty()).then_some((resealed.moved, current)))
}

async fn report_update(ctx: &Context, key: &KmsKey, update: &key_plan::Update) {
    let id = update.secret.record.key_id;
    if update.adopted {
        event(
            ctx,
            key,
            EventType::Normal,
            "Adopted",
            format!("adopted the existing material of key {id}"),
        )
        .await;
    }
    for change in &update.changes {
        let (reason, note) = match change {
            Change::DeletionCancelled => (
                "DeletionCancelled",
                "the KmsKey was applied again; scheduled deletion cancelled".to_owned(),
            ),
            Change::Enabled => ("Enabled", "key enabled".to_owned()),
            Change::Disabled => ("Disabled", "key disabled".to_owned()),
            Change::RotationEnabled { period_days } => (
                "RotationEnabled",
                format!("automatic rotation every {period_days} days"),
            ),
            Change::RotationDisabled => {
                ("RotationDisabled", "automatic rotation disabled".to_owned())
            }
            Change::Policy => ("PolicyChanged", "key policy changed".to_owned()),
            Change::ReplicaRegions => (
                "ReplicaRegionsChanged",
                format!(
                    "replica Regions declared: [{}]; the endpoint replicates the key to those it has no replica in",
                    update.secret.record.replica_regions.join(", ")
                ),
            ),
            Change::Description | Change::Tags => continue,
        };
        event(ctx, key, EventType::Normal, reason, note).await;
    }
    if let Some(kind) = update.rotate {
        let version = update.secret.record.current().map_or(0, |m| m.version);
        let how = if kind == RotationType::OnDemand {
            "on demand"
        } else {
            "on schedule"
        };
        event(
            ctx,
            key,
            EventType::Normal,
            "Rotated",
            format!("rotated {how}: material version {version}"),
        )
        .await;
    }
    if let Some(why) = &update.rotation_refused {
        event(
            ctx,
            key,
            EventType::Warning,
            "RotationRefused",
            format!("on-demand rotation refused: {why}"),
        )
        .await;
    }
    let (kind, reason, note) = match &update.material {
        None => return report_expiry(ctx, key, update).await,
        Some(Ok(MaterialChanged::Imported)) => (
            EventType::Normal,
            "MaterialImported",
            format!("key material imported into key {id}"),
        ),
        Some(Ok(MaterialChanged::Replicated)) => (
            EventType::Normal,
            "Replicated",
            format!("key {id} brought up to date with its other Regions"),
        ),
        Some(Ok(MaterialChanged::Deleted)) => (
            EventType::Normal,
            "MaterialDeleted",
            format!("imported key material of key {id} deleted; the key is pending import"),
        ),
        Some(Err(why)) => (
            EventType::Warning,
            "MaterialRefused",
            format!("{MATERIAL_ANNOTATION} not carried out: {why}"),
        ),
    };
    event(ctx, key, kind, reason, note).await;
    report_expiry(ctx, key, update).await;
}

async fn report_expiry(ctx: &Context, key: &KmsKey, update: &key_plan::Update) {
    if !update.expired.is_empty() {
        let id = update.secret.record.key_id;
        let which = update.expired.join(", ");
        let note = format!("imported key material {which} of key {id} expired and was deleted");
        event(ctx, key, EventType::Normal, "MaterialExpired", note).await;
    }
}

/// Removes the material request the Secret now records as carried out,
/// unless the KmsKey changed since it was read (then the next reconcile
/// removes it, or carries out the newer request).
async fn clear_material_request(ctx: &Context, key: &KmsKey) -> Result<bool, Error> {
    let namespace = key.namespace().unwrap_or_default();
    let keys: Api<KmsKey> = Api::namespaced(ctx.client.clone(), &namespace);
    let patch = json!({"metadata": {
        "resourceVersion": key.resource_version(),
        "annotations": {MATERIAL_ANNOTATION: null},
    }});
    match keys
        .patch(
            &key.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if is_conflict(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

async fn refuse(key: &KmsKey, ctx: &Context, refusal: Refusal) -> Result<Action, Error> {
    let was = key
        .status
        .as_ref()
        .and_then(|s| Condition::ready_in(&s.conditions))
        .map(|c| (c.reason.clone(), c.message.clone()));
    if was != Some((refusal.reason.to_owned(), refusal.message.clone())) {
        warn(ctx, key, &refusal).await;
    }
    let status = key_status::refused(key, &refusal, (ctx.clock)());
    write_status(key, ctx, status).await?;
    ctx.metrics
        .reconciles
        .with_label_values(&["kmskey", "refused"])
        .inc();
    Ok(Action::requeue(REFUSED_RETRY))
}

/// A Warning event on `key` with a refusal's reason and message.
async fn warn(ctx: &Context, key: &KmsKey, refusal: &Refusal) {
    let message = refusal.message.clone();
    event(ctx, key, EventType::Warning, refusal.reason, message).await;
}

/// Schedules the deletion of a deleted `KmsKey`'s key; `Some` while the
/// finalizer stays (a primary waiting for its replicas), `None` when it
/// may go.
async fn cleanup(key: &KmsKey, ctx: &Context) -> Result<Option<Action>, Error> {
    let namespace = key.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let name = key_secret::secret_name(&key.name_any());
    let found = secrets.get_opt(&name).await?;
    let plan = key_plan::plan_cleanup(key, found.as_ref(), (ctx.clock)());
    match &plan {
        Cleanup::Schedule(secret) | Cleanup::Replicas(secret) => {
            let object = key_secret::build(&key.name_any(), &uid(key), secret);
            // A conflict fails the cleanup; the finalizer stays and we retry.
            secrets
                .replace(&name, &PostParams::default(), &object)
                .await?;
            let record = &secret.record;
            let date = record.deletion.and_then(|d| d.date());
            let started = matches!(plan, Cleanup::Schedule(_)) || date.is_some();
            if started {
                event(
                    ctx,
                    key,
                    EventType::Normal,
                    "DeletionScheduled",
                    deletion_note(record),
                )
                .await;
            }
            if matches!(plan, Cleanup::Replicas(_)) && !clear_material_request(ctx, key).await? {
                return Ok(Some(Action::requeue(CONFLICT_RETRY)));
            }
            // Last status of the object: PendingDeletion and when (or
            // PendingReplicaDeletion, while it stays).
            write_record_status(key, ctx, secret, (ctx.clock)()).await?;
        }
        // Said again at each retry: the deletion waits on someone.
        Cleanup::Refused(refusal) => warn(ctx, key, refusal).await,
        Cleanup::Waiting | Cleanup::AlreadyScheduled | Cleanup::Nothing => {}
    }
    let held = plan.holds();
    let outcome = match &plan {
        Cleanup::Refused(_) => "refused",
        _ if held => "awaiting_replicas",
        _ => "deleted",
    };
    ctx.metrics
        .reconciles
        .with_label_values(&["kmskey", outcome])
        .inc();
    Ok(held.then(|| Action::requeue(RESYNC)))
}

/// The `DeletionScheduled` event's words for a key pending deletion (or
/// pending replica deletion).
fn deletion_note(record: &crate::key::KeyRecord) -> String {
    let id = record.key_id;
    if let Some(date) = record.deletion.and_then(|d| d.date()) {
        return format!(
            "key {id} is pending deletion; its material will be destroyed at {}; apply the KmsKey again before then to cancel",
            key_status::rfc3339(date)
        );
    }
    // Waiting for its replicas.
    let days = record.deletion.map_or(0, |d| d.window_days);
    let regions: Vec<&str> = record
        .regions
        .iter()
        .flat_map(|r| r.replicas.iter().map(|r| r.region.as_str()))
        .collect();
    format!(
        "key {id} is pending replica deletion: its {days}-day deletion window starts when its replicas in {} are deleted (ScheduleKeyDeletion there); this KmsKey stays, Terminating, until then; CancelKeyDeletion cancels",
        regions.join(", ")
    )
}

/// Writes the status that describes the stored key.
async fn write_record_status(
    key: &KmsKey,
    ctx: &Context,
    stored: &KeySecret,
    now: Millis,
) -> Result<(), Error> {
    let status = key_status::reconciled(
        key,
        &stored.record,
        &ctx.arn,
        stored.rotate_handled.clone(),
        now,
    );
    write_status(key, ctx, status).await
}

/// Writes status by server-side apply, only when it differs.
async fn write_status(key: &KmsKey, ctx: &Context, status: KmsKeyStatus) -> Result<(), Error> {
    let mut status = key_status::without_endpoint_fields(&status);
    let now = (ctx.clock)();
    if now < ctx.old_crd_until.load(Ordering::Relaxed) {
        status.usage_tracked_since = None;
    }
    match apply_status(key, ctx, &status).await {
        // A CRD from before usage tracking (not upgraded with the chart):
        // every status write would fail, and with it every deletion. The
        // status goes without the field, and the log says why.
        Err(e) if crd_lacks(&e, "usageTrackedSince") => {
            if ctx
                .old_crd_until
                .swap(now + OLD_CRD_RETRY_MS, Ordering::Relaxed)
                <= now
            {
                tracing::warn!(
                    "the KmsKey CRD in the cluster is older than this controller (it has no status.usageTrackedSince): apply this version's CRDs (kubectl apply -f charts/kube-kms/crds/); until then key status is written without it, and GetKeyLastUsage tracks from when each endpoint started"
                );
            }
            status.usage_tracked_since = None;
            Ok(apply_status(key, ctx, &status).await?)
        }
        written => Ok(written?),
    }
}

/// How long status goes without the fields an old CRD lacks before they
/// are tried again (the CRDs may have been applied since).
const OLD_CRD_RETRY_MS: i64 = 60 * 60 * 1000;

/// Applies `status` unless the key already shows it.
async fn apply_status(key: &KmsKey, ctx: &Context, status: &KmsKeyStatus) -> kube::Result<()> {
    if key
        .status
        .as_ref()
        .map(key_status::without_endpoint_fields)
        .as_ref()
        == Some(status)
    {
        return Ok(());
    }
    let keys: Api<KmsKey> =
        Api::namespaced(ctx.client.clone(), &key.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": KmsKey::api_version(&()),
        "kind": KmsKey::kind(&()),
        "status": status,
    });
    keys.patch_status(
        &key.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(patch),
    )
    .await?;
    Ok(())
}

async fn event(ctx: &Context, key: &KmsKey, type_: EventType, reason: &str, note: String) {
    ctx.publish(&key.object_ref(&()), type_, reason, note, "Reconcile")
        .await;
}

fn uid(key: &KmsKey) -> String {
    key.metadata.uid.clone().unwrap_or_default()
}
