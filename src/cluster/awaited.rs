//! Which replicas declared in this cluster still wait for their material:
//! `KmsKey`s with `primaryRegion` (and the pinned id a replica has) that no
//! key Secret holds yet, and that no delivery is already on its way to
//! (a `kubekms.io/material` request the controller has not carried out).
//! The endpoint's replica sync asks each one's primary Region for it
//! (`Api::pull_declared`). Pure.

use kube::ResourceExt;

use crate::key_id::KeyId;
use crate::resource::{KmsKey, MATERIAL_ANNOTATION};
use crate::store::AwaitedReplica;

/// The replicas among `keys` awaiting material, `held` saying which key
/// ids this cluster holds.
pub fn awaited(keys: &[KmsKey], held: impl Fn(KeyId) -> bool) -> Vec<AwaitedReplica> {
    keys.iter()
        .filter(|k| k.metadata.deletion_timestamp.is_none())
        .filter(|k| !k.annotations().contains_key(MATERIAL_ANNOTATION))
        .filter_map(|k| {
            let key_id = k.spec.key_id?;
            let primary_region = k.spec.primary_region.clone()?;
            (!held(key_id)).then(|| AwaitedReplica {
                key_id,
                primary_region,
                namespace: k.namespace().unwrap_or_default(),
                name: k.name_any(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::KmsKeySpec;

    fn key(name: &str, id: &str, primary: Option<&str>) -> KmsKey {
        let mut spec: KmsKeySpec = serde_json::from_value(serde_json::json!({
            "multiRegion": true,
            "keyId": id,
        }))
        .unwrap();
        spec.primary_region = primary.map(Into::into);
        let mut key = KmsKey::new(name, spec);
        key.metadata.namespace = Some("team".into());
        key
    }

    #[test]
    fn only_declared_replicas_without_material_or_a_delivery_on_its_way_are_awaited() {
        let held_id: KeyId = "mrk-1111111111111111e111111111111111".parse().unwrap();
        let waiting = key(
            "orders",
            "mrk-2222222222222222e222222222222222",
            Some("us-east-1"),
        );
        let held = key("held", &held_id.to_string(), Some("us-east-1"));
        let primary = key("primary", "mrk-3333333333333333e333333333333333", None);
        let mut delivering = key(
            "delivering",
            "mrk-4444444444444444e444444444444444",
            Some("eu-west-1"),
        );
        delivering
            .annotations_mut()
            .insert(MATERIAL_ANNOTATION.into(), "{}".into());
        let mut deleting = key(
            "deleting",
            "mrk-5555555555555555e555555555555555",
            Some("eu-west-1"),
        );
        deleting.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        let found = awaited(&[waiting, held, primary, delivering, deleting], |id| {
            id == held_id
        });
        assert_eq!(
            found,
            [AwaitedReplica {
                key_id: "mrk-2222222222222222e222222222222222".parse().unwrap(),
                primary_region: "us-east-1".into(),
                namespace: "team".into(),
                name: "orders".into(),
            }]
        );
    }
}
