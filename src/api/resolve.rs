//! Turning a `KeyId` member into a key: key id, key ARN, alias name or alias
//! ARN, each where AWS accepts it. Alias names resolve in the caller's
//! namespace; other namespaces' keys are reachable by id or ARN only.

use super::access::Access;
use super::{Api, ApiError, Caller};
use crate::key::KeyRecord;
use crate::key_id::KeyId;

/// Which forms an operation's `KeyId` member accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepts {
    /// Key id, key ARN, alias name, alias ARN (crypto operations, DescribeKey).
    AnyForm,
    /// Key id or key ARN (management operations).
    KeyOnly,
}

impl Api {
    /// The key `reference` names, which `caller` may do `access` on.
    pub(super) async fn resolve_key(
        &self,
        caller: &Caller,
        reference: &str,
        accepts: Accepts,
        access: Access<'_>,
    ) -> Result<KeyRecord, ApiError> {
        let (key, alias) = self.find_key(caller, reference, accepts).await?;
        self.authorize(caller, &key, access, alias).await?;
        Ok(key)
    }

    /// The key `reference` names, and the alias it was named by if it was;
    /// its policy not asked. Only for what AWS leaves to IAM alone
    /// (ListAliases' `KeyId`).
    pub(super) async fn find_key<'r>(
        &self,
        caller: &Caller,
        reference: &'r str,
        accepts: Accepts,
    ) -> Result<(KeyRecord, Option<&'r str>), ApiError> {
        super::wire::check_text("keyId", reference, 1, 2048)?;
        let invalid = || ApiError::NotFound(format!("Invalid keyId '{reference}'"));
        let local = self.arn.strip_prefix(reference);
        if reference.starts_with("arn:") && local.is_none() {
            // Another partition, region or account: not a key of ours.
            let alias = reference
                .rsplit_once(':')
                .is_some_and(|(_, resource)| resource.starts_with("alias/"));
            return Err(ApiError::NotFound(if alias {
                format!("Alias {reference} is not found.")
            } else {
                format!("Key '{reference}' does not exist")
            }));
        }
        let name = local.unwrap_or(reference);
        let alias = name.starts_with("alias/").then_some(name);
        let id = if let Some(alias) = alias {
            if accepts == Accepts::KeyOnly {
                return Err(invalid());
            }
            let record = self
                .store
                .get_alias(&caller.namespace, alias)
                .await?
                .ok_or_else(|| {
                    ApiError::NotFound(format!("Alias {} is not found.", self.arn.alias_arn(alias)))
                })?;
            record.key_id
        } else {
            let id = name.strip_prefix("key/").unwrap_or(name);
            if local.is_some() && !name.starts_with("key/") {
                return Err(invalid());
            }
            id.parse::<KeyId>().map_err(|_| invalid())?
        };
        let key = self.get_key(id).await?;
        caller.keys.add(id);
        Ok((key, alias))
    }
}
