//! Request ids: what a reply's `x-amzn-RequestId` header gives, and what
//! GetKeyLastUsage names a key's last use by.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A version 4 UUID, unique within this process (a counter under a random
/// per-process value) and unpredictable across processes, without asking
/// the kernel for randomness on every request. Kept inline: one is made
/// for every request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId([u8; uuid::fmt::Hyphenated::LENGTH]);

impl RequestId {
    pub fn next() -> Self {
        static BASE: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let base = *BASE.get_or_init(|| uuid::Uuid::new_v4().as_u128());
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Big-endian: the counter sits in the low 8 bytes, clear of the
        // version nibble (byte 6); only its top 2 bits meet the variant bits.
        let id = uuid::Builder::from_random_bytes((base ^ u128::from(n)).to_be_bytes()).into_uuid();
        Self::from_uuid(id)
    }

    fn from_uuid(id: uuid::Uuid) -> Self {
        let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
        id.hyphenated().encode_lower(&mut text);
        RequestId(text)
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a hyphenated UUID is ASCII")
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RequestId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::try_parse(s).map(Self::from_uuid)
    }
}

impl Serialize for RequestId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RequestId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_version_4_uuids_that_survive_a_round_trip() {
        let (a, b) = (RequestId::next(), RequestId::next());
        assert_ne!(a, b);
        let parsed = uuid::Uuid::parse_str(a.as_str()).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, format!("\"{a}\""));
        assert_eq!(serde_json::from_str::<RequestId>(&json).unwrap(), a);
        assert!(serde_json::from_str::<RequestId>("\"not-an-id\"").is_err());
    }
}
