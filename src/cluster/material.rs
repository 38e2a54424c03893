//! Imported material in a cluster: ImportKeyMaterial and
//! DeleteImportedKeyMaterial become a `kubekms.io/material` request on the
//! key's KmsKey (`resource::material_request`), which the controller
//! carries out and then removes. While one is there another is refused
//! (ConflictException) rather than overwriting it, which would leave its
//! caller waiting for a change that never comes.

use kube::{Api, ResourceExt};

use crate::key::{KeyRecord, Millis};
use crate::operator::key_status::rfc3339;
use crate::resource::{KmsKey, MATERIAL_ANNOTATION, MaterialChange, MaterialRequest};
use crate::store::StoreError;

/// What describes a key's imported material, but when it was imported
/// (the controller's clock, not the endpoint's).
type Described<'a> = Option<(&'a str, Option<Millis>, &'a str)>;

fn described(key: &KeyRecord) -> Described<'_> {
    key.imported
        .as_ref()
        .map(|i| (i.material_id.as_str(), i.valid_to, i.description.as_str()))
}

/// The material change that turns `current` into `new`, if their material
/// differs: `None` when it does not; `Some(None)` for a change this store
/// does not carry out (anything but importing or deleting a key's
/// imported material).
pub fn change(current: &KeyRecord, new: &KeyRecord) -> Option<Option<MaterialChange>> {
    if (&current.materials, described(current)) == (&new.materials, described(new)) {
        return None;
    }
    if new.origin != crate::key::Origin::External {
        return Some(None);
    }
    Some(match (new.materials.first(), &new.imported) {
        (None, _) => Some(MaterialChange::Delete),
        (Some(first), Some(imported)) if new.materials.len() == 1 => Some(MaterialChange::Import {
            sealed: crate::b64::encode(first.sealed.as_bytes()),
            material_id: imported.material_id.clone(),
            valid_to: imported.valid_to,
            description: imported.description.clone(),
        }),
        _ => None,
    })
}

/// Whether `shown` (what the index holds now) has `change` carried out.
pub fn carried_out(shown: &KeyRecord, change: &MaterialChange) -> bool {
    match change {
        MaterialChange::Delete => shown.materials.is_empty(),
        MaterialChange::Import {
            material_id,
            valid_to,
            description,
            ..
        } => {
            !shown.materials.is_empty()
                && described(shown) == Some((material_id, *valid_to, description))
        }
    }
}

fn in_progress(name: &str, value: &str) -> StoreError {
    let since = MaterialRequest::from_annotation(value)
        .ok()
        .and_then(|r| r.requested_at());
    StoreError::InProgress(match since {
        Some(since) => format!(
            "A change of KmsKey {name}'s imported key material, requested at {}, is in progress; retry once it completes.",
            rfc3339(since)
        ),
        None => format!(
            "KmsKey {name} has a {MATERIAL_ANNOTATION} annotation the controller has not carried out; retry once it is gone."
        ),
    })
}

/// Asks the controller for `request` on the KmsKey `name`, unless another
/// is in progress.
pub async fn request(
    keys: &Api<KmsKey>,
    name: &str,
    request: &MaterialRequest,
) -> Result<(), StoreError> {
    let value = request.to_annotation();
    super::rotation::annotate_unless(keys, name, MATERIAL_ANNOTATION, &value, |key| {
        let pending = key.annotations().get(MATERIAL_ANNOTATION)?;
        Some(in_progress(name, pending))
    })
    .await
}
