use serde_json::json;

use super::*;

mod oracle {
    use std::net::IpAddr;

    use serde::Serialize;
    use serde_json::value::RawValue;

    use super::super::{ArnConfig, Call, RequestId, read_only};

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Identity<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        principal_id: &'a str,
        arn: String,
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
        request_parameters: Option<Box<RawValue>>,
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

    /// The derived serializer `write` replaced, kept as its oracle; its event
    /// id is given, so the two lines can be compared byte for byte.
    pub(super) fn serde_write(
        call: &Call,
        arn: &ArnConfig,
        event_time: &str,
        chain: impl Serialize,
        event_id: &RequestId,
        out: &mut Vec<u8>,
    ) {
        let record = Record {
            event_version: "1.11",
            user_identity: call.caller.as_ref().map(|(namespace, principal)| Identity {
                kind: "KubeKmsPrincipal",
                principal_id: principal,
                arn: crate::api::caller_arn(arn, namespace, principal),
                account_id: &arn.account,
                namespace,
            }),
            event_time,
            event_source: call.event_source,
            event_name: &call.operation,
            aws_region: &arn.region,
            source_ip_address: call.source,
            user_agent: call.user_agent.as_deref(),
            request_parameters: call.parameters.rendered(),
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
}

#[test]
fn records_are_the_bytes_serde_json_writes() {
    let arn = ArnConfig::default();
    let keys = [KeyId::from_bytes([7; 16]), KeyId::from_bytes([9; 16])];
    let texts = [
        "",
        "plain",
        "quote \" and backslash \\",
        "a \" alone",
        "a \\ alone",
        "line\nfeed\ttab\u{1}\u{1f}",
        "é ✓ 🔑",
        "\u{7f}/</script>",
    ];
    let mut calls = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        calls.push(Call {
            event_source: [ENDPOINT, PLUGIN][i % 2],
            time: 1_800_000_000_000,
            operation: format!("Encrypt{text}").into(),
            request_id: RequestId::next(),
            caller: Some(((*text).into(), format!("p{text}").into())),
            source: [
                None,
                Some("127.0.0.1".parse().unwrap()),
                Some("::1".parse().unwrap()),
            ][i % 3],
            user_agent: Some(format!("aws-cli/2 {text}").into()),
            parameters: RequestParameters::of_body(
                serde_json::to_vec(&json!({"KeyId": text, "Plaintext": "eA=="})).unwrap(),
            ),
            keys: keys[..i % 3].to_vec(),
            error: Some(("NotFoundException", format!("Key {text} not found"))),
        });
    }
    calls.push(Call {
        caller: None,
        user_agent: None,
        parameters: RequestParameters::none(),
        error: None,
        ..calls[0].clone()
    });
    calls.push(Call {
        operation: "CreateKey".into(),
        parameters: RequestParameters::of_body(b"{}"),
        ..calls[1].clone()
    });
    let mut link = crate::audit::chain::Link::genesis();
    for call in &calls {
        let mut ours = Vec::new();
        write(call, &arn, "2027-01-15T08:00:00Z", link.fields(), &mut ours);
        let event_id: serde_json::Value = serde_json::from_slice(&ours).unwrap();
        let event_id: RequestId = event_id["eventID"].as_str().unwrap().parse().unwrap();
        let mut theirs = Vec::new();
        oracle::serde_write(
            call,
            &arn,
            "2027-01-15T08:00:00Z",
            link.fields(),
            &event_id,
            &mut theirs,
        );
        assert_eq!(
            String::from_utf8(ours.clone()).unwrap(),
            String::from_utf8(theirs).unwrap()
        );
        link.advance(&ours);
    }
}

/// A call from a known caller naming `alias/app`, with data the trail
/// must leave out (the writer's and rotation's tests).
pub(crate) fn call(operation: &str) -> Call<'_> {
    Call {
        event_source: ENDPOINT,
        time: 1_800_000_000_000,
        operation: operation.into(),
        request_id: RequestId::next(),
        caller: Some(("default".into(), "tester".into())),
        source: None,
        user_agent: None,
        parameters: RequestParameters::of_body(br#"{"KeyId":"alias/app","Plaintext":"c2VjcmV0"}"#),
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
