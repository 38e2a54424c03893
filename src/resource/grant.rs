//! `KmsGrant`: a grant on a `KmsKey` in the same namespace, as CreateGrant
//! makes one (the endpoint creates these) or as Git declares one.

// clippy reads the repeated `type_ = "string"` inside `printcolumn(...)` as
// duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::{Condition, KeyRef};
use crate::grant::{Constraints, GrantRecord};
use crate::key::Millis;
use crate::key_id::KeyId;
use crate::spec::GrantOperation;

/// The grant as declared.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kubekms.io",
    version = "v1alpha1",
    kind = "KmsGrant",
    plural = "kmsgrants",
    doc = "A grant on a KmsKey in the same namespace: it lets its grantee use the key for its operations where the key's policy and RBAC do not, as an AWS KMS grant does. Its grant id (status.grantId) is the SHA-256 of the object's UID, in hexadecimal. CreateGrant through the endpoint creates one; RetireGrant and RevokeGrant delete it.",
    namespaced,
    status = "KmsGrantStatus",
    shortname = "kmsgrant",
    category = "kubekms",
    printcolumn(name = "Key", type_ = "string", json_path = ".spec.keyRef.name"),
    printcolumn(
        name = "Grantee",
        type_ = "string",
        json_path = ".spec.granteePrincipal"
    ),
    printcolumn(name = "Operations", type_ = "string", json_path = ".spec.operations"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Grant ID",
        type_ = "string",
        json_path = ".status.grantId",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[cfg_attr(test, x_kube(cel))]
#[serde(rename_all = "camelCase")]
pub struct KmsGrantSpec {
    /// The KmsKey, in this namespace, the grant is on.
    pub key_ref: KeyRef,

    /// Who the grant is for: a principal's ARN, as a key policy names it
    /// (`arn:aws:iam::<account>:role/<namespace>/<serviceaccount>`,
    /// `arn:aws:iam::<account>:user/<namespace>/<principal>`).
    #[x_kube(validation = kube::core::Rule::new(
        "self.matches('^arn:[^:]+:[^:]*:[^:]*:[^:]*:.+$') && size(self) <= 256"
    ).message("granteePrincipal must be an ARN of at most 256 characters"))]
    pub grantee_principal: String,

    /// Who may retire the grant besides the account: a principal's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new(
        "self.matches('^arn:[^:]+:[^:]*:[^:]*:[^:]*:.+$') && size(self) <= 256"
    ).message("retiringPrincipal must be an ARN of at most 256 characters"))]
    pub retiring_principal: Option<String>,

    /// The operations the grant allows; they must be ones the key's type
    /// serves (a grant naming others allows none of them).
    #[x_kube(validation = kube::core::Rule::new("size(self) > 0")
        .message("operations must name at least one operation"))]
    pub operations: Vec<GrantOperation>,

    /// Encryption context constraints (symmetric keys only): a request's
    /// context must equal `encryptionContextEquals`, or include the pairs
    /// of `encryptionContextSubset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<GrantConstraints>,

    /// CreateGrant's `Name`: the same request with the same name returns
    /// this grant instead of making another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_name: Option<String>,
}

impl KmsGrantSpec {
    /// The declared constraints, as a grant holds them.
    pub fn constraints(&self) -> Constraints {
        let declared = self.constraints.clone().unwrap_or_default();
        Constraints {
            encryption_context_subset: declared.encryption_context_subset,
            encryption_context_equals: declared.encryption_context_equals,
        }
    }

    /// The grant this declares: `grant_id` on `key_id`, operations sorted,
    /// each once.
    pub fn record(
        &self,
        grant_id: String,
        key_id: KeyId,
        created: Millis,
        issuer: String,
    ) -> GrantRecord {
        let mut operations = self.operations.clone();
        operations.sort();
        operations.dedup();
        GrantRecord {
            grant_id,
            key_id,
            name: self.grant_name.clone(),
            grantee: self.grantee_principal.clone(),
            retiring: self.retiring_principal.clone(),
            operations,
            constraints: self.constraints(),
            created,
            issuer,
        }
    }
}

/// At most one of the two, each of at most 8 pairs.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "!(has(self.encryptionContextEquals) && has(self.encryptionContextSubset))"
).message("a grant has encryptionContextEquals or encryptionContextSubset, not both"))]
pub struct GrantConstraints {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("size(self) <= 8")
        .message("a constraint has at most 8 pairs"))]
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("size(self) <= 8")
        .message("a constraint has at most 8 pairs"))]
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
}

/// What the controller found of the grant.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KmsGrantStatus {
    /// The grant id (the SHA-256 of the object's UID), as ListGrants,
    /// RetireGrant and RevokeGrant name the grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    /// The id of the key the grant is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// `Ready` says whether the grant is on a key that takes it, and if
    /// not, why (`KeyNotFound`, `KeyNotReady`, `InvalidGrant`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
