//! Which replicas declared in this cluster still wait for their material:
//! `KmsKey`s with `primaryRegion` (and the pinned id a replica has) that no
//! key Secret holds yet, and that no delivery is already on its way to
//! (a `kubekms.io/material` request the controller has not carried out).
//! The endpoint's replica sync asks each one's primary Region for it
//! (`Api::pull_declared`). Pure.

use kube::ResourceExt;

use crate::key::Millis;
use crate::key_id::KeyId;
use crate::resource::{KmsKey, MATERIAL_ANNOTATION, ReplicationRefusal};
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

/// The declared replicas among `keys` whose material arrived while their
/// status still says their primary refused (it came another way, a push),
/// for the refusal to be taken away.
pub fn answered(keys: &[KmsKey], held: impl Fn(KeyId) -> bool) -> Vec<AwaitedReplica> {
    keys.iter()
        .filter(|k| {
            k.status
                .as_ref()
                .is_some_and(|s| s.replication_refusal.is_some())
        })
        .filter_map(|k| {
            let key_id = k.spec.key_id.filter(|id| held(*id))?;
            Some(AwaitedReplica {
                key_id,
                primary_region: k.spec.primary_region.clone().unwrap_or_default(),
                namespace: k.namespace().unwrap_or_default(),
                name: k.name_any(),
            })
        })
        .collect()
}

/// The refusals `keys` show in their status now, by key id: what an
/// endpoint wrote there last (this one before a restart, or another that
/// held the Lease before), so the same answer is not written again with a
/// new `since`.
pub fn shown_refusals(keys: &[KmsKey]) -> impl Iterator<Item = (KeyId, Option<String>)> + '_ {
    keys.iter().filter_map(|k| {
        let refusal = k.status.as_ref()?.replication_refusal.as_ref()?;
        Some((k.spec.key_id?, Some(refusal.message.clone())))
    })
}

/// The field manager of the endpoint's writes of a declared replica's
/// `status.replicationRefusal`.
pub const FIELD_MANAGER: &str = "kube-kms-api-replication";

/// The server-side apply of a declared replica's answer at `now`: the
/// refusal, or (none) the field taken away.
pub fn status_patch(refusal: Option<&str>, now: Millis) -> serde_json::Value {
    let status = match refusal {
        Some(message) => serde_json::json!({"replicationRefusal": ReplicationRefusal {
            since: crate::operator::key_status::rfc3339(now),
            message: message.to_owned(),
        }}),
        None => serde_json::json!({}),
    };
    serde_json::json!({"apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey", "status": status})
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

    #[test]
    fn a_refusal_is_said_while_awaited_and_taken_away_once_the_replica_arrived() {
        let id: KeyId = "mrk-1111111111111111e111111111111111".parse().unwrap();
        let mut refused = key("orders", &id.to_string(), Some("us-east-1"));
        refused.status = Some(crate::resource::KmsKeyStatus {
            replication_refusal: Some(ReplicationRefusal {
                since: "2026-12-06T19:00:00Z".into(),
                message: "no".into(),
            }),
            ..Default::default()
        });
        let quiet = key(
            "quiet",
            "mrk-2222222222222222e222222222222222",
            Some("us-east-1"),
        );
        let keys = [refused, quiet];
        assert!(answered(&keys, |_| false).is_empty(), "still awaited");
        let arrived = answered(&keys, |_| true);
        assert_eq!(
            arrived
                .iter()
                .map(|r| (r.key_id, r.name.as_str()))
                .collect::<Vec<_>>(),
            [(id, "orders")]
        );

        let said = status_patch(Some("Region us-east-1 refused: no"), 1_700_000_000_000);
        assert_eq!(
            said,
            serde_json::json!({"apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
                "status": {"replicationRefusal": {"since": "2023-11-14T22:13:20Z",
                    "message": "Region us-east-1 refused: no"}}})
        );
        assert_eq!(status_patch(None, 0)["status"], serde_json::json!({}));
    }
}
