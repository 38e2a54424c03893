//! `KmsKey` and `KmsAlias` manifests: the YAML a cluster takes, read from a
//! directory by the embedded default. Parsing only; applying lives in
//! `serve`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::key_id::KeyId;
use crate::spec::{KeySpec, KeyUsage};

pub const API_VERSION: &str = "kubekms.io/v1alpha1";

#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub name: String,
    #[serde(default = "default_namespace")]
    pub namespace: String,
}

fn default_namespace() -> String {
    "default".into()
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationSpec {
    #[serde(default)]
    pub enabled: bool,
    pub period_days: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KmsKeySpec {
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_spec")]
    pub key_spec: KeySpec,
    #[serde(default = "default_usage")]
    pub key_usage: KeyUsage,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub rotation: RotationSpec,
    pub pending_window_days: Option<i64>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Pins the key id, so a rebuilt environment re-adopts the same key.
    pub key_id: Option<KeyId>,
    /// Fixed key material, base64 (test fixtures only: it puts key material
    /// in a file). Symmetric: 32 bytes; HMAC: the hash length; RSA/ECC: PKCS#8 DER.
    pub test_material: Option<String>,
}

fn default_spec() -> KeySpec {
    KeySpec::SymmetricDefault
}

fn default_usage() -> KeyUsage {
    KeyUsage::EncryptDecrypt
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRef {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KmsAliasSpec {
    pub alias_name: String,
    pub target_key_ref: KeyRef,
}

#[derive(Debug, Clone)]
pub enum Manifest {
    Key {
        metadata: Metadata,
        spec: KmsKeySpec,
    },
    Alias {
        metadata: Metadata,
        spec: KmsAliasSpec,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    api_version: String,
    kind: String,
    metadata: Metadata,
    spec: serde_yaml::Value,
}

impl KmsKeySpec {
    /// The key id: pinned, or derived from namespace and name so that the
    /// same manifest always names the same key.
    pub fn key_id(&self, metadata: &Metadata) -> KeyId {
        if let Some(id) = self.key_id {
            return id;
        }
        let digest = Sha256::digest(format!(
            "kube-kms/manifest-key\0{}\0{}",
            metadata.namespace, metadata.name
        ));
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        // Shape it as a version 8 (custom) RFC 9562 UUID.
        bytes[6] = (bytes[6] & 0x0f) | 0x80;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        KeyId::from_bytes(bytes)
    }
}

/// Parses every `*.yaml`/`*.yml` file in `dir` (multi-document files too).
/// Documents of other kinds are skipped; malformed ones are errors.
pub fn load_dir(dir: &Path) -> Result<Vec<Manifest>, String> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        out.extend(parse(&text).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    Ok(out)
}

pub fn parse(text: &str) -> Result<Vec<Manifest>, String> {
    let mut out = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = serde_yaml::Value::deserialize(document).map_err(|e| e.to_string())?;
        if value.is_null() {
            continue;
        }
        let doc: Document = serde_yaml::from_value(value).map_err(|e| e.to_string())?;
        if doc.api_version != API_VERSION {
            continue;
        }
        let name = format!(
            "{} {}/{}",
            doc.kind, doc.metadata.namespace, doc.metadata.name
        );
        match doc.kind.as_str() {
            "KmsKey" => {
                let spec: KmsKeySpec =
                    serde_yaml::from_value(doc.spec).map_err(|e| format!("{name}: {e}"))?;
                out.push(Manifest::Key {
                    metadata: doc.metadata,
                    spec,
                });
            }
            "KmsAlias" => {
                let spec: KmsAliasSpec =
                    serde_yaml::from_value(doc.spec).map_err(|e| format!("{name}: {e}"))?;
                out.push(Manifest::Alias {
                    metadata: doc.metadata,
                    spec,
                });
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_aliases_parse_with_defaults_and_stable_ids() {
        let text = r#"
apiVersion: kubekms.io/v1alpha1
kind: KmsKey
metadata: {name: app, namespace: team-a}
spec:
  description: app data
  rotation: {enabled: true, periodDays: 90}
---
apiVersion: kubekms.io/v1alpha1
kind: KmsKey
metadata: {name: signer}
spec:
  keySpec: ECC_NIST_P256
  keyUsage: SIGN_VERIFY
  keyId: 1234abcd-12ab-34cd-56ef-1234567890ab
---
apiVersion: kubekms.io/v1alpha1
kind: KmsAlias
metadata: {name: app, namespace: team-a}
spec: {aliasName: alias/app, targetKeyRef: {name: app}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ignored}
spec: {}
"#;
        let manifests = parse(text).unwrap();
        assert_eq!(manifests.len(), 3);
        let Manifest::Key { metadata, spec } = &manifests[0] else {
            panic!()
        };
        assert_eq!(
            (spec.key_spec, spec.key_usage, spec.enabled),
            (KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt, true)
        );
        assert_eq!(spec.rotation.period_days, Some(90));
        assert_eq!(spec.key_id(metadata), spec.key_id(metadata), "stable");
        let other = Metadata {
            name: "app".into(),
            namespace: "team-b".into(),
        };
        assert_ne!(spec.key_id(metadata), spec.key_id(&other));
        let Manifest::Key { metadata, spec } = &manifests[1] else {
            panic!()
        };
        assert_eq!(metadata.namespace, "default");
        assert_eq!(
            spec.key_id(metadata).to_string(),
            "1234abcd-12ab-34cd-56ef-1234567890ab"
        );
        assert!(
            matches!(&manifests[2], Manifest::Alias { spec, .. } if spec.alias_name == "alias/app")
        );
    }

    #[test]
    fn mistakes_are_errors_that_name_the_object() {
        let bad_spec = "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {name: k}\nspec: {keySpec: AES_999}\n";
        assert!(parse(bad_spec).unwrap_err().contains("KmsKey default/k"));
        let typo = "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {name: k}\nspec: {keyspec: RSA_2048}\n";
        assert!(parse(typo).unwrap_err().contains("unknown field"));
    }
}
