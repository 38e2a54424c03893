//! `KmsAlias`: a friendly name for a `KmsKey` in the same namespace.

// clippy reads the repeated `type_ = "string"` inside `printcolumn(...)` as
// duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::Condition;

/// The alias as declared: its name and the key it points to.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kubekms.io",
    version = "v1alpha1",
    kind = "KmsAlias",
    plural = "kmsaliases",
    doc = "An alias (alias/...) for a KmsKey in the same namespace. Alias names are unique within a namespace; callers in the namespace may use the alias wherever the AWS API accepts one.",
    namespaced,
    status = "KmsAliasStatus",
    shortname = "kmsalias",
    category = "kubekms",
    printcolumn(name = "Alias", type_ = "string", json_path = ".spec.aliasName"),
    printcolumn(name = "Key", type_ = "string", json_path = ".spec.targetKeyRef.name"),
    printcolumn(name = "Key ID", type_ = "string", json_path = ".status.targetKeyId"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[cfg_attr(test, x_kube(cel))]
#[serde(rename_all = "camelCase")]
pub struct KmsAliasSpec {
    /// The alias name: `alias/` followed by letters, digits, `:`, `/`, `_` or `-`
    /// (at most 256 characters). `alias/aws/` is reserved.
    #[x_kube(validation = kube::core::Rule::new(
        "self.matches('^alias/[a-zA-Z0-9:/_-]+$') && size(self) <= 256"
    ).message("aliasName must be alias/ followed by letters, digits, :, /, _ or - (at most 256 characters)"))]
    #[x_kube(validation = kube::core::Rule::new("!self.startsWith('alias/aws/')")
        .message("alias/aws/ is reserved for AWS managed keys"))]
    pub alias_name: String,

    /// The KmsKey, in this namespace, the alias points to. May be changed
    /// to point the alias at another key.
    pub target_key_ref: KeyRef,
}

/// A reference to a KmsKey in the same namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KeyRef {
    /// The KmsKey's metadata.name.
    #[x_kube(validation = kube::core::Rule::new("size(self) > 0").message("targetKeyRef.name is required"))]
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KmsAliasStatus {
    /// The key id the alias resolves to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_key_id: Option<String>,
    /// The ARN of the key the alias resolves to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_key_arn: Option<String>,
    /// The alias's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias_arn: Option<String>,
    /// `Ready` says whether the alias resolves, and if not, why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
