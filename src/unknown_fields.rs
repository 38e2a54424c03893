//! Fields a newer version wrote into a stored record and this one would
//! lose by writing the record back.
//!
//! Stored records (the local store's rows, a key Secret's document) are
//! JSON read into this version's types: serde skips a field it does not
//! know, and the next write of that record leaves it out. Whoever writes a
//! record back first asks [`of`] whether that would lose anything.

use serde::Serialize;
use serde_json::Value;

/// The first field of `stored` that `read` (what this version made of it)
/// would not write back, as a dotted path (`materials.0.hsm_slot`); none if
/// writing `read` back keeps every field.
pub fn of<T: Serialize>(stored: &Value, read: &T) -> Option<String> {
    // A type that does not serialize loses everything; say so at the top.
    let Ok(known) = serde_json::to_value(read) else {
        return Some(String::new());
    };
    first(stored, &known)
}

/// The first field of `stored` missing from `known`. A null field is not
/// counted: it says nothing an absent one does not. Arrays are compared
/// element by element; a value whose shape differs (one value where a list
/// was, say) is not looked into, as the type read it and writes its own
/// shape back. A map's keys are compared like fields: this version keeps
/// maps whole, so their keys are in both.
fn first(stored: &Value, known: &Value) -> Option<String> {
    match (stored, known) {
        (Value::Object(stored), Value::Object(known)) => {
            stored
                .iter()
                .find_map(|(name, value)| match known.get(name) {
                    None if value.is_null() => None,
                    None => Some(name.clone()),
                    Some(known) => first(value, known).map(|path| format!("{name}.{path}")),
                })
        }
        (Value::Array(stored), Value::Array(known)) if stored.len() == known.len() => stored
            .iter()
            .zip(known)
            .enumerate()
            .find_map(|(i, (s, k))| first(s, k).map(|path| format!("{i}.{path}"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::first;

    #[test]
    fn a_field_writing_back_would_lose_is_named_by_its_path() {
        let known = json!({"a": 1, "b": {"c": [{"d": 1}, {"d": 2}]}});
        assert_eq!(first(&known, &known), None);
        let stored = json!({"a": 1, "b": {"c": [{"d": 1}, {"d": 2, "e": 3}]}});
        assert_eq!(first(&stored, &known).as_deref(), Some("b.c.1.e"));
        let stored = json!({"a": 1, "z": "new", "b": {"c": []}});
        assert_eq!(first(&stored, &known).as_deref(), Some("z"));
        assert_eq!(first(&json!({"a": 1, "n": null}), &known), None);
        // A value read in another shape is written back in this version's.
        assert_eq!(first(&json!({"a": [1], "b": "x"}), &known), None);
    }

    #[test]
    fn what_a_type_reads_and_writes_back_loses_nothing() {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Record {
            name: String,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            note: Option<String>,
        }
        let stored = json!({"name": "k", "note": "n"});
        let read: Record = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(super::of(&stored, &read), None);
        let stored = json!({"name": "k", "expires": 5});
        let read: Record = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(super::of(&stored, &read).as_deref(), Some("expires"));
    }
}
