//! ListGrants and ListRetirableGrants. Grants cannot be created yet
//! (CreateGrant comes with key policy evaluation), so every key has none and
//! these answer with empty lists, after AWS's checks of the request and the
//! key. Tools that read a key's grants as part of reading the key (Ansible's
//! `amazon.aws.kms_key` does, for every key it manages) then work.

use serde::Deserialize;
use serde_json::{Value, json};

use super::access::Access;
use super::page::{GRANTS, response};
use super::wire::{check_length, decode};
use super::{Api, ApiError, Caller};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListGrantsInput {
    key_id: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
    grant_id: Option<String>,
    grantee_principal: Option<String>,
    grantee_service_principal: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListRetirableInput {
    limit: Option<i64>,
    marker: Option<String>,
    retiring_principal: Option<String>,
    retiring_service_principal: Option<String>,
}

/// The grants there are: none until grants can be created.
fn no_grants(limit: Option<i64>, marker: Option<&str>) -> Result<Value, ApiError> {
    let page = GRANTS.page(Vec::<Value>::new(), limit, marker, |_| String::new())?;
    Ok(response(json!({ "Grants": page.items }), page.next))
}

fn check_optional(field: &str, value: Option<&str>, max: usize) -> Result<(), ApiError> {
    value.map_or(Ok(()), |v| check_length(field, v.chars().count(), 1, max))
}

/// A principal member (AWS's `PrincipalIdType`): 1–256 characters of
/// `^[\w+=,.@:/-]+$`.
fn check_principal(field: &str, value: Option<&str>) -> Result<(), ApiError> {
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
fn check_service_principal(field: &str, value: Option<&str>) -> Result<(), ApiError> {
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

impl Api {
    pub(super) async fn list_grants(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: ListGrantsInput = decode(body)?;
        check_optional("grantId", input.grant_id.as_deref(), 128)?;
        check_principal("granteePrincipal", input.grantee_principal.as_deref())?;
        check_service_principal(
            "granteeServicePrincipal",
            input.grantee_service_principal.as_deref(),
        )?;
        let grants = no_grants(input.limit, input.marker.as_deref())?;
        // Every key state lists its grants (AWS's key state table).
        self.managed_key(caller, input.key_id, Access::to("kms:ListGrants"))
            .await?;
        Ok(grants)
    }

    pub(super) async fn list_retirable_grants(
        &self,
        _caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: ListRetirableInput = decode(body)?;
        let principal = input.retiring_principal.as_deref();
        check_principal("retiringPrincipal", principal)?;
        check_service_principal(
            "retiringServicePrincipal",
            input.retiring_service_principal.as_deref(),
        )?;
        let grants = no_grants(input.limit, input.marker.as_deref())?;
        // A retiring principal is an ARN: a role, a user, an account.
        if let Some(principal) = principal
            && !(principal.starts_with("arn:") && principal.split(':').count() >= 6)
        {
            return Err(ApiError::InvalidArn(format!(
                "{principal} is not a valid ARN."
            )));
        }
        Ok(grants)
    }
}
