//! The custom resources (`kubekms.io/v1alpha1`): `KmsKey`, `KmsAlias` and
//! `KmsGrant`.
//! Their Rust types are the source of the CRDs in `crds/` (`kube-kms crdgen`)
//! and of the manifests the embedded default reads.

mod alias;
mod grant;
mod key;
pub mod material_request;

use kube::CustomResourceExt;
use serde::{Deserialize, Serialize};

pub use alias::{KeyRef, KmsAlias, KmsAliasSpec, KmsAliasStatus};
pub use grant::{GrantConstraints, KmsGrant, KmsGrantSpec, KmsGrantStatus};
pub use key::{
    KeyLastUsage, KmsKey, KmsKeySpec, KmsKeyStatus, MaterialVersionStatus, ReplicationRefusal,
    RotationSpec,
};

pub const GROUP: &str = "kubekms.io";
pub const VERSION: &str = "v1alpha1";
pub const API_VERSION: &str = "kubekms.io/v1alpha1";

pub use material_request::{MATERIAL_ANNOTATION, MaterialChange, MaterialRequest};

/// Annotation whose every new value asks for one on-demand rotation.
pub const ROTATE_ANNOTATION: &str = "kubekms.io/rotate";

/// Whether the API server refused a server-side apply because the CRD
/// installed in the cluster does not declare `field`: the CRD is older
/// than this version (`helm upgrade` leaves CRDs as they were).
pub fn crd_lacks(error: &kube::Error, field: &str) -> bool {
    matches!(error, kube::Error::Api(status)
        if status.message.contains("field not declared in schema")
            && status.message.contains(field))
}

/// A condition as Kubernetes conventions shape it (`metav1.Condition`),
/// kept to the fields this project writes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type, e.g. `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// A CamelCase reason for the condition's last transition.
    pub reason: String,
    /// A human-readable explanation.
    #[serde(default)]
    pub message: String,
    /// When the status last changed (RFC 3339).
    pub last_transition_time: String,
    /// The `metadata.generation` this condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl Condition {
    /// The `Ready` condition among `conditions`.
    pub fn ready_in(conditions: &[Condition]) -> Option<&Condition> {
        conditions.iter().find(|c| c.type_ == "Ready")
    }

    /// The `Ready` condition, keeping `previous`'s transition time when the
    /// status did not change (so rewriting it is not a change).
    pub fn ready(
        previous: &[Condition],
        status: &str,
        reason: &str,
        message: &str,
        generation: Option<i64>,
        now_rfc3339: impl FnOnce() -> String,
    ) -> Condition {
        let last_transition_time = match Condition::ready_in(previous) {
            Some(p) if p.status == status => p.last_transition_time.clone(),
            _ => now_rfc3339(),
        };
        Condition {
            type_: "Ready".into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time,
            observed_generation: generation,
        }
    }
}

/// The CRDs, as `crdgen` writes them: file name and YAML.
pub fn crd_files() -> Vec<(&'static str, String)> {
    let yaml = |crd| serde_yaml::to_string(&crd).expect("a CRD serializes");
    vec![
        ("kmskeys.kubekms.io.yaml", yaml(KmsKey::crd())),
        ("kmsaliases.kubekms.io.yaml", yaml(KmsAlias::crd())),
        ("kmsgrants.kubekms.io.yaml", yaml(KmsGrant::crd())),
    ]
}

#[cfg(test)]
mod tests;
