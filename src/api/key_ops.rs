//! Key management: CreateKey, DescribeKey, ListKeys, Enable/DisableKey,
//! Schedule/CancelKeyDeletion, UpdateKeyDescription, and tags.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::access::{Access, Subject};
use super::mint::FirstMaterial;
use super::page;
use super::resolve::Accepts;
use super::wire::KeyInput;
use super::wire::{
    check_grant_tokens, check_length, check_range, check_text, custom_key_store_unsupported,
    decode, key_metadata, not_in_enum, parse_enum, required, timestamp,
};
use super::{Api, ApiError, Caller};
use crate::key::{KeyRecord, Origin};
use crate::key_id::KeyId;
use crate::lifecycle::{self, Operation};
use crate::policy::{self, PolicyDocument, PolicyError};
use crate::spec::{KeySpec, KeyUsage};
use crate::tag::MAX_TAGS;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Tag {
    tag_key: Option<String>,
    tag_value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateKeyInput {
    policy: Option<String>,
    description: Option<String>,
    key_usage: Option<String>,
    customer_master_key_spec: Option<String>,
    key_spec: Option<String>,
    origin: Option<String>,
    custom_key_store_id: Option<String>,
    bypass_policy_lockout_safety_check: Option<bool>,
    tags: Option<Vec<Tag>>,
    multi_region: Option<bool>,
    xks_key_id: Option<String>,
}

/// ListKeys: `Limit`, `Marker`, and whose keys.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListKeysInput {
    limit: Option<i64>,
    marker: Option<String>,
    resource_owners: Option<Vec<String>>,
}

/// Whose keys ListKeys lists.
enum Owners {
    SelfIncluded,
    OthersOnly,
}

/// ListKeys' `ResourceOwners`: one or two of SELF and OTHER_ACCOUNTS_VIA_RAM
/// (AWS's default: SELF).
fn owners(owners: Option<Vec<String>>) -> Result<Owners, ApiError> {
    let Some(owners) = owners else {
        return Ok(Owners::SelfIncluded);
    };
    check_length("resourceOwners", owners.len(), 1, 2)?;
    const NAMES: [&str; 2] = ["SELF", "OTHER_ACCOUNTS_VIA_RAM"];
    for (i, owner) in owners.iter().enumerate() {
        if !NAMES.contains(&owner.as_str()) {
            let field = format!("resourceOwners.{}.member", i + 1);
            return Err(not_in_enum(&field, owner, NAMES.into_iter()));
        }
    }
    Ok(if owners.iter().any(|o| o == "SELF") {
        Owners::SelfIncluded
    } else {
        Owners::OthersOnly
    })
}

/// A key's listing: `KeyId`, `Limit`, `Marker`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListInput {
    pub key_id: Option<String>,
    pub limit: Option<i64>,
    pub marker: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ScheduleInput {
    key_id: Option<String>,
    pending_window_in_days: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescriptionInput {
    key_id: Option<String>,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagInput {
    key_id: Option<String>,
    tags: Option<Vec<Tag>>,
    tag_keys: Option<Vec<String>>,
}

/// A key policy as AWS checks one: the model's length and characters
/// (ValidationException), the 32 KB quota (the model allows 131,072
/// characters, and a policy between the two is over a limit, not
/// malformed), then the policy grammar (MalformedPolicyDocumentException).
/// Returns the document, for the lockout safety check.
pub(super) fn check_policy(policy: &str) -> Result<PolicyDocument, ApiError> {
    check_length("policy", policy.chars().count(), 1, 131_072)?;
    match policy::check(policy) {
        Ok(document) => Ok(document),
        Err(PolicyError::Characters) => Err(ApiError::Validation(
            "1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+".into(),
        )),
        Err(PolicyError::TooLarge(bytes)) => Err(ApiError::LimitExceeded(format!(
            "The key policy is {bytes} bytes; the maximum is 32768."
        ))),
        Err(PolicyError::Malformed(e)) => Err(ApiError::MalformedPolicyDocument(e.0)),
    }
}

pub(super) fn check_description(description: &str) -> Result<(), ApiError> {
    check_text("description", description, 0, 8192)
}

/// The tags of one request as (key, value), checked as AWS checks them:
/// every member's shape first (ValidationException naming its place), then
/// what makes a tag set invalid (TagException): a reserved key, or a key
/// named twice (which value would win is then only the order of
/// application; AWS refuses it).
pub(super) fn checked_tags(tags: Vec<Tag>) -> Result<Vec<(String, String)>, ApiError> {
    let mut checked = Vec::with_capacity(tags.len());
    for (i, tag) in tags.into_iter().enumerate() {
        let at = |member: &str| format!("tags.{}.member.{member}", i + 1);
        let key = required(tag.tag_key, &at("tagKey"))?;
        let value = required(tag.tag_value, &at("tagValue"))?;
        check_text(&at("tagKey"), &key, 1, crate::tag::MAX_KEY_CHARS)?;
        check_text(&at("tagValue"), &value, 0, crate::tag::MAX_VALUE_CHARS)?;
        checked.push((key, value));
    }
    if checked.iter().any(|(key, _)| crate::tag::reserved(key)) {
        return Err(ApiError::Tag(
            "Tags beginning with aws: are reserved".into(),
        ));
    }
    let mut names: Vec<&str> = checked.iter().map(|(key, _)| key.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err(ApiError::Tag("Duplicate tag keys".into()));
    }
    Ok(checked)
}

impl Api {
    pub(super) async fn create_key(&self, caller: &Caller, body: &[u8]) -> Result<Value, ApiError> {
        let input: CreateKeyInput = decode(body)?;
        let document = input.policy.as_deref().map(check_policy).transpose()?;
        let description = input.description.unwrap_or_default();
        check_description(&description)?;
        if let Some(store) = &input.custom_key_store_id {
            return Err(custom_key_store_unsupported(store));
        }
        if let Some(xks) = &input.xks_key_id {
            check_text("xksKeyId", xks, 1, 128)?;
            if !xks
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                let pattern = "Member must satisfy regular expression pattern: ^[a-zA-Z0-9-_.]+$";
                return Err(ApiError::validation("xksKeyId", xks, pattern));
            }
            if input.origin.as_deref() != Some("EXTERNAL_KEY_STORE") {
                return Err(ApiError::Validation(
                    "XksKeyId is valid only for KMS keys with Origin EXTERNAL_KEY_STORE.".into(),
                ));
            }
        }
        let external = match input.origin.as_deref() {
            None | Some("AWS_KMS") => false,
            Some("EXTERNAL") => true,
            Some(o @ ("AWS_CLOUDHSM" | "EXTERNAL_KEY_STORE")) => {
                return Err(ApiError::Unsupported(format!(
                    "Origin {o} is not supported: there are no custom key stores."
                )));
            }
            Some(o) => {
                return Err(ApiError::validation(
                    "origin",
                    o,
                    "Member must satisfy enum value set: [AWS_KMS, EXTERNAL, AWS_CLOUDHSM, EXTERNAL_KEY_STORE]",
                ));
            }
        };
        let spec = match (
            input.key_spec.as_deref(),
            input.customer_master_key_spec.as_deref(),
        ) {
            (Some(_), Some(_)) => {
                return Err(ApiError::Validation(
                    "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.".into(),
                ));
            }
            (Some(s), None) => parse_enum("keySpec", s)?,
            (None, Some(s)) => {
                match s.parse::<KeySpec>() {
                    Ok(spec) if spec.customer_master_key_spec().is_some() => spec,
                    // The deprecated enum has SM2 too, but no ML-KEM.
                    _ if s == "SM2" => parse_enum("customerMasterKeySpec", s)?,
                    _ => {
                        let names = KeySpec::ALL
                            .iter()
                            .filter_map(|s| s.customer_master_key_spec())
                            .chain(["SM2"]);
                        return Err(not_in_enum("customerMasterKeySpec", s, names));
                    }
                }
            }
            (None, None) => KeySpec::SymmetricDefault,
        };
        let usage = match input.key_usage.as_deref() {
            Some(u) => parse_enum("keyUsage", u)?,
            None => KeyUsage::EncryptDecrypt,
        };
        if !spec.allows_usage(usage) {
            return Err(ApiError::Validation(format!(
                "KeyUsage {usage} is not compatible with KeySpec {spec}"
            )));
        }
        let tags: BTreeMap<_, _> = checked_tags(input.tags.unwrap_or_default())?
            .into_iter()
            .collect();
        if tags.len() > MAX_TAGS {
            return Err(ApiError::LimitExceeded(format!(
                "A key can have at most {MAX_TAGS} tags."
            )));
        }
        let key_id = match input.multi_region {
            Some(true) => KeyId::random_multi_region(),
            _ => KeyId::random(),
        };
        if let Some(document) = &document {
            let bypass = input.bypass_policy_lockout_safety_check == Some(true);
            let subject = Subject {
                id: key_id,
                spec,
                usage,
                origin: if external {
                    Origin::External
                } else {
                    Origin::AwsKms
                },
                replica: false,
            };
            // A key being created has no aliases yet.
            self.check_lockout(caller, (subject, &tags), &[], document, bypass)?;
        }
        let key = self
            .mint_key(
                caller,
                key_id,
                spec,
                usage,
                description,
                tags,
                input.policy,
                if external {
                    FirstMaterial::Imported
                } else {
                    FirstMaterial::Generated
                },
            )
            .await?;
        Ok(json!({ "KeyMetadata": key_metadata(&key, &self.arn) }))
    }

    pub(super) async fn describe_key(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: KeyInput = decode(body)?;
        check_grant_tokens(caller, &input.grant_tokens)?;
        let key = self
            .resolve_key(
                caller,
                &required(input.key_id, "keyId")?,
                Accepts::AnyForm,
                Access::to("kms:DescribeKey"),
            )
            .await?;
        Ok(json!({ "KeyMetadata": key_metadata(&key, &self.arn) }))
    }

    pub(super) async fn list_keys(&self, caller: &Caller, body: &[u8]) -> Result<Value, ApiError> {
        let input: ListKeysInput = decode(body)?;
        // Keys shared by other accounts through AWS RAM: there are none
        // here, so a listing of only those is empty.
        let keys = match owners(input.resource_owners)? {
            Owners::SelfIncluded => self.store.list_keys(&caller.namespace).await?,
            Owners::OthersOnly => Vec::new(),
        };
        let page = page::KEYS.page(keys, input.limit, input.marker.as_deref(), |k| {
            k.key_id.to_string()
        })?;
        let entries: Vec<_> = page
            .items
            .iter()
            .map(|k| json!({ "KeyId": k.key_id.to_string(), "KeyArn": self.arn.key_arn(k.key_id) }))
            .collect();
        Ok(page::response(json!({ "Keys": entries }), page.next))
    }

    /// Resolves a management operation's key (id or ARN only) to its
    /// record, read once (writes re-read it in `update_key`), and asks its
    /// policy for `action`.
    pub(super) async fn managed_key(
        &self,
        caller: &Caller,
        key_id: Option<String>,
        access: Access<'_>,
    ) -> Result<KeyRecord, ApiError> {
        let reference = required(key_id, "keyId")?;
        self.resolve_key(caller, &reference, Accepts::KeyOnly, access)
            .await
    }

    pub(super) async fn set_enabled(
        &self,
        caller: &Caller,
        body: &[u8],
        enabled: bool,
    ) -> Result<Value, ApiError> {
        let input: KeyInput = decode(body)?;
        let action = if enabled {
            "kms:EnableKey"
        } else {
            "kms:DisableKey"
        };
        let id = self
            .managed_key(caller, input.key_id, Access::to(action))
            .await?
            .key_id;
        let operation = if enabled {
            Operation::EnableKey
        } else {
            Operation::DisableKey
        };
        self.update_key(id, |key| {
            self.check_state(key, operation)?;
            key.enabled = enabled;
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    pub(super) async fn schedule_key_deletion(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: ScheduleInput = decode(body)?;
        // The model allows 1–365 days; the service, 7–30.
        if let Some(days) = input.pending_window_in_days {
            check_range("pendingWindowInDays", days, 1, 365)?;
        }
        let window = lifecycle::pending_window(input.pending_window_in_days)
            .map_err(|e| ApiError::Validation(e.to_string()))?;
        let days = window.to_string();
        let keys = [("kms:ScheduleKeyDeletionPendingWindowInDays", days.as_str())];
        let access = Access::to("kms:ScheduleKeyDeletion").and(&keys);
        let id = self.managed_key(caller, input.key_id, access).await?.key_id;
        let now = self.now();
        let (key, deletion) = self
            .update_key(id, |key| {
                self.check_state(key, Operation::ScheduleKeyDeletion)?;
                let deletion = lifecycle::deletion_of(key, window, now);
                key.deletion = Some(deletion);
                Ok(deletion)
            })
            .await?;
        // As the store recorded it: in a cluster, the controller sets it.
        let deletion = key.deletion.unwrap_or(deletion);
        let mut reply = json!({
            "KeyId": self.arn.key_arn(key.key_id),
            "KeyState": key.state().as_str(),
            "PendingWindowInDays": deletion.window_days,
        });
        // None for a primary waiting for its replicas (AWS leaves it out).
        if let Some(date) = deletion.date() {
            reply["DeletionDate"] = timestamp(date);
        }
        Ok(reply)
    }

    pub(super) async fn cancel_key_deletion(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: KeyInput = decode(body)?;
        let id = self
            .managed_key(caller, input.key_id, Access::to("kms:CancelKeyDeletion"))
            .await?
            .key_id;
        self.update_key(id, |key| {
            self.check_state(key, Operation::CancelKeyDeletion)?;
            lifecycle::cancel_deletion(key);
            Ok(())
        })
        .await?;
        Ok(json!({ "KeyId": self.arn.key_arn(id) }))
    }

    pub(super) async fn update_key_description(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: DescriptionInput = decode(body)?;
        let description = required(input.description, "description")?;
        check_description(&description)?;
        let id = self
            .managed_key(caller, input.key_id, Access::to("kms:UpdateKeyDescription"))
            .await?
            .key_id;
        self.update_key(id, |key| {
            self.check_state(key, Operation::Modify)?;
            key.description = description.clone();
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    pub(super) async fn tag_resource(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: TagInput = decode(body)?;
        let tags = checked_tags(required(input.tags, "tags")?)?;
        let access = Access::to("kms:TagResource").tagging(&tags, &[]);
        let id = self.managed_key(caller, input.key_id, access).await?.key_id;
        self.update_key(id, |key| {
            self.check_state(key, Operation::Modify)?;
            for (name, value) in &tags {
                key.tags.insert(name.clone(), value.clone());
            }
            if key.tags.len() > MAX_TAGS {
                return Err(ApiError::LimitExceeded(format!(
                    "A key can have at most {MAX_TAGS} tags."
                )));
            }
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    pub(super) async fn untag_resource(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: TagInput = decode(body)?;
        let tag_keys = required(input.tag_keys, "tagKeys")?;
        for (i, name) in tag_keys.iter().enumerate() {
            check_text(
                &format!("tagKeys.{}.member", i + 1),
                name,
                1,
                crate::tag::MAX_KEY_CHARS,
            )?;
        }
        let access = Access::to("kms:UntagResource").tagging(&[], &tag_keys);
        let id = self.managed_key(caller, input.key_id, access).await?.key_id;
        self.update_key(id, |key| {
            self.check_state(key, Operation::Modify)?;
            for tag_key in &tag_keys {
                key.tags.remove(tag_key);
            }
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    pub(super) async fn list_resource_tags(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: ListInput = decode(body)?;
        let key = self
            .managed_key(caller, input.key_id, Access::to("kms:ListResourceTags"))
            .await?;
        let tags: Vec<(String, String)> = key.tags.into_iter().collect();
        let page = page::TAGS.page(tags, input.limit, input.marker.as_deref(), |(k, _)| {
            k.clone()
        })?;
        let tags: Vec<_> = page
            .items
            .into_iter()
            .map(|(k, v)| json!({ "TagKey": k, "TagValue": v }))
            .collect();
        Ok(page::response(json!({ "Tags": tags }), page.next))
    }
}
