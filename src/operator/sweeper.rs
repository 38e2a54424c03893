//! Destroys key material whose deletion window has ended. Watches key
//! Secrets metadata-only (the deletion date is an annotation), so no
//! sealed bytes sit in this cache; the Secret itself is read only to
//! confirm, and deleted only at the resourceVersion that was confirmed.
//!
//! Until then it also keeps pending material sealed under the newest root
//! key version, as the key controller does for live keys: otherwise a key
//! in a 30-day window would hold an old root key version in use that long.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, PartialObjectMeta, PostParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};

use super::key_plan::{self, Orphan};
use super::key_secret::{self, DELETION_DATE_ANNOTATION};
use super::{Context, ERROR_RETRY, Error, RESYNC, is_conflict};
use crate::key::KeyRecord;
use crate::reseal;
use crate::resource::KmsKey;

pub async fn reconcile(
    meta: Arc<PartialObjectMeta<Secret>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let now = (ctx.clock)();
    let Some(date) = meta
        .annotations()
        .get(DELETION_DATE_ANNOTATION)
        .and_then(|d| d.parse::<i64>().ok())
    else {
        // Not (or no longer: the deletion was cancelled) pending.
        forget(&ctx, &meta);
        if meta.metadata.deletion_timestamp.is_some() {
            report_held(&meta, &ctx).await?;
        }
        return Ok(Action::await_change());
    };
    let namespace = meta
        .namespace()
        .ok_or_else(|| Error::NotNamespaced(meta.name_any()))?;
    if date > now {
        reseal_pending(&meta, &namespace, &ctx).await?;
        return Ok(Action::requeue(wait(date - now)));
    }
    // A KmsKey of this name exists again: its controller cancels the
    // deletion; destroying now would race it.
    if let Some(key_name) = key_secret::key_name(meta.as_ref())
        && kms_key_exists(&ctx, &namespace, &key_name).await?
    {
        return Ok(Action::requeue(RESYNC));
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let Some(secret) = secrets.get_opt(&meta.name_any()).await? else {
        return Ok(Action::await_change());
    };
    let stored = match key_secret::read(&secret) {
        Ok(stored) => stored,
        Err(e) => {
            // Not ours to destroy as this version reads it; one that reads
            // it whole will.
            tracing::warn!(%namespace, error = %e, "key material not destroyed");
            return Ok(Action::await_change());
        }
    };
    match key_plan::plan_orphan(&stored, now) {
        Orphan::Destroy => {
            destroy(&secrets, secret).await?;
            forget(&ctx, &meta);
            tracing::info!(key = %stored.record.key_id, namespace = %namespace, "deletion window ended; key material destroyed");
            ctx.record_lifecycle(
                stored.record.key_id,
                &namespace,
                crate::lifecycle::Action::Destroy,
            )
            .await;
            ctx.metrics
                .reconciles
                .with_label_values(&["keysecret", "destroyed"])
                .inc();
            Ok(Action::await_change())
        }
        Orphan::WaitUntil(at) => Ok(Action::requeue(wait(at - now))),
        Orphan::Keep => Ok(Action::await_change()),
    }
}

/// Deletes the Secret `secret` as confirmed (its resourceVersion), letting
/// go of the finalizer that held it: first the finalizer, by a replace
/// conditional on that version, then the Secret, conditional on the version
/// the replace made. A Secret already being deleted (its namespace is) goes
/// once the finalizer is off.
pub(super) async fn destroy(secrets: &Api<Secret>, mut secret: Secret) -> Result<(), Error> {
    let name = secret.name_any();
    let terminating = secret.metadata.deletion_timestamp.is_some();
    if let Some(finalizers) = secret.metadata.finalizers.as_mut()
        && finalizers
            .iter()
            .any(|f| f == key_secret::MATERIAL_FINALIZER)
    {
        finalizers.retain(|f| f != key_secret::MATERIAL_FINALIZER);
        secret = secrets
            .replace(&name, &PostParams::default(), &secret)
            .await?;
    }
    if terminating {
        return Ok(());
    }
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            resource_version: secret.metadata.resource_version.clone(),
            uid: secret.metadata.uid.clone(),
        }),
        ..DeleteParams::default()
    };
    secrets.delete(&name, &params).await?;
    Ok(())
}

/// Seals the material of a key pending deletion again under the newest
/// root key version, if it is under an older one, and gives its Secret the
/// finalizer if an older controller wrote it without. Reads the Secret once per
/// resourceVersion and root key version; replaces it conditionally, so a
/// key applied again meanwhile (its controller wrote first) is left to
/// that controller.
async fn reseal_pending(
    meta: &PartialObjectMeta<Secret>,
    namespace: &str,
    ctx: &Context,
) -> Result<(), Error> {
    let current = ctx.crypto.root_key_info().await?.current;
    let uid = meta.uid().unwrap_or_default();
    let seen = (meta.resource_version().unwrap_or_default(), current);
    if lock(ctx).get(&uid) == Some(&seen) {
        return Ok(());
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let name = meta.name_any();
    let Some(secret) = secrets.get_opt(&name).await? else {
        return Ok(());
    };
    let mut stored = match key_secret::read(&secret) {
        Ok(stored) => stored,
        Err(e) => {
            // Said once per version of the Secret, not at every requeue.
            tracing::warn!(%namespace, error = %e, "key material not resealed");
            lock(ctx).insert(uid, seen);
            return Ok(());
        }
    };
    let key_id = stored.record.key_id;
    let resealed = reseal::reseal_key(&mut stored.record, current, ctx.crypto.as_ref()).await?;
    for (version, why) in &resealed.refused {
        tracing::error!(key_id = %key_id, version, %why, "key material not resealed");
    }
    let mut version = stored.resource_version.clone().unwrap_or_default();
    // Without the finalizer, deleting the namespace would destroy this key
    // before its window ends.
    if !resealed.moved.is_empty() || key_secret::unguarded(&secret) {
        let key_name = key_name(meta);
        let owner = stored.owner_uid.clone().unwrap_or_default();
        let object = key_secret::build(&key_name, &owner, &stored);
        match secrets
            .replace(&name, &PostParams::default(), &object)
            .await
        {
            Ok(written) => version = written.resource_version().unwrap_or_default(),
            // Written meanwhile: the watch brings that version here again.
            Err(e) if is_conflict(&e) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        if !resealed.moved.is_empty() {
            tracing::info!(key = %key_id, %namespace, versions = ?resealed.moved, root_key_version = current, "material of a key pending deletion sealed again under the newest root key version");
            ctx.metrics
                .reconciles
                .with_label_values(&["keysecret", "resealed"])
                .inc();
        }
    }
    lock(ctx).insert(uid, (version, current));
    Ok(())
}

/// A key Secret being deleted that no KmsKey names and whose deletion is
/// not scheduled (a key moved here and never adopted, a Secret restored
/// alone): the finalizer holds it for good, since destroying material is
/// never immediate and never guessed. Says so once, with the ways out, on
/// the Secret, where `kubectl describe` of the stuck object shows it.
async fn report_held(meta: &PartialObjectMeta<Secret>, ctx: &Context) -> Result<(), Error> {
    let uid = meta.uid().unwrap_or_default();
    if !key_secret::guarded(meta) || unpoisoned(&ctx.held_reported).contains(&uid) {
        return Ok(());
    }
    let namespace = meta
        .namespace()
        .ok_or_else(|| Error::NotNamespaced(meta.name_any()))?;
    let key_name = key_name(meta);
    // A KmsKey of that name says so itself (`SecretBeingDeleted`), or
    // schedules the deletion when it is deleted.
    if kms_key_exists(ctx, &namespace, &key_name).await? {
        return Ok(());
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let Some(secret) = secrets.get_opt(&meta.name_any()).await? else {
        return Ok(());
    };
    let Ok(stored) = key_secret::view(&secret) else {
        return Ok(());
    };
    // Scheduled meanwhile (the watch was behind): the sweeper sees to it.
    if stored.record.deletion.is_some() {
        return Ok(());
    }
    let message = held_message(&secret.name_any(), &namespace, &key_name, &stored.record);
    tracing::warn!(key = %stored.record.key_id, %namespace, "{message}");
    let secret = secret.object_ref(&());
    ctx.publish(&secret, EventType::Warning, MATERIAL_HELD, message, "Hold")
        .await;
    ctx.metrics
        .reconciles
        .with_label_values(&["keysecret", "held"])
        .inc();
    unpoisoned(&ctx.held_reported).insert(uid);
    Ok(())
}

/// The reason of the Warning event on a key Secret held for good.
pub const MATERIAL_HELD: &str = "MaterialHeld";

/// What holds the Secret `secret` in `namespace` of `key` (its KmsKey name
/// `key_name`), and the ways out.
fn held_message(secret: &str, namespace: &str, key_name: &str, key: &KeyRecord) -> String {
    let (id, spec, usage) = (key.key_id, key.spec, key.usage);
    format!(
        "Secret {secret} is being deleted, but it holds key {id}, which no KmsKey names and whose deletion is not scheduled, so the finalizer {} holds it, material and all. To delete the key, apply a KmsKey named {key_name} with spec.keyId {id}, keySpec {spec} and keyUsage {usage}, then delete that KmsKey: the key waits out its deletion window, then the Secret goes (not while the namespace itself is being deleted: it takes no new objects). To keep the key, move it with `kube-kms move-key -n {namespace} --key {key_name} --to-namespace <another namespace>`. Taking the finalizer off by hand destroys the material at once, and every ciphertext under the key with it",
        key_secret::MATERIAL_FINALIZER
    )
}

/// The KmsKey name a key Secret was written for, for messages.
fn key_name(meta: &PartialObjectMeta<Secret>) -> String {
    key_secret::key_name(meta).unwrap_or_else(|| meta.name_any())
}

async fn kms_key_exists(ctx: &Context, namespace: &str, name: &str) -> Result<bool, Error> {
    let keys: Api<KmsKey> = Api::namespaced(ctx.client.clone(), namespace);
    Ok(keys.get_metadata_opt(name).await?.is_some())
}

fn lock(ctx: &Context) -> MutexGuard<'_, HashMap<String, (String, u32)>> {
    unpoisoned(&ctx.pending_sealed)
}

/// The sweeper's memories are only caches of what it saw and sent: a panic
/// while one was held leaves nothing to distrust.
fn unpoisoned<T>(memory: &Mutex<T>) -> MutexGuard<'_, T> {
    memory
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn forget(ctx: &Context, meta: &PartialObjectMeta<Secret>) {
    lock(ctx).remove(&meta.uid().unwrap_or_default());
}

fn wait(ms: i64) -> Duration {
    Duration::from_millis(ms.max(1000) as u64).min(RESYNC)
}

pub fn error_policy(_: Arc<PartialObjectMeta<Secret>>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .failures
        .with_label_values(&["keysecret", error.category()])
        .inc();
    tracing::warn!(category = error.category(), %error, "key Secret sweep failed");
    Action::requeue(ERROR_RETRY)
}
