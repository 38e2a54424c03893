use super::*;

/// AWS's default key policy for keys created programmatically.
const DEFAULT: &str = r#"{
  "Version": "2012-10-17",
  "Id": "key-default-1",
  "Statement": [
    {
      "Sid": "Enable IAM User Permissions",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
      "Action": "kms:*",
      "Resource": "*"
    }
  ]
}"#;

fn error(text: &str) -> String {
    PolicyDocument::parse(text).unwrap_err().0
}

fn statement(body: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":{body}}}"#)
}

#[test]
fn the_default_key_policy_parses_into_its_parts() {
    let policy = PolicyDocument::parse(DEFAULT).unwrap();
    assert_eq!(policy.version.as_deref(), Some("2012-10-17"));
    assert_eq!(policy.id.as_deref(), Some("key-default-1"));
    assert_eq!(
        policy.statements,
        [Statement {
            sid: Some("Enable IAM User Permissions".into()),
            effect: Effect::Allow,
            principal: Match::Is(Principals::Of(BTreeMap::from([(
                "AWS".into(),
                vec!["arn:aws:iam::111122223333:root".into()]
            )]))),
            action: Some(Match::Is(vec!["kms:*".into()])),
            resource: Some(Match::Is(vec!["*".into()])),
            condition: BTreeMap::new(),
        }]
    );
}

#[test]
fn a_single_statement_lists_not_elements_and_conditions_parse() {
    let policy = PolicyDocument::parse(&statement(
        r#"{"Effect":"Deny","NotPrincipal":"*","NotAction":["kms:Decrypt","kms:Generate*"],
            "NotResource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:app":["a","b"]},
            "Bool":{"kms:GrantIsForAWSResource":true},"NumericLessThan":{"kms:x":3}}}"#,
    ))
    .unwrap();
    let s = &policy.statements[0];
    assert_eq!(s.effect, Effect::Deny);
    assert_eq!(s.principal, Match::Not(Principals::Anyone));
    assert_eq!(
        s.action,
        Some(Match::Not(vec![
            "kms:Decrypt".into(),
            "kms:Generate*".into()
        ]))
    );
    assert_eq!(s.resource, Some(Match::Not(vec!["*".into()])));
    assert_eq!(
        s.condition["StringEquals"]["kms:EncryptionContext:app"],
        ["a", "b"]
    );
    assert_eq!(s.condition["Bool"]["kms:GrantIsForAWSResource"], ["true"]);
    assert_eq!(s.condition["NumericLessThan"]["kms:x"], ["3"]);
}

/// AWS accepts a statement without Action or Resource; it has no effect.
#[test]
fn a_statement_without_action_or_resource_is_accepted_and_names_nothing() {
    let policy = PolicyDocument::parse(&statement(
        r#"[{"Effect":"Allow","Principal":"*","Resource":"*"},{"Effect":"Deny","Principal":"*","Action":"kms:*"}]"#,
    ))
    .unwrap();
    assert_eq!(policy.statements[0].action, None);
    assert_eq!(policy.statements[1].resource, None);
}

#[test]
fn every_break_of_the_grammar_is_refused_with_what_is_wrong() {
    let ok = r#""Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*""#;
    let cases: &[(String, &str)] = &[
        ("not json".into(), "not valid JSON"),
        ("[]".into(), "must be a JSON object"),
        (r#"{"Version":"2012-10-17"}"#.into(), "has no Statement"),
        (statement("[]"), "Statement list is empty"),
        (
            statement("[1]"),
            "Statement 1: a statement must be a JSON object",
        ),
        (
            r#"{"Version":"2011-01-01","Statement":[]}"#.into(),
            "Version '2011-01-01'",
        ),
        (
            r#"{"Version":2012,"Statement":[]}"#.into(),
            "Version must be a string",
        ),
        (
            format!(r#"{{"Statement":{{{ok}}},"Extra":1}}"#),
            "unknown element 'Extra'",
        ),
        (
            statement(r#"{"Principal":"*","Action":"kms:*","Resource":"*"}"#),
            "Statement 1: the statement has no Effect",
        ),
        (
            statement(r#"{"Effect":"allow","Principal":"*","Action":"kms:*","Resource":"*"}"#),
            "Effect must be \"Allow\" or \"Deny\"",
        ),
        (
            statement(r#"{"Effect":"Allow","Action":"kms:*","Resource":"*"}"#),
            "no Principal",
        ),
        (
            statement(&format!(r#"[{{{ok},"NotAction":"kms:Decrypt"}}]"#)),
            "Action or NotAction, not both",
        ),
        (
            statement(&format!(r#"[{{{ok}}},{{{ok},"Condition":[]}}]"#)),
            "Statement 2: Condition must be an object",
        ),
        (
            statement(&format!(r#"[{{{ok},"Condition":{{"StringEquals":"x"}}}}]"#)),
            "operator StringEquals must map",
        ),
        (
            statement(&format!(
                r#"[{{{ok},"Condition":{{"StringEqualz":{{"k":"v"}}}}}}]"#
            )),
            "unknown operator 'StringEqualz'",
        ),
        (
            statement(&format!(
                r#"[{{{ok},"Condition":{{"ForAnyValue:Null":{{"k":"true"}}}}}}]"#
            )),
            "unknown operator 'ForAnyValue:Null'",
        ),
        (
            statement(&format!(
                r#"[{{{ok},"Condition":{{"StringEquals":{{"k":{{"a":1}}}}}}}}]"#
            )),
            "a value must be a string, boolean or number",
        ),
        (
            statement(
                r#"{"Effect":"Allow","Principal":"everyone","Action":"kms:*","Resource":"*"}"#,
            ),
            "Principal must be \"*\" or an object",
        ),
        (
            statement(r#"{"Effect":"Allow","Principal":{},"Action":"kms:*","Resource":"*"}"#),
            "Principal must be \"*\" or an object",
        ),
        (
            statement(
                r#"{"Effect":"Allow","Principal":{"User":"bob"},"Action":"kms:*","Resource":"*"}"#,
            ),
            "unknown principal type 'User'",
        ),
        (
            statement(
                r#"{"Effect":"Allow","Principal":{"AWS":[]},"Action":"kms:*","Resource":"*"}"#,
            ),
            "Principal.AWS is an empty list",
        ),
        (
            statement(r#"{"Effect":"Allow","Principal":"*","Action":"Encrypt","Resource":"*"}"#),
            "Action 'Encrypt' is not an action",
        ),
        (
            statement(
                r#"{"Effect":"Allow","Principal":"*","Action":["kms:Encrypt",3],"Resource":"*"}"#,
            ),
            "Action values must be strings",
        ),
        (
            statement(r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":""}"#),
            "Resource has an empty value",
        ),
        (
            statement(r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":{}}"#),
            "Resource must be a string or a list",
        ),
        (
            statement(&format!(r#"[{{{ok},"Sid":"a"}},{{{ok},"Sid":"a"}}]"#)),
            "'a' is used twice",
        ),
        (
            statement(&format!(r#"[{{{ok},"Sid":7}}]"#)),
            "the Sid must be a string",
        ),
        (
            statement(&format!(r#"[{{{ok},"Principals":"*"}}]"#)),
            "unknown element 'Principals'",
        ),
    ];
    for (text, expected) in cases {
        let message = error(text);
        assert!(
            message.contains(expected),
            "{text}\n  gave: {message}\n  expected: {expected}"
        );
    }
}

#[test]
fn allowed_characters_are_the_models_pattern() {
    assert!(has_allowed_characters("{\t\r\n \u{7e}\u{a0}é\u{ff}}"));
    for c in ['\u{0}', '\u{1f}', '\u{100}', '€', '😀'] {
        assert!(!has_allowed_characters(&format!("{{{c}}}")), "{c:?}");
    }
}

#[test]
fn a_policy_says_which_condition_keys_it_names_whatever_their_case() {
    let policy = PolicyDocument::parse(
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},
            {"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*",
             "Condition":{"ForAnyValue:StringLike":{"KMS:ResourceAliases":"alias/x"}}}]}"#,
    )
    .unwrap();
    assert!(policy.names_condition_key("kms:ResourceAliases"));
    assert!(!policy.names_condition_key("kms:RequestAlias"));
}
