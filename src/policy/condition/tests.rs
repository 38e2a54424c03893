use super::*;

fn values(vs: &[&str]) -> Vec<String> {
    vs.iter().map(|v| v.to_string()).collect()
}

/// Whether `operator` holds for the policy's `expected` and the request's
/// `actual` (`None`: the request lacks the key).
fn holds(operator: &str, expected: &[&str], actual: Option<&[&str]>) -> bool {
    let op = Operator::parse(operator).unwrap_or_else(|| panic!("{operator} is an operator"));
    let actual = actual.map(values);
    op.holds(&values(expected), actual.as_deref())
}

#[test]
fn operators_are_spelled_as_aws_spells_them() {
    for name in [
        "StringEquals",
        "StringNotEqualsIfExists",
        "ForAnyValue:StringLike",
        "ForAllValues:StringEqualsIgnoreCase",
        "NumericLessThanEquals",
        "DateGreaterThan",
        "Bool",
        "BoolIfExists",
        "BinaryEquals",
        "NotIpAddress",
        "ArnLike",
        "ArnNotEqualsIfExists",
        "Null",
    ] {
        assert!(Operator::parse(name).is_some(), "{name}");
    }
    for name in [
        "stringequals",
        "StringEqualz",
        "ForSomeValues:StringEquals",
        "ForAnyValue:Null",
        "NullIfExists",
        "IfExists",
        "",
    ] {
        assert!(Operator::parse(name).is_none(), "{name}");
    }
}

#[test]
fn a_plain_operator_holds_when_the_value_matches_any_given() {
    assert!(holds("StringEquals", &["a", "b"], Some(&["b"])));
    assert!(!holds("StringEquals", &["a", "b"], Some(&["B"])));
    assert!(!holds("StringEquals", &["a", "b"], Some(&["c"])));
    assert!(holds(
        "StringEqualsIgnoreCase",
        &["Finance"],
        Some(&["FINANCE"])
    ));
    assert!(holds("StringLike", &["app-*"], Some(&["app-1"])));
    assert!(!holds("StringLike", &["app-*"], Some(&["App-1"])));
}

#[test]
fn a_negated_operator_holds_when_the_value_matches_none() {
    assert!(holds("StringNotEquals", &["a", "b"], Some(&["c"])));
    assert!(!holds("StringNotEquals", &["a", "b"], Some(&["a"])));
    assert!(holds("StringNotLike", &["app-*"], Some(&["web-1"])));
    assert!(!holds("StringNotEqualsIgnoreCase", &["x"], Some(&["X"])));
    assert!(holds("NumericNotEquals", &["7"], Some(&["30"])));
    assert!(holds(
        "NotIpAddress",
        &["10.0.0.0/8"],
        Some(&["192.168.1.1"])
    ));
    assert!(!holds(
        "ArnNotLike",
        &["arn:aws:iam::1:role/*"],
        Some(&["arn:aws:iam::1:role/x"])
    ));
}

#[test]
fn a_missing_key_fails_a_plain_operator_and_passes_a_negated_one_or_if_exists() {
    assert!(!holds("StringEquals", &["a"], None));
    assert!(holds("StringNotEquals", &["a"], None));
    assert!(holds("StringEqualsIfExists", &["a"], None));
    assert!(!holds("StringEqualsIfExists", &["a"], Some(&["b"])));
    assert!(holds("StringEqualsIfExists", &["a"], Some(&["a"])));
    assert!(!holds("NumericLessThan", &["10"], None));
    assert!(!holds("Bool", &["true"], None));
    assert!(holds("BoolIfExists", &["false"], None));
}

#[test]
fn set_qualifiers_look_at_every_value() {
    let keys: &[&str] = &["app", "team"];
    // ForAllValues: each of the request's keys is among those given.
    assert!(holds(
        "ForAllValues:StringEquals",
        &["app", "team", "env"],
        Some(keys)
    ));
    assert!(!holds("ForAllValues:StringEquals", &["app"], Some(keys)));
    // ...and holds for a request with none (AWS's documented trap).
    assert!(holds("ForAllValues:StringEquals", &["app"], None));
    // ForAnyValue: at least one is.
    assert!(holds("ForAnyValue:StringEquals", &["team"], Some(keys)));
    assert!(!holds("ForAnyValue:StringEquals", &["env"], Some(keys)));
    assert!(!holds("ForAnyValue:StringEquals", &["env"], None));
    // Negated within a set: at least one / every value matches none given.
    assert!(holds("ForAnyValue:StringNotEquals", &["app"], Some(keys)));
    assert!(!holds("ForAllValues:StringNotEquals", &["app"], Some(keys)));
    assert!(holds(
        "ForAllValues:StringNotLike",
        &["secret*"],
        Some(keys)
    ));
}

#[test]
fn several_values_without_a_qualifier_match_as_any_or_as_none() {
    let keys: &[&str] = &["app", "team"];
    assert!(holds("StringEquals", &["team"], Some(keys)));
    assert!(!holds("StringNotEquals", &["team"], Some(keys)));
    assert!(holds("StringNotEquals", &["env"], Some(keys)));
}

#[test]
fn numbers_compare_as_numbers() {
    assert!(holds("NumericLessThanEquals", &["30"], Some(&["7"])));
    assert!(holds("NumericLessThanEquals", &["30"], Some(&["30"])));
    assert!(!holds("NumericLessThan", &["30"], Some(&["30"])));
    assert!(holds("NumericGreaterThan", &["90"], Some(&["365"])));
    assert!(!holds("NumericGreaterThanEquals", &["90"], Some(&["89"])));
    assert!(holds("NumericEquals", &["7"], Some(&["7.0"])));
    assert!(!holds("NumericEquals", &["seven"], Some(&["7"])));
    assert!(!holds("NumericEquals", &["7"], Some(&["seven"])));
}

#[test]
fn dates_compare_as_times_in_any_of_their_spellings() {
    let now = "2026-12-05T20:00:00Z";
    assert!(holds(
        "DateLessThan",
        &["2027-01-01T00:00:00Z"],
        Some(&[now])
    ));
    assert!(holds("DateLessThan", &["2027-01-01"], Some(&[now])));
    assert!(!holds("DateGreaterThan", &["2027-01-01"], Some(&[now])));
    assert!(holds(
        "DateGreaterThanEquals",
        &["1796500800"],
        Some(&[now])
    ));
    assert!(holds("DateEquals", &["1796500800"], Some(&[now])));
    assert!(holds(
        "DateEquals",
        &["2026-12-05T21:00:00+01:00"],
        Some(&[now])
    ));
    assert!(!holds("DateEquals", &["yesterday"], Some(&[now])));
}

#[test]
fn booleans_and_binaries_compare_exactly() {
    assert!(holds("Bool", &["true"], Some(&["true"])));
    assert!(holds("Bool", &["True"], Some(&["true"])));
    assert!(!holds("Bool", &["true"], Some(&["false"])));
    assert!(holds("BinaryEquals", &["QmluYXJ5"], Some(&["QmluYXJ5"])));
    assert!(!holds("BinaryEquals", &["QmluYXJ5"], Some(&["qmluyxj5"])));
}

#[test]
fn addresses_are_matched_against_blocks() {
    assert!(holds("IpAddress", &["10.0.0.0/8"], Some(&["10.1.2.3"])));
    assert!(!holds("IpAddress", &["10.0.0.0/8"], Some(&["11.1.2.3"])));
    assert!(holds("IpAddress", &["192.168.1.7"], Some(&["192.168.1.7"])));
    assert!(!holds(
        "IpAddress",
        &["192.168.1.7"],
        Some(&["192.168.1.8"])
    ));
    assert!(holds("IpAddress", &["0.0.0.0/0"], Some(&["8.8.8.8"])));
    assert!(holds(
        "IpAddress",
        &["2001:db8::/32"],
        Some(&["2001:db8:1::5"])
    ));
    assert!(!holds(
        "IpAddress",
        &["2001:db8::/32"],
        Some(&["2001:db9::5"])
    ));
    assert!(holds("IpAddress", &["::/0"], Some(&["::1"])));
    // An IPv4 block never holds an IPv6 address, nor a bad block anything.
    assert!(!holds("IpAddress", &["0.0.0.0/0"], Some(&["::1"])));
    assert!(!holds("IpAddress", &["10.0.0.0/33"], Some(&["10.0.0.1"])));
    assert!(!holds("IpAddress", &["10.0.0.0/x"], Some(&["10.0.0.1"])));
    assert!(!holds(
        "IpAddress",
        &["10.0.0.0/8"],
        Some(&["not an address"])
    ));
}

#[test]
fn null_asks_whether_the_key_is_there() {
    assert!(holds("Null", &["true"], None));
    assert!(!holds("Null", &["true"], Some(&["x"])));
    assert!(holds("Null", &["false"], Some(&["x"])));
    assert!(!holds("Null", &["false"], None));
}

#[test]
fn condition_key_names_ignore_case_and_keep_every_value() {
    let mut context = Context::default();
    context.add("kms:EncryptionContext:Department", "finance");
    context.add("kms:encryptioncontext:department", "FINANCE");
    assert_eq!(
        context.get("KMS:ENCRYPTIONCONTEXT:DEPARTMENT"),
        Some(&values(&["finance", "FINANCE"])[..])
    );
    assert_eq!(context.get("kms:EncryptionContext:team"), None);
}
