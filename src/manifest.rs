//! `KmsKey`, `KmsAlias` and `KmsGrant` manifests: the YAML a cluster takes, read from a
//! directory by the embedded default. Parsing only; applying lives in
//! `serve`.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use kube::CustomResourceExt;

use crate::key_id::KeyId;
pub use crate::resource::API_VERSION;
use crate::resource::GROUP;
use crate::resource::{KmsAlias, KmsAliasSpec, KmsGrant, KmsGrantSpec, KmsKey, KmsKeySpec};

/// The one manifest field the cluster does not take: fixed key material for
/// test fixtures, which has no place in a Kubernetes object.
const TEST_MATERIAL: &str = "testMaterial";

#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub name: String,
    #[serde(default = "default_namespace")]
    pub namespace: String,
}

fn default_namespace() -> String {
    "default".into()
}

#[derive(Debug, Clone)]
pub enum Manifest {
    Key {
        metadata: Metadata,
        spec: KmsKeySpec,
        /// Fixed key material, base64 (test fixtures only). Symmetric: 32
        /// bytes; HMAC: the hash length; RSA/ECC: PKCS#8 DER.
        test_material: Option<String>,
    },
    Alias {
        metadata: Metadata,
        spec: KmsAliasSpec,
    },
    Grant {
        metadata: Metadata,
        spec: KmsGrantSpec,
    },
}

/// The grant id a `KmsGrant` manifest names: derived from its namespace
/// and name, so that the same manifest always names the same grant.
pub fn grant_id(metadata: &Metadata) -> String {
    let seed = format!("KmsGrant\0{}\0{}", metadata.namespace, metadata.name);
    hex::encode(Sha256::digest(seed.as_bytes()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    kind: String,
    metadata: Metadata,
    #[serde(default)]
    spec: serde_yaml::Value,
}

/// The key id a manifest names: pinned, or derived from namespace and name
/// so that the same manifest always names the same key.
pub fn key_id(spec: &KmsKeySpec, metadata: &Metadata) -> KeyId {
    if let Some(id) = spec.key_id {
        return id;
    }
    let digest = Sha256::digest(format!(
        "kube-kms/manifest-key\0{}\0{}",
        metadata.namespace, metadata.name
    ));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    // Shape it as a version 8 (custom) RFC 9562 UUID, or mark it as a
    // multi-Region id.
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    if spec.multi_region {
        return KeyId::multi_region_from(bytes);
    }
    KeyId::from_bytes(bytes)
}

/// The spec's schema from the CRD, so a manifest is checked against exactly
/// what the cluster would accept.
fn spec_schema<K: CustomResourceExt>() -> serde_json::Value {
    let crd = serde_json::to_value(K::crd()).expect("a CRD serializes");
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].clone()
}

/// The first field (as a dotted path) that the schema does not know: a
/// typo would otherwise be silently dropped, as the API server prunes it.
fn unknown_field(
    value: &serde_json::Value,
    schema: &serde_json::Value,
    path: &str,
) -> Option<String> {
    let (serde_json::Value::Object(fields), Some(known)) =
        (value, schema["properties"].as_object())
    else {
        return None;
    };
    for (name, child) in fields {
        let here = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        match known.get(name) {
            Some(child_schema) => {
                if let Some(found) = unknown_field(child, child_schema, &here) {
                    return Some(found);
                }
            }
            None => return Some(here),
        }
    }
    None
}

fn spec_of<K: CustomResourceExt, S: serde::de::DeserializeOwned>(
    mut spec: serde_yaml::Value,
    name: &str,
) -> Result<S, String> {
    if spec.is_null() {
        spec = serde_yaml::Value::Mapping(Default::default());
    }
    let json = serde_json::to_value(&spec).map_err(|e| format!("{name}: {e}"))?;
    if let Some(field) = unknown_field(&json, &spec_schema::<K>(), "") {
        return Err(format!("{name}: unknown field `spec.{field}`"));
    }
    serde_json::from_value(json).map_err(|e| format!("{name}: {e}"))
}

/// Parses every `*.yaml`, `*.yml` and `*.json` file in `dir` (multi-document
/// files and `List`s too), as `kubectl apply -f DIR` reads it. Objects of
/// other API groups are skipped, whatever their shape; ours that are
/// malformed are errors.
pub fn load_dir(dir: &Path) -> Result<Vec<Manifest>, String> {
    Snapshot::read(dir)?.parse()
}

/// The manifest files of a directory as read at one moment: the files
/// `kubectl apply -f DIR` reads, in its order, and what they held. Two
/// snapshots differ when the directory changed; what is parsed is what was
/// compared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot(Vec<(PathBuf, Vec<u8>)>);

impl Snapshot {
    pub fn read(dir: &Path) -> Result<Snapshot, String> {
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
            })
            .collect();
        paths.sort();
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            files.push((path, bytes));
        }
        Ok(Snapshot(files))
    }

    pub fn parse(&self) -> Result<Vec<Manifest>, String> {
        let mut out = Vec::new();
        for (path, bytes) in &self.0 {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| format!("{}: not UTF-8 text", path.display()))?;
            let parsed = parse_file(text).map_err(|e| format!("{}: {e}", path.display()))?;
            if parsed.kustomization {
                // Its transformations (a `namespace:` above all) would change
                // what the objects say; running kustomize is not our job.
                tracing::warn!(
                    file = %path.display(),
                    "a kustomization is not run: the manifests are applied as the files say \
                     (render it first with `kubectl kustomize` to apply what it makes)"
                );
            }
            out.extend(parsed.manifests);
        }
        Ok(out)
    }
}

/// What one file holds.
struct File {
    manifests: Vec<Manifest>,
    /// Whether it is a kustomization (`kind: Kustomization`).
    kustomization: bool,
}

pub fn parse(text: &str) -> Result<Vec<Manifest>, String> {
    parse_file(text).map(|file| file.manifests)
}

fn parse_file(text: &str) -> Result<File, String> {
    let mut file = File {
        manifests: Vec::new(),
        kustomization: false,
    };
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = serde_yaml::Value::deserialize(document).map_err(|e| e.to_string())?;
        collect(value, &mut file)?;
    }
    Ok(file)
}

fn text_field<'a>(value: &'a serde_yaml::Value, field: &str) -> &'a str {
    value
        .get(field)
        .and_then(serde_yaml::Value::as_str)
        .unwrap_or_default()
}

/// Adds the manifests in one object (or in a list's items) to `file`.
fn collect(value: serde_yaml::Value, file: &mut File) -> Result<(), String> {
    if value.is_null() {
        return Ok(());
    }
    let api_version = text_field(&value, "apiVersion").to_owned();
    let kind = text_field(&value, "kind").to_owned();
    let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
    // `kubectl get -o yaml` writes a `v1` `List`; a typed list
    // (`KmsKeyList`) is one too.
    if kind.ends_with("List") && (api_version == "v1" || group == GROUP) {
        let Some(items) = value.get("items").and_then(serde_yaml::Value::as_sequence) else {
            return Err(format!("{kind}: `items` must be a list"));
        };
        for item in items.clone() {
            collect(item, file)?;
        }
        return Ok(());
    }
    if kind == "Kustomization" && group == "kustomize.config.k8s.io" {
        file.kustomization = true;
    }
    if group != GROUP {
        return Ok(());
    }
    if api_version != API_VERSION {
        return Err(format!(
            "{kind}: apiVersion {api_version} is not one this kube-kms reads (it reads {API_VERSION})"
        ));
    }
    if !["KmsKey", "KmsAlias", "KmsGrant"].contains(&kind.as_str()) {
        return Err(format!(
            "kind `{kind}` is not one this kube-kms applies (KmsKey, KmsAlias, KmsGrant)"
        ));
    }
    let doc: Document = serde_yaml::from_value(value).map_err(|e| format!("{kind}: {e}"))?;
    let name = format!(
        "{} {}/{}",
        doc.kind, doc.metadata.namespace, doc.metadata.name
    );
    if doc.kind == "KmsKey" {
        let mut spec = doc.spec;
        let test_material = match spec.as_mapping_mut().and_then(|m| m.remove(TEST_MATERIAL)) {
            None => None,
            Some(serde_yaml::Value::String(b64)) => Some(b64),
            Some(_) => {
                return Err(format!("{name}: {TEST_MATERIAL} must be a base64 string"));
            }
        };
        let spec: KmsKeySpec = spec_of::<KmsKey, _>(spec, &name)?;
        if spec.primary_region.is_some() && test_material.is_some() {
            // Material this deployment may not mint: it comes from the
            // primary's Region.
            return Err(format!(
                "{name}: a replica (spec.primaryRegion) has no {TEST_MATERIAL}: its material comes from its primary"
            ));
        }
        file.manifests.push(Manifest::Key {
            metadata: doc.metadata,
            spec,
            test_material,
        });
    } else if doc.kind == "KmsAlias" {
        let spec: KmsAliasSpec = spec_of::<KmsAlias, _>(doc.spec, &name)?;
        file.manifests.push(Manifest::Alias {
            metadata: doc.metadata,
            spec,
        });
    } else {
        let spec: KmsGrantSpec = spec_of::<KmsGrant, _>(doc.spec, &name)?;
        file.manifests.push(Manifest::Grant {
            metadata: doc.metadata,
            spec,
        });
    }
    Ok(())
}

/// Mistakes only a whole set of manifests shows, found before any of it is
/// applied (so a bad set changes nothing): the same object twice, two keys
/// pinning one key id, one alias name claimed twice in a namespace, an alias
/// whose key is not in the set. Each would otherwise have the later manifest
/// quietly win over the earlier one.
pub fn check_set(manifests: &[Manifest]) -> Result<(), String> {
    use std::collections::HashMap;
    let object = |kind: &str, m: &Metadata| format!("{kind} {}/{}", m.namespace, m.name);
    let mut keys: HashMap<(&str, &str), String> = HashMap::new();
    let mut key_ids: HashMap<KeyId, String> = HashMap::new();
    for manifest in manifests {
        if let Manifest::Key { metadata, spec, .. } = manifest {
            let this = object("KmsKey", metadata);
            if keys
                .insert((&metadata.namespace, &metadata.name), this.clone())
                .is_some()
            {
                return Err(format!("{this} appears twice"));
            }
            let id = key_id(spec, metadata);
            if let Some(first) = key_ids.insert(id, this.clone()) {
                return Err(format!("{this}: key id {id} is already {first}'s"));
            }
        }
    }
    let mut aliases: HashMap<(&str, &str), String> = HashMap::new();
    let mut alias_names: HashMap<(&str, &str), String> = HashMap::new();
    for manifest in manifests {
        if let Manifest::Alias { metadata, spec } = manifest {
            let this = object("KmsAlias", metadata);
            if aliases
                .insert((&metadata.namespace, &metadata.name), this.clone())
                .is_some()
            {
                return Err(format!("{this} appears twice"));
            }
            if let Some(first) =
                alias_names.insert((&metadata.namespace, &spec.alias_name), this.clone())
            {
                return Err(format!("{this}: {} is already {first}'s", spec.alias_name));
            }
            let target = spec.target_key_ref.name.as_str();
            if !keys.contains_key(&(metadata.namespace.as_str(), target)) {
                return Err(format!(
                    "{this}: no KmsKey named {target} in namespace {}",
                    metadata.namespace
                ));
            }
        }
    }
    let mut grants: HashMap<(&str, &str), String> = HashMap::new();
    for manifest in manifests {
        if let Manifest::Grant { metadata, spec } = manifest {
            let this = object("KmsGrant", metadata);
            if grants
                .insert((&metadata.namespace, &metadata.name), this.clone())
                .is_some()
            {
                return Err(format!("{this} appears twice"));
            }
            let target = spec.key_ref.name.as_str();
            if !keys.contains_key(&(metadata.namespace.as_str(), target)) {
                return Err(format!(
                    "{this}: no KmsKey named {target} in namespace {}",
                    metadata.namespace
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{KeySpec, KeyUsage};

    #[test]
    fn a_set_that_would_have_one_manifest_overwrite_another_is_refused() {
        let key = |name: &str, extra: &str| {
            format!(
                "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {{name: {name}}}\nspec: {{{extra}}}\n---\n"
            )
        };
        let alias = |name: &str, alias: &str, target: &str| {
            format!(
                "apiVersion: kubekms.io/v1alpha1\nkind: KmsAlias\nmetadata: {{name: {name}}}\nspec: {{aliasName: {alias}, targetKeyRef: {{name: {target}}}}}\n---\n"
            )
        };
        let pinned = "keyId: 1234abcd-12ab-34cd-56ef-1234567890ab";
        let check = |docs: &[String]| check_set(&parse(&docs.concat()).unwrap());
        let fine = [
            key("a", pinned),
            key("b", ""),
            alias("x", "alias/x", "a"),
            alias("y", "alias/y", "a"),
        ];
        assert_eq!(check(&fine), Ok(()));
        for (docs, expected) in [
            (
                vec![key("a", ""), key("a", "description: again")],
                "KmsKey default/a appears twice",
            ),
            (
                vec![key("a", pinned), key("b", pinned)],
                "KmsKey default/b: key id 1234abcd-12ab-34cd-56ef-1234567890ab is already KmsKey default/a's",
            ),
            (
                vec![
                    key("a", ""),
                    alias("x", "alias/x", "a"),
                    alias("x", "alias/y", "a"),
                ],
                "KmsAlias default/x appears twice",
            ),
            (
                vec![
                    key("a", ""),
                    key("b", ""),
                    alias("x", "alias/x", "a"),
                    alias("y", "alias/x", "b"),
                ],
                "KmsAlias default/y: alias/x is already KmsAlias default/x's",
            ),
            (
                vec![key("a", ""), alias("x", "alias/x", "nope")],
                "KmsAlias default/x: no KmsKey named nope in namespace default",
            ),
        ] {
            assert_eq!(check(&docs), Err(expected.to_owned()));
        }
        // The same names in two namespaces are two objects.
        let elsewhere = key("a", "").replace("{name: a}", "{name: a, namespace: other}");
        assert_eq!(check(&[key("a", ""), elsewhere]), Ok(()));
    }

    #[test]
    fn a_replica_is_declared_without_material_of_its_own() {
        let replica = "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {name: orders}\nspec:\n  keyId: mrk-0123456789abcdeff0123456789abcde\n  multiRegion: true\n  primaryRegion: us-east-1\n";
        let parsed = parse(replica).unwrap();
        assert!(
            matches!(&parsed[..], [Manifest::Key { spec, test_material: None, .. }]
            if spec.primary_region.as_deref() == Some("us-east-1"))
        );
        let with_material = format!("{replica}  testMaterial: AAAA\n");
        assert_eq!(
            parse(&with_material).unwrap_err(),
            "KmsKey default/orders: a replica (spec.primaryRegion) has no testMaterial: its material comes from its primary"
        );
    }

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
        let Manifest::Key { metadata, spec, .. } = &manifests[0] else {
            panic!()
        };
        assert_eq!(
            (spec.key_spec, spec.key_usage, spec.enabled),
            (KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt, true)
        );
        assert_eq!(spec.rotation.period_days, Some(90));
        assert_eq!(key_id(spec, metadata), key_id(spec, metadata), "stable");
        let other = Metadata {
            name: "app".into(),
            namespace: "team-b".into(),
        };
        assert_ne!(key_id(spec, metadata), key_id(spec, &other));
        assert!(!key_id(spec, metadata).is_multi_region());
        // Declared multi-Region: a marked id, as stable.
        let mut multi_region = spec.clone();
        multi_region.multi_region = true;
        let mrk = key_id(&multi_region, metadata);
        assert!(mrk.is_multi_region() && mrk.to_string().starts_with("mrk-"));
        assert_eq!(mrk, key_id(&multi_region, metadata), "stable");
        assert_ne!(mrk, key_id(&multi_region, &other));
        let Manifest::Key { metadata, spec, .. } = &manifests[1] else {
            panic!()
        };
        assert_eq!(metadata.namespace, "default");
        assert_eq!(
            key_id(spec, metadata).to_string(),
            "1234abcd-12ab-34cd-56ef-1234567890ab"
        );
        assert!(
            matches!(&manifests[2], Manifest::Alias { spec, .. } if spec.alias_name == "alias/app")
        );
    }

    #[test]
    fn a_directory_is_read_as_kubectl_apply_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        // A kustomization has no metadata; it and the other tools' files
        // are skipped, whatever their shape.
        write(
            "kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [keys.yaml]\n",
        );
        write("values.yaml", "replicas: 3\n");
        write(
            "notes.txt",
            "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\n",
        );
        // What `kubectl get kmskeys -o yaml` writes: a v1 List whose items
        // carry status and server-set metadata.
        write(
            "backup.yaml",
            r#"apiVersion: v1
kind: List
metadata: {resourceVersion: ""}
items:
- apiVersion: kubekms.io/v1alpha1
  kind: KmsKey
  metadata: {name: app, namespace: team-a, uid: 5a0c, resourceVersion: "81", generation: 2}
  spec: {description: app data}
  status: {keyId: 1234abcd-12ab-34cd-56ef-1234567890ab, keyState: Enabled}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: cm}
"#,
        );
        write(
            "alias.json",
            r#"{"apiVersion": "kubekms.io/v1alpha1", "kind": "KmsAliasList", "items": [
                {"apiVersion": "kubekms.io/v1alpha1", "kind": "KmsAlias",
                 "metadata": {"name": "app", "namespace": "team-a"},
                 "spec": {"aliasName": "alias/app", "targetKeyRef": {"name": "app"}}}]}"#,
        );
        let manifests = load_dir(dir.path()).unwrap();
        assert_eq!(manifests.len(), 2, "{manifests:?}");
        assert!(matches!(&manifests[0], Manifest::Alias { metadata, spec }
            if metadata.namespace == "team-a" && spec.alias_name == "alias/app"));
        assert!(matches!(&manifests[1], Manifest::Key { metadata, spec, .. }
            if metadata.name == "app" && spec.description == "app data"));
        assert_eq!(check_set(&manifests), Ok(()));
        assert!(
            parse_file(&std::fs::read_to_string(dir.path().join("kustomization.yaml")).unwrap())
                .unwrap()
                .kustomization
        );
    }

    #[test]
    fn objects_of_our_group_that_we_do_not_apply_are_errors() {
        for (text, expected) in [
            (
                "apiVersion: kubekms.io/v1\nkind: KmsKey\nmetadata: {name: k}\n",
                "KmsKey: apiVersion kubekms.io/v1 is not one this kube-kms reads (it reads kubekms.io/v1alpha1)",
            ),
            (
                "apiVersion: kubekms.io/v1alpha1\nkind: KmsWidget\nmetadata: {name: g}\n",
                "kind `KmsWidget` is not one this kube-kms applies (KmsKey, KmsAlias, KmsGrant)",
            ),
            (
                "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nspec: {}\n",
                "KmsKey: missing field `metadata`",
            ),
            (
                "apiVersion: v1\nkind: List\nitems: {a: b}\n",
                "List: `items` must be a list",
            ),
            (
                "apiVersion: v1\nkind: List\nitems:\n- apiVersion: kubekms.io/v1alpha1\n  kind: KmsAlias\n  metadata: {name: a}\n  spec: {aliasName: alias/a}\n",
                "KmsAlias default/a: missing field `targetKeyRef`",
            ),
        ] {
            assert_eq!(parse(text).unwrap_err(), expected, "{text}");
        }
    }

    #[test]
    fn mistakes_are_errors_that_name_the_object() {
        let bad_spec = "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {name: k}\nspec: {keySpec: AES_999}\n";
        assert!(parse(bad_spec).unwrap_err().contains("KmsKey default/k"));
        let typo = "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {name: k}\nspec: {keyspec: RSA_2048}\n";
        assert!(
            parse(typo)
                .unwrap_err()
                .contains("unknown field `spec.keyspec`")
        );
        let nested = "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {name: k}\nspec: {rotation: {period: 90}}\n";
        assert!(
            parse(nested)
                .unwrap_err()
                .contains("unknown field `spec.rotation.period`")
        );
        let material = "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {name: k}\nspec: {testMaterial: QUJD}\n";
        assert!(
            matches!(&parse(material).unwrap()[0], Manifest::Key { test_material: Some(m), .. } if m == "QUJD")
        );
    }

    /// What tells `serve` that DIR changed: the manifest files it reads and
    /// their bytes, not other files.
    #[test]
    fn a_snapshot_changes_with_the_manifest_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let key = "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {name: a}\n";
        std::fs::write(dir.path().join("a.yaml"), key).unwrap();
        let first = Snapshot::read(dir.path()).unwrap();
        assert_eq!(Snapshot::read(dir.path()).unwrap(), first);
        std::fs::write(dir.path().join("README.md"), "notes").unwrap();
        std::fs::write(dir.path().join(".a.yaml.swp"), "editor state").unwrap();
        assert_eq!(Snapshot::read(dir.path()).unwrap(), first);

        std::fs::write(
            dir.path().join("a.yaml"),
            key.replace("{name: a}", "{name: b}"),
        )
        .unwrap();
        let edited = Snapshot::read(dir.path()).unwrap();
        assert_ne!(edited, first);
        assert!(
            matches!(&edited.parse().unwrap()[0], Manifest::Key { metadata, .. } if metadata.name == "b")
        );
        std::fs::write(dir.path().join("b.yml"), "").unwrap();
        assert_ne!(Snapshot::read(dir.path()).unwrap(), edited);
        std::fs::remove_file(dir.path().join("b.yml")).unwrap();
        assert_eq!(Snapshot::read(dir.path()).unwrap(), edited);

        std::fs::write(dir.path().join("c.json"), [0xff, 0xfe]).unwrap();
        let err = Snapshot::read(dir.path()).unwrap().parse().unwrap_err();
        assert!(err.ends_with("c.json: not UTF-8 text"), "{err}");
    }
}
