//! The Secret that holds one key's record and sealed material versions.
//! Pure: building and reading the object; the shells send it.
//!
//! The Secret has no ownerReference on purpose: garbage collection (or a
//! foreground deletion of the KmsKey) must never remove key material before
//! its deletion window ends. Ownership is recorded in labels and
//! annotations instead, and checked before anything is written.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::ObjectMeta;
use serde::{Deserialize, Serialize};

use crate::key::KeyRecord;
use crate::key_id::KeyId;

pub const SECRET_TYPE: &str = "kubekms.io/key-material";
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "kube-kms";
pub const KEY_ID_LABEL: &str = "kubekms.io/key-id";
pub const OWNER_UID_ANNOTATION: &str = "kubekms.io/owner-uid";
pub const KEY_NAME_ANNOTATION: &str = "kubekms.io/key-name";
/// The last `kubekms.io/rotate` value acted upon. It lives with the
/// material, so a rotation and the record that it happened are one write.
pub const ROTATE_HANDLED_ANNOTATION: &str = "kubekms.io/rotate-handled";
/// The last `kubekms.io/material` request carried out (its id), written
/// with the material it imported or deleted.
pub const MATERIAL_HANDLED_ANNOTATION: &str = "kubekms.io/material-handled";
/// While pending deletion: when the window ends (ms since the epoch). Lets
/// the sweeper watch Secrets metadata-only.
pub const DELETION_DATE_ANNOTATION: &str = "kubekms.io/deletion-date";
/// Holds every key Secret until the controller destroys its material when
/// a deletion window ends. Without it, deleting the Secret (or its whole
/// namespace) would destroy the key at once, with no window at all.
pub const MATERIAL_FINALIZER: &str = "kubekms.io/key-material";
/// The labels and annotations this controller owns on a key Secret; any
/// other is another writer's, and is kept.
const OUR_LABELS: [&str; 2] = [MANAGED_BY_LABEL, KEY_ID_LABEL];
const OUR_ANNOTATIONS: [&str; 5] = [
    OWNER_UID_ANNOTATION,
    KEY_NAME_ANNOTATION,
    ROTATE_HANDLED_ANNOTATION,
    MATERIAL_HANDLED_ANNOTATION,
    DELETION_DATE_ANNOTATION,
];
const SECRET_PREFIX: &str = "kmskey-";
const DATA_KEY: &str = "key.json";
const FORMAT: u32 = 1;

/// The label selector matching every key Secret.
pub fn selector() -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY},{KEY_ID_LABEL}")
}

/// Whether a key Secret lacks the finalizer it should carry: written by a
/// controller from before it, and not being deleted (a Secret being
/// deleted cannot take a finalizer).
pub fn unguarded(secret: &Secret) -> bool {
    secret.metadata.deletion_timestamp.is_none() && !guarded(secret)
}

/// Whether a key Secret (or the watch's view of one) carries the finalizer
/// that holds its material.
pub fn guarded(secret: &impl ResourceExt) -> bool {
    secret.finalizers().iter().any(|f| f == MATERIAL_FINALIZER)
}

pub fn secret_name(key_name: &str) -> String {
    format!("{SECRET_PREFIX}{key_name}")
}

/// The name of the KmsKey a key Secret was written for: its annotation,
/// else what its name says (every key Secret is named [`secret_name`], so
/// one restored or edited without the annotation still names its key);
/// `None` for a Secret named otherwise that lacks the annotation too.
pub fn key_name(secret: &impl ResourceExt) -> Option<String> {
    match secret.annotations().get(KEY_NAME_ANNOTATION) {
        Some(name) => Some(name.clone()),
        None => secret
            .meta()
            .name
            .as_deref()?
            .strip_prefix(SECRET_PREFIX)
            .filter(|name| !name.is_empty())
            .map(str::to_owned),
    }
}

#[derive(Serialize, Deserialize)]
struct Document {
    format: u32,
    record: KeyRecord,
}

/// A key Secret as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct KeySecret {
    pub record: KeyRecord,
    /// UID of the KmsKey that wrote it last.
    pub owner_uid: Option<String>,
    pub rotate_handled: Option<String>,
    /// The id of the last material request carried out.
    pub material_handled: Option<String>,
    pub resource_version: Option<String>,
    pub others: Others,
}

impl KeySecret {
    /// `record` as the controller first writes it: no owner, rotation or
    /// version yet, nothing of other writers'.
    pub fn of(record: KeyRecord) -> Self {
        KeySecret {
            record,
            owner_uid: None,
            rotate_handled: None,
            material_handled: None,
            resource_version: None,
            others: Others::default(),
        }
    }
}

/// What other writers put on a key Secret: labels, annotations and
/// finalizers that are not ours. Every write is a replace of the whole
/// object, so without these a backup tool's selector label or a policy
/// engine's finalizer would vanish at the next rotation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Others {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub finalizers: Vec<String>,
}

impl Others {
    fn of(meta: &ObjectMeta) -> Self {
        let theirs = |map: &Option<BTreeMap<String, String>>, ours: &[&str]| {
            map.iter()
                .flatten()
                .filter(|(k, _)| !ours.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        Others {
            labels: theirs(&meta.labels, &OUR_LABELS),
            annotations: theirs(&meta.annotations, &OUR_ANNOTATIONS),
            finalizers: meta
                .finalizers
                .iter()
                .flatten()
                .filter(|f| *f != MATERIAL_FINALIZER)
                .cloned()
                .collect(),
        }
    }
}

/// Why a Secret in our place is not ours to use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Foreign {
    #[error("Secret {0} exists and is not managed by kube-kms; refusing to touch it")]
    NotManaged(String),
    #[error("Secret {0} is labelled as kube-kms key material but cannot be read: {1}")]
    Unreadable(String, String),
    #[error("Secret {0} holds key {1} of namespace {2}, not of this namespace")]
    WrongNamespace(String, KeyId, String),
    #[error(
        "Secret {0} holds `{1}`, which this version of kube-kms does not know: a newer version wrote it, and writing the Secret back would lose it; run that version or a later one"
    )]
    Newer(String, String),
}

/// Reads a Secret found where a key's Secret belongs, to write it back:
/// one holding a field this version does not know (a newer version wrote
/// it) is refused, as writing it back would drop that field.
pub fn read(secret: &Secret) -> Result<KeySecret, Foreign> {
    read_checked(secret, true)
}

/// Reads a key Secret only to use it, never to write it back: what a newer
/// version added is left out unseen, so the endpoint of a rolling upgrade
/// goes on serving keys a newer controller wrote.
pub fn view(secret: &Secret) -> Result<KeySecret, Foreign> {
    read_checked(secret, false)
}

/// A key Secret read; with `whole`, refused if its document has a field
/// this version does not know (the check parses it twice: the endpoint's
/// index, reading every key, does without).
fn read_checked(secret: &Secret, whole: bool) -> Result<KeySecret, Foreign> {
    let meta = &secret.metadata;
    let name = meta.name.clone().unwrap_or_default();
    let labels = meta.labels.as_ref();
    let managed = labels
        .and_then(|l| l.get(MANAGED_BY_LABEL))
        .map(String::as_str)
        == Some(MANAGED_BY)
        && secret.type_.as_deref() == Some(SECRET_TYPE);
    if !managed {
        return Err(Foreign::NotManaged(name));
    }
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(DATA_KEY))
        .ok_or_else(|| Foreign::Unreadable(name.clone(), format!("no {DATA_KEY}")))?;
    let unreadable = |e: serde_json::Error| Foreign::Unreadable(name.clone(), e.to_string());
    let doc: Document = if whole {
        let stored: serde_json::Value = serde_json::from_slice(&bytes.0).map_err(unreadable)?;
        let doc = serde_json::from_value(stored.clone()).map_err(unreadable)?;
        if let Some(field) = crate::unknown_fields::of(&stored, &doc) {
            return Err(Foreign::Newer(name, field));
        }
        doc
    } else {
        serde_json::from_slice(&bytes.0).map_err(unreadable)?
    };
    if doc.format != FORMAT {
        return Err(Foreign::Unreadable(
            name,
            format!("unknown format {}", doc.format),
        ));
    }
    let namespace = meta.namespace.clone().unwrap_or_default();
    if doc.record.namespace != namespace {
        return Err(Foreign::WrongNamespace(
            name,
            doc.record.key_id,
            doc.record.namespace,
        ));
    }
    let annotation = |k: &str| meta.annotations.as_ref().and_then(|a| a.get(k)).cloned();
    Ok(KeySecret {
        record: doc.record,
        owner_uid: annotation(OWNER_UID_ANNOTATION),
        rotate_handled: annotation(ROTATE_HANDLED_ANNOTATION),
        material_handled: annotation(MATERIAL_HANDLED_ANNOTATION),
        resource_version: meta.resource_version.clone(),
        others: Others::of(meta),
    })
}

/// The Secret holding `secret.record`, written by the KmsKey `key_name`
/// with UID `owner_uid`. `resource_version` makes a replace conditional.
pub fn build(key_name: &str, owner_uid: &str, secret: &KeySecret) -> Secret {
    let record = &secret.record;
    let doc = Document {
        format: FORMAT,
        record: record.clone(),
    };
    let json = serde_json::to_vec(&doc).expect("a key record serializes");
    let others = &secret.others;
    let mut labels = others.labels.clone();
    labels.insert(MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned());
    labels.insert(KEY_ID_LABEL.to_owned(), record.key_id.to_string());
    let mut annotations = others.annotations.clone();
    annotations.insert(OWNER_UID_ANNOTATION.to_owned(), owner_uid.to_owned());
    annotations.insert(KEY_NAME_ANNOTATION.to_owned(), key_name.to_owned());
    if let Some(deletion) = record.deletion {
        annotations.insert(
            DELETION_DATE_ANNOTATION.to_owned(),
            deletion.deletion_date.to_string(),
        );
    }
    if let Some(handled) = &secret.rotate_handled {
        annotations.insert(ROTATE_HANDLED_ANNOTATION.to_owned(), handled.clone());
    }
    if let Some(handled) = &secret.material_handled {
        annotations.insert(MATERIAL_HANDLED_ANNOTATION.to_owned(), handled.clone());
    }
    let mut finalizers = others.finalizers.clone();
    finalizers.push(MATERIAL_FINALIZER.to_owned());
    Secret {
        metadata: ObjectMeta {
            name: Some(secret_name(key_name)),
            namespace: Some(record.namespace.clone()),
            labels: Some(labels),
            annotations: Some(annotations),
            finalizers: Some(finalizers),
            resource_version: secret.resource_version.clone(),
            ..ObjectMeta::default()
        },
        type_: Some(SECRET_TYPE.to_owned()),
        immutable: Some(false),
        data: Some(BTreeMap::from([(DATA_KEY.to_owned(), ByteString(json))])),
        ..Secret::default()
    }
}

/// Changes the document of a key Secret in place, as another version of
/// the controller might have written it (tests).
#[cfg(test)]
pub(crate) fn edit_document(secret: &mut Secret, edit: impl FnOnce(&mut serde_json::Value)) {
    let data = secret.data.as_mut().expect("a key Secret has data");
    let document = data
        .get_mut(DATA_KEY)
        .expect("a key Secret has its document");
    let mut value = serde_json::from_slice(&document.0).expect("the document is JSON");
    edit(&mut value);
    document.0 = serde_json::to_vec(&value).expect("JSON serializes");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_secret_reads_back() {
        let written = KeySecret {
            record: KeyRecord::test(1_700_000_000_000),
            owner_uid: Some("uid-1".into()),
            rotate_handled: Some("1".into()),
            material_handled: Some("api-1-abcdef01".into()),
            resource_version: None,
            others: Default::default(),
        };
        let secret = build("app", "uid-1", &written);
        assert_eq!(secret.metadata.name.as_deref(), Some("kmskey-app"));
        assert_eq!(read(&secret), Ok(written));
    }

    #[test]
    fn a_key_secret_names_its_kmskey_by_annotation_else_by_its_own_name() {
        let written = KeySecret {
            record: KeyRecord::test(1_700_000_000_000),
            owner_uid: None,
            rotate_handled: None,
            material_handled: None,
            resource_version: None,
            others: Default::default(),
        };
        let mut secret = build("app", "uid-1", &written);
        assert_eq!(key_name(&secret).as_deref(), Some("app"));
        // The annotation wins: `move-key --to-name` writes both, and an
        // annotation edited by hand is what the controllers read.
        secret
            .annotations_mut()
            .insert(KEY_NAME_ANNOTATION.into(), "other".into());
        assert_eq!(key_name(&secret).as_deref(), Some("other"));
        secret.annotations_mut().remove(KEY_NAME_ANNOTATION);
        assert_eq!(key_name(&secret).as_deref(), Some("app"));
        for foreign in ["kmskey-", "app", "db-kmskey-app"] {
            secret.metadata.name = Some(foreign.into());
            assert_eq!(key_name(&secret), None, "{foreign}");
        }
    }

    /// A key Secret as this version writes it: a later version must still
    /// read the Secrets in clusters now, so changing any of this needs a
    /// migration, not an edit of this test.
    #[test]
    fn a_secret_written_in_format_1_is_read() {
        let json = format!(r#"{{"format":1,"record":{}}}"#, KeyRecord::FORMAT_1);
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "kmskey-app",
                "namespace": "team-a",
                "labels": {
                    "app.kubernetes.io/managed-by": "kube-kms",
                    "kubekms.io/key-id": "1234abcd-12ab-34cd-56ef-1234567890ab",
                },
                "annotations": {
                    "kubekms.io/owner-uid": "uid-1",
                    "kubekms.io/key-name": "app",
                    "kubekms.io/deletion-date": "1700604800000",
                    "kubekms.io/rotate-handled": "2024-01-01",
                },
                "resourceVersion": "42",
            },
            "type": "kubekms.io/key-material",
            "data": {"key.json": crate::b64::encode(json.as_bytes())},
        }))
        .unwrap();
        let read = read(&secret).unwrap();
        assert_eq!(
            read,
            KeySecret {
                record: KeyRecord::format_1(),
                owner_uid: Some("uid-1".into()),
                rotate_handled: Some("2024-01-01".into()),
                material_handled: None,
                resource_version: Some("42".into()),
                others: Default::default(),
            }
        );
        // And this version writes the same Secret, now held by the
        // finalizer (Secrets written before it get it on the next write).
        let mut written = build("app", "uid-1", &read);
        assert_eq!(written.data.take(), secret.data);
        let mut guarded = secret.metadata.clone();
        guarded.finalizers = Some(vec![MATERIAL_FINALIZER.into()]);
        assert_eq!(written.metadata, guarded);
        assert_eq!(written.type_, secret.type_);
    }

    /// Every write replaces the whole Secret: what other writers put on
    /// it goes back as found, and only our own keys are rewritten.
    #[test]
    fn another_writers_metadata_survives_a_write() {
        let mut record = KeyRecord::test(0);
        let mut found = build(
            "app",
            "uid-1",
            &KeySecret {
                record: record.clone(),
                owner_uid: Some("uid-1".into()),
                rotate_handled: None,
                material_handled: None,
                resource_version: Some("7".into()),
                others: Default::default(),
            },
        );
        let meta = &mut found.metadata;
        meta.labels
            .as_mut()
            .unwrap()
            .insert("backup.example.com/include".into(), "true".into());
        let annotations = meta.annotations.as_mut().unwrap();
        annotations.insert("team.example.com/owner".into(), "payments".into());
        // Ours, and stale: the record says the key is not pending deletion.
        annotations.insert(DELETION_DATE_ANNOTATION.into(), "1".into());
        meta.finalizers = Some(vec![
            "policy.example.com/hold".into(),
            MATERIAL_FINALIZER.into(),
        ]);

        let mut read = read(&found).unwrap();
        assert_eq!(
            read.others,
            Others {
                labels: BTreeMap::from([("backup.example.com/include".into(), "true".into())]),
                annotations: BTreeMap::from([("team.example.com/owner".into(), "payments".into())]),
                finalizers: vec!["policy.example.com/hold".into()],
            }
        );
        record.enabled = false;
        read.record = record;
        let written = build("app", "uid-1", &read).metadata;
        let labels = written.labels.unwrap();
        assert_eq!(labels["backup.example.com/include"], "true");
        assert_eq!(labels[KEY_ID_LABEL], read.record.key_id.to_string());
        let annotations = written.annotations.unwrap();
        assert_eq!(annotations["team.example.com/owner"], "payments");
        assert_eq!(annotations[OWNER_UID_ANNOTATION], "uid-1");
        assert!(!annotations.contains_key(DELETION_DATE_ANNOTATION));
        assert_eq!(
            written.finalizers.unwrap(),
            ["policy.example.com/hold", MATERIAL_FINALIZER]
        );
    }

    #[test]
    fn secrets_that_are_not_ours_are_refused() {
        let ours = build(
            "app",
            "uid-1",
            &KeySecret {
                record: KeyRecord::test(0),
                owner_uid: None,
                rotate_handled: None,
                material_handled: None,
                resource_version: None,
                others: Default::default(),
            },
        );
        let mut unlabelled = ours.clone();
        unlabelled.metadata.labels = None;
        assert!(matches!(read(&unlabelled), Err(Foreign::NotManaged(_))));
        let mut other_type = ours.clone();
        other_type.type_ = Some("Opaque".into());
        assert!(matches!(read(&other_type), Err(Foreign::NotManaged(_))));
        let mut garbage = ours.clone();
        garbage.data = Some(BTreeMap::from([(
            DATA_KEY.into(),
            ByteString(b"{".to_vec()),
        )]));
        assert!(matches!(read(&garbage), Err(Foreign::Unreadable(..))));
        let mut moved = ours;
        moved.metadata.namespace = Some("elsewhere".into());
        assert!(matches!(read(&moved), Err(Foreign::WrongNamespace(..))));
    }
}
