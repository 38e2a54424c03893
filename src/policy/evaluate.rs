//! Key policy evaluation: what a key's policy says of one request. An
//! explicit deny wins over any allow, an allow over the default, which is
//! deny (reference §5.3). A statement that allows the caller's account
//! rather than the caller does not decide alone: it hands the question to
//! the account's own access control (IAM on AWS; Kubernetes RBAC here), so
//! the answer says which kind of allow it was.

use super::condition::{Context, Operator};
use super::pattern;
use super::variables;
use super::{Effect, Match, PolicyDocument, Principals, Statement};

/// Who is asking: a principal and the account it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller<'a> {
    /// The ARN a policy's `Principal` names the caller by.
    pub arn: &'a str,
    /// The caller's account (12 digits on AWS).
    pub account: &'a str,
}

impl Caller<'_> {
    /// Whether the `AWS` principal `name` is this caller itself, its
    /// account, or neither.
    fn named_by(&self, name: &str) -> Option<Named> {
        if name == "*" || name == self.arn {
            return Some(Named::Itself);
        }
        let partition = self.arn.split(':').nth(1).unwrap_or("aws");
        // `arn:<partition>:iam::<account>:root`, compared piece by piece:
        // this runs for every principal of every statement on every request.
        let root = ["arn:", partition, ":iam::", self.account, ":root"]
            .iter()
            .try_fold(name, |rest, part| rest.strip_prefix(part))
            .is_some_and(str::is_empty);
        (name == self.account || root).then_some(Named::Account)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Named {
    Account,
    Itself,
}

/// One request as a key policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub caller: Caller<'a>,
    /// `kms:Encrypt`, `kms:DescribeKey`, …
    pub action: &'a str,
    /// The key's ARN.
    pub resource: &'a str,
    pub context: &'a Context,
}

/// What the policy says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A statement allows the caller by name, or everyone.
    Allowed,
    /// A statement allows the caller's account, and none the caller by
    /// name: what the account's own access control says decides.
    Delegated,
    /// A statement denies it (its `Sid`, if it has one).
    Denied(Option<String>),
    /// No statement allows it.
    NotAllowed,
}

impl Decision {
    /// The message of the `AccessDeniedException` AWS sends for this
    /// decision, or `None` if it is not a refusal.
    pub fn refusal(&self, request: &Request) -> Option<String> {
        let why = match self {
            Decision::Allowed | Decision::Delegated => return None,
            Decision::Denied(_) => "with an explicit deny in a resource-based policy".to_owned(),
            Decision::NotAllowed => format!(
                "because no resource-based policy allows the {} action",
                request.action
            ),
        };
        Some(not_authorized(
            request.caller.arn,
            request.action,
            request.resource,
            &why,
        ))
    }
}

/// AWS's `AccessDeniedException` message: `why` says which policy refused.
pub fn not_authorized(caller: &str, action: &str, resource: &str, why: &str) -> String {
    format!("User: {caller} is not authorized to perform: {action} on resource: {resource} {why}")
}

/// What `policy` says of `request`.
pub fn evaluate(policy: &PolicyDocument, request: &Request) -> Decision {
    let mut allowed: Option<Named> = None;
    let variables = policy.version.as_deref() == Some(variables::VERSION);
    let variables = variables.then_some(request.context);
    for statement in &policy.statements {
        let Some(named) = applies(statement, request, variables) else {
            continue;
        };
        match statement.effect {
            // Whether it names the caller or the caller's account, a deny
            // is a deny.
            Effect::Deny => return Decision::Denied(statement.sid.clone()),
            Effect::Allow => allowed = allowed.max(Some(named)),
        }
    }
    match allowed {
        Some(Named::Itself) => Decision::Allowed,
        Some(Named::Account) => Decision::Delegated,
        None => Decision::NotAllowed,
    }
}

/// Whether `statement` applies to `request`, and if so how its principal
/// names the caller. `variables`: the context policy variables are filled
/// in from, in a policy that has them.
fn applies(statement: &Statement, request: &Request, variables: Option<&Context>) -> Option<Named> {
    let named = principal(&statement.principal, &request.caller)?;
    // A statement without Action or Resource applies to nothing.
    let action = statement.action.as_ref()?;
    if !any_or_not(action, |pattern| {
        pattern::matches_ignoring_case(pattern, request.action)
    }) {
        return None;
    }
    let resource = statement.resource.as_ref()?;
    if !any_or_not(resource, |pattern| match variables {
        Some(context) if variables::may_have(pattern) => variables::expand(pattern, context)
            .is_some_and(|p| pattern::matches_symbols(&p, request.resource)),
        _ => pattern::matches(pattern, request.resource),
    }) {
        return None;
    }
    conditions_hold(statement, request.context, variables).then_some(named)
}

/// Whether a list matches (`Is`: some item does; `Not`: none does).
fn any_or_not(list: &Match<Vec<String>>, matches: impl Fn(&str) -> bool) -> bool {
    match list {
        Match::Is(items) => items.iter().any(|i| matches(i)),
        Match::Not(items) => !items.iter().any(|i| matches(i)),
    }
}

/// How the statement's `Principal` (or `NotPrincipal`) names the caller.
fn principal(principal: &Match<Principals>, caller: &Caller) -> Option<Named> {
    match principal {
        Match::Is(principals) => names(principals, caller),
        // Everyone but those listed: whoever is left is named as such.
        Match::Not(principals) => match names(principals, caller) {
            Some(_) => None,
            None => Some(Named::Itself),
        },
    }
}

fn names(principals: &Principals, caller: &Caller) -> Option<Named> {
    match principals {
        Principals::Anyone => Some(Named::Itself),
        // Only `AWS` principals can be callers of this endpoint: no
        // service, federation or canonical user calls it.
        Principals::Of(types) => types
            .get("AWS")?
            .iter()
            .filter_map(|name| caller.named_by(name))
            .max(),
    }
}

/// Whether every operator of the statement's condition holds. An operator
/// that is not one (only a document stored before operators were checked
/// can have one) cannot be evaluated: the statement then applies if it
/// denies and not if it allows, so that doubt never opens a key.
fn conditions_hold(statement: &Statement, context: &Context, variables: Option<&Context>) -> bool {
    statement.condition.iter().all(|(operator, keys)| {
        let Some(operator) = Operator::parse(operator) else {
            return statement.effect == Effect::Deny;
        };
        keys.iter()
            .all(|(key, expected)| operator.holds_in(expected, context.get(key), variables))
    })
}

#[cfg(test)]
mod tests;
