//! What the audit trail keeps of a request body: CloudTrail's
//! `requestParameters`. Written straight into the record (not rendered on
//! their own first) where the request is handled, from the body while it is
//! still in cache, so the body (kilobytes of plaintext, say) goes with the
//! request rather than waiting in the writer's queue.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::api::reply::write_str;

/// Request members never written to the audit trail: data, ciphertexts,
/// signatures, MACs, peers' public keys, attestation documents, grant
/// and import tokens, wrapped key material (CloudTrail leaves them out
/// too), and what deployments send each other for multi-Region keys.
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
    "GrantToken",
    "ImportToken",
    "EncryptedKeyMaterial",
    // Between deployments (multi-Region keys): offers, their sealed
    // tokens and packages of encrypted material.
    "Offer",
    "Token",
    "Packages",
];

/// The body a record's `requestParameters` are written from.
#[derive(Debug, Clone)]
pub struct RequestParameters<'a> {
    /// `None` when the body was never read (it was too large, say).
    body: Option<Cow<'a, [u8]>>,
    strings: Strings,
}

/// How withheld strings are passed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strings {
    /// Checked as serde_json checks them: a body that is not JSON has no
    /// parameters (the record says `null`).
    Checked,
    /// Only their ends found: the endpoint's parser read the whole body
    /// already. Were it not JSON after all, the record would still be: a
    /// withheld string is never copied into it, everything copied is read
    /// by serde_json.
    Accepted,
}

impl<'a> RequestParameters<'a> {
    /// The parameters of `body`: camelCase names, withheld members left
    /// out, encryption contexts as sent.
    pub fn of_body(body: impl Into<Cow<'a, [u8]>>) -> Self {
        RequestParameters {
            body: Some(body.into()),
            strings: Strings::Checked,
        }
    }

    /// [`RequestParameters::of_body`] of a body the endpoint's parser
    /// accepted as JSON (the call was answered): its withheld strings,
    /// kilobytes of base64, are not checked a second time.
    pub fn of_accepted_body(body: &'a [u8]) -> Self {
        RequestParameters {
            body: Some(body.into()),
            strings: Strings::Accepted,
        }
    }

    /// No parameters: the body was never read (it was too large, say).
    pub fn none() -> Self {
        RequestParameters {
            body: None,
            strings: Strings::Checked,
        }
    }

    /// Appends the parameters as one JSON object, or `null` for a body
    /// that is not a JSON object or was never read.
    pub fn write(&self, out: &mut Vec<u8>) {
        let written = self
            .body
            .as_deref()
            .is_some_and(|body| write_object(body, self.strings, out));
        if !written {
            out.extend_from_slice(b"null");
        }
    }

    /// What [`RequestParameters::write`] writes, unless `null` (tests).
    #[cfg(test)]
    pub(crate) fn rendered(&self) -> Option<Box<RawValue>> {
        let mut out = Vec::new();
        self.write(&mut out);
        let text = String::from_utf8(out).expect("parameters are UTF-8");
        (text != "null").then(|| RawValue::from_string(text).expect("parameters are JSON"))
    }
}

/// Writes the members of `body` that are not withheld, in name order, as
/// one JSON object; false, with nothing written, when `body` is not a JSON
/// object in UTF-8 (it is read whole before anything is written).
fn write_object(body: &[u8], strings: Strings, out: &mut Vec<u8>) -> bool {
    if body.iter().all(u8::is_ascii_whitespace) {
        out.extend_from_slice(b"{}");
        return true;
    }
    let Some(members) = members(body, strings) else {
        return false;
    };
    out.push(b'{');
    let mut first = true;
    for (name, raw) in members {
        let start = out.len();
        if !first {
            out.push(b',');
        }
        write_camel_case(out, &name);
        out.push(b':');
        let text = raw.get();
        let structured = text.starts_with(['{', '[']);
        // An encryption context's keys are the caller's own.
        if structured && !name.ends_with("EncryptionContext") {
            match serde_json::from_str::<Value>(text) {
                Ok(value) => serde_json::to_writer(&mut *out, &camel_case_members(value))
                    .expect("writing to a Vec does not fail"),
                Err(_) => {
                    out.truncate(start);
                    continue;
                }
            }
        } else if structured {
            write_compacted(out, text);
        } else {
            out.extend_from_slice(text.as_bytes());
        }
        first = false;
    }
    out.push(b'}');
    true
}

/// Appends `name` as a JSON string, its first letter in lower case.
fn write_camel_case(out: &mut Vec<u8>, name: &str) {
    if name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        // An ASCII letter is written as it is, right after the quote.
        let at = out.len() + 1;
        write_str(out, name);
        out[at].make_ascii_lowercase();
    } else {
        write_str(out, &camel_case(name));
    }
}

/// Appends `text` without the whitespace between its tokens. A record is
/// one line of the trail: a newline the caller put between an encryption
/// context's members would otherwise split it, and break the chain at the
/// record after it.
fn write_compacted(out: &mut Vec<u8>, text: &str) {
    let space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    if !text.bytes().any(space) {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    // Byte by byte: JSON's whitespace, quotes and backslashes are ASCII,
    // never part of a longer character.
    let (mut in_string, mut escaped) = (false, false);
    for b in text.bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if space(b) {
            continue;
        }
        out.push(b);
    }
}

/// The members of the JSON object `body` that are not withheld, by name
/// (the last of a repeated name wins, as serde_json's maps have it), or
/// `None` when `body` is not one JSON object in UTF-8. A withheld string
/// (4 KiB of base64 plaintext, say) is skipped in one pass, a vector at a
/// time, never parsed or copied: checked as it goes, unless the body was
/// `Accepted`; everything else is serde_json's to read. Each byte is
/// checked once at most: the body as a whole is never run through a UTF-8
/// check of its own.
fn members(body: &[u8], strings: Strings) -> Option<BTreeMap<Cow<'_, str>, &RawValue>> {
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
                match strings {
                    Strings::Checked => scan.skip_string()?,
                    Strings::Accepted => scan.pass_string()?,
                }
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

    /// Moves past the string that starts here, finding only its end.
    fn pass_string(&mut self) -> Option<()> {
        let bytes = self.text;
        let mut from = self.at + 1;
        loop {
            let found = from + memchr::memchr2(b'"', b'\\', bytes.get(from..)?)?;
            if bytes[found] == b'"' {
                self.at = found + 1;
                return Some(());
            }
            from = found + 2;
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
