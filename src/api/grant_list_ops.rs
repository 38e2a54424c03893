//! ListGrants and ListRetirableGrants: a key's grants, and the grants a
//! principal may retire, as AWS's `GrantListEntry`.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::access::{Access, principal_arn};
use super::grant_ops::{check_arn, check_principal, check_service_principal};
use super::page::{GRANTS, response};
use super::wire::{check_text, decode, timestamp};
use super::{Api, ApiError, Caller};
use crate::grant::GrantRecord;

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

impl Api {
    /// A grant as ListGrants and ListRetirableGrants give it.
    fn grant_entry(&self, grant: &GrantRecord) -> Value {
        let mut entry = Map::new();
        entry.insert("KeyId".into(), json!(self.arn.key_arn(grant.key_id)));
        entry.insert("GrantId".into(), json!(grant.grant_id));
        if let Some(name) = &grant.name {
            entry.insert("Name".into(), json!(name));
        }
        entry.insert("CreationDate".into(), timestamp(grant.created));
        entry.insert("GranteePrincipal".into(), json!(grant.grantee));
        if let Some(retiring) = &grant.retiring {
            entry.insert("RetiringPrincipal".into(), json!(retiring));
        }
        entry.insert(
            "IssuingAccount".into(),
            json!(format!(
                "arn:{}:iam::{}:root",
                self.arn.partition, self.arn.account
            )),
        );
        entry.insert("Operations".into(), json!(grant.operations));
        let constraints = &grant.constraints;
        if !constraints.is_empty() {
            let mut c = Map::new();
            if let Some(pairs) = &constraints.encryption_context_subset {
                c.insert("EncryptionContextSubset".into(), json!(pairs));
            }
            if let Some(pairs) = &constraints.encryption_context_equals {
                c.insert("EncryptionContextEquals".into(), json!(pairs));
            }
            entry.insert("Constraints".into(), Value::Object(c));
        }
        Value::Object(entry)
    }

    /// One page of `grants`, oldest first.
    fn grant_page(
        &self,
        grants: Vec<GrantRecord>,
        limit: Option<i64>,
        marker: Option<&str>,
    ) -> Result<Value, ApiError> {
        let page = GRANTS.page(grants, limit, marker, |g| {
            format!("{:020}{}", g.created, g.grant_id)
        })?;
        let entries: Vec<Value> = page.items.iter().map(|g| self.grant_entry(g)).collect();
        Ok(response(json!({ "Grants": entries }), page.next))
    }

    pub(super) async fn list_grants(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: ListGrantsInput = decode(body)?;
        if let Some(id) = &input.grant_id {
            check_text("grantId", id, 1, 128)?;
        }
        check_principal("granteePrincipal", input.grantee_principal.as_deref())?;
        check_service_principal(
            "granteeServicePrincipal",
            input.grantee_service_principal.as_deref(),
        )?;
        // Every key state lists its grants (AWS's key state table).
        let key = self
            .managed_key(caller, input.key_id, Access::to("kms:ListGrants"))
            .await?;
        let grants = self
            .store
            .grants(key.key_id)
            .await?
            .into_iter()
            .filter(|g| input.grant_id.as_ref().is_none_or(|id| *id == g.grant_id))
            .filter(|g| {
                input
                    .grantee_principal
                    .as_ref()
                    .is_none_or(|p| *p == g.grantee)
            })
            // No grant is for a service principal.
            .filter(|_| input.grantee_service_principal.is_none())
            .collect();
        self.grant_page(grants, input.limit, input.marker.as_deref())
    }

    /// The grants `RetiringPrincipal` (the caller, if not given) may
    /// retire: of keys in the caller's namespace, and, when it asks about
    /// itself, of any key.
    pub(super) async fn list_retirable_grants(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: ListRetirableInput = decode(body)?;
        let principal = input.retiring_principal.as_deref();
        check_principal("retiringPrincipal", principal)?;
        check_service_principal(
            "retiringServicePrincipal",
            input.retiring_service_principal.as_deref(),
        )?;
        if let Some(principal) = principal {
            check_arn(principal)?;
        }
        let itself = principal_arn(&self.arn, caller);
        let principal = principal.unwrap_or(&itself).to_owned();
        let mut grants = Vec::new();
        for grant in self.store.all_grants().await? {
            if grant.retiring.as_deref() != Some(principal.as_str())
                || input.retiring_service_principal.is_some()
            {
                continue;
            }
            let ours = principal == itself
                || self
                    .store
                    .get_key(grant.key_id)
                    .await?
                    .is_some_and(|k| k.namespace == caller.namespace);
            if ours {
                grants.push(grant);
            }
        }
        self.grant_page(grants, input.limit, input.marker.as_deref())
    }
}
