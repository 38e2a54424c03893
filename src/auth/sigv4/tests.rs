use super::*;
use crate::auth::credentials::Credential;

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn view(h: &[(String, String)]) -> Vec<(&str, &str)> {
    h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// AWS's published SigV4 test suite, "get-vanilla" and "post-vanilla".
#[test]
fn aws_test_suite_vectors() {
    let h = headers(&[
        ("Host", "example.amazonaws.com"),
        ("X-Amz-Date", "20150830T123600Z"),
    ]);
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    let signed = ["host", "x-amz-date"];
    for (method, expected) in [
        (
            "GET",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
        (
            "POST",
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
        ),
    ] {
        let request = SignedRequest {
            method,
            path: "/",
            query: "",
            headers: &view(&h),
            body: b"",
        };
        assert_eq!(
            signature(
                &request,
                &signed,
                "20150830T123600Z",
                "us-east-1",
                "service",
                secret
            )
            .as_str(),
            expected,
            "{method}"
        );
    }
}

#[test]
fn amz_dates_parse_to_epoch_seconds() {
    assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
    assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
    assert_eq!(parse_amz_date("20240229T235959Z"), Some(1_709_251_199));
    assert_eq!(parse_amz_date("2015-08-30T12:36:00Z"), None);
    assert_eq!(parse_amz_date("20151330T123600Z"), None);
}

proptest::proptest! {
    #[test]
    fn formatted_amz_dates_parse_back(secs in 0i64..253_402_300_799) {
        let formatted = format_amz_date(secs);
        proptest::prop_assert_eq!(parse_amz_date(&formatted), Some(secs), "{}", formatted);
    }
}

#[test]
fn amz_dates_format_as_signers_write_them() {
    assert_eq!(format_amz_date(0), "19700101T000000Z");
    assert_eq!(format_amz_date(1_709_251_199), "20240229T235959Z");
}

fn credentials() -> Credentials {
    Credentials::new([Credential {
        access_key_id: "AKIDTEST".into(),
        secret_access_key: zeroize::Zeroizing::new("secret".into()),
        principal: "alice".into(),
        namespace: "team-a".into(),
    }])
}

fn signed_headers(
    secret: &str,
    access_key: &str,
    date: &str,
    region: &str,
    service: &str,
    body: &[u8],
) -> Vec<(String, String)> {
    signed_with_host_as("host", secret, access_key, date, region, service, body)
}

/// A signed request whose host travels in the header `host_name` (`host`
/// over HTTP/1.1, `:authority` over HTTP/2), which is signed.
fn signed_with_host_as(
    host_name: &str,
    secret: &str,
    access_key: &str,
    date: &str,
    region: &str,
    service: &str,
    body: &[u8],
) -> Vec<(String, String)> {
    let mut h = headers(&[
        (host_name, "localhost:4000"),
        ("x-amz-date", date),
        ("x-amz-target", "TrentService.ListKeys"),
    ]);
    let request = SignedRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &view(&h),
        body,
    };
    let value = authorization(
        &request,
        &[host_name, "x-amz-date", "x-amz-target"],
        date,
        region,
        service,
        access_key,
        secret,
    );
    h.push(("Authorization".into(), value));
    h
}

const NOW: i64 = 1_440_938_160;
const DATE: &str = "20150830T123600Z";

#[test]
fn a_correctly_signed_request_names_its_credential() {
    let h = signed_headers("secret", "AKIDTEST", DATE, "us-east-1", "kms", b"{}");
    let request = SignedRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &view(&h),
        body: b"{}",
    };
    let c = credentials();
    let who = verify(&request, &c, "us-east-1", NOW).unwrap();
    assert_eq!(
        (who.principal.as_str(), who.namespace.as_str()),
        ("alice", "team-a")
    );
}

/// Verifies `POST /` with headers `h` and `body` at `now`; the signer's
/// principal.
fn check(h: &[(String, String)], body: &[u8], now: i64) -> Result<String, AuthError> {
    let request = SignedRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &view(h),
        body,
    };
    verify(&request, &credentials(), "us-east-1", now).map(|c| c.principal.clone())
}

#[test]
fn bad_requests_are_refused_with_the_right_error() {
    assert_eq!(
        check(&headers(&[("host", "x")]), b"{}", NOW),
        Err(AuthError::Missing)
    );
    let wrong_secret = signed_headers("other", "AKIDTEST", DATE, "us-east-1", "kms", b"{}");
    assert!(
        matches!(check(&wrong_secret, b"{}", NOW), Err(AuthError::BadSignature(m)) if m.contains("does not match"))
    );
    let good = signed_headers("secret", "AKIDTEST", DATE, "us-east-1", "kms", b"{}");
    assert!(
        matches!(
            check(&good, b"{\"Limit\":1}", NOW),
            Err(AuthError::BadSignature(_))
        ),
        "body is signed"
    );
    // AWS's words for a clock that is off, either way (DATE is NOW).
    assert_eq!(
        check(&good, b"{}", NOW + 16 * 60),
        Err(AuthError::BadSignature(
            "Signature expired: 20150830T123600Z is now earlier than 20150830T123700Z (20150830T125200Z - 15 min.)".into()
        ))
    );
    assert_eq!(
        check(&good, b"{}", NOW - 16 * 60),
        Err(AuthError::BadSignature(
            "Signature not yet current: 20150830T123600Z is still later than 20150830T123500Z (20150830T122000Z + 15 min.)".into()
        ))
    );
    assert_eq!(check(&good, b"{}", NOW + 14 * 60), Ok("alice".into()));
    assert_eq!(check(&good, b"{}", NOW - 14 * 60), Ok("alice".into()));
    let unknown = signed_headers("secret", "AKIDNOBODY", DATE, "us-east-1", "kms", b"{}");
    assert_eq!(
        check(&unknown, b"{}", NOW),
        Err(AuthError::UnknownAccessKey)
    );
    let s3 = signed_headers("secret", "AKIDTEST", DATE, "us-east-1", "s3", b"{}");
    // Correctly signed, but for another region than the endpoint's.
    let elsewhere = signed_headers("secret", "AKIDTEST", DATE, "eu-west-1", "kms", b"{}");
    assert_eq!(
        check(&elsewhere, b"{}", NOW),
        Err(AuthError::BadSignature(
            "Credential should be scoped to a valid region, not 'eu-west-1'.".into()
        ))
    );
    assert!(
        matches!(check(&s3, b"{}", NOW), Err(AuthError::BadSignature(m)) if m.contains("service"))
    );
    let mut garbled = good.clone();
    garbled.last_mut().unwrap().1 = "AWS4-HMAC-SHA256 Credential=AKIDTEST".into();
    assert!(matches!(
        check(&garbled, b"{}", NOW),
        Err(AuthError::Incomplete(_))
    ));
    // A credential scope of any other shape than key/date/region/service/aws4_request.
    let authorization = &good.last().unwrap().1;
    for scope in [
        "/us-east-1/kms/aws4_request,",
        "/us-east-1/kms/aws4_request/extra,",
        "/us-east-1/kms/aws5_request,",
    ] {
        let mut reshaped = good.clone();
        reshaped.last_mut().unwrap().1 =
            authorization.replacen("/us-east-1/kms/aws4_request,", scope, 1);
        let expected_ok = scope == "/us-east-1/kms/aws4_request,";
        let result = check(&reshaped, b"{}", NOW);
        assert_eq!(result.is_ok(), expected_ok, "{scope}: {result:?}");
        if !expected_ok {
            assert!(
                matches!(&result, Err(AuthError::Incomplete(m)) if m.contains("<key>/<date>/<region>/<service>/aws4_request")),
                "{scope}: {result:?}"
            );
        }
    }
}

/// The canonical request as SigV4's specification spells it, written
/// plainly; `canonical_request` builds the same bytes in one buffer.
fn reference_canonical_request(request: &SignedRequest<'_>, signed_headers: &[&str]) -> String {
    let mut canonical_headers = String::new();
    for name in signed_headers {
        let values: Vec<String> = request
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        canonical_headers.push_str(&format!(
            "{}:{}\n",
            name.to_ascii_lowercase(),
            values.join(",")
        ));
    }
    let path = if request.path.is_empty() {
        "/"
    } else {
        request.path
    };
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        uri_encode(&percent_decode(path), true),
        canonical_query(request.query),
        canonical_headers,
        signed_headers.join(";"),
        hex::encode(Sha256::digest(request.body)),
    )
}

proptest::proptest! {
    #[test]
    fn canonical_request_matches_the_specification(
        path in "(/[a-zA-Z0-9 %~._+-]{0,8}){0,3}",
        query in "([a-z%=&+ ]{0,6}){0,3}",
        headers in proptest::collection::vec(("[a-zA-Z-]{1,6}", "[ a-z\t,]{0,12}"), 0..6),
        body in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
    ) {
        let headers: Vec<(&str, &str)> =
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut signed: Vec<&str> = headers.iter().map(|(k, _)| *k).collect();
        signed.push("host");
        let request = SignedRequest { method: "POST", path: &path, query: &query, headers: &headers, body: &body };
        proptest::prop_assert_eq!(
            canonical_request(&request, &signed),
            reference_canonical_request(&request, &signed)
        );
    }
}

/// Over HTTP/2 a signer signs `:authority` instead of `host`; a request
/// that signs neither is refused as AWS refuses an unsigned `Host`.
#[test]
fn authority_stands_in_for_host_and_one_of_them_must_be_signed() {
    let sign =
        |name| signed_with_host_as(name, "secret", "AKIDTEST", DATE, "us-east-1", "kms", b"{}");
    let h2 = sign(":authority");
    assert_eq!(check(&h2, b"{}", NOW), Ok("alice".to_owned()));
    // The authority is part of what is signed.
    let mut moved = h2.clone();
    moved[0].1 = "elsewhere:4000".into();
    assert!(
        matches!(check(&moved, b"{}", NOW), Err(AuthError::BadSignature(m)) if m.contains("does not match"))
    );
    assert_eq!(
        check(&sign("x-forwarded-host"), b"{}", NOW),
        Err(AuthError::BadSignature(
            "'Host' must be a signed header.".into()
        ))
    );
}
