use std::collections::BTreeMap;

use serde_json::json;

use super::*;

/// [`RequestParameters::of_body`] as a JSON value.
fn request_parameters(body: &[u8]) -> Option<Value> {
    let parameters = RequestParameters::of_body(body);
    serde_json::from_str(parameters.rendered()?.get()).ok()
}

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
    let retire = br#"{"GrantToken":"AQID","KeyId":"k","GrantId":"g"}"#;
    assert_eq!(
        request_parameters(retire),
        Some(json!({"keyId": "k", "grantId": "g"}))
    );
    // Between deployments: the offer, its token and the packages stay out.
    let deliver = br#"{"KeyId":"mrk-1","PrimaryRegion":"us-east-1","Token":"dA==","Packages":["cA==","cQ=="],"Shared":{"Replicas":["eu-west-1"]}}"#;
    assert_eq!(
        request_parameters(deliver),
        Some(
            json!({"keyId": "mrk-1", "primaryRegion": "us-east-1", "shared": {"replicas": ["eu-west-1"]}})
        )
    );
    // An escaped name is still the member it names: escaping never lets
    // a withheld member in; a repeated one keeps its last value.
    let escaped = br#"{"Key\u0049d":"a","KeyId":"b","Plaint\u0065xt":"c2VjcmV0"}"#;
    assert_eq!(request_parameters(escaped), Some(json!({"keyId": "b"})));
    assert_eq!(request_parameters(b""), Some(json!({})));
    assert_eq!(request_parameters(b" \n"), Some(json!({})));
    assert_eq!(request_parameters(b"{}"), Some(json!({})));
    assert_eq!(request_parameters(b"[1]"), None);
    assert_eq!(request_parameters(b"{not json"), None);
    // Invalid UTF-8 inside a withheld string makes the body no JSON at all.
    assert_eq!(request_parameters(b"{\"Plaintext\":\"\xff\"}"), None);
}

/// A record is one line: a caller's layout of an encryption context
/// (newlines, indentation) is not kept, its strings are, spaces and
/// escapes included.
#[test]
fn parameters_are_one_line_whatever_the_layout_sent() {
    let body = b"{\"KeyId\": \"k\",\r\n \"EncryptionContext\": {\n\t\"purpose\" : \"a \\\"quoted\\\" test\",\n  \"b\": \"\\\\\" \n}\n}";
    let parameters = RequestParameters::of_body(&body[..]);
    let raw = parameters.rendered().unwrap();
    assert_eq!(
        raw.get(),
        r#"{"encryptionContext":{"purpose":"a \"quoted\" test","b":"\\"},"keyId":"k"}"#
    );
    assert_eq!(
        request_parameters(body),
        Some(
            json!({"keyId": "k", "encryptionContext": {"purpose": "a \"quoted\" test", "b": "\\"}})
        )
    );
}

/// What serde_json makes of `body` as a map, withheld members left out:
/// the reading `members` must agree with.
fn as_serde_json_reads_it(body: &[u8]) -> Option<BTreeMap<String, String>> {
    let all: BTreeMap<String, &RawValue> = serde_json::from_slice(body).ok()?;
    Some(
        all.into_iter()
            .filter(|(name, _)| !WITHHELD.contains(&name.as_str()))
            .map(|(name, raw)| (name, raw.get().to_owned()))
            .collect(),
    )
}

fn as_members_reads_it(body: &[u8], strings: Strings) -> Option<BTreeMap<String, String>> {
    Some(
        members(body, strings)?
            .into_iter()
            .map(|(name, raw)| (name.into_owned(), raw.get().to_owned()))
            .collect(),
    )
}

/// What a record says of `body`, read back as a JSON value (`Null` for
/// `null`); panics if what was written is not JSON.
fn written(body: &[u8], strings: Strings) -> Value {
    let parameters = RequestParameters {
        body: Some(body.into()),
        strings,
    };
    let mut out = b"[".to_vec();
    parameters.write(&mut out);
    out.push(b']');
    let mut read: Vec<Value> = serde_json::from_slice(&out).expect("parameters are JSON");
    read.pop().expect("one value")
}

/// The `requestParameters` serde_json's own reading of `body` gives, as a
/// value: withheld members left out, names camel-cased, structures' member
/// names too but for encryption contexts'.
fn as_cloudtrail_shows_it(body: &[u8]) -> Value {
    let Some(members) = as_serde_json_reads_it(body) else {
        return Value::Null;
    };
    Value::Object(
        members
            .into_iter()
            .map(|(name, raw)| {
                let value: Value = serde_json::from_str(&raw).expect("a member is JSON");
                let value = match name.ends_with("EncryptionContext") {
                    true => value,
                    false => camel_case_members(value),
                };
                (camel_case(&name), value)
            })
            .collect(),
    )
}

/// The fast reading of withheld strings accepts exactly what serde_json
/// accepts and keeps exactly what it keeps: checked on bodies of every
/// shape, and on every one of them cut short and with a byte changed or
/// added at every position.
#[test]
fn members_are_read_as_serde_json_reads_them() {
    let plaintext = "QUJD".repeat(40);
    let bodies = [
        format!(r#"{{"KeyId":"alias/app","Plaintext":"{plaintext}"}}"#),
        format!(r#" {{ "Plaintext" : "{plaintext}" , "KeyId" : "k" }} "#),
        r#"{"Plaintext":"a\"b\\c\/d\b\f\n\r\t\u00e9\uD83D\uDE00","KeyId":1.5e3}"#.into(),
        r#"{"Plaint\u0065xt":"x","Key\u0049d":"a","KeyId":"b","DryRun":true}"#.into(),
        r#"{"GrantTokens":["t1","t2"],"Recipient":{"A":"b"},"Limit":10,"Marker":null}"#.into(),
        r#"{"EncryptionContext":{"Plaintext":"kept as sent"},"Tags":[{"TagKey":"k"}]}"#.into(),
        "{\"Plaintext\":\"é ü \u{1F600}\",\"KeyId\":\"ключ\"}".into(),
        "{}".into(),
        "\t{\r\n}\n".into(),
    ];
    let mut checked = 0;
    for body in &bodies {
        assert!(as_serde_json_reads_it(body.as_bytes()).is_some(), "{body}");
        let mut variants = vec![body.clone()];
        for at in (0..=body.len()).filter(|&i| body.is_char_boundary(i)) {
            variants.push(body[..at].to_owned());
            for byte in ["\"", "\\", "\u{1}", "}", ",", ":", "u", "0", " ", "\u{c}"] {
                variants.push(format!("{}{byte}{}", &body[..at], &body[at..]));
                if let Some(next) = body[at..].chars().next() {
                    let after = at + next.len_utf8();
                    variants.push(format!("{}{byte}{}", &body[..at], &body[after..]));
                }
            }
        }
        for variant in variants {
            let expected = as_serde_json_reads_it(variant.as_bytes());
            let read = |strings| as_members_reads_it(variant.as_bytes(), strings);
            assert_eq!(read(Strings::Checked), expected, "{variant:?}");
            // Whatever the body, what is written is JSON (`written` reads it).
            let shown = written(variant.as_bytes(), Strings::Accepted);
            if expected.is_some() {
                assert_eq!(read(Strings::Accepted), expected, "{variant:?}");
                let oracle = as_cloudtrail_shows_it(variant.as_bytes());
                assert_eq!(shown, oracle, "{variant:?}");
            }
            checked += 1;
        }
    }
    assert!(checked > 10_000, "{checked}");
}

/// Bytes that are not UTF-8 (a lone continuation byte, a cut sequence, an
/// overlong form, a surrogate, bytes past U+10FFFF) are refused wherever
/// they stand, in a withheld string or out of one, as serde_json refuses
/// them; valid multi-byte characters are kept. The body is longer than the
/// scanner's 32-byte step, so every position within and across steps is
/// tried.
#[test]
fn bodies_that_are_not_utf8_are_refused_wherever_the_bytes_stand() {
    let body = format!(
        r#"{{"Plaintext":"{}","KeyId":"alias/ü","EncryptionContext":{{"a":"é"}}}}"#,
        "QUJD".repeat(20)
    )
    .into_bytes();
    let inserts: [&[u8]; 9] = [
        &[0x80],
        &[0xC3],
        &[0xE2, 0x82],
        &[0xC0, 0xAF],
        &[0xED, 0xA0, 0x80],
        &[0xF4, 0x90, 0x80, 0x80],
        &[0xF5, 0x80, 0x80, 0x80],
        &[0xFF],
        "€😀".as_bytes(),
    ];
    let (mut refused, mut kept) = (0, 0);
    for at in 0..=body.len() {
        for insert in inserts {
            for replace in [0, 1] {
                let mut variant = body[..at].to_vec();
                variant.extend_from_slice(insert);
                variant.extend_from_slice(body.get(at + replace..).unwrap_or_default());
                let expected = as_serde_json_reads_it(&variant);
                let read = as_members_reads_it(&variant, Strings::Checked);
                assert_eq!(read, expected, "{variant:?}");
                match expected {
                    Some(_) => kept += 1,
                    None => refused += 1,
                }
            }
        }
    }
    // Valid characters inside strings are kept, everything else refused.
    assert!(
        kept > 100 && refused > 1000,
        "kept {kept}, refused {refused}"
    );
}
