//! What reconciling a `KmsKey` must do, decided from the object, the Secret
//! found in its place and the time. Pure; `key_controller` carries it out.
//! Lifecycle rules come from `lifecycle` and `declared`, not from here.

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;

use super::key_secret::{self, KeySecret};
use crate::declared::{self, Change};
use crate::key::{
    ImportedMaterial, KeyRecord, KeyState, MaterialVersion, Millis, Origin, RotationType,
};
use crate::key_id::KeyId;
use crate::lifecycle::imported::{self, ImportRefusal, Placement};
use crate::lifecycle::{self, Action, Operation};
use crate::resource::{
    KmsKey, MATERIAL_ANNOTATION, MaterialChange, MaterialRequest, ROTATE_ANNOTATION,
};
use crate::seal::SealedMaterial;
use crate::spec::ImportType;

/// A reason and message for a `Ready=False` condition and a Warning event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub message: String,
}

/// The reason given for a key Secret this version would not write back:
/// it holds what a newer version wrote and this one does not know.
pub const WRITTEN_BY_NEWER_VERSION: &str = "WrittenByNewerVersion";

impl Refusal {
    fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            reason,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum KeyPlan {
    /// The key cannot be reconciled as declared.
    Refuse(Refusal),
    /// No Secret yet: mint version 1 of a key with this id and create it.
    Create { key_id: KeyId, pinned: bool },
    /// No Secret yet, and a replica's material arrived from its primary
    /// (`kubekms.io/material`): create the Secret as given.
    Replica(Box<KeySecret>),
    /// The Secret is ours: bring it to the spec.
    Update(Box<Update>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// The Secret as it must be written (record converged to the spec).
    pub secret: KeySecret,
    pub changes: Vec<Change>,
    /// The Secret was written by an earlier object of this name (deleted
    /// and re-applied, or restored from a backup).
    pub adopted: bool,
    /// Add a material version of this kind before writing.
    pub rotate: Option<RotationType>,
    /// An on-demand rotation was asked for and refused; why.
    pub rotation_refused: Option<String>,
    /// A material request (`kubekms.io/material`) carried out, or why not.
    pub material: Option<Result<MaterialChanged, String>>,
    /// The request in the annotation has been carried out (now or before):
    /// remove the annotation once the Secret is written, so the sealed
    /// material it may hold is kept nowhere but there.
    pub clear_material_request: bool,
    /// Imported material that reached its `ValidTo` and was deleted (ids).
    pub expired: Vec<String>,
    /// Whether anything differs from what is stored.
    pub write: bool,
}

/// Decides the reconcile of a live (not deleting) `key`.
pub fn plan(key: &KmsKey, found: Option<&Secret>, now: Millis) -> KeyPlan {
    if let Err(e) = declared::validate(&key.spec) {
        return KeyPlan::Refuse(Refusal::new("InvalidSpec", e.to_string()));
    }
    let Some(found) = found else {
        // A replica's material comes from its primary only: never minted,
        // even when its Secret is lost.
        if let Some(primary) = &key.spec.primary_region {
            return replicated::first(key, primary, now);
        }
        let known = key.status.as_ref().and_then(|s| s.key_id.clone());
        return match (key.spec.key_id, known) {
            (Some(id), _) => KeyPlan::Create {
                key_id: id,
                pinned: true,
            },
            // Minting again under the same id would make every ciphertext
            // of the lost material fail as if tampered with.
            (None, Some(id)) => KeyPlan::Refuse(Refusal::new(
                "MaterialMissing",
                format!(
                    "the Secret {} holding key {id} is gone; restore it from a backup, or delete and re-create this KmsKey to get a new key",
                    key_secret::secret_name(&key.name_any())
                ),
            )),
            (None, None) => KeyPlan::Create {
                key_id: match key.spec.multi_region {
                    true => KeyId::random_multi_region(),
                    false => KeyId::random(),
                },
                pinned: false,
            },
        };
    };
    let stored = match key_secret::read(found) {
        Ok(stored) => stored,
        Err(foreign) => {
            let reason = match foreign {
                key_secret::Foreign::Newer(..) => WRITTEN_BY_NEWER_VERSION,
                _ => "SecretConflict",
            };
            return KeyPlan::Refuse(Refusal::new(reason, foreign.to_string()));
        }
    };
    if let Some(pinned) = key.spec.key_id
        && pinned != stored.record.key_id
    {
        return KeyPlan::Refuse(Refusal::new(
            "KeyIdMismatch",
            format!(
                "spec.keyId is {pinned} but the Secret {} holds key {}",
                key_secret::secret_name(&key.name_any()),
                stored.record.key_id
            ),
        ));
    }
    let mut secret = stored.clone();
    let changes = match declared::converge(&mut secret.record, &key.spec, now) {
        Ok(changes) => changes,
        Err(e) => return KeyPlan::Refuse(Refusal::new("InvalidSpec", e.to_string())),
    };
    let uid = key.metadata.uid.clone();
    let adopted = stored.owner_uid != uid;
    secret.owner_uid = uid;

    let mut rotate = None;
    let mut rotation_refused = None;
    let requested = key.annotations().get(ROTATE_ANNOTATION).cloned();
    if requested.is_some() && requested != stored.rotate_handled {
        match on_demand_refusal(&secret) {
            None => rotate = Some(RotationType::OnDemand),
            Some(why) => rotation_refused = Some(why),
        }
        secret.rotate_handled = requested;
    } else if lifecycle::plan(&secret.record, now) == Some(Action::Rotate(RotationType::Automatic))
    {
        rotate = Some(RotationType::Automatic);
    }
    let mut material = None;
    let mut clear_material_request = false;
    if let Some(value) = key.annotations().get(MATERIAL_ANNOTATION) {
        match MaterialRequest::from_annotation(value) {
            Ok(request) => {
                if stored.material_handled.as_ref() != Some(&request.request) {
                    material = Some(change_material(&mut secret.record, &request.change, now));
                    // Imported material enables a key pending import on
                    // AWS; here the KmsKey says whether the key is enabled.
                    secret.record.enabled = key.spec.enabled;
                    secret.material_handled = Some(request.request);
                }
                clear_material_request = true;
            }
            // Set by hand and wrong: said (an event), left for its writer.
            Err(why) => material = Some(Err(why)),
        }
    }
    let expired = match lifecycle::plan(&secret.record, now) {
        Some(Action::ExpireMaterial) => imported::expire(&mut secret.record, now),
        _ => Vec::new(),
    };
    let write = secret != stored || rotate.is_some() || key_secret::unguarded(found);
    KeyPlan::Update(Box::new(Update {
        secret,
        changes,
        adopted,
        rotate,
        rotation_refused,
        material,
        clear_material_request,
        expired,
        write,
    }))
}

/// What a material request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaterialChanged {
    Imported,
    Deleted,
    /// A multi-Region key's versions or Regions from the endpoint.
    Replicated,
}

/// Carries out a material request on `record`, as the endpoint checked it
/// when it asked (it may have changed since: the same checks again).
fn change_material(
    record: &mut KeyRecord,
    change: &MaterialChange,
    now: Millis,
) -> Result<MaterialChanged, String> {
    let replicate = matches!(change, MaterialChange::Replicate { .. });
    if !replicate && record.origin != Origin::External {
        return Err(format!(
            "key {} is not of imported material (origin {})",
            record.key_id,
            record.origin.as_str()
        ));
    }
    match change {
        MaterialChange::Replicate {
            regions,
            sealed,
            imported,
        } => replicated::apply(record, regions, (sealed, imported), now),
        MaterialChange::Delete { material_id } => {
            let asked = material_id.as_deref();
            match imported::deletion_target(record, asked) {
                Some(target) => imported::delete(record, target),
                None if asked.is_some() => {
                    return Err(format!(
                        "key material {} is not the key's",
                        asked.unwrap_or_default()
                    ));
                }
                // Nothing was ever imported: nothing to delete.
                None => {}
            }
            Ok(MaterialChanged::Deleted)
        }
        MaterialChange::Import {
            sealed,
            material_id,
            valid_to,
            description,
            version,
            pending,
        } => {
            if record.deletion.is_some() {
                return Err(format!("key {} is pending deletion", record.key_id));
            }
            let sealed = crate::b64::decode(sealed)
                .map(SealedMaterial::from_bytes)
                .map_err(|_| "the sealed material is not base64".to_owned())?;
            let header = sealed.header().map_err(|e| e.to_string())?.material;
            if (header.key_id, header.version, header.spec, header.usage)
                != (record.key_id, *version, record.spec, record.usage)
            {
                return Err(format!(
                    "the sealed material is for key {} version {} ({} {}), not this key's version {version}",
                    header.key_id, header.version, header.spec, header.usage
                ));
            }
            // A replica's material pending rotation is its primary's, not new.
            let new = *pending && !record.is_replica();
            let import_type = new.then_some(ImportType::NewKeyMaterial);
            let placement = imported::place(record, material_id, import_type)
                .map_err(|refusal| import_refusal(&refusal))?;
            let asked = match pending {
                true => Placement::Pending(*version),
                false => Placement::Version(*version),
            };
            if placement != asked {
                return Err(format!(
                    "the material was sealed as {asked:?}, but goes to {placement:?} of this key"
                ));
            }
            let material = ImportedMaterial {
                material_id: material_id.clone(),
                valid_to: *valid_to,
                description: description.clone(),
                imported: now,
                version: *version,
                since: 0,
            };
            imported::import(record, placement, sealed, material);
            Ok(MaterialChanged::Imported)
        }
    }
}

/// Why imported material does not fit the key, for an event.
fn import_refusal(refusal: &ImportRefusal) -> String {
    match refusal {
        ImportRefusal::NothingImported => "no material was imported into the key yet".into(),
        ImportRefusal::NotTheKeys => {
            "the material is not the key's, which only the same material may replace".into()
        }
        ImportRefusal::AlreadyTheKeys(v) => {
            format!("the material is already the key's version {v}")
        }
        ImportRefusal::DoesNotRotate => "the key's spec takes no new material".into(),
        ImportRefusal::OtherPending(id) => format!("other material ({id}) is pending rotation"),
        ImportRefusal::ReplicaTakesPrimarys(primary) => {
            format!("the key is a replica: new material is imported into its primary in {primary}")
        }
    }
}

/// The Secret for a key just minted: version 1 is `sealed`, and the record
/// starts as the spec declares. A `kubekms.io/rotate` value already present
/// counts as handled: a new key is its own first rotation.
/// `sealed` is `None` for a key of imported material (origin EXTERNAL),
/// which has none until its owner imports some.
pub fn minted(
    key: &KmsKey,
    key_id: KeyId,
    sealed: Option<SealedMaterial>,
    now: Millis,
) -> KeySecret {
    let mut record = KeyRecord {
        key_id,
        namespace: key.namespace().unwrap_or_default(),
        description: String::new(),
        spec: key.spec.key_spec,
        usage: key.spec.key_usage,
        created: now,
        enabled: true,
        deletion: None,
        rotation: Default::default(),
        on_demand_rotations: 0,
        tags: Default::default(),
        materials: sealed
            .map(|sealed| MaterialVersion {
                version: 1,
                created: now,
                rotation_type: RotationType::Initial,
                sealed,
            })
            .into_iter()
            .collect(),
        policy: None,
        revision: 0,
        origin: key.spec.origin,
        imported: Vec::new(),
        pending_rotation: None,
        regions: None,
        replica_regions: Vec::new(),
    };
    // Validated by `plan` before anything was minted.
    let _ = declared::converge(&mut record, &key.spec, now);
    KeySecret {
        record,
        owner_uid: key.metadata.uid.clone(),
        rotate_handled: key.annotations().get(ROTATE_ANNOTATION).cloned(),
        material_handled: None,
        resource_version: None,
        others: Default::default(),
    }
}

/// Why an on-demand rotation may not happen now, in AWS's terms.
fn on_demand_refusal(secret: &KeySecret) -> Option<String> {
    let key = &secret.record;
    if let Some(regions) = key.regions.as_ref().filter(|r| r.replica) {
        return Some(format!(
            "the key is a replica; rotate its primary key in {}",
            regions.primary
        ));
    }
    if !lifecycle::supports_rotation(key.spec) {
        return Some(format!("{} keys do not rotate", key.spec));
    }
    if lifecycle::check(Operation::Rotation, key.state()).is_err() {
        return Some(format!("the key is {}", key.state().as_str()));
    }
    if key.origin == Origin::External && key.pending_rotation.is_none() {
        return Some("the key has no imported material pending rotation".into());
    }
    if !lifecycle::may_rotate_on_demand(key) {
        return Some(format!(
            "the key has reached the maximum of {} on-demand rotations",
            lifecycle::MAX_ON_DEMAND_ROTATIONS
        ));
    }
    None
}

/// What deleting a `KmsKey` must do before its finalizer goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Cleanup {
    /// Write the Secret with the deletion scheduled: its window started, or
    /// (a multi-Region primary with replicas) waiting for them.
    Schedule(Box<KeySecret>),
    /// A primary waiting for its replicas: the endpoint's new record of
    /// them (a `replicate` request, when one is deleted) carried out; write
    /// the Secret, then remove the request. The window starts with the last.
    Replicas(Box<KeySecret>),
    /// A primary waiting for its replicas, with nothing new.
    Waiting,
    /// Already scheduled (a retry after a crash); nothing to write.
    AlreadyScheduled,
    /// The Secret holds what a newer version wrote: scheduling would write
    /// it back without that, so the KmsKey stays, Terminating, until a
    /// version that knows it schedules the deletion.
    Refused(Refusal),
    /// No material of ours to protect (never minted, or not our Secret).
    Nothing,
}

impl Cleanup {
    /// Whether the finalizer stays: a primary waiting for its replicas to
    /// be deleted (AWS's `PendingReplicaDeletion`) keeps its KmsKey,
    /// Terminating, so that the endpoint can still tell the controller, by
    /// the request annotation, when they are gone.
    pub fn holds(&self) -> bool {
        let waits = |s: &KeySecret| s.record.state() == KeyState::PendingReplicaDeletion;
        match self {
            Cleanup::Schedule(secret) | Cleanup::Replicas(secret) => waits(secret),
            Cleanup::Waiting | Cleanup::Refused(_) => true,
            Cleanup::AlreadyScheduled | Cleanup::Nothing => false,
        }
    }
}

pub fn plan_cleanup(key: &KmsKey, found: Option<&Secret>, now: Millis) -> Cleanup {
    let Some(found) = found else {
        return Cleanup::Nothing;
    };
    let Ok(viewed) = key_secret::view(found) else {
        return Cleanup::Nothing;
    };
    if viewed.owner_uid != key.metadata.uid {
        // Written by another object of this name: not ours to schedule.
        return Cleanup::Nothing;
    }
    // Scheduling writes it back: then it must hold nothing this version
    // would drop.
    let mut secret = match key_secret::read(found) {
        Ok(secret) => secret,
        Err(newer) => {
            return Cleanup::Refused(Refusal::new(WRITTEN_BY_NEWER_VERSION, newer.to_string()));
        }
    };
    match secret.record.deletion {
        Some(deletion) if deletion.date().is_some() => Cleanup::AlreadyScheduled,
        Some(_) => waiting_for_replicas(key, secret, now),
        None => {
            // An invalid window cannot be applied; the longest one is the safe one.
            let window =
                declared::pending_window(&key.spec).unwrap_or(lifecycle::MAX_PENDING_WINDOW_DAYS);
            secret.record.deletion = Some(lifecycle::deletion_of(&secret.record, window, now));
            Cleanup::Schedule(Box::new(secret))
        }
    }
}

/// A primary waiting for its replicas: carries out a `replicate` request
/// the endpoint made when it found one deleted (any other kind waits, as
/// the key's state refuses it).
fn waiting_for_replicas(key: &KmsKey, mut secret: KeySecret, now: Millis) -> Cleanup {
    let request = key
        .annotations()
        .get(MATERIAL_ANNOTATION)
        .and_then(|value| MaterialRequest::from_annotation(value).ok());
    let Some(request) = request else {
        return Cleanup::Waiting;
    };
    if secret.material_handled.as_ref() == Some(&request.request) {
        // Carried out before a crash: written again as it is, and removed.
        return Cleanup::Replicas(Box::new(secret));
    }
    let MaterialChange::Replicate {
        regions,
        sealed,
        imported,
    } = &request.change
    else {
        return Cleanup::Waiting;
    };
    if replicated::apply(&mut secret.record, regions, (sealed, imported), now).is_err() {
        return Cleanup::Waiting;
    }
    lifecycle::start_window_without_replicas(&mut secret.record, now);
    secret.material_handled = Some(request.request);
    Cleanup::Replicas(Box::new(secret))
}

/// What to do with a key Secret whose `KmsKey` no longer exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orphan {
    /// The deletion window has ended: delete the Secret (and the material).
    Destroy,
    /// Look again at this time.
    WaitUntil(Millis),
    /// Not scheduled for deletion: keep the material, never guess.
    Keep,
}

pub fn plan_orphan(secret: &KeySecret, now: Millis) -> Orphan {
    match (secret.record.deletion, lifecycle::plan(&secret.record, now)) {
        (_, Some(Action::Destroy)) => Orphan::Destroy,
        (Some(deletion), _) => Orphan::WaitUntil(deletion.deletion_date),
        (None, _) => Orphan::Keep,
    }
}

mod replicated;

#[cfg(test)]
mod material;
#[cfg(test)]
mod replicas;
#[cfg(test)]
mod tests;
