//! What the audit trail keeps of a request body: CloudTrail's
//! `requestParameters`. Made where the request is handled, from the body
//! while it is still in cache, so the body (kilobytes of plaintext, say)
//! goes with the request rather than waiting in the writer's queue.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

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

/// A request's `requestParameters`, rendered once: `None` for a body that
/// is not a JSON object (the record then says `null`).
#[derive(Debug, Clone)]
pub struct RequestParameters(Option<Box<RawValue>>);

impl RequestParameters {
    /// The parameters of `body`: camelCase names, withheld members left
    /// out, encryption contexts as sent.
    pub fn of_body(body: &[u8]) -> RequestParameters {
        RequestParameters(
            parameters(body).and_then(|members| serde_json::value::to_raw_value(&members).ok()),
        )
    }

    /// No parameters: the body was never read (it was too large, say).
    pub fn none() -> RequestParameters {
        RequestParameters(None)
    }

    /// The rendered JSON object, if the body was one.
    pub fn as_raw(&self) -> Option<&RawValue> {
        self.0.as_deref()
    }
}

/// One member of `requestParameters`: as sent, or with its structures'
/// member names in camelCase.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Parameter<'a> {
    AsSent(&'a RawValue),
    /// As sent, less the whitespace between tokens.
    Compacted(Box<RawValue>),
    Renamed(Value),
}

/// Members in name order, serialized as one JSON object.
struct Parameters<'a>(Vec<(String, Parameter<'a>)>);

impl Serialize for Parameters<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

fn parameters(body: &[u8]) -> Option<Parameters<'_>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Some(Parameters(Vec::new()));
    }
    let members = members(body)?;
    let mut out = Vec::with_capacity(members.len());
    for (name, raw) in members {
        let structured = raw.get().starts_with(['{', '[']);
        // An encryption context's keys are the caller's own.
        let value = if structured && !name.ends_with("EncryptionContext") {
            match serde_json::from_str::<Value>(raw.get()) {
                Ok(value) => Parameter::Renamed(camel_case_members(value)),
                Err(_) => continue,
            }
        } else if structured {
            compact(raw).map_or(Parameter::AsSent(raw), Parameter::Compacted)
        } else {
            Parameter::AsSent(raw)
        };
        out.push((camel_case(&name), value));
    }
    Some(Parameters(out))
}

/// `raw` without the whitespace between its tokens, if it has any. A
/// record is one line of the trail: a newline the caller put between an
/// encryption context's members would otherwise split it, and break the
/// chain at the record after it.
fn compact(raw: &RawValue) -> Option<Box<RawValue>> {
    let text = raw.get();
    let space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    if !text.contains(space) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if space(c) {
            continue;
        }
        out.push(c);
    }
    RawValue::from_string(out).ok()
}

/// The members of the JSON object `body` that are not withheld, by name
/// (the last of a repeated name wins, as serde_json's maps have it), or
/// `None` when `body` is not one JSON object in UTF-8. A withheld string
/// (4 KiB of base64 plaintext, say) is checked and skipped in one pass, a
/// vector at a time, never parsed or copied; everything else is
/// serde_json's to read. Each byte is checked once: the body as a whole is
/// never run through a UTF-8 check of its own.
fn members(body: &[u8]) -> Option<BTreeMap<Cow<'_, str>, &RawValue>> {
    let mut scan = Scan { text: body, at: 0 };
    let mut members = BTreeMap::new();
    scan.whitespace();
    scan.expect(b'{')?;
    scan.whitespace();
    if scan.peek() == Some(b'}') {
        scan.at += 1;
    } else {
        loop {
            let name = scan.name()?;
            scan.whitespace();
            scan.expect(b':')?;
            scan.whitespace();
            let withheld = WITHHELD.contains(&name.as_ref());
            if withheld && scan.peek() == Some(b'"') {
                scan.skip_string()?;
            } else {
                let raw = scan.value()?;
                if !withheld {
                    members.insert(name, raw);
                }
            }
            scan.whitespace();
            match scan.next()? {
                b',' => scan.whitespace(),
                b'}' => break,
                _ => return None,
            }
        }
    }
    scan.whitespace();
    (scan.at == body.len()).then_some(members)
}

/// A cursor over JSON text, for the top level of an object.
struct Scan<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    /// JSON's whitespace (not Unicode's, nor a form feed).
    fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// A member name, its escapes decoded (`"Plaint\u0065xt"` is `Plaintext`).
    fn name(&mut self) -> Option<Cow<'a, str>> {
        let start = self.at;
        if self.peek()? != b'"' {
            return None;
        }
        self.skip_string()?;
        // skip_string checked it; names are short, so checking again to
        // have a str costs nothing that shows.
        let quoted = std::str::from_utf8(&self.text[start..self.at]).ok()?;
        if quoted.contains('\\') {
            serde_json::from_str::<String>(quoted).ok().map(Cow::Owned)
        } else {
            Some(Cow::Borrowed(&quoted[1..quoted.len() - 1]))
        }
    }

    /// Moves past the string that starts here, checking it as serde_json
    /// does: UTF-8, no control characters, only JSON's escapes.
    fn skip_string(&mut self) -> Option<()> {
        let bytes = self.text;
        let mut from = self.at + 1;
        loop {
            let found = from + plain_prefix(bytes.get(from..)?);
            match *bytes.get(found)? {
                b'"' => {
                    self.at = found + 1;
                    return Some(());
                }
                b'\\' => {}
                0x80.. => {
                    // One character, checked whole: the width its first
                    // byte claims, then std's check of exactly those bytes.
                    let width = match bytes[found] {
                        0xC2..=0xDF => 2,
                        0xE0..=0xEF => 3,
                        0xF0..=0xF4 => 4,
                        _ => return None,
                    };
                    std::str::from_utf8(bytes.get(found..found + width)?).ok()?;
                    from = found + width;
                    continue;
                }
                _ => return None,
            }
            from = match bytes.get(found + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => found + 2,
                b'u' if bytes
                    .get(found + 2..found + 6)?
                    .iter()
                    .all(u8::is_ascii_hexdigit) =>
                {
                    found + 6
                }
                _ => return None,
            };
        }
    }

    /// The JSON value that starts here, read (and checked as UTF-8) by
    /// serde_json.
    fn value(&mut self) -> Option<&'a RawValue> {
        let rest = &self.text[self.at..];
        let mut reader = serde_json::Deserializer::from_slice(rest);
        let raw = <&RawValue>::deserialize(&mut reader).ok()?;
        // Whitespace was skipped already, so the value starts here.
        if !std::ptr::eq(raw.get().as_ptr(), rest.as_ptr()) {
            return None;
        }
        self.at += raw.get().len();
        Some(raw)
    }
}

/// How many bytes `bytes` starts with that a JSON string holds as they
/// are: printable ASCII other than `"` and `\\`. Base64, the usual content
/// of a withheld string, is all such bytes.
fn plain_prefix(bytes: &[u8]) -> usize {
    let odd = |b: u8| (b.wrapping_sub(0x20) >= 0x60) | (b == b'"') | (b == b'\\');
    // Blocks of 128 with no early exit inside one: each vectorizes (even to
    // SSE2), and the test of whether a block is all plain is paid once per
    // block rather than per 16 bytes.
    let mut at = 0;
    for block in bytes.chunks_exact(128) {
        if block.iter().fold(0u8, |seen, &b| seen | odd(b) as u8) != 0 {
            break;
        }
        at += 128;
    }
    at + bytes[at..].iter().take_while(|&&b| !odd(b)).count()
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

#[cfg(test)]
mod tests;
