//! AWS JSON 1.1 details: base64 blobs, epoch-second timestamps, the
//! KeyMetadata shape, and request decoding.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::ApiError;
use crate::key::{KeyRecord, KeyState, Millis, Origin};
use crate::key_id::KeyId;
use crate::spec::KeyUsage;

/// Requests that name just a key (DescribeKey, GetPublicKey, Enable/DisableKey, ...).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyInput {
    pub key_id: Option<String>,
    pub grant_tokens: Option<Vec<String>>,
}

/// A base64 blob member.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blob(pub Vec<u8>);

// Decoded straight from the request buffer: no owned copy of the base64
// text (for a Plaintext member, no extra copy of the secret either). Read
// as bytes, so serde_json skips a UTF-8 check the base64 decoder makes
// redundant (it refuses every non-base64 byte).
impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Base64;
        impl serde::de::Visitor<'_> for Base64 {
            type Value = Blob;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a base64 string")
            }
            fn visit_bytes<E: serde::de::Error>(self, text: &[u8]) -> Result<Blob, E> {
                crate::b64::decode(text)
                    .map(Blob)
                    .map_err(|_| E::custom("blob members must be base64"))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Blob, E> {
                self.visit_bytes(text.as_bytes())
            }
        }
        d.deserialize_bytes(Base64)
    }
}

/// An `EncryptionContext` member: strings to strings, where a number given
/// as a value is taken as its text, as AWS takes it (reference §4.1:
/// non-string values are coerced to strings). Anything else is refused.
#[derive(Debug, Default)]
pub struct ContextMap(pub BTreeMap<String, String>);

impl<'de> Deserialize<'de> for ContextMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        BTreeMap::<String, Value>::deserialize(d)?
            .into_iter()
            .map(|(name, value)| match value {
                Value::String(text) => Ok((name, text)),
                Value::Number(number) => Ok((name, number.to_string())),
                other => Err(D::Error::custom(format!(
                    "encryption context values must be strings; '{name}' is {other}"
                ))),
            })
            .collect::<Result<_, _>>()
            .map(ContextMap)
    }
}

pub fn b64(bytes: &[u8]) -> Value {
    Value::String(crate::b64::encode(bytes))
}

/// AWS timestamps: epoch seconds as a JSON number.
pub fn timestamp(ms: Millis) -> Value {
    json!(ms as f64 / 1000.0)
}

/// Decodes a request body; an empty body is `{}` (AWS JSON 1.1).
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body: &[u8] = match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => b"{}",
        Some(b'{') => body,
        // serde would read an array into a struct member by member.
        Some(_) => {
            return Err(ApiError::Serialization(
                "Could not parse the request: the body must be a JSON object".into(),
            ));
        }
    };
    serde_json::from_slice(body)
        .map_err(|e| ApiError::Serialization(format!("Could not parse the request: {e}")))
}

/// A required member that was absent.
pub fn required<T>(value: Option<T>, field: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| {
        ApiError::Validation(format!(
            "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

/// Length bounds on a blob or list member (a string's: [`check_text`]).
pub fn check_length(field: &str, len: usize, min: usize, max: usize) -> Result<(), ApiError> {
    if len < min {
        return Err(ApiError::Validation(format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have length greater than or equal to {min}"
        )));
    }
    if len > max {
        return Err(ApiError::Validation(format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have length less than or equal to {max}"
        )));
    }
    Ok(())
}

/// A string member's length in characters, with AWS's message naming the
/// value (as AWS names a string's; a blob's or a list's it does not).
pub fn check_text(field: &str, text: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let len = text.chars().count();
    if len < min {
        let constraint = format!("Member must have length greater than or equal to {min}");
        return Err(ApiError::validation(field, text, &constraint));
    }
    if len > max {
        let constraint = format!("Member must have length less than or equal to {max}");
        return Err(ApiError::validation(field, text, &constraint));
    }
    Ok(())
}

/// A numeric member within `min..=max`, with AWS's validation message.
pub fn check_range(field: &str, value: i64, min: i64, max: i64) -> Result<(), ApiError> {
    if value < min {
        return Err(ApiError::validation(
            field,
            value,
            &format!("Member must have value greater than or equal to {min}"),
        ));
    }
    if value > max {
        return Err(ApiError::validation(
            field,
            value,
            &format!("Member must have value less than or equal to {max}"),
        ));
    }
    Ok(())
}

/// Checks a request's grant tokens (0–10, each 1–8192 chars, each one of
/// ours) and keeps them with the request: a grant a token names counts
/// for it even before this replica has seen the grant.
pub fn check_grant_tokens(
    caller: &super::Caller,
    tokens: &Option<Vec<String>>,
) -> Result<(), ApiError> {
    let Some(tokens) = tokens else { return Ok(()) };
    check_length("grantTokens", tokens.len(), 0, 10)?;
    let mut presented = Vec::with_capacity(tokens.len());
    for token in tokens {
        check_length("grantTokens", token.len(), 1, 8192)?;
        let parsed = crate::grant::parse_token(token)
            .ok_or_else(|| ApiError::InvalidGrantToken("The grant token is not valid.".into()))?;
        presented.push(parsed);
    }
    caller.tokens.set(presented);
    Ok(())
}

/// Parses an AWS enum member. A value of AWS's model that is not served
/// here is unsupported; any other is malformed, and the error lists the
/// model's values, as AWS's does.
pub fn parse_enum<T: crate::spec::AwsEnum>(field: &str, value: &str) -> Result<T, ApiError> {
    if let Ok(parsed) = value.parse() {
        return Ok(parsed);
    }
    if let Some((_, why)) = T::elsewhere().iter().find(|(name, _)| *name == value) {
        return Err(ApiError::Unsupported(format!(
            "{value} is not supported: {why}."
        )));
    }
    let names = T::all().iter().map(|v| v.name());
    Err(not_in_enum(
        field,
        value,
        names.chain(T::elsewhere().iter().map(|(name, _)| *name)),
    ))
}

/// AWS's error for a value outside an enum's set.
pub fn not_in_enum<'a>(
    field: &str,
    value: &str,
    allowed: impl Iterator<Item = &'a str>,
) -> ApiError {
    let allowed: Vec<&str> = allowed.collect();
    ApiError::validation(
        field,
        value,
        &format!(
            "Member must satisfy enum value set: [{}]",
            allowed.join(", ")
        ),
    )
}

/// A 64-hex-digit id for one material version, as AWS's `KeyMaterialId`.
pub fn key_material_id(key_id: KeyId, version: u32) -> String {
    let mut hash = Sha256::new();
    hash.update(b"kube-kms/key-material-id\0");
    hash.update(key_id.as_bytes());
    hash.update(version.to_be_bytes());
    hex::encode(hash.finalize())
}

/// The `KeyMaterialId` of `key`'s material version `version`: imported
/// material's own id, else one derived from the key id and version.
pub fn material_id(key: &KeyRecord, version: u32) -> String {
    match key.imported_version(version) {
        Some(imported) if key.origin == Origin::External => imported.material_id.clone(),
        _ => key_material_id(key.key_id, version),
    }
}

/// DescribeKey's `MultiRegionConfiguration` of a multi-Region key: a
/// primary never replicated is one with no replicas.
fn multi_region_configuration(key: &KeyRecord, arns: &super::ArnConfig) -> Value {
    let in_region =
        |region: &str| json!({"Arn": arns.key_arn_in(region, key.key_id), "Region": region});
    let (kind, primary, replicas) = match &key.regions {
        None => ("PRIMARY", arns.region.as_str(), Vec::new()),
        Some(regions) => (
            if regions.replica {
                "REPLICA"
            } else {
                "PRIMARY"
            },
            regions.primary.as_str(),
            regions
                .replicas
                .iter()
                .map(|r| in_region(&r.region))
                .collect(),
        ),
    };
    json!({
        "MultiRegionKeyType": kind,
        "PrimaryKey": in_region(primary),
        "ReplicaKeys": replicas,
    })
}

/// The full `KeyMetadata` structure.
pub fn key_metadata(key: &KeyRecord, arns: &super::ArnConfig) -> Value {
    let arn = arns.key_arn(key.key_id);
    let mut m = json!({
        "AWSAccountId": arns.account,
        "KeyId": key.key_id.to_string(),
        "Arn": arn,
        "CreationDate": timestamp(key.created),
        "Enabled": key.state() == KeyState::Enabled,
        "Description": key.description,
        "KeyUsage": key.usage.as_str(),
        "KeyState": key.state().as_str(),
        "Origin": key.origin.as_str(),
        "KeyManager": "CUSTOMER",
        "KeySpec": key.spec.as_str(),
        "MultiRegion": key.key_id.is_multi_region(),
    });
    let obj = m.as_object_mut().expect("object literal");
    if key.key_id.is_multi_region() {
        obj.insert(
            "MultiRegionConfiguration".into(),
            multi_region_configuration(key, arns),
        );
    }
    if let Some(spec) = key.spec.customer_master_key_spec() {
        obj.insert("CustomerMasterKeySpec".into(), json!(spec));
    }
    if let Some(deletion) = key.deletion {
        if let Some(date) = deletion.date() {
            obj.insert("DeletionDate".into(), timestamp(date));
        }
        obj.insert(
            "PendingDeletionWindowInDays".into(),
            json!(deletion.window_days),
        );
    }
    match key.usage {
        KeyUsage::EncryptDecrypt => {
            let algs: Vec<_> = key
                .spec
                .encryption_algorithms(key.usage)
                .iter()
                .map(|a| a.as_str())
                .collect();
            obj.insert("EncryptionAlgorithms".into(), json!(algs));
        }
        KeyUsage::SignVerify => {
            let algs: Vec<_> = key
                .spec
                .signing_algorithms(key.usage)
                .iter()
                .map(|a| a.as_str())
                .collect();
            obj.insert("SigningAlgorithms".into(), json!(algs));
        }
        KeyUsage::GenerateVerifyMac => {
            let algs: Vec<_> = key
                .spec
                .mac_algorithms()
                .iter()
                .map(|a| a.as_str())
                .collect();
            obj.insert("MacAlgorithms".into(), json!(algs));
        }
        KeyUsage::EncapsulateDecapsulate => {
            let algs: Vec<_> = key
                .spec
                .encapsulation_algorithms()
                .iter()
                .map(|a| a.as_str())
                .collect();
            obj.insert("EncapsulationAlgorithms".into(), json!(algs));
        }
        KeyUsage::KeyAgreement => {
            let algs: Vec<_> = key
                .spec
                .key_agreement_algorithms(key.usage)
                .iter()
                .map(|a| a.as_str())
                .collect();
            obj.insert("KeyAgreementAlgorithms".into(), json!(algs));
        }
    }
    // Imported: the current version's, while its material is deleted too.
    let current = match key.origin {
        Origin::External => key.imported.last().map(|i| i.material_id.clone()),
        Origin::AwsKms => key.current().map(|m| material_id(key, m.version)),
    };
    if let Some(current) = current {
        obj.insert("CurrentKeyMaterialId".into(), json!(current));
    }
    if key.origin == Origin::External && !key.materials.is_empty() {
        let model = match crate::lifecycle::imported::valid_to(key) {
            Some(valid_to) => {
                obj.insert("ValidTo".into(), timestamp(valid_to));
                "KEY_MATERIAL_EXPIRES"
            }
            None => "KEY_MATERIAL_DOES_NOT_EXPIRE",
        };
        obj.insert("ExpirationModel".into(), json!(model));
    }
    m
}

/// A custom key store id, once it is well formed: there are none here.
pub fn custom_key_store_unsupported(id: &str) -> ApiError {
    match check_text("customKeyStoreId", id, 1, 64) {
        Err(e) => e,
        Ok(()) => ApiError::Unsupported("Custom key stores are not supported.".into()),
    }
}

/// A `Recipient` member (Nitro Enclaves attestation).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Recipient {
    key_encryption_algorithm: Option<String>,
    attestation_document: Option<Blob>,
}

/// Refuses a `Recipient`, which is not supported, once its shape is
/// checked: a malformed one is a ValidationException, as AWS answers.
/// `Recipient` asks for the result encrypted to a Nitro Enclave's attested
/// key; answering in plaintext instead would defeat its purpose.
pub fn refuse_recipient(recipient: &Option<Recipient>) -> Result<(), ApiError> {
    let Some(recipient) = recipient else {
        return Ok(());
    };
    if let Some(algorithm) = &recipient.key_encryption_algorithm
        && algorithm != "RSAES_OAEP_SHA_256"
    {
        let field = "recipient.keyEncryptionAlgorithm";
        return Err(not_in_enum(
            field,
            algorithm,
            ["RSAES_OAEP_SHA_256"].into_iter(),
        ));
    }
    if let Some(document) = &recipient.attestation_document {
        check_length(
            "recipient.attestationDocument",
            document.0.len(),
            1,
            262_144,
        )?;
    }
    Err(ApiError::Unsupported(
        "Recipient (Nitro Enclaves attestation) is not supported by this endpoint.".into(),
    ))
}
