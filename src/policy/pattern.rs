//! Wildcards as policies write them: `*` stands for any run of characters
//! (none included), `?` for any one character.

/// Whether `text` matches `pattern`, case for case.
pub fn matches(pattern: &str, text: &str) -> bool {
    glob(pattern, text, |p, t| p == t)
}

/// Whether `text` matches `pattern` with case ignored (actions, and
/// `StringEqualsIgnoreCase`).
pub fn matches_ignoring_case(pattern: &str, text: &str) -> bool {
    glob(pattern, text, |p, t| {
        p == t || p.to_lowercase().eq(t.to_lowercase())
    })
}

/// One symbol of a pattern: a wildcard, or a character that matches only
/// itself (as a policy variable's value is, whatever it holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sym {
    /// `*`: any run of characters.
    Any,
    /// `?`: any one character.
    One,
    Char(char),
}

/// A pattern read symbol by symbol.
trait Symbols {
    /// The symbol at position `at` and the position after it; `None` at
    /// the end.
    fn sym(&self, at: usize) -> Option<(Sym, usize)>;
}

/// Text as policies write it: `*` and `?` are wildcards. Positions are
/// byte offsets.
impl Symbols for str {
    fn sym(&self, at: usize) -> Option<(Sym, usize)> {
        let c = self[at..].chars().next()?;
        let sym = match c {
            '*' => Sym::Any,
            '?' => Sym::One,
            c => Sym::Char(c),
        };
        Some((sym, at + c.len_utf8()))
    }
}

impl Symbols for [Sym] {
    fn sym(&self, at: usize) -> Option<(Sym, usize)> {
        self.get(at).map(|sym| (*sym, at + 1))
    }
}

/// Whether `text` matches symbols already read (a pattern with its
/// policy variables filled in).
pub fn matches_symbols(pattern: &[Sym], text: &str) -> bool {
    glob(pattern, text, |p, t| p == t)
}

/// Greedy with one backtrack point, the last `*` seen and where in the
/// text it was tried from: linear in practice, never exponential, and
/// without allocating (it runs for every action of every statement of a
/// key's policy on every request).
fn glob<P: Symbols + ?Sized>(pattern: &P, text: &str, same: impl Fn(char, char) -> bool) -> bool {
    let next = |s: &str, at: usize| s[at..].chars().next();
    let (mut p, mut t) = (0, 0);
    // Where the pattern goes on after the last `*`, and the text position
    // it was last tried from.
    let mut star: Option<(usize, usize)> = None;
    while let Some(tc) = next(text, t) {
        match pattern.sym(p) {
            Some((Sym::Any, after)) => {
                star = Some((after, t));
                p = after;
            }
            Some((Sym::One, after)) => {
                p = after;
                t += tc.len_utf8();
            }
            Some((Sym::Char(pc), after)) if same(pc, tc) => {
                p = after;
                t += tc.len_utf8();
            }
            _ => match star {
                // Let the last `*` take one more character and try again.
                Some((after, star_t)) => {
                    let taken = star_t + next(text, star_t).map_or(1, char::len_utf8);
                    p = after;
                    t = taken;
                    star = Some((after, taken));
                }
                None => return false,
            },
        }
    }
    while let Some((sym, after)) = pattern.sym(p) {
        if sym != Sym::Any {
            return false;
        }
        p = after;
    }
    true
}

/// Whether `arn` matches `pattern` as `ArnLike` compares: each of the six
/// colon-separated parts on its own, wildcards within a part only (the
/// last part, the resource, may itself hold colons).
pub fn arn_matches(pattern: &str, arn: &str) -> bool {
    let pattern: Vec<&str> = pattern.splitn(6, ':').collect();
    let arn: Vec<&str> = arn.splitn(6, ':').collect();
    pattern.len() == 6 && arn.len() == 6 && pattern.iter().zip(&arn).all(|(p, a)| matches(p, a))
}

/// As [`arn_matches`], of symbols already read.
pub fn arn_matches_symbols(pattern: &[Sym], arn: &str) -> bool {
    let mut parts: Vec<&[Sym]> = Vec::with_capacity(6);
    let mut rest = pattern;
    while parts.len() < 5
        && let Some(colon) = rest.iter().position(|s| *s == Sym::Char(':'))
    {
        parts.push(&rest[..colon]);
        rest = &rest[colon + 1..];
    }
    parts.push(rest);
    let arn: Vec<&str> = arn.splitn(6, ':').collect();
    parts.len() == 6 && arn.len() == 6 && parts.iter().zip(&arn).all(|(p, a)| matches_symbols(p, a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_characters_match_only_themselves() {
        assert!(matches("kms:Encrypt", "kms:Encrypt"));
        assert!(!matches("kms:Encrypt", "kms:encrypt"));
        assert!(!matches("kms:Encrypt", "kms:EncryptX"));
        assert!(!matches("kms:EncryptX", "kms:Encrypt"));
        assert!(matches("", ""));
        assert!(!matches("", "a"));
    }

    #[test]
    fn a_star_takes_any_run_and_a_question_mark_one_character() {
        assert!(matches("*", ""));
        assert!(matches("*", "anything at all"));
        assert!(matches("kms:*", "kms:Decrypt"));
        assert!(matches("kms:ReEncrypt*", "kms:ReEncryptFrom"));
        assert!(matches("kms:ReEncrypt*", "kms:ReEncrypt"));
        assert!(matches(
            "kms:Generate*Key*",
            "kms:GenerateDataKeyPairWithoutPlaintext"
        ));
        assert!(!matches("kms:Generate*Key", "kms:GenerateDataKeyPair"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(!matches("a?c", "abbc"));
        assert!(matches("*a*a*a*", "xaxaxax"));
        assert!(!matches(
            "*a*a*a*b",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        ));
        assert!(matches("é*", "été"));
        assert!(matches("?t?", "été"));
        // A star in the text is matched by a star in the pattern as a wildcard.
        assert!(matches("a*c", "a*xc"));
    }

    #[test]
    fn case_can_be_ignored() {
        assert!(matches_ignoring_case("KMS:encrypt", "kms:Encrypt"));
        assert!(matches_ignoring_case("kms:describe*", "kms:DescribeKey"));
        assert!(!matches_ignoring_case("kms:describe*", "kms:Decrypt"));
        assert!(matches_ignoring_case("ÉTÉ", "été"));
    }

    #[test]
    fn arns_match_part_by_part() {
        let arn = "arn:aws:kms:us-east-1:111122223333:key/1234";
        assert!(arn_matches(arn, arn));
        assert!(arn_matches("arn:aws:kms:*:111122223333:key/*", arn));
        assert!(arn_matches("arn:*:*:*:*:*", arn));
        // A wildcard does not reach across a colon into the next part.
        assert!(!arn_matches("arn:aws:kms:*:key/1234", arn));
        assert!(!arn_matches(
            "arn:aws:kms:us-east-1:111122223333:key/12345",
            arn
        ));
        assert!(!arn_matches(
            "arn:aws:kms:us-east-1:111122223333:key/1234",
            "not-an-arn"
        ));
        // The resource part keeps its colons.
        assert!(arn_matches(
            "arn:aws:iam::111122223333:role/*",
            "arn:aws:iam::111122223333:role/a:b"
        ));
    }
}
