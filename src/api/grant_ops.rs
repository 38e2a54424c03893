//! CreateGrant, RetireGrant and RevokeGrant (listing is `grant_list_ops`).
//! What a grant allows is `grant`'s; where it counts is `access`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::access::{Access, principal_arn};
use super::crypto_ops::dry_run;
use super::delegation::Ask;
use super::resolve::Accepts;
use super::wire::{check_grant_tokens, check_text, decode, parse_enum, required};
use super::{Api, ApiError, Caller};
use crate::grant::{self, Constraints, GrantRecord};
use crate::key::KeyRecord;
use crate::lifecycle::Operation;
use crate::spec::GrantOperation;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateGrantInput {
    key_id: Option<String>,
    grantee_principal: Option<String>,
    grantee_service_principal: Option<String>,
    retiring_principal: Option<String>,
    retiring_service_principal: Option<String>,
    operations: Option<Vec<String>>,
    constraints: Option<ConstraintsInput>,
    grant_tokens: Option<Vec<String>>,
    name: Option<String>,
    dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConstraintsInput {
    encryption_context_subset: Option<BTreeMap<String, String>>,
    encryption_context_equals: Option<BTreeMap<String, String>>,
    source_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RetireGrantInput {
    grant_token: Option<String>,
    key_id: Option<String>,
    grant_id: Option<String>,
    dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RevokeGrantInput {
    key_id: Option<String>,
    grant_id: Option<String>,
    dry_run: Option<bool>,
}

fn check_optional(field: &str, value: Option<&str>, max: usize) -> Result<(), ApiError> {
    value.map_or(Ok(()), |v| check_text(field, v, 1, max))
}

/// A principal member (AWS's `PrincipalIdType`): 1–256 characters of
/// `^[\w+=,.@:/-]+$`.
pub(super) fn check_principal(field: &str, value: Option<&str>) -> Result<(), ApiError> {
    check_optional(field, value, 256)?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c);
    match value {
        Some(v) if !v.chars().all(allowed) => Err(ApiError::validation(
            field,
            v,
            "Member must satisfy regular expression pattern: ^[\\w+=,.@:/-]+$",
        )),
        _ => Ok(()),
    }
}

/// A service principal member (AWS's `ServicePrincipalType`): 1–128
/// characters, three or more dot-separated labels of letters, digits and
/// hyphens.
pub(super) fn check_service_principal(field: &str, value: Option<&str>) -> Result<(), ApiError> {
    check_optional(field, value, 128)?;
    let label = |l: &str| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    match value {
        Some(v) if !(v.split('.').count() >= 3 && v.split('.').all(label)) => {
            Err(ApiError::validation(
                field,
                v,
                "Member must satisfy regular expression pattern: ^([A-Za-z0-9\\-]+)\\.([A-Za-z0-9\\-]+)(\\.[A-Za-z0-9\\-]+)+$",
            ))
        }
        _ => Ok(()),
    }
}

/// A principal a grant names is an ARN: a role, a user, an account.
pub(super) fn check_arn(principal: &str) -> Result<(), ApiError> {
    if grant::is_principal_arn(principal) {
        Ok(())
    } else {
        Err(ApiError::InvalidArn(format!(
            "{principal} is not a valid ARN."
        )))
    }
}

/// A `GrantId` member: 1–128 characters, and one of ours to be found.
fn check_grant_id(id: &str) -> Result<(), ApiError> {
    check_text("grantId", id, 1, 128)?;
    if grant::is_grant_id(id) {
        Ok(())
    } else {
        Err(ApiError::InvalidGrantId(format!(
            "Grant ID {id} is not valid."
        )))
    }
}

fn service_principals_unsupported(field: &str, value: Option<&str>) -> Result<(), ApiError> {
    check_service_principal(field, value)?;
    match value {
        Some(_) => Err(ApiError::Unsupported(format!(
            "{field} is not supported: there are no AWS services here to grant to."
        ))),
        None => Ok(()),
    }
}

/// The constraints as given, checked as AWS checks them.
fn constraints(input: Option<ConstraintsInput>) -> Result<Constraints, ApiError> {
    let Some(input) = input else {
        return Ok(Constraints::default());
    };
    if let Some(arn) = &input.source_arn {
        check_text("constraints.sourceArn", arn, 20, 512)?;
        return Err(ApiError::Unsupported(
            "The SourceArn grant constraint is not supported: there are no AWS resources here."
                .into(),
        ));
    }
    for (field, pairs) in [
        ("encryptionContextSubset", &input.encryption_context_subset),
        ("encryptionContextEquals", &input.encryption_context_equals),
    ] {
        let Some(pairs) = pairs else { continue };
        if pairs.len() > 8 {
            return Err(ApiError::Validation(format!(
                "The {field} grant constraint has {} pairs; a constraint may have at most 8.",
                pairs.len()
            )));
        }
        if let Some((key, _)) = pairs.iter().find(|(_, v)| v.chars().count() > 384) {
            return Err(ApiError::Validation(format!(
                "The value of {key} in the {field} grant constraint is longer than 384 characters."
            )));
        }
    }
    if input.encryption_context_subset.is_some() && input.encryption_context_equals.is_some() {
        return Err(ApiError::Validation(
            "A grant may have an EncryptionContextEquals or an EncryptionContextSubset constraint, not both.".into(),
        ));
    }
    Ok(Constraints {
        encryption_context_subset: input.encryption_context_subset,
        encryption_context_equals: input.encryption_context_equals,
    })
}

/// Operations as given: AWS's names, sorted, each once.
fn operations(input: Option<Vec<String>>) -> Result<Vec<GrantOperation>, ApiError> {
    let names = required(input, "operations")?;
    if names.is_empty() {
        return Err(ApiError::validation(
            "operations",
            "[]",
            "Member must have length greater than or equal to 1",
        ));
    }
    let mut operations = names
        .iter()
        .map(|name| parse_enum::<GrantOperation>("operations", name))
        .collect::<Result<Vec<_>, _>>()?;
    operations.sort();
    operations.dedup();
    Ok(operations)
}

/// The request as a grant, before it is given an id.
struct Asked {
    grantee: String,
    retiring: Option<String>,
    operations: Vec<GrantOperation>,
    constraints: Constraints,
    name: Option<String>,
}

fn asked(caller: &Caller, input: &mut CreateGrantInput) -> Result<Asked, ApiError> {
    check_grant_tokens(caller, &input.grant_tokens)?;
    service_principals_unsupported(
        "granteeServicePrincipal",
        input.grantee_service_principal.as_deref(),
    )?;
    service_principals_unsupported(
        "retiringServicePrincipal",
        input.retiring_service_principal.as_deref(),
    )?;
    let grantee = required(input.grantee_principal.take(), "granteePrincipal")?;
    check_principal("granteePrincipal", Some(&grantee))?;
    check_principal("retiringPrincipal", input.retiring_principal.as_deref())?;
    if let Some(name) = &input.name {
        check_text("name", name, 1, 256)?;
        let allowed = |c: char| c.is_ascii_alphanumeric() || ":/_-".contains(c);
        if !name.chars().all(allowed) {
            return Err(ApiError::validation(
                "name",
                name,
                "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
            ));
        }
    }
    let operations = operations(input.operations.take())?;
    let constraints = constraints(input.constraints.take())?;
    check_arn(&grantee)?;
    if let Some(retiring) = &input.retiring_principal {
        check_arn(retiring)?;
    }
    Ok(Asked {
        grantee,
        retiring: input.retiring_principal.take(),
        operations,
        constraints,
        name: input.name.take(),
    })
}

/// Whether `key` can take a grant for `asked`.
fn fits(key: &KeyRecord, asked: &Asked) -> Result<(), ApiError> {
    match grant::misfit(key.spec, key.usage, &asked.operations, &asked.constraints) {
        Some(why) => Err(ApiError::Validation(why)),
        None => Ok(()),
    }
}

impl Api {
    pub(super) async fn create_grant(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let mut input: CreateGrantInput = decode(body)?;
        let reference = required(input.key_id.take(), "keyId")?;
        let asked = asked(caller, &mut input)?;
        let names: Vec<&str> = asked.operations.iter().map(|op| op.as_str()).collect();
        let mut keys = vec![
            ("kms:GranteePrincipal", asked.grantee.as_str()),
            ("kms:GrantIsForAWSResource", "false"),
        ];
        keys.extend(names.iter().map(|name| ("kms:GrantOperations", *name)));
        if let Some(retiring) = &asked.retiring {
            keys.push(("kms:RetiringPrincipal", retiring));
        }
        let constraint = &asked.constraints;
        let context = match (
            &constraint.encryption_context_equals,
            &constraint.encryption_context_subset,
        ) {
            (Some(pairs), _) => {
                keys.push(("kms:GrantConstraintType", "EncryptionContextEquals"));
                Some(pairs)
            }
            (None, Some(pairs)) => {
                keys.push(("kms:GrantConstraintType", "EncryptionContextSubset"));
                Some(pairs)
            }
            (None, None) => None,
        };
        let access = Access {
            action: "kms:CreateGrant",
            context,
            keys: &keys,
            passes_on: Some((&asked.operations, &asked.constraints)),
            ..Access::to("kms:CreateGrant")
        };
        let key = self
            .resolve_key(caller, &reference, Accepts::KeyOnly, access)
            .await?;
        self.check_state(&key, Operation::Cryptographic)?;
        fits(&key, &asked)?;
        dry_run(input.dry_run)?;
        let random = crate::material::random_bytes(48);
        let record = GrantRecord {
            grant_id: hex::encode(&random[..32]),
            key_id: key.key_id,
            name: asked.name,
            grantee: asked.grantee,
            retiring: asked.retiring,
            operations: asked.operations,
            constraints: asked.constraints,
            created: self.now(),
            issuer: principal_arn(&self.arn, caller),
        };
        let made = self.store.create_grant(record).await?;
        let nonce: [u8; 16] = random[32..].try_into().expect("16 bytes");
        let token = match self.store.grant_object_name(made.key_id, &made.grant_id) {
            Some(object) => grant::token_naming(&made.grant_id, &object, nonce),
            None => grant::token(&made.grant_id, nonce),
        }
        .ok_or_else(|| ApiError::Internal("a stored grant id is malformed".into()))?;
        Ok(json!({ "GrantToken": token, "GrantId": made.grant_id }))
    }

    pub(super) async fn retire_grant(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: RetireGrantInput = decode(body)?;
        let token_grant = match &input.grant_token {
            Some(token) => {
                check_grant_tokens(caller, &Some(vec![token.clone()]))?;
                grant::token_grant(token)
            }
            None => None,
        };
        let (key, grant_id) = match (input.key_id, input.grant_id.or(token_grant)) {
            (Some(reference), Some(id)) => {
                check_grant_id(&id)?;
                let (key, _) = self.find_key(caller, &reference, Accepts::KeyOnly).await?;
                (key.key_id, id)
            }
            (None, Some(id)) if input.grant_token.is_some() => {
                let grant = self
                    .store
                    .all_grants()
                    .await?
                    .into_iter()
                    .find(|g| g.grant_id == id)
                    .ok_or_else(|| grant_not_found(&id))?;
                (grant.key_id, id)
            }
            _ => {
                return Err(ApiError::Validation(
                    "Grant token OR (grant ID, key ID) must be specified".into(),
                ));
            }
        };
        let grant = self
            .store
            .grants(key)
            .await?
            .into_iter()
            .find(|g| g.grant_id == grant_id)
            .ok_or_else(|| grant_not_found(&grant_id))?;
        // The principals the grant names may retire it; otherwise the
        // account (RBAC in a cluster) decides.
        if !grant.retirable_by(&principal_arn(&self.arn, caller)) {
            let key = self.get_key(key).await?;
            self.delegate(Ask {
                caller,
                action: "kms:RetireGrant",
                key: Some(&key),
            })
            .await?;
        }
        dry_run(input.dry_run)?;
        self.store.delete_grant(key, &grant_id).await?;
        Ok(json!({}))
    }

    pub(super) async fn revoke_grant(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: RevokeGrantInput = decode(body)?;
        let grant_id = required(input.grant_id, "grantId")?;
        let key = self
            .managed_key(caller, input.key_id, Access::to("kms:RevokeGrant"))
            .await?;
        check_grant_id(&grant_id)?;
        if !self
            .store
            .grants(key.key_id)
            .await?
            .iter()
            .any(|g| g.grant_id == grant_id)
        {
            return Err(grant_not_found(&grant_id));
        }
        dry_run(input.dry_run)?;
        self.store.delete_grant(key.key_id, &grant_id).await?;
        Ok(json!({}))
    }
}

impl Api {
    /// Makes the store hold `grant` as a manifest declares it, replacing
    /// an earlier declaration of the same grant id; whether it changed
    /// anything. The manifest was checked (`serve::check_grant`).
    pub async fn declare_grant(&self, grant: GrantRecord) -> Result<bool, ApiError> {
        let held = self.store.grants(grant.key_id).await?;
        if let Some(stored) = held.iter().find(|g| g.grant_id == grant.grant_id) {
            let same = GrantRecord {
                created: stored.created,
                ..grant.clone()
            };
            if same == *stored {
                return Ok(false);
            }
            self.store
                .delete_grant(grant.key_id, &grant.grant_id)
                .await?;
        }
        self.store.create_grant(grant).await?;
        Ok(true)
    }
}

fn grant_not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("Grant ID {id} not found"))
}
