//! A statement's `Condition`: operators, and what each makes of a request's
//! condition keys. Every operator of a statement must hold, every key of an
//! operator must hold, and a key holds when the request's value matches any
//! of the values the policy gives (a negated operator: none of them).

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::pattern::{self, Sym};
use super::variables;

/// The condition keys of one request and their values. Key names are
/// compared with case ignored, as AWS compares them; a key may have several
/// values (`kms:EncryptionContextKeys`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    keys: BTreeMap<String, Vec<String>>,
}

impl Context {
    /// Adds `value` to `key`'s values.
    pub fn add(&mut self, key: &str, value: impl Into<String>) {
        self.keys
            .entry(key.to_lowercase())
            .or_default()
            .push(value.into());
    }

    /// `key`'s values; `None` when the request has none.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.keys
            .get(&key.to_lowercase())
            .map(Vec::as_slice)
            .filter(|values| !values.is_empty())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Qualifier {
    /// `ForAnyValue:`: some value of the request's matches.
    AnyValue,
    /// `ForAllValues:`: every value of the request's matches.
    AllValues,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Order {
    fn holds(self, request: f64, policy: f64) -> bool {
        match self {
            Order::Equal => request == policy,
            Order::Less => request < policy,
            Order::LessOrEqual => request <= policy,
            Order::Greater => request > policy,
            Order::GreaterOrEqual => request >= policy,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Order),
    Date(Order),
    Bool,
    Binary,
    IpAddress,
    Arn,
    Null,
}

/// A condition operator, e.g. `ForAllValues:StringNotLikeIfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    qualifier: Option<Qualifier>,
    test: Test,
    negated: bool,
    if_exists: bool,
}

impl Operator {
    /// The operator `name` spells; `None` if it is not one.
    pub fn parse(name: &str) -> Option<Operator> {
        let (qualifier, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (Some(Qualifier::AnyValue), rest)
        } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (Some(Qualifier::AllValues), rest)
        } else {
            (None, name)
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (rest, false),
        };
        let (test, negated) = match base {
            "StringEquals" => (Test::StringEquals, false),
            "StringNotEquals" => (Test::StringEquals, true),
            "StringEqualsIgnoreCase" => (Test::StringEqualsIgnoreCase, false),
            "StringNotEqualsIgnoreCase" => (Test::StringEqualsIgnoreCase, true),
            "StringLike" => (Test::StringLike, false),
            "StringNotLike" => (Test::StringLike, true),
            "NumericEquals" => (Test::Numeric(Order::Equal), false),
            "NumericNotEquals" => (Test::Numeric(Order::Equal), true),
            "NumericLessThan" => (Test::Numeric(Order::Less), false),
            "NumericLessThanEquals" => (Test::Numeric(Order::LessOrEqual), false),
            "NumericGreaterThan" => (Test::Numeric(Order::Greater), false),
            "NumericGreaterThanEquals" => (Test::Numeric(Order::GreaterOrEqual), false),
            "DateEquals" => (Test::Date(Order::Equal), false),
            "DateNotEquals" => (Test::Date(Order::Equal), true),
            "DateLessThan" => (Test::Date(Order::Less), false),
            "DateLessThanEquals" => (Test::Date(Order::LessOrEqual), false),
            "DateGreaterThan" => (Test::Date(Order::Greater), false),
            "DateGreaterThanEquals" => (Test::Date(Order::GreaterOrEqual), false),
            "Bool" => (Test::Bool, false),
            "BinaryEquals" => (Test::Binary, false),
            "IpAddress" => (Test::IpAddress, false),
            "NotIpAddress" => (Test::IpAddress, true),
            // ArnEquals and ArnLike compare alike: part by part, wildcards
            // allowed in both.
            "ArnEquals" | "ArnLike" => (Test::Arn, false),
            "ArnNotEquals" | "ArnNotLike" => (Test::Arn, true),
            "Null" => (Test::Null, false),
            _ => return None,
        };
        // `Null` asks whether the key is there: neither a set qualifier
        // nor IfExists means anything to it.
        if test == Test::Null && (qualifier.is_some() || if_exists) {
            return None;
        }
        Some(Operator {
            qualifier,
            test,
            negated,
            if_exists,
        })
    }

    /// Whether this operator holds for a key the policy gives `expected`
    /// values and the request `actual` (`None`: the request has none).
    pub fn holds(&self, expected: &[String], actual: Option<&[String]>) -> bool {
        self.holds_in(expected, actual, None)
    }

    /// As [`Operator::holds`], with the policy variables in `expected`
    /// filled in from `variables` where given (a policy of Version
    /// 2012-10-17): string and ARN operators take them.
    pub fn holds_in(
        &self,
        expected: &[String],
        actual: Option<&[String]>,
        variables: Option<&Context>,
    ) -> bool {
        if self.test == Test::Null {
            let absent = actual.is_none();
            return expected
                .iter()
                .any(|e| e.eq_ignore_ascii_case("true") == absent);
        }
        let Some(actual) = actual else {
            return match self.qualifier {
                // Every one of no values matches; not one of them does.
                Some(Qualifier::AllValues) => true,
                Some(Qualifier::AnyValue) => false,
                // A key the request lacks matches nothing: a negated
                // operator holds, a plain one does not (unless IfExists).
                None => self.if_exists || self.negated,
            };
        };
        let variables = variables.filter(|_| self.test.takes_variables());
        let test = |e: &String, value: &String| match variables {
            Some(context) if variables::may_have(e) => {
                // Nothing filled in: no value equals or is like it.
                variables::expand(e, context).is_some_and(|e| self.test.matches_filled(&e, value))
            }
            _ => self.test.matches(e, value),
        };
        let matches = |value: &String| {
            let any = expected.iter().any(|e| test(e, value));
            any != self.negated
        };
        match self.qualifier {
            Some(Qualifier::AllValues) => actual.iter().all(matches),
            Some(Qualifier::AnyValue) => actual.iter().any(matches),
            // One value, as most keys have; of several, a negated operator
            // wants none to match and a plain one any.
            None if self.negated => actual.iter().all(matches),
            None => actual.iter().any(matches),
        }
    }
}

impl Test {
    /// Whether the operator's values may hold policy variables (IAM fills
    /// them in for string and ARN comparisons).
    fn takes_variables(self) -> bool {
        matches!(
            self,
            Test::StringEquals | Test::StringEqualsIgnoreCase | Test::StringLike | Test::Arn
        )
    }

    /// As [`Test::matches`], of an expected value with its variables
    /// filled in.
    fn matches_filled(self, expected: &[Sym], actual: &str) -> bool {
        match self {
            Test::StringLike => pattern::matches_symbols(expected, actual),
            Test::Arn => pattern::arn_matches_symbols(expected, actual),
            other => other.matches(&variables::text(expected), actual),
        }
    }

    /// Whether the request's `actual` value matches the policy's `expected`.
    fn matches(self, expected: &str, actual: &str) -> bool {
        match self {
            Test::StringEquals | Test::Binary => expected == actual,
            Test::StringEqualsIgnoreCase => expected.to_lowercase() == actual.to_lowercase(),
            Test::StringLike => pattern::matches(expected, actual),
            Test::Numeric(order) => match (expected.parse::<f64>(), actual.parse::<f64>()) {
                (Ok(e), Ok(a)) => order.holds(a, e),
                _ => false,
            },
            Test::Date(order) => match (seconds(expected), seconds(actual)) {
                (Some(e), Some(a)) => order.holds(a, e),
                _ => false,
            },
            Test::Bool => expected.eq_ignore_ascii_case(actual),
            Test::IpAddress => match actual.parse::<IpAddr>() {
                Ok(ip) => in_block(expected, ip),
                Err(_) => false,
            },
            Test::Arn => pattern::arn_matches(expected, actual),
            Test::Null => unreachable!("Null looks at presence, not values"),
        }
    }
}

/// A date as `Date*` operators take it: epoch seconds, an RFC 3339 time,
/// or a day (midnight UTC).
fn seconds(text: &str) -> Option<f64> {
    use k8s_openapi::jiff::{Timestamp, civil::Date, tz::TimeZone};
    if let Ok(n) = text.parse::<f64>() {
        return Some(n);
    }
    if let Ok(t) = text.parse::<Timestamp>() {
        return Some(t.as_millisecond() as f64 / 1000.0);
    }
    let day: Date = text.parse().ok()?;
    let t = day.to_zoned(TimeZone::UTC).ok()?.timestamp();
    Some(t.as_second() as f64)
}

/// Whether `ip` is in `block`, a CIDR block (`10.0.0.0/8`, `2001:db8::/32`)
/// or a single address.
fn in_block(block: &str, ip: IpAddr) -> bool {
    let (address, bits) = match block.split_once('/') {
        Some((a, b)) => match b.parse::<u32>() {
            Ok(bits) => (a, Some(bits)),
            Err(_) => return false,
        },
        None => (block, None),
    };
    match (address.parse::<IpAddr>(), ip) {
        (Ok(IpAddr::V4(net)), IpAddr::V4(ip)) => within(
            u32::from(net).into(),
            u32::from(ip).into(),
            bits.unwrap_or(32),
            32,
        ),
        (Ok(IpAddr::V6(net)), IpAddr::V6(ip)) => {
            within(u128::from(net), u128::from(ip), bits.unwrap_or(128), 128)
        }
        _ => false,
    }
}

/// Whether the first `bits` of `width` agree.
fn within(net: u128, ip: u128, bits: u32, width: u32) -> bool {
    if bits > width {
        return false;
    }
    let shift = width - bits;
    // Shifting by the full width would overflow: a /0 holds everything.
    shift >= width || net >> shift == ip >> shift
}

#[cfg(test)]
mod tests;
