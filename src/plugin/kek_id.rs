//! The `key_id` the plugin reports to kube-apiserver:
//! `kube-kms:<key uuid>:v<material version>:<check value, 32 hex digits>`.
//!
//! It names the key and the material version new seeds are wrapped with,
//! so a rotation changes it and kube-apiserver re-seeds. The check value is
//! a one-way commitment to the material itself (see `keyring`), so a key
//! deleted and re-created under a pinned id gets a different key_id for
//! its new version 1: a key_id is never reused for different material.
//! Public by design: kube-apiserver logs it and hashes it into metrics.

use std::fmt;
use std::str::FromStr;

use crate::key_id::KeyId;

pub const PREFIX: &str = "kube-kms";
pub const CHECK_LEN: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KekId {
    pub key_id: KeyId,
    pub version: u32,
    pub check: [u8; CHECK_LEN],
}

impl fmt::Display for KekId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}:{}:v{}:{}",
            self.key_id,
            self.version,
            hex::encode(self.check)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key_id {0:?} is not a kube-kms key id (kube-kms:<key id>:v<version>:<check value>)")]
pub struct NotOurs(pub String);

impl FromStr for KekId {
    type Err = NotOurs;

    fn from_str(s: &str) -> Result<Self, NotOurs> {
        let not_ours = || NotOurs(s.chars().take(128).collect());
        let mut parts = s.split(':');
        let (Some(PREFIX), Some(key), Some(version), Some(check), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(not_ours());
        };
        let version = version
            .strip_prefix('v')
            .filter(|v| !v.starts_with('0') && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse().ok())
            .ok_or_else(not_ours)?;
        let mut bytes = [0u8; CHECK_LEN];
        if check.len() != CHECK_LEN * 2 || check.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(not_ours());
        }
        hex::decode_to_slice(check, &mut bytes).map_err(|_| not_ours())?;
        let kek = KekId {
            key_id: key.parse().map_err(|_| not_ours())?,
            version,
            check: bytes,
        };
        // One spelling per id: anything that does not print back the same
        // way (an upper-case uuid, say) is not an id we issued.
        if kek.to_string() != s {
            return Err(not_ours());
        }
        Ok(kek)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> KekId {
        KekId {
            key_id: KeyId::from_bytes([0xab; 16]),
            version: 12,
            check: [0x5c; CHECK_LEN],
        }
    }

    #[test]
    fn prints_and_parses_back() {
        let id = sample();
        let text = id.to_string();
        assert_eq!(
            text,
            "kube-kms:abababab-abab-abab-abab-abababababab:v12:5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c"
        );
        assert!(text.len() <= 1024);
        assert_eq!(text.parse::<KekId>(), Ok(id));
    }

    #[test]
    fn anything_else_is_not_ours() {
        let good = sample().to_string();
        for bad in [
            String::new(),
            "arn:aws:kms:us-east-1:111122223333:key/abc".to_owned(),
            good.replace("kube-kms:", "other:"),
            good.replace(":v12:", ":12:"),
            good.replace(":v12:", ":v012:"),
            good.replace(":v12:", ":v:"),
            good.replace(":v12:", ":v99999999999:"),
            good.replace("5c5c", "5C5C"),
            good.replace("abab-abab-abab", "ABAB-abab-abab"),
            good[..good.len() - 2].to_owned(),
            format!("{good}:extra"),
            format!("{good}00"),
            good.replacen("5c", "zz", 1),
        ] {
            assert!(bad.parse::<KekId>().is_err(), "{bad:?} parsed");
        }
    }
}
