//! The account's own access control: what decides once a key policy
//! statement allows the caller's account rather than the caller (as the
//! default policy does), the way AWS hands that decision to IAM. It also
//! decides the operations that belong to the account and ask no key
//! (CreateKey, ListKeys, ...), which AWS leaves to IAM alone.
//!
//! In a cluster it is Kubernetes RBAC (`cluster::rbac`). `serve` has none
//! besides its credentials file: every caller it names is in.

use super::{Api, ApiError, Caller};
use crate::key::KeyRecord;
use crate::policy::evaluate::not_authorized;

/// What the account's access control is asked.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub caller: &'a Caller,
    /// `kms:Encrypt`, `kms:CreateKey`, ...
    pub action: &'static str,
    /// The key asked about; `None` for an operation on the account.
    pub key: Option<&'a KeyRecord>,
}

#[async_trait::async_trait]
pub trait AccountAccess: Send + Sync {
    /// Whether the account lets `ask.caller` do `ask.action`.
    async fn allows(&self, ask: Ask<'_>) -> Result<bool, ApiError>;
}

/// The operations that ask no key, with the action each asks the account
/// for.
const ACCOUNT_ACTIONS: &[(&str, &str)] = &[
    ("CreateKey", "kms:CreateKey"),
    ("ListKeys", "kms:ListKeys"),
    ("ListAliases", "kms:ListAliases"),
    ("GenerateRandom", "kms:GenerateRandom"),
    ("ListRetirableGrants", "kms:ListRetirableGrants"),
    ("DescribeCustomKeyStores", "kms:DescribeCustomKeyStores"),
];

/// The action an operation on the account asks for, if `operation` is one.
pub fn account_action(operation: &str) -> Option<&'static str> {
    ACCOUNT_ACTIONS
        .iter()
        .find(|(name, _)| *name == operation)
        .map(|(_, action)| *action)
}

impl Api {
    /// Whether the account's access control lets `ask` through, with AWS's
    /// message for an IAM refusal if not.
    pub(super) async fn delegate(&self, ask: Ask<'_>) -> Result<(), ApiError> {
        let Some(account) = &self.account else {
            return Ok(());
        };
        if account.allows(ask).await? {
            return Ok(());
        }
        let resource = match ask.key {
            Some(key) => self.arn.key_arn(key.key_id),
            None => "*".to_owned(),
        };
        Err(ApiError::AccessDenied(not_authorized(
            &super::access::principal_arn(&self.arn, ask.caller),
            ask.action,
            &resource,
            &format!(
                "because no identity-based policy allows the {} action",
                ask.action
            ),
        )))
    }

    /// The check an operation on the account passes before it runs.
    pub(super) async fn authorize_account(
        &self,
        caller: &Caller,
        operation: &str,
    ) -> Result<(), ApiError> {
        match account_action(operation) {
            Some(action) => {
                self.delegate(Ask {
                    caller,
                    action,
                    key: None,
                })
                .await
            }
            None => Ok(()),
        }
    }
}
