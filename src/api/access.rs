//! Key policies at the endpoint: the ARN a policy names a caller by, what
//! a request tells a policy's conditions, and the one check every
//! operation on a key passes ([`Api::authorize`]). The decision itself is
//! `policy::evaluate`'s.
//!
//! A statement that allows the caller's account (as the default policy
//! does) hands the decision to the account's own access control, as AWS
//! hands it to IAM (see `delegation`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use super::delegation::Ask;
use super::{Api, ApiError, ArnConfig, Caller};
use crate::grant::{self, Constraints};
use crate::key::{KeyRecord, Origin};
use crate::key_id::KeyId;
use crate::policy::PolicyDocument;
use crate::policy::condition::Context;
use crate::policy::evaluate::{self, Decision, Request};
use crate::spec::{GrantOperation, KeySpec, KeyUsage};

/// What one request asks of a key.
#[derive(Debug, Clone, Copy)]
pub(super) struct Access<'a> {
    /// `kms:Encrypt`, `kms:ReEncryptFrom`, …
    pub action: &'static str,
    /// The request's encryption context, for an operation that takes one.
    pub context: Option<&'a BTreeMap<String, String>>,
    /// The request's other condition keys (`kms:SigningAlgorithm`, …).
    pub keys: &'a [(&'static str, &'a str)],
    /// For CreateGrant, the operations and constraints of the grant asked
    /// for: a grant allowing CreateGrant lets its grantee pass on no more.
    pub passes_on: Option<(&'a [GrantOperation], &'a Constraints)>,
    /// The tags a request sets (`aws:RequestTag/<key>`, `aws:TagKeys`).
    pub request_tags: &'a [(String, String)],
    /// The tag keys a request removes (`aws:TagKeys`).
    pub tag_keys: &'a [String],
}

impl Access<'static> {
    pub fn to(action: &'static str) -> Self {
        Access {
            action,
            context: None,
            keys: &[],
            passes_on: None,
            request_tags: &[],
            tag_keys: &[],
        }
    }
}

impl<'a> Access<'a> {
    pub fn with_context(action: &'static str, context: &'a BTreeMap<String, String>) -> Self {
        Access {
            context: Some(context),
            ..Access::to(action)
        }
    }

    /// The same, with the request's other condition keys.
    pub fn and(self, keys: &'a [(&'static str, &'a str)]) -> Self {
        Access { keys, ..self }
    }

    /// The same, with the tags the request sets and the tag keys it
    /// removes.
    pub fn tagging(self, request_tags: &'a [(String, String)], tag_keys: &'a [String]) -> Self {
        Access {
            request_tags,
            tag_keys,
            ..self
        }
    }
}

/// The ARN a key policy's `Principal` names `caller` by: a ServiceAccount
/// as a role, `arn:aws:iam::<account>:role/<namespace>/<name>`; an access
/// key's principal as a user, `arn:aws:iam::<account>:user/<namespace>/<principal>`.
/// The namespace is the path, so that two tenants' principals of one name
/// are two principals.
pub fn principal_arn(arn: &ArnConfig, caller: &Caller) -> String {
    caller_arn(arn, &caller.namespace, &caller.principal)
}

/// [`principal_arn`] of `principal` in `namespace` (the audit trail's
/// `userIdentity.arn`). Built with push_str: every audit record makes one,
/// and the fmt machinery was most of its cost.
pub fn caller_arn(arn: &ArnConfig, namespace: &str, principal: &str) -> String {
    let service_account = principal
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split_once(':'));
    let (kind, path, name) = match service_account {
        Some((namespace, name)) => ("role/", namespace, name),
        None => ("user/", namespace, principal),
    };
    let parts = [
        "arn:",
        arn.partition.as_str(),
        ":iam::",
        arn.account.as_str(),
        ":",
        kind,
        path,
        "/",
        name,
    ];
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        out.push_str(part);
    }
    out
}

/// Keys' policies, parsed once: parsing a console-sized policy (800 bytes)
/// costs ~7 µs, a third of an Encrypt. Entries are found by the address of
/// the text the store's record shares (`KeyRecord::policy`); holding that
/// text keeps its address from being reused, and a changed policy is a new
/// text at a new address.
#[derive(Default)]
pub(super) struct PolicyCache {
    entries: Mutex<Parsed>,
}

#[derive(Default)]
struct Parsed {
    by_address: HashMap<usize, (Arc<str>, Arc<PolicyDocument>)>,
    bytes: usize,
}

/// Texts held at most; past it the cache starts over (old policies of
/// changed keys go with it).
const CACHE_BYTES: usize = 4 << 20;

impl PolicyCache {
    pub(super) fn get(&self, text: &Arc<str>) -> Result<Arc<PolicyDocument>, ApiError> {
        let address = Arc::as_ptr(text) as *const u8 as usize;
        if let Some((held, document)) = self.lock().by_address.get(&address)
            && Arc::ptr_eq(held, text)
        {
            return Ok(document.clone());
        }
        // A stored policy was checked when it was set; one that cannot be
        // read now opens nothing.
        let document =
            Arc::new(PolicyDocument::parse(text).map_err(|e| {
                ApiError::Internal(format!("the key's policy could not be read: {e}"))
            })?);
        let mut parsed = self.lock();
        if parsed.bytes + text.len() > CACHE_BYTES {
            *parsed = Parsed::default();
        }
        parsed.bytes += text.len();
        parsed
            .by_address
            .insert(address, (text.clone(), document.clone()));
        Ok(document)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Parsed> {
        // Nothing panics while holding it.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The key a policy is asked about (one being created has no record yet).
#[derive(Debug, Clone, Copy)]
pub(super) struct Subject {
    pub id: KeyId,
    pub spec: KeySpec,
    pub usage: KeyUsage,
    pub origin: Origin,
    /// A multi-Region key's replica (`kms:MultiRegionKeyType`).
    pub replica: bool,
}

impl From<&KeyRecord> for Subject {
    fn from(key: &KeyRecord) -> Self {
        Subject {
            id: key.key_id,
            spec: key.spec,
            usage: key.usage,
            origin: key.origin,
            replica: key.is_replica(),
        }
    }
}

/// What is known of the request and the key a policy is asked about.
struct Asked<'a> {
    key: Subject,
    /// The alias the request named the key by, if it did.
    alias: Option<&'a str>,
    /// The key's aliases, where the policy asks `kms:ResourceAliases`.
    aliases: &'a [String],
    /// The key's tags (`aws:ResourceTag/<key>`).
    tags: &'a BTreeMap<String, String>,
}

/// The condition keys a request gives a key's policy.
fn conditions(
    asked: &Asked,
    principal: &str,
    account: &str,
    access: &Access,
    source: Option<super::http::Peer>,
    now: crate::key::Millis,
) -> Context {
    let (key, alias) = (asked.key, asked.alias);
    let mut context = Context::default();
    if let Some(peer) = source {
        context.add("aws:SourceIp", peer.ip.to_string());
        context.add(
            "aws:SecureTransport",
            if peer.tls { "true" } else { "false" },
        );
    }
    context.add("aws:CurrentTime", crate::operator::key_status::rfc3339(now));
    context.add("aws:EpochTime", (now / 1000).to_string());
    context.add("kms:CallerAccount", account);
    context.add("aws:PrincipalAccount", account);
    context.add("aws:PrincipalArn", principal);
    // A user's friendly name, as IAM gives it (a role has none): what
    // `${aws:username}` in a policy of Version 2012-10-17 stands for.
    if let Some((_, path)) = principal.split_once(":user/") {
        context.add("aws:username", path.rsplit('/').next().unwrap_or(path));
    }
    context.add("kms:KeySpec", key.spec.as_str());
    context.add("kms:KeyUsage", key.usage.as_str());
    context.add("kms:KeyOrigin", key.origin.as_str());
    if key.id.is_multi_region() {
        context.add("kms:MultiRegion", "true");
        let kind = if key.replica { "REPLICA" } else { "PRIMARY" };
        context.add("kms:MultiRegionKeyType", kind);
    } else {
        context.add("kms:MultiRegion", "false");
    }
    if let Some(alias) = alias {
        context.add("kms:RequestAlias", alias);
    }
    for alias in asked.aliases {
        context.add("kms:ResourceAliases", alias.as_str());
    }
    // Attribute-based access control: the key's tags, and those a request
    // sets or removes (tag keys are compared with case ignored, as every
    // condition key name is).
    for (name, value) in asked.tags {
        context.add(&format!("aws:ResourceTag/{name}"), value.as_str());
    }
    for (name, value) in access.request_tags {
        context.add(&format!("aws:RequestTag/{name}"), value.as_str());
        context.add("aws:TagKeys", name.as_str());
    }
    for name in access.tag_keys {
        context.add("aws:TagKeys", name.as_str());
    }
    for (name, value) in access.keys {
        context.add(name, *value);
    }
    for (name, value) in access.context.into_iter().flatten() {
        context.add(&format!("kms:EncryptionContext:{name}"), value.as_str());
        context.add("kms:EncryptionContextKeys", name.as_str());
    }
    context
}

impl Api {
    /// Whether `key`'s policy lets `caller` do what `access` asks (asking
    /// the account's access control where the policy hands it the
    /// decision); `AccessDeniedException` as AWS words it if not. `alias`
    /// is the alias the request named the key by, if it did.
    pub(super) async fn authorize(
        &self,
        caller: &Caller,
        key: &KeyRecord,
        access: Access<'_>,
        alias: Option<&str>,
    ) -> Result<(), ApiError> {
        // No policy given: the default one, which allows the account and
        // nothing else. Most keys have it; it is not parsed on every request.
        let decision = match &key.policy {
            None => None,
            Some(text) => {
                let policy = self.policies.get(text)?;
                let aliases = self.resource_aliases(key, &policy).await?;
                let asked = Asked {
                    key: key.into(),
                    alias,
                    aliases: &aliases,
                    tags: &key.tags,
                };
                Some(self.decide(caller, &asked, &policy, access))
            }
        };
        let refusal = match decision {
            Some((Decision::Allowed, _)) => return Ok(()),
            // An explicit deny is not undone by a grant.
            Some((Decision::Denied(_), refusal)) => return Err(ApiError::AccessDenied(refusal)),
            Some((Decision::NotAllowed, refusal)) => refusal,
            None | Some((Decision::Delegated, _)) => match self
                .delegate(Ask {
                    caller,
                    action: access.action,
                    key: Some(key),
                })
                .await
            {
                Err(ApiError::AccessDenied(refusal)) => refusal,
                decided => return decided,
            },
        };
        // Nothing else allowing it, a grant may.
        if self.granted(caller, key, &access).await? {
            return Ok(());
        }
        Err(ApiError::AccessDenied(refusal))
    }

    /// Whether one of `key`'s grants lets `caller` do what `access` asks.
    async fn granted(
        &self,
        caller: &Caller,
        key: &KeyRecord,
        access: &Access<'_>,
    ) -> Result<bool, ApiError> {
        let Some(operation) = grant::operation_of(access.action) else {
            return Ok(false);
        };
        let mut grants = self.store.grants(key.key_id).await?;
        // A token counts for its grant before this replica has seen it.
        for token in caller.tokens.get() {
            if !grants.iter().any(|g| g.grant_id == token.grant_id)
                && let Some(grant) = self.store.unseen_grant(key.key_id, &token).await?
            {
                grants.push(grant);
            }
        }
        if grants.is_empty() {
            return Ok(false);
        }
        let principal = principal_arn(&self.arn, caller);
        let account = format!("arn:{}:iam::{}:root", self.arn.partition, self.arn.account);
        let holds = |grantee: &str| {
            grants.iter().any(|g| {
                g.allows(grantee, operation, access.context)
                    && access.passes_on.is_none_or(|(operations, constraints)| {
                        g.may_pass_on(operations, constraints)
                    })
            })
        };
        if holds(&principal) {
            return Ok(true);
        }
        // A grant to the account is for whom the account's access control
        // lets do the action (IAM on AWS, RBAC in a cluster; everyone
        // `serve`'s credentials name).
        if holds(&account) {
            let ask = Ask {
                caller,
                action: access.action,
                key: Some(key),
            };
            return match self.delegate(ask).await {
                Ok(()) => Ok(true),
                Err(ApiError::AccessDenied(_)) => Ok(false),
                Err(other) => Err(other),
            };
        }
        Ok(false)
    }

    /// `key`'s aliases (`kms:ResourceAliases`), read only for a policy
    /// that asks for them: most do not, and this is on every request.
    pub(super) async fn resource_aliases(
        &self,
        key: &KeyRecord,
        policy: &PolicyDocument,
    ) -> Result<Vec<String>, ApiError> {
        if !policy.names_condition_key("kms:ResourceAliases") {
            return Ok(Vec::new());
        }
        let aliases = self.store.list_aliases(&key.namespace).await?;
        Ok(aliases
            .into_iter()
            .filter(|a| a.key_id == key.key_id)
            .map(|a| a.name)
            .collect())
    }

    /// AWS's lockout safety check: unless told to skip it, a policy that
    /// would not let the caller set the key's policy again is refused.
    pub(super) fn check_lockout(
        &self,
        caller: &Caller,
        (key, tags): (Subject, &BTreeMap<String, String>),
        aliases: &[String],
        policy: &PolicyDocument,
        bypass: bool,
    ) -> Result<(), ApiError> {
        if bypass {
            return Ok(());
        }
        let asked = Asked {
            key,
            alias: None,
            aliases,
            tags,
        };
        let (decision, _) = self.decide(caller, &asked, policy, Access::to("kms:PutKeyPolicy"));
        match decision {
            Decision::Allowed | Decision::Delegated => Ok(()),
            Decision::Denied(_) | Decision::NotAllowed => Err(ApiError::MalformedPolicyDocument(
                "The new key policy will not allow you to update the key policy in the future."
                    .into(),
            )),
        }
    }

    /// What `policy` says of `caller` doing `access` on `key`, with the
    /// refusal's message.
    fn decide(
        &self,
        caller: &Caller,
        asked: &Asked,
        policy: &PolicyDocument,
        access: Access,
    ) -> (Decision, String) {
        let principal = principal_arn(&self.arn, caller);
        let resource = self.arn.key_arn(asked.key.id);
        let context = conditions(
            asked,
            &principal,
            &self.arn.account,
            &access,
            caller.source,
            self.now(),
        );
        let request = Request {
            caller: evaluate::Caller {
                arn: &principal,
                account: &self.arn.account,
            },
            action: access.action,
            resource: &resource,
            context: &context,
        };
        let decision = evaluate::evaluate(policy, &request);
        let refusal = decision.refusal(&request).unwrap_or_default();
        (decision, refusal)
    }
}
