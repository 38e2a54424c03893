//! GetKeyPolicy, PutKeyPolicy and ListKeyPolicies: a key's policy document,
//! kept as it was given (or the default policy when none was), checked as
//! AWS checks it when set, with AWS's lockout safety check; every request
//! on a key is asked of it (`access`).

use serde::Deserialize;
use serde_json::{Value, json};

use super::access::Access;
use super::key_ops::{ListInput, check_policy};
use super::resolve::Accepts;
use super::wire::{check_text, decode, required};
use super::{Api, ApiError, Caller};
use crate::key::KeyRecord;

/// A key's one policy: the only name AWS has ever used.
const POLICY_NAME: &str = "default";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetInput {
    key_id: Option<String>,
    policy_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutInput {
    key_id: Option<String>,
    policy: Option<String>,
    policy_name: Option<String>,
    bypass_policy_lockout_safety_check: Option<bool>,
}

/// `PolicyName`: the model's constraints, then the only name there is.
fn check_policy_name(name: Option<&str>) -> Result<(), ApiError> {
    let Some(name) = name else { return Ok(()) };
    check_text("policyName", name, 1, 128)?;
    if !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Err(ApiError::validation(
            "policyName",
            name,
            "Member must satisfy regular expression pattern: [\\w]+",
        ));
    }
    if name != POLICY_NAME {
        return Err(ApiError::NotFound("No such policy exists".into()));
    }
    Ok(())
}

impl Api {
    /// The policy `key` has: the one it was given, or the default.
    pub(super) fn policy_of(&self, key: &KeyRecord) -> String {
        key.policy.as_deref().map_or_else(
            || crate::policy::default_policy(&self.arn.partition, &self.arn.account),
            str::to_owned,
        )
    }

    pub(super) async fn get_key_policy(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: GetInput = decode(body)?;
        let key_id = required(input.key_id, "keyId")?;
        check_text("keyId", &key_id, 1, 2048)?;
        check_policy_name(input.policy_name.as_deref())?;
        let key = self
            .resolve_key(
                caller,
                &key_id,
                Accepts::KeyOnly,
                Access::to("kms:GetKeyPolicy"),
            )
            .await?;
        Ok(json!({ "Policy": self.policy_of(&key), "PolicyName": POLICY_NAME }))
    }

    pub(super) async fn put_key_policy(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: PutInput = decode(body)?;
        let key_id = required(input.key_id, "keyId")?;
        check_text("keyId", &key_id, 1, 2048)?;
        let policy = required(input.policy, "policy")?;
        check_policy_name(input.policy_name.as_deref())?;
        let document = check_policy(&policy)?;
        let key = self
            .managed_key(caller, Some(key_id), Access::to("kms:PutKeyPolicy"))
            .await?;
        let bypass = input.bypass_policy_lockout_safety_check == Some(true);
        let aliases = self.resource_aliases(&key, &document).await?;
        self.check_lockout(
            caller,
            ((&key).into(), &key.tags),
            &aliases,
            &document,
            bypass,
        )?;
        let id = key.key_id;
        // Every key state takes a new policy (AWS's key state table).
        let policy: std::sync::Arc<str> = policy.into();
        self.update_key(id, |key| {
            key.policy = Some(policy.clone());
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    pub(super) async fn list_key_policies(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: ListInput = decode(body)?;
        let key_id = required(input.key_id, "keyId")?;
        check_text("keyId", &key_id, 1, 2048)?;
        let page = super::page::POLICIES.page(
            vec![POLICY_NAME],
            input.limit,
            input.marker.as_deref(),
            |name| (*name).to_owned(),
        )?;
        self.managed_key(caller, Some(key_id), Access::to("kms:ListKeyPolicies"))
            .await?;
        Ok(super::page::response(
            json!({ "PolicyNames": page.items }),
            page.next,
        ))
    }
}
