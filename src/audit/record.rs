//! One audit record per call, shaped like the CloudTrail record AWS KMS
//! writes for it, so tools that read CloudTrail read ours. Pure: built off
//! the request path from what the endpoint gathered ([`Call`]).

use std::borrow::Cow;
use std::net::IpAddr;

use serde::Serialize;
use serde_json::Value;

use super::parameters::RequestParameters;

use crate::api::ArnConfig;
use crate::api::reply::write_str;
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
pub struct Call<'a> {
    /// [`ENDPOINT`] or [`PLUGIN`].
    pub event_source: &'static str,
    pub time: Millis,
    /// The operation (`Encrypt`), or the `X-Amz-Target` as sent when it
    /// names none.
    pub operation: Cow<'a, str>,
    pub request_id: RequestId,
    /// `(namespace, principal)`, once the caller is known.
    pub caller: Option<(Cow<'a, str>, Cow<'a, str>)>,
    pub source: Option<IpAddr>,
    pub user_agent: Option<Cow<'a, str>>,
    /// What the trail keeps of the request body.
    pub parameters: RequestParameters<'a>,
    /// The keys the call resolved, in order.
    pub keys: Vec<KeyId>,
    /// The AWS error type and message, if the call failed.
    pub error: Option<(&'static str, String)>,
}

impl Call<'_> {
    /// The record of a lifecycle action kube-kms carries out itself, as AWS
    /// records its own: `RotateKey` for an automatic rotation, `DeleteKey`
    /// when a deletion window ends, `DeleteExpiredKeyMaterial` when imported
    /// material reaches its `ValidTo` (principal `kube-kms`, in `namespace`:
    /// the key's for the controller, none for `serve`, which learns only
    /// the key's id of what its lifecycle run did).
    pub fn lifecycle(time: Millis, key: KeyId, action: Action, namespace: &str) -> Call<'_> {
        Call {
            event_source: ENDPOINT,
            time,
            operation: match action {
                Action::Rotate(_) => "RotateKey",
                Action::Destroy => "DeleteKey",
                Action::ExpireMaterial => "DeleteExpiredKeyMaterial",
            }
            .into(),
            request_id: RequestId::next(),
            caller: Some((namespace.into(), "kube-kms".into())),
            source: None,
            user_agent: None,
            parameters: RequestParameters::of_body(&b""[..]),
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

/// Appends the CloudTrail-shaped record of `call` to `out`, as one line
/// without its newline: made at `event_time` (RFC 3339), with an event id
/// of its own (unique as request ids are, without asking the kernel for
/// randomness per record) and `chain` as its link. Members in CloudTrail's
/// order, then the chain's. Written by hand rather than by a derived
/// `Serialize`: the writer thread makes one per call, and serde's map
/// machinery and byte-at-a-time escaping were most of its cost. Strings go
/// through the replies' `write_str`, so the bytes are serde_json's all the
/// same (a test holds it to that).
pub fn write(
    call: &Call,
    arn: &ArnConfig,
    event_time: &str,
    chain: impl Serialize,
    out: &mut Vec<u8>,
) {
    write_unlinked(call, arn, event_time, out);
    link(chain, out);
}

/// The record of `call` without its link and closing brace: all of it that
/// does not depend on the records before it, so it can be made where the
/// call was answered.
pub fn write_unlinked(call: &Call, arn: &ArnConfig, event_time: &str, out: &mut Vec<u8>) {
    let event_id = RequestId::next();
    out.extend_from_slice(br#"{"eventVersion":"1.11","userIdentity":"#);
    match &call.caller {
        Some((namespace, principal)) => {
            out.extend_from_slice(br#"{"type":"KubeKmsPrincipal","principalId":"#);
            write_str(out, principal);
            out.extend_from_slice(br#","arn":"#);
            write_str(out, &crate::api::caller_arn(arn, namespace, principal));
            out.extend_from_slice(br#","accountId":"#);
            write_str(out, &arn.account);
            if !namespace.is_empty() {
                out.extend_from_slice(br#","namespace":"#);
                write_str(out, namespace);
            }
            out.push(b'}');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(br#","eventTime":"#);
    write_str(out, event_time);
    out.extend_from_slice(br#","eventSource":"#);
    write_str(out, call.event_source);
    out.extend_from_slice(br#","eventName":"#);
    write_str(out, &call.operation);
    out.extend_from_slice(br#","awsRegion":"#);
    write_str(out, &arn.region);
    out.extend_from_slice(br#","sourceIPAddress":"#);
    match call.source {
        // An address's text needs no escaping.
        Some(ip) => {
            use std::io::Write;
            write!(out, "\"{ip}\"").expect("writing to a Vec does not fail");
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(br#","userAgent":"#);
    match &call.user_agent {
        Some(agent) => write_str(out, agent),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(br#","requestParameters":"#);
    call.parameters.write(out);
    out.extend_from_slice(br#","responseElements":null,"requestID":"#);
    write_str(out, call.request_id.as_str());
    out.extend_from_slice(br#","eventID":"#);
    write_str(out, event_id.as_str());
    out.extend_from_slice(match read_only(&call.operation) {
        true => br#","readOnly":true,"resources":["#,
        false => br#","readOnly":false,"resources":["#,
    });
    for (i, id) in call.keys.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"accountId":"#);
        write_str(out, &arn.account);
        out.extend_from_slice(br#","type":"AWS::KMS::Key","ARN":"#);
        write_str(out, &arn.key_arn(*id));
        out.push(b'}');
    }
    out.extend_from_slice(
        br#"],"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"#,
    );
    write_str(out, &arn.account);
    out.extend_from_slice(br#","eventCategory":"Management""#);
    if let Some((code, message)) = &call.error {
        out.extend_from_slice(br#","errorCode":"#);
        write_str(out, code);
        out.extend_from_slice(br#","errorMessage":"#);
        write_str(out, message);
    }
}

/// Ends a record begun by [`write_unlinked`] with its link.
pub fn link(chain: impl Serialize, out: &mut Vec<u8>) {
    out.extend_from_slice(br#","kubeKmsChain":"#);
    serde_json::to_writer(&mut *out, &chain).expect("writing to a Vec does not fail");
    out.push(b'}');
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
pub(crate) mod tests;
