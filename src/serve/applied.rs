//! What applying manifests changed, as the calls AWS KMS would have
//! recorded for the same changes (CreateKey, UpdateKeyDescription,
//! DisableKey, CreateAlias, …), so the audit trail shows every change to
//! a key, not only those made through the endpoint. Pure: `serve` records
//! them.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::audit::{Call, RequestParameters};
use crate::declared::Change;
use crate::key::{KeyRecord, Millis};
use crate::key_id::KeyId;
use crate::request_id::RequestId;

/// The principal manifests act as, in the namespace of the object.
pub const PRINCIPAL: &str = "manifest";

/// One change a manifest made.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub namespace: String,
    /// The AWS operation that makes the same change.
    pub operation: &'static str,
    pub key: KeyId,
    /// Its request members, named as in the AWS request.
    pub parameters: Value,
}

impl Applied {
    /// The audit record's call, made at `time`.
    pub fn call(&self, time: Millis) -> Call<'_> {
        Call {
            event_source: crate::audit::record::ENDPOINT,
            time,
            operation: self.operation.into(),
            request_id: RequestId::next(),
            caller: Some((self.namespace.as_str().into(), PRINCIPAL.into())),
            source: None,
            user_agent: Some("kube-kms manifests".into()),
            parameters: RequestParameters::of_body(
                serde_json::to_vec(&self.parameters).unwrap_or_default(),
            ),
            keys: vec![self.key],
            error: None,
        }
    }
}

/// A key minted from its manifest.
pub fn key_created(key: &KeyRecord) -> Applied {
    Applied {
        namespace: key.namespace.clone(),
        operation: "CreateKey",
        key: key.key_id,
        parameters: json!({
            "Description": key.description,
            "KeySpec": key.spec.as_str(),
            "KeyUsage": key.usage.as_str(),
            "Tags": tag_list(&key.tags),
        }),
    }
}

/// The calls that make `changes` to `key` (as it is after them), whose
/// tags were `tags_before`.
pub fn key_changed(
    key: &KeyRecord,
    tags_before: &BTreeMap<String, String>,
    changes: &[Change],
) -> Vec<Applied> {
    let id = key.key_id.to_string();
    let mut out = Vec::new();
    let mut push = |operation, parameters: Value| {
        out.push(Applied {
            namespace: key.namespace.clone(),
            operation,
            key: key.key_id,
            parameters,
        })
    };
    for change in changes {
        match change {
            Change::DeletionCancelled => push("CancelKeyDeletion", json!({"KeyId": id})),
            Change::Description => push(
                "UpdateKeyDescription",
                json!({"KeyId": id, "Description": key.description}),
            ),
            Change::Enabled => push("EnableKey", json!({"KeyId": id})),
            Change::Disabled => push("DisableKey", json!({"KeyId": id})),
            Change::RotationEnabled { period_days } => push(
                "EnableKeyRotation",
                json!({"KeyId": id, "RotationPeriodInDays": period_days}),
            ),
            Change::RotationDisabled => push("DisableKeyRotation", json!({"KeyId": id})),
            // No call of its own: the replicas are made by the sync.
            Change::ReplicaRegions => {}
            Change::Policy => push(
                "PutKeyPolicy",
                json!({"KeyId": id, "PolicyName": "default", "Policy": key.policy.as_deref()}),
            ),
            Change::Tags => {
                let set: BTreeMap<_, _> = key
                    .tags
                    .iter()
                    .filter(|(k, v)| tags_before.get(*k) != Some(*v))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let removed: Vec<&String> = tags_before
                    .keys()
                    .filter(|k| !key.tags.contains_key(*k))
                    .collect();
                if !set.is_empty() {
                    push("TagResource", json!({"KeyId": id, "Tags": tag_list(&set)}));
                }
                if !removed.is_empty() {
                    push("UntagResource", json!({"KeyId": id, "TagKeys": removed}));
                }
            }
        }
    }
    out
}

/// An alias made (`created`) or pointed at another key by its manifest.
pub fn alias(namespace: &str, alias_name: &str, key: KeyId, created: bool) -> Applied {
    Applied {
        namespace: namespace.to_owned(),
        operation: if created {
            "CreateAlias"
        } else {
            "UpdateAlias"
        },
        key,
        parameters: json!({"AliasName": alias_name, "TargetKeyId": key.to_string()}),
    }
}

fn tag_list(tags: &BTreeMap<String, String>) -> Value {
    tags.iter()
        .map(|(k, v)| json!({"TagKey": k, "TagValue": v}))
        .collect()
}

#[cfg(test)]
mod tests;

/// A grant made (or made again, changed) from its manifest.
pub fn grant(namespace: &str, grant: &crate::grant::GrantRecord) -> Applied {
    let mut parameters = json!({
        "KeyId": grant.key_id.to_string(),
        "GranteePrincipal": grant.grantee,
        "Operations": grant.operations,
    });
    if let Some(retiring) = &grant.retiring {
        parameters["RetiringPrincipal"] = json!(retiring);
    }
    if !grant.constraints.is_empty() {
        parameters["Constraints"] = json!({
            "EncryptionContextSubset": grant.constraints.encryption_context_subset,
            "EncryptionContextEquals": grant.constraints.encryption_context_equals,
        });
    }
    if let Some(name) = &grant.name {
        parameters["Name"] = json!(name);
    }
    Applied {
        namespace: namespace.to_owned(),
        operation: "CreateGrant",
        key: grant.key_id,
        parameters,
    }
}
