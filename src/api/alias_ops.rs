//! Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases. Alias names
//! are unique within a namespace and point at keys of that namespace.

use serde::Deserialize;
use serde_json::{Value, json};

use super::access::Access;
use super::page;
use super::resolve::Accepts;
use super::wire::{check_text, decode, required, timestamp};
use super::{Api, ApiError, Caller};
use crate::key::KeyRecord;
use crate::lifecycle::Operation;
use crate::store::{AliasRecord, StoreError};

/// Aliases per key (AWS's default quota).
const MAX_ALIASES_PER_KEY: usize = 50;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AliasInput {
    alias_name: Option<String>,
    target_key_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListAliasesInput {
    key_id: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
}

/// AWS's alias name rules: `alias/` then `[a-zA-Z0-9:/_-]`, 1–256 chars in
/// all, never `alias/aws/` (reserved for AWS managed keys).
pub fn validate_alias_name(name: &str) -> Result<(), ApiError> {
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '_' | '-'));
    if name.is_empty() || name.len() > 256 || !valid_chars {
        return Err(ApiError::validation(
            "aliasName",
            name,
            "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
        ));
    }
    if !name.starts_with("alias/") || name.len() == "alias/".len() {
        return Err(ApiError::InvalidAliasName(format!(
            "Alias must start with the prefix \"alias/\": {name}"
        )));
    }
    if name.starts_with("alias/aws/") {
        return Err(ApiError::InvalidAliasName(format!(
            "Alias {name} cannot begin with the reserved prefix alias/aws/"
        )));
    }
    Ok(())
}

impl Api {
    /// A key an alias may point at: in the caller's namespace, not pending
    /// deletion, and one the caller may `action` (`kms:CreateAlias`,
    /// `kms:UpdateAlias`).
    async fn alias_target(
        &self,
        caller: &Caller,
        target: Option<String>,
        action: &'static str,
    ) -> Result<KeyRecord, ApiError> {
        let target = required(target, "targetKeyId")?;
        let key = self
            .resolve_key(caller, &target, Accepts::KeyOnly, Access::to(action))
            .await?;
        if key.namespace != caller.namespace {
            return Err(ApiError::NotFound(format!(
                "Key '{}' does not exist",
                self.arn.key_arn(key.key_id)
            )));
        }
        self.check_state(&key, Operation::Modify)?;
        Ok(key)
    }

    /// Refuses a 51st alias for `key`; `moving` is an alias that already
    /// points at it, which does not count twice.
    async fn check_alias_quota(
        &self,
        caller: &Caller,
        key: &KeyRecord,
        moving: Option<&str>,
    ) -> Result<(), ApiError> {
        let aliases = self.store.list_aliases(&caller.namespace).await?;
        let count = aliases
            .iter()
            .filter(|a| a.key_id == key.key_id && Some(a.name.as_str()) != moving)
            .count();
        if count >= MAX_ALIASES_PER_KEY {
            return Err(ApiError::LimitExceeded(format!(
                "{} already has {MAX_ALIASES_PER_KEY} aliases, the most a key can have.",
                self.arn.key_arn(key.key_id)
            )));
        }
        Ok(())
    }

    pub(super) async fn create_alias(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: AliasInput = decode(body)?;
        let name = required(input.alias_name, "aliasName")?;
        validate_alias_name(&name)?;
        let key = self
            .alias_target(caller, input.target_key_id, "kms:CreateAlias")
            .await?;
        self.check_alias_quota(caller, &key, None).await?;
        let now = self.now();
        let alias = AliasRecord {
            namespace: caller.namespace.clone(),
            name: name.clone(),
            key_id: key.key_id,
            created: now,
            updated: now,
        };
        match self.store.create_alias(alias).await {
            Ok(()) => Ok(json!({})),
            Err(StoreError::AlreadyExists(_)) => Err(ApiError::AlreadyExists(format!(
                "An alias with the name {} already exists",
                self.arn.alias_arn(&name)
            ))),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn update_alias(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: AliasInput = decode(body)?;
        let name = required(input.alias_name, "aliasName")?;
        validate_alias_name(&name)?;
        // The request's shape is checked before anything is looked up.
        if let Some(target) = &input.target_key_id {
            check_text("targetKeyId", target, 1, 2048)?;
        }
        let mut alias = self.existing_alias(caller, &name).await?;
        let key = self
            .alias_target(caller, input.target_key_id, "kms:UpdateAlias")
            .await?;
        if let Some(old) = self.store.get_key(alias.key_id).await? {
            // Moving an alias needs kms:UpdateAlias on the key it leaves too.
            self.authorize(caller, &old, Access::to("kms:UpdateAlias"), None)
                .await?;
            if old.spec != key.spec || old.usage != key.usage {
                return Err(ApiError::Validation(format!(
                    "{} and {} are not the same type of key: an alias can only move between keys of the same key spec and usage.",
                    self.arn.key_arn(old.key_id),
                    self.arn.key_arn(key.key_id)
                )));
            }
        }
        self.check_alias_quota(caller, &key, Some(&name)).await?;
        alias.key_id = key.key_id;
        alias.updated = self.now();
        self.store.update_alias(alias).await?;
        Ok(json!({}))
    }

    async fn existing_alias(&self, caller: &Caller, name: &str) -> Result<AliasRecord, ApiError> {
        self.store
            .get_alias(&caller.namespace, name)
            .await?
            .ok_or_else(|| {
                ApiError::NotFound(format!("Alias {} is not found.", self.arn.alias_arn(name)))
            })
    }

    pub(super) async fn delete_alias(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: AliasInput = decode(body)?;
        let name = required(input.alias_name, "aliasName")?;
        validate_alias_name(&name)?;
        let alias = self.existing_alias(caller, &name).await?;
        if let Some(key) = self.store.get_key(alias.key_id).await? {
            self.authorize(caller, &key, Access::to("kms:DeleteAlias"), None)
                .await?;
        }
        self.store.delete_alias(&caller.namespace, &name).await?;
        Ok(json!({}))
    }

    pub(super) async fn list_aliases(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: ListAliasesInput = decode(body)?;
        let mut aliases = self.store.list_aliases(&caller.namespace).await?;
        if let Some(key_id) = input.key_id {
            // IAM's alone on AWS: no key policy is asked.
            let (key, _) = self.find_key(caller, &key_id, Accepts::KeyOnly).await?;
            aliases.retain(|a| a.key_id == key.key_id);
        }
        let page = page::ALIASES.page(aliases, input.limit, input.marker.as_deref(), |a| {
            a.name.clone()
        })?;
        let entries: Vec<_> = page
            .items
            .iter()
            .map(|a| {
                json!({
                    "AliasName": a.name,
                    "AliasArn": self.arn.alias_arn(&a.name),
                    "TargetKeyId": a.key_id.to_string(),
                    "CreationDate": timestamp(a.created),
                    "LastUpdatedDate": timestamp(a.updated),
                })
            })
            .collect();
        Ok(page::response(json!({ "Aliases": entries }), page.next))
    }
}
