//! Moving a key pending deletion (or whose Secret is being deleted) into
//! another namespace: the way to keep a key whose namespace is being
//! deleted, which Kubernetes cannot cancel.
//!
//! The key record names its namespace, so copying the Secret is not enough:
//! the copy holds the same record and sealed material (the seal binds the
//! key id, version, spec and usage, not the namespace), its namespace
//! rewritten and its deletion cancelled. Only once the copy is stored is
//! the original let go; if that fails, the copy is withdrawn, so the key is
//! never in both places for long and never in neither.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client, ResourceExt};

use super::key_secret::{self, Foreign, KeySecret};
use super::{is_conflict, sweeper};
use crate::key::Millis;
use crate::key_id::KeyId;
use crate::resource::KmsKey;

/// Which key goes where.
#[derive(Debug, Clone)]
pub struct Move {
    pub from_namespace: String,
    /// The `KmsKey` name the key was created under (its Secret is
    /// `kmskey-<name>`).
    pub key_name: String,
    pub to_namespace: String,
    /// The `KmsKey` name to manage it under there.
    pub to_name: String,
}

/// Why a key is not moved. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no Secret {1} in namespace {0}")]
    NotFound(String, String),
    #[error(transparent)]
    Foreign(#[from] Foreign),
    #[error("the key is already in namespace {0}")]
    SameNamespace(String),
    #[error(
        "key {0} is neither pending deletion nor being deleted: its KmsKey still uses it (delete the KmsKey first; the key then waits out its window and can be moved)"
    )]
    NotPendingDeletion(KeyId),
    #[error("key {0}'s deletion window has ended; its material is being destroyed")]
    WindowEnded(KeyId),
    #[error("Secret {0}/{1} exists and holds another key")]
    TargetTaken(String, String),
    #[error(
        "KmsKey {0}/{1} exists and would take the key over; move it under another name (--to-name)"
    )]
    KmsKeyExists(String, String),
    #[error("key {0} is also held by Secret {1}/{2}")]
    KeyIdInUse(KeyId, String, String),
}

/// What to write, decided from the Secret found, what is in the target's
/// place (its Secret, and whether a `KmsKey` of that name exists), and the
/// other key Secrets holding the same key id.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Create this Secret in the target namespace, then let go of the
    /// original.
    Copy(Box<KeySecret>),
    /// A run that stopped half-way left the copy: only let go of the
    /// original.
    AlreadyCopied,
}

pub fn plan(
    request: &Move,
    found: &Secret,
    target: Option<&Secret>,
    target_key: bool,
    same_id: &[Secret],
    now: Millis,
) -> Result<Plan, Refusal> {
    let stored = key_secret::read(found)?;
    let record = &stored.record;
    let id = record.key_id;
    if request.to_namespace == request.from_namespace {
        return Err(Refusal::SameNamespace(request.to_namespace.clone()));
    }
    // Someone asked for the key to leave this namespace: its KmsKey was
    // deleted, or the Secret itself (with its namespace, or by hand).
    let being_deleted = found.metadata.deletion_timestamp.is_some();
    match record.deletion {
        Some(deletion) if deletion.deletion_date <= now => return Err(Refusal::WindowEnded(id)),
        None if !being_deleted => return Err(Refusal::NotPendingDeletion(id)),
        _ => {}
    }
    let place = |s: &Secret| (s.namespace().unwrap_or_default(), s.name_any());
    if let Some(target) = target {
        let copied = key_secret::view(target).is_ok_and(|copy| {
            copy.record.key_id == id && copy.record.materials == record.materials
        });
        return match copied {
            true => Ok(Plan::AlreadyCopied),
            false => {
                let (namespace, name) = place(target);
                Err(Refusal::TargetTaken(namespace, name))
            }
        };
    }
    if target_key {
        let to = request.to_namespace.clone();
        return Err(Refusal::KmsKeyExists(to, request.to_name.clone()));
    }
    if let Some(other) = same_id.iter().find(|s| s.uid() != found.uid()) {
        let (namespace, name) = place(other);
        return Err(Refusal::KeyIdInUse(id, namespace, name));
    }
    let mut copy = stored.clone();
    copy.record.namespace = request.to_namespace.clone();
    copy.record.deletion = None;
    copy.resource_version = None;
    copy.others = Default::default();
    Ok(Plan::Copy(Box::new(copy)))
}

/// A move that failed part-way, and what state it left.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error("{0}")]
    Refused(#[from] Refusal),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("the copy is stored, but the original could not be let go ({0}); run the move again")]
    Original(String),
    #[error(
        "the original could not be let go ({0}); the copy was withdrawn and the key stays in namespace {1}"
    )]
    Withdrawn(String, String),
    #[error(
        "the original could not be let go ({0}), nor the copy withdrawn ({1}): the key is in both namespaces; run the move again"
    )]
    Both(String, String),
}

/// The `KmsKey` names of the key Secrets in `namespace`, for moving them
/// all.
pub async fn key_names(client: Client, namespace: &str) -> Result<Vec<String>, kube::Error> {
    let secrets: Api<Secret> = Api::namespaced(client, namespace);
    let found = secrets
        .list(&ListParams::default().labels(&key_secret::selector()))
        .await?;
    let mut names: Vec<String> = found
        .items
        .iter()
        .filter_map(key_secret::key_name)
        .collect();
    names.sort();
    Ok(names)
}

/// Moves the key, as the caller's credentials allow (reading key Secrets
/// in every namespace, writing them in both).
pub async fn move_key(client: Client, request: &Move, now: Millis) -> Result<KeyId, MoveError> {
    let from: Api<Secret> = Api::namespaced(client.clone(), &request.from_namespace);
    let to: Api<Secret> = Api::namespaced(client.clone(), &request.to_namespace);
    let name = key_secret::secret_name(&request.key_name);
    let to_name = key_secret::secret_name(&request.to_name);
    let found = from
        .get_opt(&name)
        .await?
        .ok_or_else(|| Refusal::NotFound(request.from_namespace.clone(), name.clone()))?;
    let id = key_secret::read(&found)
        .map_err(Refusal::from)?
        .record
        .key_id;
    let target = to.get_opt(&to_name).await?;
    let selector = format!("{}={id}", key_secret::KEY_ID_LABEL);
    let same_id = Api::<Secret>::all(client.clone())
        .list(&ListParams::default().labels(&selector))
        .await?
        .items;
    let keys: Api<KmsKey> = Api::namespaced(client, &request.to_namespace);
    let target_key = keys.get_metadata_opt(&request.to_name).await?.is_some();
    let plan = plan(request, &found, target.as_ref(), target_key, &same_id, now)?;
    let copy = match plan {
        Plan::AlreadyCopied => None,
        Plan::Copy(copy) => {
            let owner = copy.owner_uid.clone().unwrap_or_default();
            let object = key_secret::build(&request.to_name, &owner, &copy);
            Some(match to.create(&PostParams::default(), &object).await {
                Ok(created) => created,
                Err(e) if is_conflict(&e) => {
                    let to = request.to_namespace.clone();
                    return Err(Refusal::TargetTaken(to, to_name).into());
                }
                Err(e) => return Err(e.into()),
            })
        }
    };
    // The version read is the one let go: a KmsKey applied again meanwhile
    // (which cancels the deletion) makes this fail, and the copy goes.
    let Err(why) = sweeper::destroy(&from, found).await else {
        return Ok(id);
    };
    let Some(copy) = copy else {
        return Err(MoveError::Original(why.to_string()));
    };
    // The copy carries the finalizer too: let go of it the same way.
    match sweeper::destroy(&to, copy).await {
        Ok(()) => Err(MoveError::Withdrawn(
            why.to_string(),
            request.from_namespace.clone(),
        )),
        Err(e) => Err(MoveError::Both(why.to_string(), e.to_string())),
    }
}

#[cfg(test)]
pub(crate) mod tests;
