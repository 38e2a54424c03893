//! One audit record per call, shaped like the CloudTrail record AWS KMS
//! writes for it, so tools that read CloudTrail read ours. Pure: built off
//! the request path from what the endpoint gathered ([`Call`]).

use std::net::IpAddr;

use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::api::ArnConfig;
use crate::key::Millis;
use crate::key_id::KeyId;
use crate::operator::key_status::rfc3339;
use crate::request_id::RequestId;

/// What the endpoint knows of one call when it has answered.
#[derive(Debug, Clone)]
pub struct Call {
    pub time: Millis,
    /// The operation (`Encrypt`), or the `X-Amz-Target` as sent when it
    /// names none.
    pub operation: String,
    pub request_id: RequestId,
    /// `(namespace, principal)`, once the caller is known.
    pub caller: Option<(String, String)>,
    pub source: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// The request body as sent; only [`request_parameters`] of it is kept.
    pub body: Bytes,
    /// The keys the call resolved, in order.
    pub keys: Vec<KeyId>,
    /// The AWS error type and message, if the call failed.
    pub error: Option<(&'static str, String)>,
}

/// Request members never written to the audit trail: data, ciphertexts,
/// signatures, MACs, peers' public keys, attestation documents, grant
/// tokens. CloudTrail leaves them out too.
const WITHHELD: &[&str] = &[
    "Plaintext",
    "CiphertextBlob",
    "Message",
    "Signature",
    "Mac",
    "PublicKey",
    "SharedSecretCiphertextBlob",
    "Recipient",
    "GrantTokens",
];

/// The request's members as CloudTrail's `requestParameters` shows them:
/// camelCase names, withheld members left out, encryption contexts as
/// sent. `None` for a body that is not a JSON object.
pub fn request_parameters(body: &[u8]) -> Option<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Some(json!({}));
    }
    // Borrowed: a withheld member (4 KiB of plaintext, say) is skipped
    // over, never copied.
    let members: std::collections::BTreeMap<String, &serde_json::value::RawValue> =
        serde_json::from_slice(body).ok()?;
    let mut out = Map::new();
    for (name, raw) in members {
        if WITHHELD.contains(&name.as_str()) {
            continue;
        }
        let Ok(value) = serde_json::from_str::<Value>(raw.get()) else {
            continue;
        };
        // An encryption context's keys are the caller's own.
        let value = if name.ends_with("EncryptionContext") {
            value
        } else {
            camel_case_members(value)
        };
        out.insert(camel_case(&name), value);
    }
    Some(Value::Object(out))
}

fn camel_case(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Structures' member names in camelCase, at any depth (tags, say).
fn camel_case_members(value: Value) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .filter(|(name, _)| !WITHHELD.contains(&name.as_str()))
                .map(|(name, v)| (camel_case(&name), camel_case_members(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(camel_case_members).collect()),
        other => other,
    }
}

/// Whether an operation changes nothing, as CloudTrail's `readOnly` says.
pub fn read_only(operation: &str) -> bool {
    const CHANGING: &[&str] = &[
        "Create",
        "Update",
        "Delete",
        "Enable",
        "Disable",
        "Schedule",
        "Cancel",
        "Put",
        "Tag",
        "Untag",
        "Rotate",
        "Revoke",
        "Retire",
        "Replicate",
        "Import",
        "Connect",
        "Disconnect",
    ];
    !CHANGING.iter().any(|prefix| operation.starts_with(prefix))
}

/// The CloudTrail-shaped record of `call` (without the chain's fields).
pub fn record(call: &Call, arn: &ArnConfig, event_id: uuid::Uuid) -> Value {
    let identity = match &call.caller {
        Some((namespace, principal)) => json!({
            "type": "KubeKmsPrincipal",
            "principalId": principal,
            "accountId": arn.account,
            "namespace": namespace,
        }),
        None => Value::Null,
    };
    let resources: Vec<Value> = call
        .keys
        .iter()
        .map(|id| {
            json!({
                "accountId": arn.account,
                "type": "AWS::KMS::Key",
                "ARN": arn.key_arn(*id),
            })
        })
        .collect();
    let mut record = json!({
        "eventVersion": "1.11",
        "userIdentity": identity,
        "eventTime": rfc3339(call.time),
        "eventSource": "kms.amazonaws.com",
        "eventName": call.operation,
        "awsRegion": arn.region,
        "sourceIPAddress": call.source.map(|ip| ip.to_string()),
        "userAgent": call.user_agent,
        "requestParameters": request_parameters(&call.body),
        "responseElements": Value::Null,
        "requestID": call.request_id.as_str(),
        "eventID": event_id.to_string(),
        "readOnly": read_only(&call.operation),
        "resources": resources,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": arn.account,
        "eventCategory": "Management",
    });
    if let Some((code, message)) = &call.error {
        record["errorCode"] = json!(code);
        record["errorMessage"] = json!(message);
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_keep_what_cloudtrail_shows_and_never_data() {
        let body = br#"{"KeyId":"alias/app","Plaintext":"c2VjcmV0","EncryptionContext":{"Tenant":"a","KeyId":"x"},
            "GrantTokens":["t"],"Tags":[{"TagKey":"team","TagValue":"a"}],"Recipient":{"AttestationDocument":"YQ=="},
            "DryRun":false}"#;
        assert_eq!(
            request_parameters(body),
            Some(json!({
                "keyId": "alias/app",
                "encryptionContext": {"Tenant": "a", "KeyId": "x"},
                "tags": [{"tagKey": "team", "tagValue": "a"}],
                "dryRun": false,
            }))
        );
        let verify = br#"{"KeyId":"k","Message":"bQ==","Signature":"cw==","SigningAlgorithm":"ECDSA_SHA_256","MessageType":"RAW"}"#;
        assert_eq!(
            request_parameters(verify),
            Some(json!({"keyId": "k", "signingAlgorithm": "ECDSA_SHA_256", "messageType": "RAW"}))
        );
        assert_eq!(request_parameters(b""), Some(json!({})));
        assert_eq!(request_parameters(b"[1]"), None);
        assert_eq!(request_parameters(b"{not json"), None);
    }

    #[test]
    fn read_only_follows_the_operation_s_verb() {
        for op in [
            "Encrypt",
            "Decrypt",
            "DescribeKey",
            "ListKeys",
            "GetKeyPolicy",
            "Sign",
        ] {
            assert!(read_only(op), "{op}");
        }
        for op in [
            "CreateKey",
            "ScheduleKeyDeletion",
            "PutKeyPolicy",
            "TagResource",
            "RotateKeyOnDemand",
        ] {
            assert!(!read_only(op), "{op}");
        }
    }

    #[test]
    fn a_record_names_the_caller_the_keys_and_the_error() {
        let arn = ArnConfig::default();
        let key = KeyId::from_bytes([7; 16]);
        let call = Call {
            time: 1_800_000_000_000,
            operation: "Encrypt".into(),
            request_id: RequestId::next(),
            caller: Some(("team-a".into(), "alice".into())),
            source: Some("127.0.0.1".parse().unwrap()),
            user_agent: Some("aws-cli/1".into()),
            body: Bytes::from_static(br#"{"KeyId":"alias/app","Plaintext":"eA=="}"#),
            keys: vec![key],
            error: Some(("DisabledException", "disabled".into())),
        };
        let event_id = uuid::Uuid::new_v4();
        let record = record(&call, &arn, event_id);
        assert_eq!(record["eventTime"], "2027-01-15T08:00:00Z");
        assert_eq!(record["eventName"], "Encrypt");
        assert_eq!(record["eventID"], event_id.to_string());
        assert_eq!(record["requestID"], call.request_id.as_str());
        assert_eq!(record["userIdentity"]["principalId"], "alice");
        assert_eq!(record["userIdentity"]["namespace"], "team-a");
        assert_eq!(record["sourceIPAddress"], "127.0.0.1");
        assert_eq!(record["readOnly"], true);
        assert_eq!(record["requestParameters"], json!({"keyId": "alias/app"}));
        assert_eq!(record["resources"][0]["ARN"], arn.key_arn(key));
        assert_eq!(record["errorCode"], "DisabledException");
        let unsigned = Call {
            caller: None,
            error: None,
            ..call
        };
        let record = super::record(&unsigned, &arn, event_id);
        assert!(record["userIdentity"].is_null());
        assert!(record.get("errorCode").is_none());
    }
}
