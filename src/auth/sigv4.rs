//! AWS Signature Version 4 verification (service `kms`), a pure function of
//! the request, the credentials and the time.

use aws_lc_rs::hmac;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::credentials::{Credential, Credentials};

/// Requests signed more than this far from our clock are refused (AWS's limit).
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 15 * 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Missing Authentication Token")]
    Missing,
    #[error("{0}")]
    Incomplete(String),
    #[error("The security token included in the request is invalid.")]
    UnknownAccessKey,
    #[error("{0}")]
    BadSignature(String),
}

/// What SigV4 covers of an HTTP request.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The raw path, as sent.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// Header names (any case) and values.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, AuthError> {
    let incomplete = |what: &str| {
        AuthError::Incomplete(format!(
            "Authorization header requires {what}. Authorization={value}"
        ))
    };
    let rest = value.strip_prefix("AWS4-HMAC-SHA256").ok_or_else(|| {
        AuthError::Incomplete(format!(
            "Unsupported authorization type: {}",
            value.split(' ').next().unwrap_or("")
        ))
    })?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let credential = credential.ok_or_else(|| incomplete("'Credential' parameter"))?;
    let signed = signed.ok_or_else(|| incomplete("'SignedHeaders' parameter"))?;
    let signature = signature.ok_or_else(|| incomplete("'Signature' parameter"))?;
    let mut scope = credential.split('/');
    let (Some(access_key_id), Some(date), Some(region), Some(service), Some("aws4_request"), None) = (
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
    ) else {
        return Err(incomplete(
            "a credential of the form <key>/<date>/<region>/<service>/aws4_request",
        ));
    };
    Ok(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers: signed.split(';').collect(),
        signature,
    })
}

fn header<'a>(headers: &[(&'a str, &'a str)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// Seconds since the epoch of an ISO 8601 basic timestamp (`20240101T000000Z`).
fn parse_amz_date(value: &str) -> Option<i64> {
    let b = value.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| value.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// The ISO 8601 basic timestamp (`20240101T000000Z`) of `secs` since the
/// epoch, as a signer puts in `X-Amz-Date`.
pub fn format_amz_date(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// RFC 3986 encoding as SigV4 wants it (unreserved characters kept).
fn uri_encode(input: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(input.len());
    for b in input.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(input.get(i + 1..i + 3).unwrap_or("zz"), 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k), false),
                uri_encode(&percent_decode(v), false),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// HMAC-SHA256 through AWS-LC, which wipes its contexts when they are
/// dropped: every key in the chain is a credential for a day.
fn hmac_sha256(key: &[u8], data: &[u8]) -> Zeroizing<[u8; 32]> {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data);
    let mut out = Zeroizing::new([0; 32]);
    out.copy_from_slice(tag.as_ref());
    out
}

/// A SHA-256 digest as 64 lowercase hex digits, on the stack.
fn hex_digest(digest: &[u8; 32]) -> [u8; 64] {
    let mut out = [0; 64];
    hex::encode_to_slice(digest, &mut out).expect("the buffer is twice the input");
    out
}

/// SigV4's canonical request, built in one buffer: it is hashed on every
/// request.
fn canonical_request(request: &SignedRequest<'_>, signed_headers: &[&str]) -> String {
    let mut out = String::with_capacity(512);
    out.push_str(request.method);
    out.push('\n');
    let path = if request.path.is_empty() {
        "/"
    } else {
        request.path
    };
    // Unreserved characters and '/' encode to themselves.
    if path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.~/".contains(&b))
    {
        out.push_str(path);
    } else {
        out.push_str(&uri_encode(&percent_decode(path), true));
    }
    out.push('\n');
    out.push_str(&canonical_query(request.query));
    out.push('\n');
    for name in signed_headers {
        out.extend(name.chars().map(|c| c.to_ascii_lowercase()));
        out.push(':');
        let values = request
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        for (i, (_, value)) in values.enumerate() {
            if i > 0 {
                out.push(',');
            }
            // Trimmed, inner runs of whitespace made one space.
            for (j, word) in value.split_whitespace().enumerate() {
                if j > 0 {
                    out.push(' ');
                }
                out.push_str(word);
            }
        }
        out.push('\n');
    }
    out.push('\n');
    for (i, name) in signed_headers.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(name);
    }
    out.push('\n');
    let body_hash = hex_digest(&Sha256::digest(request.body).into());
    out.push_str(std::str::from_utf8(&body_hash).expect("hex digits are ASCII"));
    out
}

/// A SigV4 signature: 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature([u8; 64]);

impl Signature {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}

impl std::fmt::Display for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signature({})", self.as_str())
    }
}

/// The SigV4 signature of `request` under `secret` (exposed for tests and
/// for the test client). Nothing here allocates but the canonical request:
/// this runs on every request, and its small allocations and `format!`
/// calls showed in the endpoint's profile.
pub fn signature(
    request: &SignedRequest<'_>,
    signed_headers: &[&str],
    amz_date: &str,
    region: &str,
    service: &str,
    secret: &str,
) -> Signature {
    let canonical_request = canonical_request(request, signed_headers);
    let date = &amz_date[..8.min(amz_date.len())];
    let hashed = hex_digest(&Sha256::digest(canonical_request.as_bytes()).into());
    with_signing_key(secret, date, region, service, |key| {
        // The string to sign, fed to the HMAC piece by piece.
        let mut mac = hmac::Context::with_key(key);
        for part in [
            "AWS4-HMAC-SHA256\n",
            amz_date,
            "\n",
            date,
            "/",
            region,
            "/",
            service,
            "/aws4_request\n",
        ] {
            mac.update(part.as_bytes());
        }
        mac.update(&hashed);
        let tag = mac.sign();
        let digest = tag.as_ref().try_into().expect("HMAC-SHA256 is 32 bytes");
        Signature(hex_digest(digest))
    })
}

/// The `Authorization` header value a SigV4 signer sends with `request`
/// (for tests, the bench and the test client).
pub fn authorization(
    request: &SignedRequest<'_>,
    signed_headers: &[&str],
    amz_date: &str,
    region: &str,
    service: &str,
    access_key_id: &str,
    secret: &str,
) -> String {
    let signature = signature(request, signed_headers, amz_date, region, service, secret);
    format!(
        "AWS4-HMAC-SHA256 Credential={access_key_id}/{}/{region}/{service}/aws4_request, SignedHeaders={}, Signature={signature}",
        &amz_date[..8.min(amz_date.len())],
        signed_headers.join(";")
    )
}

/// The headers an AWS SDK sends with a KMS `operation` on `body` to `host`,
/// signed now (for the bench and tests): `authorization` last.
pub fn signed_kms_headers(
    operation: &str,
    host: &str,
    body: &[u8],
    region: &str,
    access_key_id: &str,
    secret: &str,
) -> Vec<(&'static str, String)> {
    let target = format!("TrentService.{operation}");
    signed_target_headers(&target, host, body, region, access_key_id, secret)
}

/// As [`signed_kms_headers`], for any `X-Amz-Target` (requests between
/// deployments use their own).
pub fn signed_target_headers(
    target: &str,
    host: &str,
    body: &[u8],
    region: &str,
    access_key_id: &str,
    secret: &str,
) -> Vec<(&'static str, String)> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut headers = vec![
        ("content-type", "application/x-amz-json-1.1".to_owned()),
        ("host", host.to_owned()),
        ("x-amz-date", format_amz_date(now)),
        ("x-amz-target", target.to_owned()),
    ];
    let names: Vec<&str> = headers.iter().map(|(name, _)| *name).collect();
    let views: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let request = SignedRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &views,
        body,
    };
    let value = authorization(
        &request,
        &names,
        &headers[2].1,
        region,
        "kms",
        access_key_id,
        secret,
    );
    headers.push(("authorization", value));
    headers
}

/// A signing key and what it was derived from.
struct CachedKey {
    secret: Zeroizing<String>,
    date: String,
    region: String,
    service: String,
    /// Keyed once: AWS-LC keeps the inner and outer hash states, copies
    /// them for each signature and wipes them when the key is evicted.
    key: hmac::Key,
}

/// Runs `sign` with the key SigV4 derives from a secret for one day, region
/// and service: four chained HMACs that were a fifth of verifying a request.
/// Kept per thread (no lock on the request path), at most 16 per thread,
/// looked up by the secret itself so a changed secret never meets an old key.
fn with_signing_key<R>(
    secret: &str,
    date: &str,
    region: &str,
    service: &str,
    sign: impl FnOnce(&hmac::Key) -> R,
) -> R {
    const PER_THREAD: usize = 16;
    thread_local! {
        static KEYS: std::cell::RefCell<Vec<CachedKey>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    KEYS.with_borrow_mut(|keys| {
        let found = keys.iter().position(|k| {
            k.secret.as_str() == secret
                && k.date == date
                && k.region == region
                && k.service == service
        });
        let at = found.unwrap_or_else(|| {
            let seed = Zeroizing::new(format!("AWS4{secret}"));
            let key = hmac_sha256(seed.as_bytes(), date.as_bytes());
            let key = hmac_sha256(&key[..], region.as_bytes());
            let key = hmac_sha256(&key[..], service.as_bytes());
            let key = hmac_sha256(&key[..], b"aws4_request");
            if keys.len() >= PER_THREAD {
                keys.remove(0);
            }
            keys.push(CachedKey {
                secret: Zeroizing::new(secret.to_owned()),
                date: date.to_owned(),
                region: region.to_owned(),
                service: service.to_owned(),
                key: hmac::Key::new(hmac::HMAC_SHA256, &key[..]),
            });
            keys.len() - 1
        });
        sign(&keys[at].key)
    })
}

/// AWS's message for a signature made too long before or after `now`, in
/// its words: SDKs match them (the JavaScript SDK retries on "Signature
/// expired") and read the server's time from them.
fn skew_error(amz_date: &str, signed_at: i64, now: i64) -> Option<String> {
    if (now - signed_at).abs() <= MAX_CLOCK_SKEW_SECONDS {
        // Every request comes here: no date is formatted unless it is refused.
        return None;
    }
    let (minutes, server) = (MAX_CLOCK_SKEW_SECONDS / 60, format_amz_date(now));
    if now - signed_at > MAX_CLOCK_SKEW_SECONDS {
        let earliest = format_amz_date(now - MAX_CLOCK_SKEW_SECONDS);
        Some(format!(
            "Signature expired: {amz_date} is now earlier than {earliest} ({server} - {minutes} min.)"
        ))
    } else if signed_at - now > MAX_CLOCK_SKEW_SECONDS {
        let latest = format_amz_date(now + MAX_CLOCK_SKEW_SECONDS);
        Some(format!(
            "Signature not yet current: {amz_date} is still later than {latest} ({server} + {minutes} min.)"
        ))
    } else {
        None
    }
}

/// Verifies a SigV4-signed request at `now` (epoch seconds) for this
/// endpoint's `region`; returns the credential that signed it.
pub fn verify<'c>(
    request: &SignedRequest<'_>,
    credentials: &'c Credentials,
    region: &str,
    now: i64,
) -> Result<&'c Credential, AuthError> {
    let authorization = header(request.headers, "authorization").ok_or(AuthError::Missing)?;
    let auth = parse_authorization(authorization)?;
    if auth.service != "kms" {
        return Err(AuthError::BadSignature(format!(
            "Credential should be scoped to correct service: 'kms', not '{}'.",
            auth.service
        )));
    }
    // A signature is bound to one region, as on AWS: a client set up for
    // another region is told so instead of getting ARNs it did not expect.
    if auth.region != region {
        return Err(AuthError::BadSignature(format!(
            "Credential should be scoped to a valid region, not '{}'.",
            auth.region
        )));
    }
    // Over HTTP/2, `:authority` stands in for `Host`.
    if !auth
        .signed_headers
        .iter()
        .any(|h| h.eq_ignore_ascii_case("host") || *h == ":authority")
    {
        return Err(AuthError::BadSignature(
            "'Host' must be a signed header.".into(),
        ));
    }
    let amz_date = header(request.headers, "x-amz-date").ok_or_else(|| {
        AuthError::Incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                .into(),
        )
    })?;
    let signed_at = parse_amz_date(amz_date).ok_or_else(|| {
        AuthError::Incomplete(format!(
            "X-Amz-Date '{amz_date}' is not an ISO 8601 basic timestamp."
        ))
    })?;
    if let Some(message) = skew_error(amz_date, signed_at, now) {
        return Err(AuthError::BadSignature(message));
    }
    if !amz_date.starts_with(auth.date) || auth.date.len() != 8 {
        return Err(AuthError::BadSignature(format!(
            "Credential should be scoped to a valid date: '{}' does not match X-Amz-Date '{amz_date}'.",
            auth.date
        )));
    }
    let credential = credentials
        .get(auth.access_key_id)
        .ok_or(AuthError::UnknownAccessKey)?;
    let expected = signature(
        request,
        &auth.signed_headers,
        amz_date,
        auth.region,
        auth.service,
        &credential.secret_access_key,
    );
    if expected.0.ct_eq(auth.signature.as_bytes()).into() {
        Ok(credential)
    } else {
        Err(AuthError::BadSignature(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
                .into(),
        ))
    }
}

#[cfg(test)]
mod tests;
