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
mod tests;
