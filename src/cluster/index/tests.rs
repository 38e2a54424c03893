use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use serde_json::json;

use super::*;
use crate::operator::key_secret::{KeySecret, build};

fn key_secret(name: &str, namespace: &str, id: u8) -> Secret {
    let mut record = KeyRecord::test(0);
    record.key_id = KeyId::from_bytes([id; 16]);
    record.namespace = namespace.into();
    build(
        name,
        "uid",
        &KeySecret {
            record,
            owner_uid: None,
            rotate_handled: None,
            resource_version: None,
        },
    )
}

fn alias(name: &str, alias_name: &str, ready: bool, target: u8) -> KmsAlias {
    serde_json::from_value(json!({
        "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsAlias",
        "metadata": {"name": name, "namespace": "team-a"},
        "spec": {"aliasName": alias_name, "targetKeyRef": {"name": "app"}},
        "status": {
            "targetKeyId": KeyId::from_bytes([target; 16]).to_string(),
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                "reason": "r", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        },
    }))
    .unwrap()
}

#[test]
fn keys_are_found_by_id_and_namespace_and_go_when_deleted() {
    let mut index = ClusterIndex::default();
    let a = key_secret("a", "team-a", 1);
    index.key_secret_event(&Event::Apply(a.clone()));
    index.key_secret_event(&Event::Apply(key_secret("b", "team-b", 2)));
    assert_eq!(
        index.key(KeyId::from_bytes([1; 16])).unwrap().namespace,
        "team-a"
    );
    assert_eq!(index.keys_in("team-b").len(), 1);
    assert_eq!(index.all_keys().len(), 2);
    index.key_secret_event(&Event::Delete(a));
    assert!(index.key(KeyId::from_bytes([1; 16])).is_none());
}

#[test]
fn a_relist_replaces_the_cache_only_when_complete() {
    let mut index = ClusterIndex::default();
    index.key_secret_event(&Event::Apply(key_secret("old", "team-a", 1)));
    index.key_secret_event(&Event::Init);
    index.key_secret_event(&Event::InitApply(key_secret("new", "team-a", 2)));
    // Mid-relist, readers still see the previous state.
    assert!(index.key(KeyId::from_bytes([1; 16])).is_some());
    index.key_secret_event(&Event::InitDone);
    assert!(index.key(KeyId::from_bytes([1; 16])).is_none());
    assert!(index.key(KeyId::from_bytes([2; 16])).is_some());
}

#[test]
fn only_resolved_aliases_resolve() {
    let mut index = ClusterIndex::default();
    index.alias_event(&Event::Apply(alias("app", "alias/app", true, 1)));
    index.alias_event(&Event::Apply(alias("dup", "alias/dup", false, 1)));
    assert_eq!(
        index.alias("team-a", "alias/app").unwrap().key_id,
        KeyId::from_bytes([1; 16])
    );
    assert!(index.alias("team-a", "alias/dup").is_none());
    assert!(
        index.alias("team-b", "alias/app").is_none(),
        "aliases are per namespace"
    );
    assert_eq!(index.aliases_in("team-a").len(), 1);
}

#[test]
fn access_keys_come_from_labelled_secrets_in_their_namespace() {
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "ci", "namespace": "team-a", "annotations": {PRINCIPAL_ANNOTATION: "ci-bot"}},
    }))
    .unwrap();
    let secret = Secret {
        data: Some(BTreeMap::from([
            ("accessKeyId".to_owned(), ByteString(b"AKID1".to_vec())),
            ("secretAccessKey".to_owned(), ByteString(b"s3cret".to_vec())),
        ])),
        ..secret
    };
    let mut index = ClusterIndex::default();
    index.credential_event(&Event::Apply(secret.clone()));
    let credentials = index.credentials();
    let found = credentials.get("AKID1").unwrap();
    assert_eq!(
        (found.namespace.as_str(), found.principal.as_str()),
        ("team-a", "ci-bot")
    );
    let empty = Secret {
        data: Some(BTreeMap::from([(
            "accessKeyId".to_owned(),
            ByteString(b"AKID1".to_vec()),
        )])),
        ..secret
    };
    index.credential_event(&Event::Apply(empty));
    assert!(
        index.credentials().get("AKID1").is_none(),
        "incomplete access keys are dropped"
    );
}
