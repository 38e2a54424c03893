//! The rules a key's tags follow, AWS's: at most 50 to a key; a tag key of
//! 1–128 characters not beginning with `aws:` in any case (reserved for
//! AWS); a value of at most 256 characters. The endpoint checks requests
//! against them (with AWS's error types, `src/api/key_ops.rs`); a declared
//! key's tags (`KmsKey`, a manifest) are checked here, before anything is
//! stored. Pure.

use std::collections::BTreeMap;

/// Tags per key.
pub const MAX_TAGS: usize = 50;
/// Characters in a tag key.
pub const MAX_KEY_CHARS: usize = 128;
/// Characters in a tag value.
pub const MAX_VALUE_CHARS: usize = 256;

/// Whether `key` begins with `aws:`, in any case.
pub fn reserved(key: &str) -> bool {
    key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:"))
}

/// A set of tags these rules refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("a key can have at most {MAX_TAGS} tags; {0} are given")]
    TooMany(usize),
    #[error("tag key '{0}' must be 1 to {MAX_KEY_CHARS} characters long")]
    KeyLength(String),
    #[error("the value of tag '{0}' must be at most {MAX_VALUE_CHARS} characters long")]
    ValueLength(String),
    #[error("tag key '{0}': tags beginning with aws: are reserved")]
    Reserved(String),
}

/// Checks a whole set of tags.
pub fn check(tags: &BTreeMap<String, String>) -> Result<(), TagError> {
    if tags.len() > MAX_TAGS {
        return Err(TagError::TooMany(tags.len()));
    }
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > MAX_KEY_CHARS {
            return Err(TagError::KeyLength(key.clone()));
        }
        if value.chars().count() > MAX_VALUE_CHARS {
            return Err(TagError::ValueLength(key.clone()));
        }
        if reserved(key) {
            return Err(TagError::Reserved(key.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn tags_within_the_rules_pass_and_each_rule_refuses_its_case() {
        let long_key = "k".repeat(MAX_KEY_CHARS);
        let long_value = "é".repeat(MAX_VALUE_CHARS);
        assert_eq!(
            check(&tags(&[
                ("team", ""),
                (&long_key, &long_value),
                ("awsx", "v")
            ])),
            Ok(())
        );
        let many: BTreeMap<_, _> = (0..=MAX_TAGS)
            .map(|i| (format!("t{i}"), String::new()))
            .collect();
        assert_eq!(check(&many), Err(TagError::TooMany(51)));
        assert_eq!(
            check(&tags(&[("", "v")])),
            Err(TagError::KeyLength(String::new()))
        );
        let too_long = "k".repeat(MAX_KEY_CHARS + 1);
        assert_eq!(
            check(&tags(&[(&too_long, "")])),
            Err(TagError::KeyLength(too_long.clone()))
        );
        let value = "v".repeat(MAX_VALUE_CHARS + 1);
        assert_eq!(
            check(&tags(&[("k", &value)])),
            Err(TagError::ValueLength("k".into()))
        );
        for key in ["aws:x", "AWS:x", "Aws:"] {
            assert_eq!(
                check(&tags(&[(key, "")])),
                Err(TagError::Reserved(key.into()))
            );
        }
        assert!(!reserved("aé"));
    }
}
