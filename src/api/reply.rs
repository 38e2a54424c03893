//! Writes a reply's JSON body.
//!
//! serde_json escapes every string byte by byte. The replies that carry
//! data are mostly base64 blobs of several KiB, which never need escaping,
//! so a string with nothing to escape (checked in 64-byte chunks the
//! compiler vectorises) is copied whole; any other string, and every
//! number, is written by serde_json itself. The output is byte for byte
//! what `serde_json::to_vec` writes (a property test holds it to that).
//!
//! The data-plane replies (Encrypt, Decrypt, data keys) skip the `Value`
//! altogether: [`Object`] writes their members straight into the body, the
//! blobs base64-encoded in place, which saves a map, a string per member
//! and a copy of every blob.

use serde_json::Value;

/// What an operation answers: a JSON value, or a body [`Object`] wrote.
pub enum Reply {
    Value(Value),
    Body(Vec<u8>),
}

/// Sizes only: a reply can carry plaintext (Decrypt, data keys).
impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Value(_) => f.write_str("Reply::Value(..)"),
            Reply::Body(body) => write!(f, "Reply::Body({} bytes)", body.len()),
        }
    }
}

impl Reply {
    /// The bytes of the HTTP body.
    pub fn into_body(self) -> Vec<u8> {
        match self {
            Reply::Value(value) => to_bytes(&value),
            Reply::Body(body) => body,
        }
    }

    /// The reply as a JSON value (in-process callers and tests).
    pub fn into_value(self) -> Value {
        match self {
            Reply::Value(value) => value,
            Reply::Body(body) => {
                serde_json::from_slice(&body).expect("Object writes well-formed JSON")
            }
        }
    }
}

/// A JSON object written member by member. Members appear in the order
/// they are added; name them in sorted order and the bytes are those
/// `to_bytes` writes for the same members in a `Value`.
pub struct Object(Vec<u8>);

impl Object {
    /// An object whose members' values come to about `values` bytes
    /// (blobs at their encoded length: [`crate::b64::encoded_len`]); the
    /// names and punctuation of a reply's few members fit in what is added.
    pub fn with_capacity(values: usize) -> Self {
        let mut out = Vec::with_capacity(values + 128);
        out.push(b'{');
        Object(out)
    }

    fn name(&mut self, name: &str) {
        if self.0.len() > 1 {
            self.0.push(b',');
        }
        write_str(&mut self.0, name);
        self.0.push(b':');
    }

    pub fn string(mut self, name: &str, value: &str) -> Self {
        self.name(name);
        write_str(&mut self.0, value);
        self
    }

    /// `bytes` as a base64 string (AWS JSON's blobs), which never needs
    /// escaping.
    pub fn blob(mut self, name: &str, bytes: &[u8]) -> Self {
        self.name(name);
        self.0.push(b'"');
        crate::b64::encode_append(bytes, &mut self.0);
        self.0.push(b'"');
        self
    }

    pub fn finish(mut self) -> Reply {
        self.0.push(b'}');
        Reply::Body(self.0)
    }
}

/// The reply body for `value`.
pub fn to_bytes(value: &Value) -> Vec<u8> {
    // Sized up front: growing a Vec to several KiB by doubling copies it
    // five times over.
    let mut out = Vec::with_capacity(size_hint(value));
    write(&mut out, value);
    out
}

/// At least the length of the text in `value`, plus room for punctuation.
fn size_hint(value: &Value) -> usize {
    match value {
        Value::Object(map) => {
            map.iter()
                .map(|(name, member)| name.len() + 4 + size_hint(member))
                .sum::<usize>()
                + 2
        }
        Value::Array(items) => items.iter().map(|item| size_hint(item) + 1).sum::<usize>() + 2,
        Value::String(text) => text.len() + 2,
        _ => 24,
    }
}

fn write(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Object(map) => {
            out.push(b'{');
            for (i, (name, member)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, name);
                out.push(b':');
                write(out, member);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(out, item);
            }
            out.push(b']');
        }
        Value::String(text) => write_str(out, text),
        scalar => serde_json::to_writer(&mut *out, scalar).expect("a Vec takes any write"),
    }
}

/// Appends `text` as a JSON string, the bytes serde_json would write: most
/// strings need no escape and are copied (the audit record's too).
pub(crate) fn write_str(out: &mut Vec<u8>, text: &str) {
    if needs_no_escape(text.as_bytes()) {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, text).expect("a Vec takes any write");
    }
}

/// JSON escapes control characters, `"` and `\`; nothing else.
fn needs_no_escape(bytes: &[u8]) -> bool {
    bytes.chunks(64).all(|chunk| {
        chunk.iter().fold(true, |clean, &b| {
            clean & (b >= 0x20) & (b != b'"') & (b != b'\\')
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|n| json!(n)),
            ".*".prop_map(Value::String),
            "[A-Za-z0-9+/=]{0,300}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(".*", inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn writes_exactly_what_serde_json_writes(v in value()) {
            prop_assert_eq!(to_bytes(&v), serde_json::to_vec(&v).unwrap());
        }
    }

    proptest! {
        #[test]
        fn objects_write_what_to_bytes_writes(
            members in prop::collection::btree_map(".*", (any::<bool>(), ".*", prop::collection::vec(any::<u8>(), 0..600)), 0..6),
        ) {
            let mut object = Object::with_capacity(0);
            let mut value = serde_json::Map::new();
            for (name, (is_blob, text, bytes)) in &members {
                if *is_blob {
                    object = object.blob(name, bytes);
                    value.insert(name.clone(), Value::String(crate::b64::encode(bytes)));
                } else {
                    object = object.string(name, text);
                    value.insert(name.clone(), Value::String(text.clone()));
                }
            }
            let value = Value::Object(value);
            let body = object.finish().into_body();
            prop_assert_eq!(&body, &to_bytes(&value));
            prop_assert_eq!(Reply::Body(body).into_value(), value);
        }
    }

    #[test]
    fn debug_shows_no_contents() {
        let reply = Object::with_capacity(0)
            .blob("Plaintext", b"secret")
            .finish();
        assert_eq!(format!("{reply:?}"), "Reply::Body(24 bytes)");
        let reply = Reply::Value(json!({ "Plaintext": "c2VjcmV0" }));
        assert_eq!(format!("{reply:?}"), "Reply::Value(..)");
    }

    #[test]
    fn escapes_what_json_needs_escaped() {
        let v = json!({ "a\"b": "line\nbreak \\ \u{1} \u{7f} é", "blob": "QUJD+/==" });
        assert_eq!(to_bytes(&v), serde_json::to_vec(&v).unwrap());
        assert!(needs_no_escape(b"QUJD+/== \x7f"));
        for bad in [&b"\""[..], b"\\", b"\x00", b"\x1f"] {
            assert!(!needs_no_escape(bad));
        }
    }
}
