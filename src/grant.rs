//! Grants (reference §5.5): one principal's allowance to use one key for
//! some operations, beside the key's policy, under encryption context
//! constraints. Pure: what a grant allows and to whom, which operations a
//! key type takes, what a grant holding CreateGrant may pass on, and the
//! tokens CreateGrant returns.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::key::Millis;
use crate::key_id::KeyId;
use crate::spec::{Family, GrantOperation, KeySpec, KeyUsage};

/// Grants one key may have (AWS's quota).
pub const MAX_GRANTS_PER_KEY: usize = 50_000;

/// Encryption context constraints: the request's context must equal one,
/// or include the pairs of the other. Only operations that take an
/// encryption context are constrained.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Constraints {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
}

impl Constraints {
    pub fn is_empty(&self) -> bool {
        self.encryption_context_subset.is_none() && self.encryption_context_equals.is_none()
    }

    /// Whether a request with `context` satisfies them.
    pub fn hold(&self, context: &BTreeMap<String, String>) -> bool {
        let equals = self
            .encryption_context_equals
            .as_ref()
            .is_none_or(|equals| equals == context);
        let subset = self
            .encryption_context_subset
            .as_ref()
            .is_none_or(|pairs| pairs.iter().all(|(k, v)| context.get(k) == Some(v)));
        equals && subset
    }

    /// Whether every context these admit, `wider` admits too: what a grant
    /// made under a constrained grant must be.
    pub fn within(&self, wider: &Constraints) -> bool {
        if let Some(only) = &self.encryption_context_equals {
            // One context at most: within if `wider` admits it (or these
            // admit none at all).
            return wider.hold(only) || !self.hold(only);
        }
        // Every context holding these pairs, however many others it has.
        let pairs = self.encryption_context_subset.clone().unwrap_or_default();
        wider.encryption_context_equals.is_none()
            && wider
                .encryption_context_subset
                .iter()
                .flatten()
                .all(|(k, v)| pairs.get(k) == Some(v))
    }
}

/// Whether `operation` takes an encryption context (constraints apply to
/// it).
pub fn takes_context(operation: GrantOperation) -> bool {
    use GrantOperation::*;
    matches!(
        operation,
        Encrypt
            | Decrypt
            | ReEncryptFrom
            | ReEncryptTo
            | GenerateDataKey
            | GenerateDataKeyWithoutPlaintext
            | GenerateDataKeyPair
            | GenerateDataKeyPairWithoutPlaintext
    )
}

/// Whether a key of this spec and usage serves `operation`, which a grant
/// for it may then allow.
pub fn supported(spec: KeySpec, usage: KeyUsage, operation: GrantOperation) -> bool {
    use GrantOperation::*;
    if matches!(operation, CreateGrant | RetireGrant | DescribeKey) {
        return true;
    }
    match usage {
        KeyUsage::EncryptDecrypt if spec.family() == Family::Symmetric => takes_context(operation),
        KeyUsage::EncryptDecrypt => matches!(
            operation,
            Encrypt | Decrypt | ReEncryptFrom | ReEncryptTo | GetPublicKey
        ),
        KeyUsage::SignVerify => matches!(operation, Sign | Verify | GetPublicKey),
        KeyUsage::GenerateVerifyMac => matches!(operation, GenerateMac | VerifyMac),
        KeyUsage::KeyAgreement => matches!(operation, DeriveSharedSecret | GetPublicKey),
        KeyUsage::EncapsulateDecapsulate => {
            matches!(operation, Encapsulate | Decapsulate | GetPublicKey)
        }
    }
}

/// Why a grant for `operations` under `constraints` cannot be on a key of
/// this spec and usage, if it cannot.
pub fn misfit(
    spec: KeySpec,
    usage: KeyUsage,
    operations: &[GrantOperation],
    constraints: &Constraints,
) -> Option<String> {
    if let Some(op) = operations.iter().find(|op| !supported(spec, usage, **op)) {
        return Some(format!(
            "Grant operation {op} is not valid for a KMS key with KeySpec {spec} and KeyUsage {usage}."
        ));
    }
    (!constraints.is_empty() && spec != KeySpec::SymmetricDefault)
        .then(|| "Grant constraints are valid only for symmetric encryption KMS keys.".to_owned())
}

/// Whether `principal` has an ARN's shape, as a grant's principals must.
pub fn is_principal_arn(principal: &str) -> bool {
    principal.starts_with("arn:") && principal.split(':').count() >= 6
}

/// The grant operation an action (`kms:Encrypt`) asks for, if a grant can
/// allow it.
pub fn operation_of(action: &str) -> Option<GrantOperation> {
    action.strip_prefix("kms:")?.parse().ok()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantRecord {
    /// 64 hexadecimal digits.
    pub grant_id: String,
    pub key_id: KeyId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The principal's ARN.
    pub grantee: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retiring: Option<String>,
    /// Sorted, each once.
    pub operations: Vec<GrantOperation>,
    #[serde(default, skip_serializing_if = "Constraints::is_empty")]
    pub constraints: Constraints,
    pub created: Millis,
    /// The ARN of the principal that made it.
    pub issuer: String,
}

static NO_CONTEXT: BTreeMap<String, String> = BTreeMap::new();

impl GrantRecord {
    /// Whether this grant lets `principal` (an ARN) do `operation` with
    /// `context` (the request's encryption context, if it takes one).
    pub fn allows(
        &self,
        principal: &str,
        operation: GrantOperation,
        context: Option<&BTreeMap<String, String>>,
    ) -> bool {
        self.grantee == principal
            && self.operations.contains(&operation)
            && (!takes_context(operation) || self.constraints.hold(context.unwrap_or(&NO_CONTEXT)))
    }

    /// Whether `other` asks for this same grant: CreateGrant with a `Name`
    /// returns the grant it made before instead of another.
    pub fn same_request(&self, other: &GrantRecord) -> bool {
        self.key_id == other.key_id
            && self.name.is_some()
            && self.name == other.name
            && self.grantee == other.grantee
            && self.retiring == other.retiring
            && self.operations == other.operations
            && self.constraints == other.constraints
    }

    /// Whether `principal` may retire it by being named in it: its
    /// retiring principal, or its grantee if it allows RetireGrant.
    pub fn retirable_by(&self, principal: &str) -> bool {
        self.retiring.as_deref() == Some(principal)
            || (self.grantee == principal && self.operations.contains(&GrantOperation::RetireGrant))
    }

    /// Whether a grantee holding this grant (with CreateGrant) may make one
    /// for `operations` under `constraints`: no more than it holds, no
    /// looser.
    pub fn may_pass_on(&self, operations: &[GrantOperation], constraints: &Constraints) -> bool {
        operations.iter().all(|op| self.operations.contains(op))
            && constraints.within(&self.constraints)
    }
}

/// Token format versions (the first byte): the grant id alone; and the
/// grant id with the name of the `KmsGrant` declaring it, so that an
/// endpoint replica that has not seen the grant yet can read it.
const TOKEN_VERSION: u8 = 1;
const TOKEN_VERSION_NAMING: u8 = 2;
/// Version, grant id, nonce.
const TOKEN_LEN: usize = 49;
/// The longest Kubernetes object name.
const MAX_OBJECT_NAME: usize = 253;

/// What a grant token says: the grant, and the object declaring it if it
/// names one (in its key's namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRef {
    pub grant_id: String,
    pub object: Option<String>,
}

/// A token for grant `grant_id`: the base64 of a version byte, the grant
/// id's 32 bytes and 16 of `nonce`, so that each CreateGrant returns a
/// new one and every one names the grant. Not a secret (AWS's are not).
pub fn token(grant_id: &str, nonce: [u8; 16]) -> Option<String> {
    token_bytes(TOKEN_VERSION, grant_id, nonce).map(|bytes| crate::b64::encode(&bytes))
}

/// As [`token`], naming also the `KmsGrant` object that declares it.
pub fn token_naming(grant_id: &str, object: &str, nonce: [u8; 16]) -> Option<String> {
    if !is_object_name(object) {
        return None;
    }
    let mut bytes = token_bytes(TOKEN_VERSION_NAMING, grant_id, nonce)?;
    bytes.extend_from_slice(object.as_bytes());
    Some(crate::b64::encode(&bytes))
}

fn token_bytes(version: u8, grant_id: &str, nonce: [u8; 16]) -> Option<Vec<u8>> {
    let id = hex::decode(grant_id).ok().filter(|id| id.len() == 32)?;
    let mut bytes = Vec::with_capacity(TOKEN_LEN);
    bytes.push(version);
    bytes.extend_from_slice(&id);
    bytes.extend_from_slice(&nonce);
    Some(bytes)
}

/// A Kubernetes object name (DNS subdomain): what a token may name, and
/// nothing that would read as another path.
fn is_object_name(name: &str) -> bool {
    (1..=MAX_OBJECT_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !name.starts_with(['-', '.'])
}

/// What `token` says, if it is one of ours.
pub fn parse_token(token: &str) -> Option<TokenRef> {
    let bytes = crate::b64::decode(token).ok()?;
    let grant_id = || hex::encode(&bytes[1..33]);
    match (bytes.first()?, bytes.len()) {
        (&TOKEN_VERSION, TOKEN_LEN) => Some(TokenRef {
            grant_id: grant_id(),
            object: None,
        }),
        (&TOKEN_VERSION_NAMING, len) if len > TOKEN_LEN => {
            let object = std::str::from_utf8(&bytes[TOKEN_LEN..]).ok()?;
            is_object_name(object).then(|| TokenRef {
                grant_id: grant_id(),
                object: Some(object.to_owned()),
            })
        }
        _ => None,
    }
}

/// The grant a token names, if it is one of ours.
pub fn token_grant(token: &str) -> Option<String> {
    parse_token(token).map(|t| t.grant_id)
}

/// Whether `id` has a grant id's form (64 lowercase hexadecimal digits).
pub fn is_grant_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests;
