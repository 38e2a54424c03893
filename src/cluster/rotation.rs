//! On-demand rotations in a cluster. RotateKeyOnDemand sets the KmsKey's
//! `kubekms.io/rotate` annotation to a fresh value, and the controller
//! rotates once per value, after the call has returned. Until the key's
//! status says that value was handled, the rotation is in progress:
//! GetKeyRotationStatus reports when it was asked for, and another request
//! is refused (ConflictException) rather than overwriting the value, which
//! would fold two acknowledged rotations into one.

use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::store::kube_error;
use crate::key::Millis;
use crate::operator::key_status::rfc3339;
use crate::resource::{KmsKey, ROTATE_ANNOTATION};
use crate::store::{PendingRotation, StoreError};

/// What begins the values the endpoint writes; the rest says when.
const REQUEST_PREFIX: &str = "api-";

/// The annotation value for a request made at `now`: unique per request,
/// and saying when it was made.
pub fn request_value(now: Millis) -> String {
    let unique = uuid::Uuid::new_v4().simple().to_string();
    format!("{REQUEST_PREFIX}{now}-{}", &unique[..8])
}

/// When a value [`request_value`] made was made; `None` for a value set by
/// hand (`kubectl annotate`).
fn requested_at(value: &str) -> Option<Millis> {
    let (millis, _) = value.strip_prefix(REQUEST_PREFIX)?.split_once('-')?;
    millis.parse().ok()
}

/// The rotation `key` asks for that the controller has not handled yet.
pub fn pending(key: &KmsKey) -> Option<PendingRotation> {
    let requested = key.annotations().get(ROTATE_ANNOTATION)?;
    let handled = key
        .status
        .as_ref()
        .and_then(|s| s.last_rotate_request.as_ref());
    (Some(requested) != handled).then(|| PendingRotation {
        since: requested_at(requested),
    })
}

fn in_progress(name: &str, pending: &PendingRotation) -> StoreError {
    StoreError::InProgress(match pending.since {
        Some(since) => format!(
            "An on-demand rotation of KmsKey {name}, requested at {}, is in progress; retry once it completes.",
            rfc3339(since)
        ),
        None => format!(
            "An on-demand rotation of KmsKey {name} (its {ROTATE_ANNOTATION} annotation) is in progress; retry once it completes."
        ),
    })
}

/// Asks for one on-demand rotation of the KmsKey `name`, unless one is in
/// progress (see [`annotate_unless`]).
pub async fn request(keys: &Api<KmsKey>, name: &str, now: Millis) -> Result<(), StoreError> {
    let value = request_value(now);
    annotate_unless(keys, name, ROTATE_ANNOTATION, &value, |key| {
        pending(key).map(|pending| in_progress(name, &pending))
    })
    .await
}

/// Sets `annotation` to `value` on the KmsKey `name`, unless `busy` finds
/// the object as read busy with an earlier request (then its error). The
/// patch carries the resourceVersion it was decided on, so of two
/// requests racing (two replicas of the endpoint), one writes and the
/// other reads again and finds the first.
pub async fn annotate_unless(
    keys: &Api<KmsKey>,
    name: &str,
    annotation: &str,
    value: &str,
    busy: impl Fn(&KmsKey) -> Option<StoreError>,
) -> Result<(), StoreError> {
    let what = format!("KmsKey {name}");
    for _ in 0..4 {
        let key = keys.get(name).await.map_err(|e| kube_error(e, &what))?;
        if let Some(busy) = busy(&key) {
            return Err(busy);
        }
        let patch = json!({"metadata": {
            "resourceVersion": key.resource_version(),
            "annotations": {annotation: value},
        }});
        match keys
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => return Err(kube_error(e, &what)),
        }
    }
    Err(StoreError::Conflict(what))
}

#[cfg(test)]
mod tests;
