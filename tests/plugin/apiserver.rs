//! A KMS v2 client that behaves like kube-apiserver (1.29+) towards its
//! plugin and fails on anything kube-apiserver would refuse:
//! - Status: `version` is "v2" or "v2beta1" and never changes afterwards;
//!   `healthz` is "ok"; `key_id` is non-empty and at most 1024 bytes.
//! - Encrypt (after a Status, as kube-apiserver generates a seed): the
//!   ciphertext is non-empty and at most 1024 bytes; the key_id obeys the
//!   Status rules and equals the Status key_id; annotation keys are fully
//!   qualified domain names and keys plus values total at most 32 KiB.
//! - Decrypt: hands back exactly what Encrypt returned, and must get the
//!   seed back.

use std::collections::HashMap;
use std::path::Path;

use kube_kms::plugin::pb;
use kube_kms::plugin::pb::key_management_service_client::KeyManagementServiceClient;
use tonic::transport::Channel;

pub const MAX_KEY_ID: usize = 1024;
pub const MAX_CIPHERTEXT: usize = 1024;
pub const MAX_ANNOTATIONS: usize = 32 * 1024;

/// What Encrypt returned, as kube-apiserver stores it in etcd.
#[derive(Debug, Clone)]
pub struct Wrapped {
    pub ciphertext: Vec<u8>,
    pub key_id: String,
    pub annotations: HashMap<String, Vec<u8>>,
}

pub struct ApiserverClient {
    client: KeyManagementServiceClient<Channel>,
    version: Option<String>,
}

pub fn check_key_id(key_id: &str) -> Result<(), String> {
    if key_id.is_empty() {
        return Err("key_id is empty".into());
    }
    if key_id.len() > MAX_KEY_ID {
        return Err(format!(
            "key_id is {} bytes, over {MAX_KEY_ID}",
            key_id.len()
        ));
    }
    Ok(())
}

/// kube-apiserver's `IsFullyQualifiedDomainName`: a trailing dot trimmed,
/// then a lower-case RFC 1123 subdomain of at least two labels.
pub fn check_annotation_key(key: &str) -> Result<(), String> {
    let name = key.strip_suffix('.').unwrap_or(key);
    let bad = |why: &str| Err(format!("annotation key {key:?} is not a FQDN: {why}"));
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > 253 {
        return bad("longer than 253 characters");
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return bad("fewer than two labels");
    }
    for label in labels {
        let valid = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !valid {
            return bad(&format!("label {label:?}"));
        }
    }
    Ok(())
}

pub fn check_annotations(annotations: &HashMap<String, Vec<u8>>) -> Result<(), String> {
    let mut total = 0;
    for (key, value) in annotations {
        check_annotation_key(key)?;
        total += key.len() + value.len();
    }
    if total > MAX_ANNOTATIONS {
        return Err(format!(
            "annotations total {total} bytes, over {MAX_ANNOTATIONS}"
        ));
    }
    Ok(())
}

impl ApiserverClient {
    /// Dials `socket` as kube-apiserver does: HTTP/2 cleartext over the
    /// unix socket, authority `localhost`, connected on first use.
    pub fn connect(socket: &Path) -> Self {
        let channel =
            kube_kms::crypto::grpc::unix_channel(socket, std::time::Duration::from_secs(3));
        ApiserverClient {
            client: KeyManagementServiceClient::new(channel),
            version: None,
        }
    }

    /// The raw generated client, for sending what kube-apiserver never would.
    pub fn raw(&self) -> KeyManagementServiceClient<Channel> {
        self.client.clone()
    }

    /// A Status probe; `Ok` carries the key_id when kube-apiserver would
    /// accept the response.
    pub async fn status(&mut self) -> Result<String, String> {
        let status = self
            .client
            .status(pb::StatusRequest {})
            .await
            .map_err(|e| format!("Status failed: {e}"))?
            .into_inner();
        if status.version != "v2" && status.version != "v2beta1" {
            return Err(format!("Status version {:?} is not v2", status.version));
        }
        match &self.version {
            Some(first) if *first != status.version => {
                return Err(format!(
                    "Status version changed from {first:?} to {:?}",
                    status.version
                ));
            }
            _ => self.version = Some(status.version.clone()),
        }
        if status.healthz != "ok" {
            return Err(format!("got unexpected healthz status: {}", status.healthz));
        }
        check_key_id(&status.key_id)?;
        Ok(status.key_id)
    }

    /// Generates a seed the way kube-apiserver does: Status, then Encrypt,
    /// and the Encrypt key_id must be the Status one.
    pub async fn wrap(&mut self, seed: &[u8]) -> Result<Wrapped, String> {
        let status_key_id = self.status().await?;
        let response = self
            .client
            .encrypt(pb::EncryptRequest {
                plaintext: seed.to_vec(),
                uid: uuid::Uuid::new_v4().to_string(),
            })
            .await
            .map_err(|e| format!("Encrypt failed: {e}"))?
            .into_inner();
        if response.ciphertext.is_empty() || response.ciphertext.len() > MAX_CIPHERTEXT {
            return Err(format!(
                "Encrypt ciphertext is {} bytes (must be 1..={MAX_CIPHERTEXT})",
                response.ciphertext.len()
            ));
        }
        check_key_id(&response.key_id)?;
        if response.key_id != status_key_id {
            return Err(format!(
                "Encrypt key_id {} differs from Status key_id {status_key_id}",
                response.key_id
            ));
        }
        check_annotations(&response.annotations)?;
        Ok(Wrapped {
            ciphertext: response.ciphertext,
            key_id: response.key_id,
            annotations: response.annotations,
        })
    }

    /// Unwraps as kube-apiserver does on a DEK cache miss.
    pub async fn unwrap(&mut self, wrapped: &Wrapped) -> Result<Vec<u8>, tonic::Status> {
        Ok(self
            .client
            .decrypt(pb::DecryptRequest {
                ciphertext: wrapped.ciphertext.clone(),
                uid: uuid::Uuid::new_v4().to_string(),
                key_id: wrapped.key_id.clone(),
                annotations: wrapped.annotations.clone(),
            })
            .await?
            .into_inner()
            .plaintext)
    }
}

#[test]
fn the_rules_refuse_what_kube_apiserver_refuses() {
    for good in [
        "dev.k8s.io",
        "dev.k8s.io.",
        "10.0.0.1",
        "bbc.co.uk",
        "a-b.c",
    ] {
        check_annotation_key(good).unwrap_or_else(|e| panic!("{e}"));
    }
    for bad in [
        "com",
        ".io",
        "Dev.k8s.io",
        "kms.example.io/audit-id",
        "-a.io",
        "a-.io",
        "a..io",
        "",
    ] {
        assert!(check_annotation_key(bad).is_err(), "{bad:?} accepted");
    }
    let long_label = format!("{}.io", "a".repeat(64));
    assert!(check_annotation_key(&long_label).is_err());
    let long_name = vec!["a".repeat(63); 5].join(".");
    assert!(check_annotation_key(&long_name).is_err());
    let big = HashMap::from([("a.io".to_owned(), vec![0u8; MAX_ANNOTATIONS])]);
    assert!(check_annotations(&big).is_err());
    let fits = HashMap::from([("a.io".to_owned(), vec![0u8; MAX_ANNOTATIONS - 4])]);
    check_annotations(&fits).unwrap();
    assert!(check_key_id("").is_err());
    assert!(check_key_id(&"k".repeat(1025)).is_err());
    check_key_id(&"k".repeat(1024)).unwrap();
}
