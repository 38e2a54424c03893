use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use serde_json::json;

use super::*;
use crate::operator::alias_plan;
use crate::operator::key_secret::{KeySecret, build};
use crate::resource::KmsGrant;
use crate::spec::GrantOperation;

fn key_secret(name: &str, namespace: &str, id: u8) -> Secret {
    key_secret_pending(name, namespace, id, None)
}

/// The Secret of key `id`, scheduled for `deletion` if given.
fn key_secret_pending(
    name: &str,
    namespace: &str,
    id: u8,
    deletion: Option<crate::key::Deletion>,
) -> Secret {
    let mut record = KeyRecord::test(0);
    record.key_id = KeyId::from_bytes([id; 16]);
    record.namespace = namespace.into();
    record.deletion = deletion;
    build(
        name,
        "uid",
        &KeySecret {
            record,
            owner_uid: None,
            rotate_handled: None,
            material_handled: None,
            resource_version: None,
            others: Default::default(),
        },
    )
}

fn alias(name: &str, alias_name: &str, ready: bool, target: u8) -> KmsAlias {
    alias_because(name, alias_name, ready, target, "r")
}

/// An alias of key object `app` whose Ready condition has `reason`.
fn alias_because(name: &str, alias_name: &str, ready: bool, target: u8, reason: &str) -> KmsAlias {
    serde_json::from_value(json!({
        "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsAlias",
        "metadata": {"name": name, "namespace": "team-a"},
        "spec": {"aliasName": alias_name, "targetKeyRef": {"name": "app"}},
        "status": {
            "targetKeyId": KeyId::from_bytes([target; 16]).to_string(),
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                "reason": reason, "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
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

/// During a rolling upgrade, a newer controller's Secrets reach replicas
/// of this endpoint: what this version does not know in them is left out,
/// and the key is served as this version reads it.
#[test]
fn a_key_secret_a_newer_version_wrote_is_served() {
    let mut secret = key_secret("a", "team-a", 1);
    crate::operator::key_secret::edit_document(&mut secret, |document| {
        document["record"]["hsm_slot"] = 7.into();
    });
    let mut index = ClusterIndex::default();
    index.key_secret_event(&Event::Apply(secret));
    let key = index.key(KeyId::from_bytes([1; 16])).unwrap();
    assert_eq!(key.namespace, "team-a");
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

/// An index fed by one watch per namespace (`--watch-namespace a,b`):
/// each watch's relist replaces its own namespace's objects only, and the
/// index is synced once every watch has listed.
#[test]
fn each_namespace_s_watch_relists_its_own_objects() {
    let mut index = ClusterIndex::fed_by(2);
    let listed = |index: &mut ClusterIndex, watch: &str, secrets: Vec<Secret>| {
        index.key_secret_event_in(Some(watch), &Event::Init);
        for secret in secrets {
            index.key_secret_event_in(Some(watch), &Event::InitApply(secret));
        }
        index.key_secret_event_in(Some(watch), &Event::InitDone);
    };
    let others = |index: &mut ClusterIndex, watch: &str| {
        index.alias_event_in(Some(watch), &Event::InitDone);
        index.grant_event_in(Some(watch), &Event::InitDone);
        index.credential_event_in(Some(watch), &Event::InitDone);
    };
    listed(&mut index, "team-a", vec![key_secret("a", "team-a", 1)]);
    others(&mut index, "team-a");
    assert!(!index.synced(), "team-b has not listed yet");
    listed(&mut index, "team-b", vec![key_secret("b", "team-b", 2)]);
    others(&mut index, "team-b");
    assert!(index.synced());
    assert_eq!(index.all_keys().len(), 2);
    // team-a's watch lists again (a new key there, the old one gone):
    // team-b's key stays.
    listed(&mut index, "team-a", vec![key_secret("c", "team-a", 3)]);
    let mut ids: Vec<_> = index.all_keys().iter().map(|k| k.key_id).collect();
    ids.sort();
    assert_eq!(
        ids,
        [KeyId::from_bytes([2; 16]), KeyId::from_bytes([3; 16])]
    );
    assert!(index.synced());
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

/// As in AWS, an alias names a key pending deletion until the key is
/// deleted, though the `KmsKey` it targets is gone (so the controller
/// leaves it not Ready); an alias whose name is refused never resolves.
#[test]
fn an_alias_still_names_its_key_while_the_key_is_pending_deletion() {
    let mut index = ClusterIndex::default();
    let creating = key_secret("app", "team-a", 7);
    let deletion = crate::key::Deletion {
        window_days: 7,
        deletion_date: 1,
    };
    let pending = key_secret_pending("app", "team-a", 7, Some(deletion));
    index.alias_event(&Event::Apply(alias_because(
        "app",
        "alias/app",
        false,
        1,
        alias_plan::KEY_NOT_FOUND,
    )));
    index.alias_event(&Event::Apply(alias_because(
        "other",
        "alias/taken",
        false,
        1,
        "AliasNameConflict",
    )));
    // The key is being created, not pending deletion: no alias yet.
    index.key_secret_event(&Event::Apply(creating));
    assert!(index.alias("team-a", "alias/app").is_none());

    index.key_secret_event(&Event::Apply(pending.clone()));
    let key_id = KeyId::from_bytes([7; 16]);
    assert_eq!(index.alias("team-a", "alias/app").unwrap().key_id, key_id);
    let listed: Vec<_> = index
        .aliases_in("team-a")
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(listed, ["alias/app"], "a refused name is never listed");
    assert_eq!(
        index.alias_object("team-a", "alias/app").as_deref(),
        Some("app"),
        "DeleteAlias and UpdateAlias find it"
    );
    assert!(index.alias("team-a", "alias/taken").is_none());
    // Not Ready because its KmsKey has no usable key: the same.
    index.alias_event(&Event::Apply(alias_because(
        "app",
        "alias/app",
        false,
        1,
        alias_plan::KEY_NOT_READY,
    )));
    assert_eq!(index.alias("team-a", "alias/app").unwrap().key_id, key_id);
    // And as the controller reports it once it has read the Secret.
    index.alias_event(&Event::Apply(alias_because(
        "app",
        "alias/app",
        false,
        1,
        alias_plan::KEY_PENDING_DELETION,
    )));
    assert_eq!(index.alias("team-a", "alias/app").unwrap().key_id, key_id);

    // Another object declaring the name, waiting on a key that is not
    // pending deletion, does not hide the one that resolves.
    let mut stale = alias_because("stale", "alias/app", false, 1, alias_plan::KEY_NOT_FOUND);
    stale.spec.target_key_ref.name = "other".into();
    index.alias_event(&Event::Apply(stale));
    for _ in 0..8 {
        assert_eq!(index.alias("team-a", "alias/app").unwrap().key_id, key_id);
        assert_eq!(
            index.alias_object("team-a", "alias/app").as_deref(),
            Some("app")
        );
    }

    // The window ends: the key and its Secret go, and the alias with them.
    index.key_secret_event(&Event::Delete(pending));
    assert!(index.alias("team-a", "alias/app").is_none());
    assert!(index.aliases_in("team-a").is_empty());
    assert!(index.alias_object("team-a", "alias/app").is_none());
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

/// While a key moves to another namespace, its copy (not pending deletion)
/// is the key, whichever Secret the watch brought first.
#[test]
fn a_key_held_twice_during_a_move_is_its_copy_not_pending_deletion() {
    let deletion = crate::key::Deletion {
        window_days: 7,
        deletion_date: 1,
    };
    let original = key_secret_pending("app", "team-a", 7, Some(deletion));
    let copy = key_secret("app", "team-b", 7);
    let id = KeyId::from_bytes([7; 16]);
    for order in [[&original, &copy], [&copy, &original]] {
        let mut index = ClusterIndex::default();
        for secret in order {
            index.key_secret_event(&Event::Apply(secret.clone()));
        }
        let key = index.key(id).unwrap();
        assert_eq!((key.namespace.as_str(), key.deletion), ("team-b", None));
        // The original let go: the copy stays.
        index.key_secret_event(&Event::Delete(original.clone()));
        assert_eq!(index.key(id).unwrap().namespace, "team-b");
    }
}

/// A `KmsGrant` on KmsKey `key` in `namespace`, with UID `uid`.
fn grant(name: &str, namespace: &str, key: &str, uid: &str) -> KmsGrant {
    serde_json::from_value(json!({
        "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsGrant",
        "metadata": {"name": name, "namespace": namespace, "uid": uid},
        "spec": {"keyRef": {"name": key}, "granteePrincipal": "arn:aws:iam::111122223333:role/team-a/app",
                 "operations": ["Encrypt", "Decrypt", "Encrypt"]},
    }))
    .unwrap()
}

#[test]
fn grants_are_found_by_their_kmskey_in_its_namespace() {
    let mut index = ClusterIndex::default();
    index.key_secret_event(&Event::Apply(key_secret("a", "team-a", 1)));
    index.key_secret_event(&Event::Apply(key_secret("a", "team-b", 2)));
    let on_a = grant("g1", "team-a", "a", "u1");
    index.grant_event(&Event::Apply(on_a.clone()));
    index.grant_event(&Event::Apply(grant("g2", "team-b", "a", "u2")));
    index.grant_event(&Event::Apply(grant("g3", "team-a", "missing", "u3")));
    let mut no_uid = grant("g4", "team-a", "a", "");
    no_uid.metadata.uid = None;
    index.grant_event(&Event::Apply(no_uid));
    let one = KeyId::from_bytes([1; 16]);
    let grants = index.grants_of(one);
    assert_eq!(grants.len(), 1, "{grants:?}");
    assert_eq!(grants[0].grant_id, crate::cluster::grants::grant_id("u1"));
    assert_eq!(grants[0].key_id, one);
    assert_eq!(
        grants[0].operations,
        [GrantOperation::Decrypt, GrantOperation::Encrypt]
    );
    let mut all: Vec<KeyId> = index.all_grants().iter().map(|g| g.key_id).collect();
    all.sort_by_key(|id| id.to_string());
    let mut expected = vec![one, KeyId::from_bytes([2; 16])];
    expected.sort_by_key(|id| id.to_string());
    assert_eq!(all, expected, "a grant on no known key is on none");
    assert_eq!(
        index.grant_object(one, &grants[0].grant_id),
        Some(("team-a".into(), "g1".into()))
    );
    index.grant_event(&Event::Delete(on_a));
    assert!(index.grants_of(one).is_empty());
}
