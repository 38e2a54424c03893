//! One audit record per call, shaped like the CloudTrail record AWS KMS
//! writes for it, so tools that read CloudTrail read ours. Pure: built off
//! the request path from what the endpoint gathered ([`Call`]).

use std::net::IpAddr;

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::parameters::RequestParameters;

use crate::api::ArnConfig;
use crate::key::Millis;
use crate::key_id::KeyId;
use crate::lifecycle::Action;
use crate::operator::key_status::rfc3339;
use crate::request_id::RequestId;

/// The `eventSource` of the endpoint's records, AWS KMS's own.
pub const ENDPOINT: &str = "kms.amazonaws.com";
/// The `eventSource` of the KMS v2 plugin's records.
pub const PLUGIN: &str = "kms-v2-plugin.kubekms.io";

/// What the endpoint (or the plugin) knows of one call when it has answered.
#[derive(Debug, Clone)]
pub struct Call {
    /// [`ENDPOINT`] or [`PLUGIN`].
    pub event_source: &'static str,
    pub time: Millis,
    /// The operation (`Encrypt`), or the `X-Amz-Target` as sent when it
    /// names none.
    pub operation: String,
    pub request_id: RequestId,
    /// `(namespace, principal)`, once the caller is known.
    pub caller: Option<(String, String)>,
    pub source: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// What the trail keeps of the request body.
    pub parameters: RequestParameters,
    /// The keys the call resolved, in order.
    pub keys: Vec<KeyId>,
    /// The AWS error type and message, if the call failed.
    pub error: Option<(&'static str, String)>,
}

impl Call {
    /// The record of a lifecycle action kube-kms carries out itself, as AWS
    /// records its own: `RotateKey` for an automatic rotation, `DeleteKey`
    /// when a deletion window ends (principal `kube-kms`, in `namespace`:
    /// the key's for the controller, none for `serve`, which learns only
    /// the key's id of what its lifecycle run did).
    pub fn lifecycle(time: Millis, key: KeyId, action: Action, namespace: &str) -> Call {
        Call {
            event_source: ENDPOINT,
            time,
            operation: match action {
                Action::Rotate(_) => "RotateKey",
                Action::Destroy => "DeleteKey",
            }
            .into(),
            request_id: RequestId::next(),
            caller: Some((namespace.to_owned(), "kube-kms".into())),
            source: None,
            user_agent: None,
            parameters: RequestParameters::of_body(b""),
            keys: vec![key],
            error: None,
        }
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Identity<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    principal_id: &'a str,
    account_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    namespace: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Resource<'a> {
    account_id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "ARN")]
    arn: String,
}

/// The record's members, in CloudTrail's order, then the chain's.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a, L: Serialize> {
    event_version: &'static str,
    user_identity: Option<Identity<'a>>,
    event_time: &'a str,
    event_source: &'static str,
    event_name: &'a str,
    aws_region: &'a str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: Option<IpAddr>,
    user_agent: Option<&'a str>,
    request_parameters: Option<&'a RawValue>,
    response_elements: Option<()>,
    #[serde(rename = "requestID")]
    request_id: &'a str,
    #[serde(rename = "eventID")]
    event_id: &'a str,
    read_only: bool,
    resources: Vec<Resource<'a>>,
    event_type: &'static str,
    management_event: bool,
    recipient_account_id: &'a str,
    event_category: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    kube_kms_chain: L,
}

/// Appends the CloudTrail-shaped record of `call` to `out`, as one line
/// without its newline: made at `event_time` (RFC 3339), with an event id
/// of its own (unique as request ids are, without asking the kernel for
/// randomness per record) and `chain` as its link.
pub fn write(
    call: &Call,
    arn: &ArnConfig,
    event_time: &str,
    chain: impl Serialize,
    out: &mut Vec<u8>,
) {
    let event_id = RequestId::next();
    let record = Record {
        event_version: "1.11",
        user_identity: call.caller.as_ref().map(|(namespace, principal)| Identity {
            kind: "KubeKmsPrincipal",
            principal_id: principal,
            account_id: &arn.account,
            namespace,
        }),
        event_time,
        event_source: call.event_source,
        event_name: &call.operation,
        aws_region: &arn.region,
        source_ip_address: call.source,
        user_agent: call.user_agent.as_deref(),
        request_parameters: call.parameters.as_raw(),
        response_elements: None,
        request_id: call.request_id.as_str(),
        event_id: event_id.as_str(),
        read_only: read_only(&call.operation),
        resources: call
            .keys
            .iter()
            .map(|id| Resource {
                account_id: &arn.account,
                kind: "AWS::KMS::Key",
                arn: arn.key_arn(*id),
            })
            .collect(),
        event_type: "AwsApiCall",
        management_event: true,
        recipient_account_id: &arn.account,
        event_category: "Management",
        error_code: call.error.as_ref().map(|(code, _)| *code),
        error_message: call.error.as_ref().map(|(_, message)| message.as_str()),
        kube_kms_chain: chain,
    };
    serde_json::to_writer(out, &record).expect("writing to a Vec does not fail");
}

/// The record of `call` as a JSON value, without a chain (tests, tools).
pub fn record(call: &Call, arn: &ArnConfig) -> Value {
    let mut line = Vec::new();
    write(call, arn, &rfc3339(call.time), (), &mut line);
    let mut value: Value = serde_json::from_slice(&line).expect("a record is JSON");
    if let Some(members) = value.as_object_mut() {
        members.remove("kubeKmsChain");
    }
    value
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;

    /// A call from a known caller naming `alias/app`, with data the trail
    /// must leave out (the writer's and rotation's tests).
    pub(crate) fn call(operation: &str) -> Call {
        Call {
            event_source: ENDPOINT,
            time: 1_800_000_000_000,
            operation: operation.into(),
            request_id: RequestId::next(),
            caller: Some(("default".into(), "tester".into())),
            source: None,
            user_agent: None,
            parameters: RequestParameters::of_body(
                br#"{"KeyId":"alias/app","Plaintext":"c2VjcmV0"}"#,
            ),
            keys: Vec::new(),
            error: None,
        }
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
            event_source: ENDPOINT,
            time: 1_800_000_000_000,
            operation: "Encrypt".into(),
            request_id: RequestId::next(),
            caller: Some(("team-a".into(), "alice".into())),
            source: Some("127.0.0.1".parse().unwrap()),
            user_agent: Some("aws-cli/1".into()),
            parameters: RequestParameters::of_body(br#"{"KeyId":"alias/app","Plaintext":"eA=="}"#),
            keys: vec![key],
            error: Some(("DisabledException", "disabled".into())),
        };
        let record = record(&call, &arn);
        assert_eq!(record["eventTime"], "2027-01-15T08:00:00Z");
        assert_eq!(record["eventName"], "Encrypt");
        let event_id = record["eventID"].as_str().unwrap();
        assert!(event_id.parse::<uuid::Uuid>().is_ok() && event_id != call.request_id.as_str());
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
        let record = super::record(&unsigned, &arn);
        assert!(record["userIdentity"].is_null());
        assert!(record.get("errorCode").is_none());
    }
}
