//! Key ids: 16 bytes inside binary formats, unique cluster-wide. Written as
//! a UUID, or as `mrk-` and 32 hex digits for a multi-Region key, whose
//! bytes carry a marker (docs/multi-region.md): the top three bits of byte
//! 8 set, RFC 9562's reserved variant, which no generated or
//! manifest-derived UUID has.

use std::fmt;
use std::str::FromStr;

/// The id of a KMS key. Parsing accepts only the canonical forms AWS uses:
/// hyphenated (`1234abcd-12ab-34cd-56ef-1234567890ab`) or, for a
/// multi-Region key, `mrk-` and 32 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(uuid::Uuid);

impl KeyId {
    pub fn random() -> Self {
        KeyId(uuid::Uuid::new_v4())
    }

    /// A new multi-Region key id: random bytes with the marker.
    pub fn random_multi_region() -> Self {
        let mut bytes = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
        KeyId::multi_region_from(bytes)
    }

    /// The multi-Region id of these bytes, marked.
    pub fn multi_region_from(mut bytes: [u8; 16]) -> Self {
        bytes[8] |= MULTI_REGION_MARK;
        KeyId::from_bytes(bytes)
    }

    /// Whether this is a multi-Region key's id.
    pub fn is_multi_region(&self) -> bool {
        self.as_bytes()[8] & MULTI_REGION_MARK == MULTI_REGION_MARK
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        KeyId(uuid::Uuid::from_bytes(bytes))
    }

    /// The length of either written form.
    pub const LEN: usize = 36;

    /// Appends the written form, without the fmt machinery: key ARNs are
    /// built on every request.
    pub fn push_to(&self, out: &mut String) {
        let mut buffer = uuid::Uuid::encode_buffer();
        if self.is_multi_region() {
            out.push_str(MULTI_REGION_PREFIX);
            out.push_str(self.0.simple().encode_lower(&mut buffer));
        } else {
            out.push_str(self.0.hyphenated().encode_lower(&mut buffer));
        }
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

/// The bits of byte 8 that mark a multi-Region key id.
const MULTI_REGION_MARK: u8 = 0b1110_0000;
const MULTI_REGION_PREFIX: &str = "mrk-";

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_multi_region() {
            write!(f, "{MULTI_REGION_PREFIX}{}", self.0.simple())
        } else {
            self.0.hyphenated().fmt(f)
        }
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidKeyId {
    #[error(
        "'{0}' is not a key id (expected a UUID such as 1234abcd-12ab-34cd-56ef-1234567890ab, \
         or mrk- and 32 hex digits)"
    )]
    Form(String),
    #[error(
        "'{0}' is not a multi-Region key id kube-kms makes: the 17th hex digit after mrk- \
         must be e or f"
    )]
    Unmarked(String),
    #[error(
        "'{0}' has RFC 9562's reserved variant (e or f after the third hyphen), which marks \
         multi-Region key ids; write it as mrk- and its 32 hex digits"
    )]
    Marked(String),
}

impl FromStr for KeyId {
    type Err = InvalidKeyId;

    fn from_str(s: &str) -> Result<Self, InvalidKeyId> {
        let form = || InvalidKeyId::Form(s.to_owned());
        if let Some(digits) = s.strip_prefix(MULTI_REGION_PREFIX) {
            if digits.len() != 32 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(form());
            }
            let id = KeyId(uuid::Uuid::try_parse(digits).map_err(|_| form())?);
            return match id.is_multi_region() {
                true => Ok(id),
                false => Err(InvalidKeyId::Unmarked(s.to_owned())),
            };
        }
        // Only the 36-character hyphenated form: AWS key ids never appear
        // braced, URN-prefixed or without hyphens.
        if s.len() != 36 {
            return Err(form());
        }
        let id = KeyId(uuid::Uuid::try_parse(s).map_err(|_| form())?);
        match id.is_multi_region() {
            true => Err(InvalidKeyId::Marked(s.to_owned())),
            false => Ok(id),
        }
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
            "pattern": "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-dA-D][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|mrk-[0-9a-fA-F]{16}[eEfF][0-9a-fA-F]{15})$",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_and_multi_region_forms() {
        let id: KeyId = "1234abcd-12ab-34cd-56ef-1234567890ab".parse().unwrap();
        assert!(!id.is_multi_region());
        assert_eq!(id.to_string(), "1234abcd-12ab-34cd-56ef-1234567890ab");

        let mrk: KeyId = "mrk-1234abcd12ab34cdf6ef1234567890ab".parse().unwrap();
        assert!(mrk.is_multi_region());
        assert_eq!(mrk.to_string(), "mrk-1234abcd12ab34cdf6ef1234567890ab");
        assert_eq!(mrk.as_bytes()[8], 0xf6);
        // Upper-case digits read, written lower-case.
        let upper: KeyId = "mrk-1234ABCD12AB34CDE6EF1234567890AB".parse().unwrap();
        assert_eq!(upper.to_string(), "mrk-1234abcd12ab34cde6ef1234567890ab");
        // The same bytes are one id, whichever way they came.
        assert_eq!(KeyId::from_bytes(*mrk.as_bytes()), mrk);
        for id in [id, mrk] {
            let mut written = String::from("key/");
            id.push_to(&mut written);
            assert_eq!(written, format!("key/{id}"));
            assert_eq!(id.to_string().len(), KeyId::LEN);
        }
    }

    #[test]
    fn a_form_that_does_not_match_its_marker_is_refused() {
        // AWS's own example id has no marker: kube-kms never made it.
        let unmarked = "mrk-1234abcd12ab34cd56ef1234567890ab";
        assert!(matches!(
            unmarked.parse::<KeyId>(),
            Err(InvalidKeyId::Unmarked(_))
        ));
        let marked = "1234abcd-12ab-34cd-e6ef-1234567890ab";
        assert!(matches!(
            marked.parse::<KeyId>(),
            Err(InvalidKeyId::Marked(_))
        ));
        for bad in [
            "mrk-1234abcd12ab34cdf6ef1234567890a",
            "mrk-1234abcd12ab34cdf6ef1234567890abc",
            "mrk-1234abcd-12ab-34cd-f6ef-1234567890ab",
            "mrk-+234abcd12ab34cdf6ef1234567890ab",
            "MRK-1234abcd12ab34cdf6ef1234567890ab",
            "1234abcd12ab34cd56ef1234567890ab",
            "{1234abcd-12ab-34cd-56ef-1234567890ab}",
        ] {
            assert!(
                matches!(bad.parse::<KeyId>(), Err(InvalidKeyId::Form(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn new_ids_are_of_their_kind() {
        for _ in 0..64 {
            let mrk = KeyId::random_multi_region();
            assert!(mrk.is_multi_region());
            assert_eq!(mrk.to_string().parse::<KeyId>().unwrap(), mrk);
            let id = KeyId::random();
            assert!(!id.is_multi_region());
            assert_eq!(id.to_string().parse::<KeyId>().unwrap(), id);
        }
        assert_ne!(KeyId::random_multi_region(), KeyId::random_multi_region());
    }

    #[test]
    fn the_schema_pattern_agrees_with_parsing() {
        let schema = serde_json::to_value(schemars::schema_for!(KeyId)).unwrap();
        let pattern = schema["pattern"].as_str().unwrap().to_owned();
        let program = cel::Program::compile("id.matches(pattern)").unwrap();
        let matches = |id: &str| {
            let mut context = cel::Context::default();
            context.add_variable_from_value("id", id.to_owned());
            context.add_variable_from_value("pattern", pattern.clone());
            program.execute(&context).unwrap() == cel::Value::Bool(true)
        };
        let mut ids: Vec<String> = (0..16)
            .flat_map(|_| [KeyId::random(), KeyId::random_multi_region()])
            .map(|id| id.to_string())
            .collect();
        ids.extend(
            [
                "1234abcd-12ab-34cd-56ef-1234567890ab",
                "1234abcd-12ab-34cd-e6ef-1234567890ab",
                "1234abcd-12ab-34cd-F6ef-1234567890ab",
                "mrk-1234abcd12ab34cdf6ef1234567890ab",
                "mrk-1234abcd12ab34cd56ef1234567890ab",
                "mrk-1234abcd12ab34cdf6ef1234567890a",
                "1234abcd12ab34cd56ef1234567890ab",
            ]
            .map(String::from),
        );
        for id in ids {
            assert_eq!(matches(&id), id.parse::<KeyId>().is_ok(), "{id}");
        }
    }
}
