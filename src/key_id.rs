//! Key ids: UUIDs, unique cluster-wide, 16 bytes inside binary formats.

use std::fmt;
use std::str::FromStr;

/// The id of a KMS key. Parsing accepts only the canonical hyphenated form
/// AWS uses (`1234abcd-12ab-34cd-56ef-1234567890ab`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(uuid::Uuid);

impl KeyId {
    pub fn random() -> Self {
        KeyId(uuid::Uuid::new_v4())
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        KeyId(uuid::Uuid::from_bytes(bytes))
    }

    pub fn as_uuid(&self) -> &uuid::Uuid {
        &self.0
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a key id (expected a UUID such as 1234abcd-12ab-34cd-56ef-1234567890ab)")]
pub struct InvalidKeyId(pub String);

impl FromStr for KeyId {
    type Err = InvalidKeyId;

    fn from_str(s: &str) -> Result<Self, InvalidKeyId> {
        // Only the 36-character hyphenated form: AWS key ids never appear
        // braced, URN-prefixed or without hyphens.
        if s.len() != 36 {
            return Err(InvalidKeyId(s.to_owned()));
        }
        let id = uuid::Uuid::try_parse(s).map_err(|_| InvalidKeyId(s.to_owned()))?;
        Ok(KeyId(id))
    }
}

impl serde::Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for KeyId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "KeyId".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        })
    }
}
