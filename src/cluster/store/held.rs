//! The `KmsKey` of a multi-Region primary waiting for its replicas to be
//! deleted: the controller holds it, Terminating, by its finalizer (see
//! `operator::key_plan::Cleanup`); CancelKeyDeletion lets go of it first.

use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use tokio::time::Instant;

use super::{CONVERGE_TIMEOUT, kube_error};
use crate::resource::KmsKey;
use crate::store::StoreError;

/// Lets go of the `KmsKey` the controller holds, Terminating, for a
/// primary waiting for its replicas (its finalizer), so that
/// CancelKeyDeletion can declare the key again as for any cancel. The
/// key Secret records the schedule already (the key's state is read
/// from it), so the finalizer has nothing left to guard.
pub(super) async fn release(keys: &Api<KmsKey>, name: &str, what: &str) -> Result<(), StoreError> {
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    while let Some(held) = keys.get_opt(name).await.map_err(|e| kube_error(e, what))? {
        let others: Vec<&String> = held
            .finalizers()
            .iter()
            .filter(|f| *f != crate::operator::FINALIZER)
            .collect();
        let ours = others.len() < held.finalizers().len();
        if held.metadata.deletion_timestamp.is_some() && ours {
            // At the version read: a list in a merge patch is replaced.
            let patch = json!({"metadata": {
                "resourceVersion": held.resource_version(),
                "finalizers": others,
            }});
            keys.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|e| kube_error(e, what))?;
        } else if held.metadata.deletion_timestamp.is_none() {
            return Err(StoreError::Conflict(format!(
                "{what} exists and is not being deleted"
            )));
        }
        if Instant::now() > deadline {
            return Err(StoreError::Conflict(format!(
                "{what} is still being deleted"
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
