//! Policy variables: `${aws:username}` in a statement's `Resource` and in
//! the values of its string and ARN conditions stands for that condition
//! key's value in the request (IAM's policy variables). Only in policies of
//! Version 2012-10-17, as in IAM: in earlier ones `${` is text.
//!
//! `${key, 'default'}` gives a value for a request without one (`''` in it
//! is a quote); `${*}`, `${?}` and `${$}` are those characters as text. A
//! key the request lacks (or gives several values) with no default fills
//! in nothing: no value equals or is like it. What a request fills in is
//! text: a `*` it holds is no wildcard.

use super::condition::Context;
use super::pattern::Sym;

/// The Version whose policies have variables.
pub const VERSION: &str = "2012-10-17";

/// Whether `text` may hold a variable (a cheap test before [`expand`]).
pub fn may_have(text: &str) -> bool {
    text.contains("${")
}

/// `text` with its variables filled in from `context`, as pattern
/// symbols; `None` if one has no value and no default.
pub fn expand(text: &str, context: &Context) -> Option<Vec<Sym>> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.extend(plain(&rest[..at]));
        let Some((variable, after)) = Variable::parse(&rest[at + 2..]) else {
            // Not a variable after all: `$` is text.
            out.push(Sym::Char('$'));
            rest = &rest[at + 1..];
            continue;
        };
        out.extend(variable.value(context)?.chars().map(Sym::Char));
        rest = after;
    }
    out.extend(plain(rest));
    Some(out)
}

/// Text as policies write it: `*` and `?` are wildcards.
fn plain(text: &str) -> impl Iterator<Item = Sym> + '_ {
    text.chars().map(|c| match c {
        '*' => Sym::Any,
        '?' => Sym::One,
        c => Sym::Char(c),
    })
}

/// One `${…}`.
struct Variable<'a> {
    name: &'a str,
    default: Option<String>,
}

impl<'a> Variable<'a> {
    /// The variable whose text (after `${`) starts `text`, and the text
    /// after its `}`; `None` if `text` does not start one.
    fn parse(text: &'a str) -> Option<(Variable<'a>, &'a str)> {
        let end = text.find(['}', ','])?;
        let name = text[..end].trim();
        if name.is_empty() {
            return None;
        }
        if text[end..].starts_with('}') {
            let variable = Variable {
                name,
                default: None,
            };
            return Some((variable, &text[end + 1..]));
        }
        // `, 'default'` then `}`, with spaces around the quotes ignored.
        let quoted = text[end + 1..].trim_start().strip_prefix('\'')?;
        let mut default = String::new();
        let mut chars = quoted.char_indices().peekable();
        let after_quote = loop {
            let (i, c) = chars.next()?;
            match c {
                '\'' if chars.peek().is_some_and(|(_, c)| *c == '\'') => {
                    chars.next();
                    default.push('\'');
                }
                '\'' => break &quoted[i + 1..],
                c => default.push(c),
            }
        };
        let after = after_quote.trim_start().strip_prefix('}')?;
        let variable = Variable {
            name,
            default: Some(default),
        };
        Some((variable, after))
    }

    /// What it stands for in a request with `context`.
    fn value(&self, context: &Context) -> Option<String> {
        match self.name {
            "*" | "?" | "$" => return Some(self.name.to_owned()),
            _ => {}
        }
        match context.get(self.name) {
            Some([one]) => Some(one.clone()),
            // Several values (an encryption context's keys) fill in none.
            _ => self.default.clone(),
        }
    }
}

/// The text of symbols (for the operators that compare text, not
/// patterns): each wildcard as its character.
pub fn text(symbols: &[Sym]) -> String {
    symbols
        .iter()
        .map(|s| match s {
            Sym::Any => '*',
            Sym::One => '?',
            Sym::Char(c) => *c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::pattern::matches_symbols;

    fn context() -> Context {
        let mut context = Context::default();
        context.add("aws:username", "alice");
        context.add("kms:EncryptionContext:tenant", "a*b");
        context.add("kms:EncryptionContextKeys", "tenant");
        context.add("kms:EncryptionContextKeys", "app");
        context
    }

    fn filled(text: &str) -> Option<String> {
        expand(text, &context()).map(|s| super::text(&s))
    }

    #[test]
    fn a_variable_is_the_request_s_single_value_of_its_key_or_its_default() {
        for (text, expected) in [
            ("${aws:username}", Some("alice")),
            ("team/${aws:username}/*", Some("team/alice/*")),
            // Key names are compared with case ignored; spaces around go.
            ("${ AWS:UserName }", Some("alice")),
            ("${aws:username}${aws:username}", Some("alicealice")),
            ("no variable", Some("no variable")),
            // No value, or several: nothing, unless there is a default.
            ("${aws:userid}", None),
            ("x-${kms:EncryptionContextKeys}", None),
            ("${aws:userid, 'nobody'}", Some("nobody")),
            ("${aws:userid,'a''b'}", Some("a'b")),
            ("${aws:username, 'unused'}", Some("alice")),
            // One round: a default is not filled in again.
            ("${aws:userid, '${aws:username}'}", Some("${aws:username}")),
            // What is no variable stays text.
            ("${", Some("${")),
            ("${}", Some("${}")),
            ("$x ${unclosed", Some("$x ${unclosed")),
            ("${a, 'unterminated}", Some("${a, 'unterminated}")),
            ("cost: $5", Some("cost: $5")),
        ] {
            assert_eq!(filled(text).as_deref(), expected, "{text}");
        }
    }

    #[test]
    fn filled_in_text_and_escapes_match_only_themselves() {
        let context = context();
        let like =
            |pattern: &str, text: &str| matches_symbols(&expand(pattern, &context).unwrap(), text);
        // The request's `*` is text: it matches a `*` and nothing else.
        assert!(like("${kms:EncryptionContext:tenant}", "a*b"));
        assert!(!like("${kms:EncryptionContext:tenant}", "axxb"));
        // The policy's own wildcards still are.
        assert!(like("${aws:username}/*", "alice/reports"));
        assert!(like("${aws:username}?", "alices"));
        assert!(!like("${aws:username}/*", "bob/reports"));
        // `${*}`, `${?}`, `${$}`: the characters.
        assert!(like("a${*}b", "a*b") && !like("a${*}b", "axb"));
        assert!(like("a${?}", "a?") && !like("a${?}", "ab"));
        assert!(like("${$}{aws:username}", "${aws:username}"));
    }

    /// A key policy binding each user to data whose encryption context
    /// names them: filled in only in a policy of Version 2012-10-17.
    #[test]
    fn a_policy_of_2012_10_17_fills_its_variables_in_and_an_earlier_one_does_not() {
        use crate::policy::PolicyDocument;
        use crate::policy::evaluate::{Caller, Decision, Request, evaluate};
        let key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        // What `statements` (of `version`) say of `user` decrypting with
        // `tenant` in the encryption context.
        let decide = |version: &str, statements: &str, user: &str, tenant: &str| {
            let text = format!(r#"{{"Version":"{version}","Statement":[{statements}]}}"#);
            let policy = PolicyDocument::parse(&text).unwrap();
            let arn = format!("arn:aws:iam::111122223333:user/team-a/{user}");
            let mut context = Context::default();
            context.add("aws:username", user);
            context.add("aws:PrincipalArn", arn.as_str());
            context.add("kms:EncryptionContext:user", tenant);
            let caller = Caller {
                arn: &arn,
                account: "111122223333",
            };
            let request = Request {
                caller,
                action: "kms:Decrypt",
                resource: key,
                context: &context,
            };
            evaluate(&policy, &request)
        };
        let bound = r#"{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"arn:aws:kms:*:111122223333:key/*","Condition":{"StringEquals":{"kms:EncryptionContext:user":"${aws:username}"},"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/*/${aws:username}"}}}"#;
        assert_eq!(decide(VERSION, bound, "alice", "alice"), Decision::Allowed);
        assert_eq!(decide(VERSION, bound, "alice", "bob"), Decision::NotAllowed);
        assert_eq!(decide(VERSION, bound, "bob", "bob"), Decision::Allowed);
        // 2008-10-17 compares the text `${aws:username}` itself.
        let old = "2008-10-17";
        assert_eq!(decide(old, bound, "alice", "alice"), Decision::NotAllowed);
        let literal = decide(old, bound, "alice", "${aws:username}");
        assert_eq!(literal, Decision::NotAllowed, "ArnLike");

        // In the Resource too; a key the request lacks matches nothing.
        let by_resource = r#"{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"arn:aws:kms:*:*:key/${aws:userid}"},{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"arn:aws:kms:*:*:key/${kms:EncryptionContext:user}"}"#;
        let tenant = "1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(
            decide(VERSION, by_resource, "alice", tenant),
            Decision::Allowed
        );
        assert_eq!(
            decide(VERSION, by_resource, "alice", "other"),
            Decision::NotAllowed
        );
    }
}
