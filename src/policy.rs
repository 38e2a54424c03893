//! Key policy documents: the AWS policy grammar, parsed and checked.
//!
//! A key policy is JSON with `Version`, `Id` and `Statement`; each statement
//! has `Sid`, `Effect`, `Principal` (or `NotPrincipal`), `Action` (or
//! `NotAction`), `Resource` (or `NotResource`) and `Condition`. A key policy
//! statement needs `Effect` and a principal; one without an action or a
//! resource is accepted, as AWS accepts it, and allows or denies nothing. A
//! document that breaks the grammar is refused when it is set, as AWS
//! refuses it with `MalformedPolicyDocumentException`, so that what is
//! stored can later be evaluated without second-guessing. Evaluation is in
//! `evaluate`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

pub mod condition;
pub mod evaluate;
mod pattern;
pub mod variables;

/// Why a policy document is not one: the message of a
/// `MalformedPolicyDocumentException`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedPolicy(pub String);

impl std::fmt::Display for MalformedPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key policy's size quota (the API model allows up to 131,072
/// characters; past 32 KB it is over a limit, not malformed).
pub const MAX_POLICY_BYTES: usize = 32_768;

/// The policy a key has when none was given (AWS's, reference §5.2): the
/// account may do everything, and so whatever the account's own access
/// control allows (IAM on AWS; Kubernetes RBAC here, once policies are
/// evaluated).
pub fn default_policy(partition: &str, account: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Id":"key-default-1","Statement":[{{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:{partition}:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
    )
}

/// Why a text is not a key policy to keep.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error(
        "the policy holds characters other than tab, line feed, carriage return and U+0020 to U+00FF"
    )]
    Characters,
    #[error("the key policy is {0} bytes; the maximum is 32768")]
    TooLarge(usize),
    #[error("{0}")]
    Malformed(MalformedPolicy),
}

/// Checks a key policy as AWS does when it is set: its characters, its
/// size, then its grammar.
pub fn check(text: &str) -> Result<PolicyDocument, PolicyError> {
    if !has_allowed_characters(text) {
        return Err(PolicyError::Characters);
    }
    if text.len() > MAX_POLICY_BYTES {
        return Err(PolicyError::TooLarge(text.len()));
    }
    PolicyDocument::parse(text).map_err(PolicyError::Malformed)
}

/// Whether `text` holds only the characters a key policy may: tab, line
/// feed, carriage return and U+0020 to U+00FF (the API model's pattern).
pub fn has_allowed_characters(text: &str) -> bool {
    text.chars()
        .all(|c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}'))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    pub version: Option<String>,
    pub id: Option<String>,
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// An element and its `Not` form: which one the statement used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match<T> {
    Is(T),
    Not(T),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principals {
    /// `"*"`: everyone.
    Anyone,
    /// Principal type (`AWS`, `Service`, `Federated`, `CanonicalUser`) to
    /// its values.
    Of(BTreeMap<String, Vec<String>>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: Match<Principals>,
    /// None: the statement names no action, so it applies to none.
    pub action: Option<Match<Vec<String>>>,
    /// None: the statement names no resource, so it applies to none.
    pub resource: Option<Match<Vec<String>>>,
    /// Operator (`StringEquals`, `ForAnyValue:StringLike`, …) to condition
    /// key to the values, each as written (strings, booleans and numbers as
    /// their JSON text without quotes).
    pub condition: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

const VERSIONS: [&str; 2] = ["2012-10-17", "2008-10-17"];
const PRINCIPAL_TYPES: [&str; 4] = ["AWS", "Service", "Federated", "CanonicalUser"];

fn malformed(message: impl Into<String>) -> MalformedPolicy {
    MalformedPolicy(message.into())
}

impl PolicyDocument {
    /// Whether a statement's condition names condition key `key` (names
    /// are case-insensitive, as IAM's).
    pub fn names_condition_key(&self, key: &str) -> bool {
        self.statements.iter().any(|s| {
            s.condition
                .values()
                .any(|keys| keys.keys().any(|k| k.eq_ignore_ascii_case(key)))
        })
    }

    pub fn parse(text: &str) -> Result<Self, MalformedPolicy> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| malformed(format!("The policy is not valid JSON: {e}.")))?;
        let Value::Object(document) = value else {
            return Err(malformed("The policy must be a JSON object."));
        };
        for name in document.keys() {
            if !matches!(name.as_str(), "Version" | "Id" | "Statement") {
                return Err(malformed(format!(
                    "The policy has an unknown element '{name}'; a policy has Version, Id and Statement."
                )));
            }
        }
        let version = optional_string(&document, "Version", "The policy's")?;
        if let Some(v) = &version
            && !VERSIONS.contains(&v.as_str())
        {
            return Err(malformed(format!(
                "The policy's Version '{v}' is not one of 2012-10-17 and 2008-10-17."
            )));
        }
        let id = optional_string(&document, "Id", "The policy's")?;
        let statements = match document.get("Statement") {
            None => return Err(malformed("The policy has no Statement.")),
            Some(Value::Array(items)) if items.is_empty() => {
                return Err(malformed("The policy's Statement list is empty."));
            }
            Some(Value::Array(items)) => items.iter().collect(),
            Some(single) => vec![single],
        };
        let statements = statements
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                Statement::parse(s).map_err(|e| malformed(format!("Statement {}: {e}", i + 1)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut sids = BTreeSet::new();
        for sid in statements.iter().filter_map(|s| s.sid.as_deref()) {
            if !sids.insert(sid) {
                return Err(malformed(format!(
                    "Statement IDs (Sid) in a policy must be unique; '{sid}' is used twice."
                )));
            }
        }
        Ok(PolicyDocument {
            version,
            id,
            statements,
        })
    }
}

impl Statement {
    fn parse(value: &Value) -> Result<Self, MalformedPolicy> {
        let Value::Object(statement) = value else {
            return Err(malformed("a statement must be a JSON object."));
        };
        for name in statement.keys() {
            if !matches!(
                name.as_str(),
                "Sid"
                    | "Effect"
                    | "Principal"
                    | "NotPrincipal"
                    | "Action"
                    | "NotAction"
                    | "Resource"
                    | "NotResource"
                    | "Condition"
            ) {
                return Err(malformed(format!("unknown element '{name}'.")));
            }
        }
        let sid = optional_string(statement, "Sid", "the")?;
        let effect = match statement.get("Effect") {
            Some(Value::String(e)) if e == "Allow" => Effect::Allow,
            Some(Value::String(e)) if e == "Deny" => Effect::Deny,
            Some(other) => {
                return Err(malformed(format!(
                    "Effect must be \"Allow\" or \"Deny\", not {other}."
                )));
            }
            None => return Err(malformed("the statement has no Effect.")),
        };
        let principal = one_of(statement, "Principal", parse_principals)?.ok_or_else(|| {
            malformed("the statement has no Principal; a key policy statement needs one.")
        })?;
        let action = one_of(statement, "Action", |name, v| {
            let actions = strings(name, v)?;
            match actions.iter().find(|a| !is_action(a)) {
                Some(bad) => Err(malformed(format!(
                    "{name} '{bad}' is not an action: it is \"*\" or service:ActionName, as kms:Encrypt."
                ))),
                None => Ok(actions),
            }
        })?;
        let resource = one_of(statement, "Resource", strings)?;
        let condition = match statement.get("Condition") {
            None => BTreeMap::new(),
            Some(v) => parse_condition(v)?,
        };
        Ok(Statement {
            sid,
            effect,
            principal,
            action,
            resource,
            condition,
        })
    }
}

fn optional_string(
    object: &Map<String, Value>,
    name: &str,
    whose: &str,
) -> Result<Option<String>, MalformedPolicy> {
    match object.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(malformed(format!(
            "{whose} {name} must be a string, not {other}."
        ))),
    }
}

/// At most one of `name` and `Not<name>`, parsed with `parse`.
fn one_of<T>(
    statement: &Map<String, Value>,
    name: &str,
    parse: impl Fn(&str, &Value) -> Result<T, MalformedPolicy>,
) -> Result<Option<Match<T>>, MalformedPolicy> {
    let not = format!("Not{name}");
    match (statement.get(name), statement.get(&not)) {
        (Some(_), Some(_)) => Err(malformed(format!(
            "a statement has {name} or {not}, not both."
        ))),
        (Some(v), None) => Ok(Some(Match::Is(parse(name, v)?))),
        (None, Some(v)) => Ok(Some(Match::Not(parse(&not, v)?))),
        (None, None) => Ok(None),
    }
}

/// A string or a non-empty list of non-empty strings.
fn strings(name: &str, value: &Value) -> Result<Vec<String>, MalformedPolicy> {
    let list = match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(malformed(format!(
                    "{name} values must be strings, not {other}."
                ))),
            })
            .collect::<Result<_, _>>()?,
        Value::Array(_) => return Err(malformed(format!("{name} is an empty list."))),
        other => {
            return Err(malformed(format!(
                "{name} must be a string or a list of strings, not {other}."
            )));
        }
    };
    if list.iter().any(String::is_empty) {
        return Err(malformed(format!("{name} has an empty value.")));
    }
    Ok(list)
}

fn is_action(action: &str) -> bool {
    action == "*"
        || action.split_once(':').is_some_and(|(service, name)| {
            !service.is_empty()
                && !name.is_empty()
                && service
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | '?'))
        })
}

fn parse_principals(name: &str, value: &Value) -> Result<Principals, MalformedPolicy> {
    match value {
        Value::String(s) if s == "*" => Ok(Principals::Anyone),
        Value::Object(types) if !types.is_empty() => {
            let mut principals = BTreeMap::new();
            for (kind, values) in types {
                if !PRINCIPAL_TYPES.contains(&kind.as_str()) {
                    return Err(malformed(format!(
                        "{name} has an unknown principal type '{kind}'; it is one of AWS, Service, Federated and CanonicalUser."
                    )));
                }
                principals.insert(kind.clone(), strings(&format!("{name}.{kind}"), values)?);
            }
            Ok(Principals::Of(principals))
        }
        other => Err(malformed(format!(
            "{name} must be \"*\" or an object such as {{\"AWS\": \"arn:aws:iam::111122223333:root\"}}, not {other}."
        ))),
    }
}

fn parse_condition(
    value: &Value,
) -> Result<BTreeMap<String, BTreeMap<String, Vec<String>>>, MalformedPolicy> {
    let Value::Object(operators) = value else {
        return Err(malformed(format!(
            "Condition must be an object of operators, not {value}."
        )));
    };
    let mut condition = BTreeMap::new();
    for (operator, keys) in operators {
        if condition::Operator::parse(operator).is_none() {
            return Err(malformed(format!(
                "Condition has an unknown operator '{operator}'; operators are such as StringEquals, ForAnyValue:StringLike, NumericLessThanIfExists and Null."
            )));
        }
        let Value::Object(keys) = keys else {
            return Err(malformed(format!(
                "Condition operator {operator} must map condition keys to values, not {keys}."
            )));
        };
        let mut parsed = BTreeMap::new();
        for (key, values) in keys {
            let scalar = |v: &Value| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Bool(_) | Value::Number(_) => Ok(v.to_string()),
                other => Err(malformed(format!(
                    "Condition {operator} {key}: a value must be a string, boolean or number, not {other}."
                ))),
            };
            let values = match values {
                Value::Array(items) => items.iter().map(scalar).collect::<Result<_, _>>()?,
                single => vec![scalar(single)?],
            };
            parsed.insert(key.clone(), values);
        }
        condition.insert(operator.clone(), parsed);
    }
    Ok(condition)
}

#[cfg(test)]
mod tests;
