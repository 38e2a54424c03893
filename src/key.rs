//! A KMS key as the stores hold it: metadata, lifecycle settings and its
//! sealed material versions. Plain data; decisions about it live in
//! `lifecycle`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::key_id::KeyId;
use crate::seal::SealedMaterial;
use crate::spec::{KeySpec, KeyUsage};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

pub const DAY_MS: Millis = 24 * 60 * 60 * 1000;

/// The wall clock now (0 on a clock set before 1970).
pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

/// AWS's `KeyState` values this project produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
        }
    }
}

/// How a material version came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RotationType {
    /// The key's first material.
    Initial,
    Automatic,
    OnDemand,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaterialVersion {
    pub version: u32,
    pub created: Millis,
    pub rotation_type: RotationType,
    #[serde(with = "sealed_b64")]
    pub sealed: SealedMaterial,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    pub enabled: bool,
    pub period_days: u32,
    /// When automatic rotation next adds a version; `None` while disabled.
    pub next: Option<Millis>,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            enabled: false,
            period_days: 365,
            next: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deletion {
    pub window_days: u32,
    pub deletion_date: Millis,
}

/// One KMS key. `materials` is never empty for a usable key and is sorted by
/// version; the last entry is current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub key_id: KeyId,
    /// The tenant: a Kubernetes namespace, or the local config's namespace.
    pub namespace: String,
    pub description: String,
    pub spec: KeySpec,
    pub usage: KeyUsage,
    pub created: Millis,
    pub enabled: bool,
    pub deletion: Option<Deletion>,
    pub rotation: Rotation,
    pub on_demand_rotations: u32,
    pub tags: BTreeMap<String, String>,
    pub materials: Vec<MaterialVersion>,
    /// The key policy document as given (CreateKey, PutKeyPolicy, a
    /// manifest's `policy`); `None`: the default policy. Shared, not
    /// copied: records are cloned on every request, and a policy may be
    /// 32 KB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<std::sync::Arc<str>>,
    /// Set by the store on every write; a write carrying a stale revision
    /// is refused, so read-modify-write cycles never lose an update.
    #[serde(default)]
    pub revision: u64,
}

impl KeyRecord {
    pub fn state(&self) -> KeyState {
        match (self.deletion, self.enabled) {
            (Some(_), _) => KeyState::PendingDeletion,
            (None, true) => KeyState::Enabled,
            (None, false) => KeyState::Disabled,
        }
    }

    pub fn current(&self) -> Option<&MaterialVersion> {
        self.materials.last()
    }

    pub fn material(&self, version: u32) -> Option<&MaterialVersion> {
        self.materials.iter().find(|m| m.version == version)
    }

    pub fn next_version(&self) -> u32 {
        self.materials.last().map_or(1, |m| m.version + 1)
    }
}

mod sealed_b64 {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::seal::SealedMaterial;

    pub fn serialize<S: Serializer>(sealed: &SealedMaterial, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::b64::encode(sealed.as_bytes()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SealedMaterial, D::Error> {
        let text = String::deserialize(d)?;
        crate::b64::decode(text)
            .map(SealedMaterial::from_bytes)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
impl KeyRecord {
    /// A record as this version writes it (the local store's value, and the
    /// `record` of a key Secret): a later version must still read what is
    /// stored now, so changing it needs a migration, not an edit of a test.
    pub const FORMAT_1: &str = r#"{"key_id":"1234abcd-12ab-34cd-56ef-1234567890ab","namespace":"team-a","description":"app data","spec":"RSA_2048","usage":"SIGN_VERIFY","created":1700000000000,"enabled":false,"deletion":{"window_days":7,"deletion_date":1700604800000},"rotation":{"enabled":true,"period_days":90,"next":1707776000000},"on_demand_rotations":1,"tags":{"team":"a"},"materials":[{"version":1,"created":1700000000000,"rotation_type":"Initial","sealed":"AAEC"},{"version":2,"created":1700086400000,"rotation_type":"OnDemand","sealed":"AwQF"}],"policy":"{\"Version\":\"2012-10-17\"}","revision":3}"#;

    /// What `FORMAT_1` holds.
    pub fn format_1() -> KeyRecord {
        use crate::seal::SealedMaterial;
        KeyRecord {
            key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".parse().unwrap(),
            namespace: "team-a".into(),
            description: "app data".into(),
            spec: KeySpec::Rsa2048,
            usage: KeyUsage::SignVerify,
            created: 1_700_000_000_000,
            enabled: false,
            deletion: Some(Deletion {
                window_days: 7,
                deletion_date: 1_700_604_800_000,
            }),
            rotation: Rotation {
                enabled: true,
                period_days: 90,
                next: Some(1_707_776_000_000),
            },
            on_demand_rotations: 1,
            tags: [("team".to_owned(), "a".to_owned())].into(),
            materials: vec![
                MaterialVersion {
                    version: 1,
                    created: 1_700_000_000_000,
                    rotation_type: RotationType::Initial,
                    sealed: SealedMaterial::from_bytes(vec![0, 1, 2]),
                },
                MaterialVersion {
                    version: 2,
                    created: 1_700_086_400_000,
                    rotation_type: RotationType::OnDemand,
                    sealed: SealedMaterial::from_bytes(vec![3, 4, 5]),
                },
            ],
            policy: Some(r#"{"Version":"2012-10-17"}"#.into()),
            revision: 3,
        }
    }

    /// A fixture: an enabled symmetric key with one (dummy) material version
    /// created at `now`.
    pub fn test(now: Millis) -> KeyRecord {
        KeyRecord {
            key_id: KeyId::from_bytes([7; 16]),
            namespace: "default".into(),
            description: String::new(),
            spec: KeySpec::SymmetricDefault,
            usage: KeyUsage::EncryptDecrypt,
            created: now,
            enabled: true,
            deletion: None,
            rotation: Rotation::default(),
            on_demand_rotations: 0,
            tags: BTreeMap::new(),
            materials: vec![MaterialVersion {
                version: 1,
                created: now,
                rotation_type: RotationType::Initial,
                sealed: SealedMaterial::from_bytes(vec![0xA1]),
            }],
            policy: None,
            revision: 0,
        }
    }
}
