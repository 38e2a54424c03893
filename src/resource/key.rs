//! `KmsKey`: a KMS key declared as a Kubernetes object.

// clippy reads the repeated `type_ = "string"` inside `printcolumn(...)` as
// duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::Condition;
use crate::key::Origin;
use crate::key_id::KeyId;
use crate::spec::{KeySpec, KeyUsage};

/// The key as declared: type, usage and the settings the controller keeps.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kubekms.io",
    version = "v1alpha1",
    kind = "KmsKey",
    plural = "kmskeys",
    doc = "A KMS key. The controller creates its key material (sealed by the root key, stored in a Secret), rotates it and, after the deletion window, destroys it. Deleting the object schedules the key for deletion; re-applying it within the window cancels that.",
    namespaced,
    status = "KmsKeyStatus",
    shortname = "kmskey",
    category = "kubekms",
    printcolumn(name = "Key ID", type_ = "string", json_path = ".status.keyId"),
    printcolumn(name = "Spec", type_ = "string", json_path = ".spec.keySpec"),
    printcolumn(name = "Usage", type_ = "string", json_path = ".spec.keyUsage"),
    printcolumn(name = "State", type_ = "string", json_path = ".status.keyState"),
    printcolumn(
        name = "Version",
        type_ = "integer",
        json_path = ".status.currentVersion",
        priority = "1"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Primary Region",
        type_ = "string",
        json_path = ".spec.primaryRegion",
        priority = "1"
    ),
    printcolumn(
        name = "Last Used",
        type_ = "date",
        json_path = ".status.lastUsage.timestamp",
        priority = "1"
    )
)]
#[cfg_attr(test, x_kube(cel))]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "!has(oldSelf.keyId) || (has(self.keyId) && self.keyId == oldSelf.keyId)"
).message("keyId cannot be changed or removed once set"))]
#[x_kube(validation = kube::core::Rule::new(
    "(has(self.origin) ? self.origin : 'AWS_KMS') == (has(oldSelf.origin) ? oldSelf.origin : 'AWS_KMS')"
).message("origin is immutable"))]
#[x_kube(validation = kube::core::Rule::new(
    "(has(self.multiRegion) && self.multiRegion) == (has(oldSelf.multiRegion) && oldSelf.multiRegion)"
).message("multiRegion is immutable"))]
#[x_kube(validation = kube::core::Rule::new(
    "!has(self.keyId) || self.keyId.startsWith('mrk-') == (has(self.multiRegion) && self.multiRegion)"
).message("a pinned keyId is an mrk- id exactly when multiRegion is true"))]
#[x_kube(validation = kube::core::Rule::new(
    "!has(self.primaryRegion) || (has(self.multiRegion) && self.multiRegion && has(self.keyId))"
).message("a replica (primaryRegion) is a multiRegion key with a pinned keyId"))]
#[x_kube(validation = kube::core::Rule::new(
    "!has(self.replicaRegions) || (has(self.multiRegion) && self.multiRegion)"
).message("replicaRegions are for a multiRegion key"))]
pub struct KmsKeySpec {
    /// What the key is for, as DescribeKey reports it (at most 8192 characters).
    #[serde(default)]
    #[schemars(length(max = 8192))]
    pub description: String,

    /// The type of key material (AWS KeySpec). SYMMETRIC_DEFAULT is AES-256-GCM.
    /// Cannot be changed.
    #[serde(default = "default_key_spec")]
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("keySpec is immutable"))]
    pub key_spec: KeySpec,

    /// What the key may be used for (AWS KeyUsage). Cannot be changed.
    #[serde(default = "default_key_usage")]
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("keyUsage is immutable"))]
    pub key_usage: KeyUsage,

    /// Where the key material comes from: AWS_KMS (default), made by the
    /// controller; or EXTERNAL, imported by the key's owner through the
    /// endpoint (GetParametersForImport, ImportKeyMaterial): the key is
    /// PendingImport until then. Cannot be changed.
    #[serde(default, skip_serializing_if = "Origin::is_default")]
    pub origin: Origin,

    /// Whether the key may be used. A disabled key keeps its material; it
    /// refuses cryptographic operations with DisabledException.
    #[serde(default = "default_true")]
    pub enabled: bool,

    /// Automatic rotation (symmetric encryption keys only).
    #[serde(default)]
    pub rotation: RotationSpec,

    /// Days between deleting this object and destroying the key material
    /// (7–30, default 30). Re-applying the object within the window cancels
    /// the deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self >= 7 && self <= 30")
        .message("pendingWindowDays must be between 7 and 30"))]
    pub pending_window_days: Option<i64>,

    /// Tags, as TagResource would set them: at most 50, each key 1–128
    /// characters and not beginning with `aws:`, each value at most 256.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    // Sizes only in the schema: a CEL rule reading the keys' text costs, by
    // the API server's estimate, what the longest key could; the `aws:`
    // prefix is refused by the controller (InvalidSpec) and `serve`.
    #[schemars(extend("maxProperties" = 50))]
    #[x_kube(validation = kube::core::Rule::new(
        "self.all(k, size(k) >= 1 && size(k) <= 128 && size(self[k]) <= 256)"
    ).message("tag keys are 1 to 128 characters, values at most 256"))]
    pub tags: BTreeMap<String, String>,

    /// The key policy: a JSON document in the AWS grammar (Version,
    /// Statement, Sid, Effect, Principal, Action, Resource, Condition), as
    /// PutKeyPolicy takes it; at most 32768 bytes. Without one, the default
    /// policy, which allows the account: Kubernetes RBAC then decides (verbs
    /// on this KmsKey, such as encrypt or decrypt). Kept, returned by
    /// GetKeyPolicy, and enforced by the endpoint on every request made of
    /// the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32768))]
    // maxLength counts characters; the quota is bytes, and a policy may hold
    // Latin-1 characters of two bytes each.
    #[x_kube(validation = kube::core::Rule::new("size(bytes(self)) <= 32768")
        .message("policy is at most 32768 bytes (UTF-8)"))]
    pub policy: Option<String>,

    /// Pins the key id (a UUID, or `mrk-` and 32 hex digits for a
    /// multi-Region key), so that a cluster rebuilt from Git adopts the
    /// restored material of the same key instead of minting a new one.
    /// Cannot be changed once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<KeyId>,

    /// A multi-Region key (AWS's MultiRegion): its id is `mrk-` and 32 hex
    /// digits, and it is the primary of its Regions (see
    /// docs/multi-region.md). Cannot be changed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multi_region: bool,

    /// A replica of the multi-Region key whose primary is in this Region:
    /// its material comes from there (ReplicateKey on the primary's
    /// endpoint delivers it, and later versions follow); the controller
    /// never mints or rotates it. Written by the endpoint, which creates
    /// replicas; changed by UpdatePrimaryRegion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32))]
    pub primary_region: Option<String>,

    /// The Regions a multi-Region key has replicas in, declared: while the
    /// key is the primary here, the endpoint replicates it to each listed
    /// Region it has no replica in yet (ReplicateKey, with that Region's
    /// defaults), retrying at each sync. This Region, if listed, is skipped,
    /// so every Region may declare the same list. Removing a Region deletes
    /// nothing: as in AWS, a replica is deleted in its own Region.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 32)))]
    pub replica_regions: Vec<String>,
}

fn default_key_spec() -> KeySpec {
    KeySpec::SymmetricDefault
}

fn default_key_usage() -> KeyUsage {
    KeyUsage::EncryptDecrypt
}

fn default_true() -> bool {
    true
}

/// Automatic rotation settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(test, x_kube(cel))]
#[serde(rename_all = "camelCase")]
pub struct RotationSpec {
    /// Whether new material is added automatically every `periodDays`.
    /// Older versions keep decrypting what they encrypted.
    #[serde(default)]
    pub enabled: bool,

    /// Days between automatic rotations (90–2560, default 365).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self >= 90 && self <= 2560")
        .message("rotation.periodDays must be between 90 and 2560"))]
    pub period_days: Option<i64>,
}

/// What the controller last observed and did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KmsKeyStatus {
    /// The key id callers use (KeyId in the AWS API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The key's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Enabled, Disabled, PendingDeletion or PendingImport (AWS KeyState).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_state: Option<String>,
    /// When the key material was first created (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<String>,
    /// The material version new ciphertexts use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "int64", "maximum" = u32::MAX))]
    pub current_version: Option<u32>,
    /// Every material version the key holds, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<MaterialVersionStatus>,
    /// When automatic rotation next adds a version (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_rotation_date: Option<String>,
    /// When the material will be destroyed, while pending deletion (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<String>,
    /// The last `kubekms.io/rotate` annotation value acted upon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotate_request: Option<String>,
    /// `Ready` says whether the key is usable, and if not, why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Since when the key's use is tracked (GetKeyLastUsage's
    /// TrackingStartDate; RFC 3339): when the controller first reconciled
    /// it with usage tracking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_tracked_since: Option<String>,
    /// The key's last successful cryptographic operation through the KMS
    /// endpoint, as GetKeyLastUsage reports it. Written by the endpoint,
    /// at most once an hour per key and replica, so it can be up to an hour
    /// behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_usage: Option<KeyLastUsage>,
    /// A replica declared here without material: the answer of its
    /// primary's Region when this Region's endpoint last asked it for the
    /// replica and was refused (absent once asked without refusal). Written
    /// by the endpoint's replica sync when the answer changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_refusal: Option<ReplicationRefusal>,
}

/// Why the primary's Region did not replicate a declared replica here.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationRefusal {
    /// Since when this is the answer (RFC 3339).
    pub since: String,
    /// The refusal, as the endpoint logged it.
    pub message: String,
}

/// One use of a key, as the endpoint recorded it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyLastUsage {
    /// The operation: Encrypt, Decrypt, Sign, GenerateDataKey, ...
    pub operation: String,
    /// When (RFC 3339, with milliseconds).
    pub timestamp: String,
    /// The request id of the call (its reply's `x-amzn-RequestId`).
    pub request_id: String,
}

/// One material version.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaterialVersionStatus {
    // Kubernetes knows no `uint32` format (it warns of one when the CRD is
    // applied): a 64-bit integer in u32's range, as for `current_version`.
    #[schemars(extend("format" = "int64", "maximum" = u32::MAX))]
    pub version: u32,
    /// When this version was created (RFC 3339).
    pub created: String,
    /// Initial, Automatic or OnDemand.
    pub rotation_type: String,
}
