use serde_json::json;

use super::*;

const NOW: Millis = 1_800_000_000_000;

fn grant(operations: serde_json::Value, constraints: serde_json::Value) -> KmsGrant {
    serde_json::from_value(json!({
        "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsGrant",
        "metadata": {"name": "web", "namespace": "team-a", "uid": "u-1", "generation": 2},
        "spec": {"keyRef": {"name": "app"}, "granteePrincipal": "arn:aws:iam::111122223333:role/team-b/web",
                 "operations": operations, "constraints": constraints},
    }))
    .unwrap()
}

fn key(spec: serde_json::Value, key_id: Option<&str>) -> KmsKey {
    serde_json::from_value(json!({
        "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
        "metadata": {"name": "app", "namespace": "team-a"},
        "spec": spec,
        "status": key_id.map(|id| json!({"keyId": id})).unwrap_or(json!({})),
    }))
    .unwrap()
}

fn ready(status: &KmsGrantStatus) -> (&str, &str, &str) {
    let c = &status.conditions[0];
    (c.status.as_str(), c.reason.as_str(), c.message.as_str())
}

#[test]
fn a_grant_on_a_key_that_takes_it_is_granted_with_its_id() {
    let g = grant(
        json!(["Decrypt", "Encrypt"]),
        json!({"encryptionContextSubset": {"app": "web"}}),
    );
    let (status, look_again) = status(&g, Some(&key(json!({}), Some("k-1"))), NOW);
    assert_eq!(status.grant_id.as_deref(), Some(grant_id("u-1").as_str()));
    assert_eq!(status.key_id.as_deref(), Some("k-1"));
    assert_eq!(status.observed_generation, Some(2));
    assert_eq!(
        ready(&status),
        (
            "True",
            GRANTED,
            "arn:aws:iam::111122223333:role/team-b/web may Decrypt, Encrypt with key k-1"
        )
    );
    assert_eq!(look_again, RESYNC);
    // Reported again unchanged, the transition time stays.
    let mut again = g.clone();
    again.status = Some(status.clone());
    assert_eq!(
        super::status(&again, Some(&key(json!({}), Some("k-1"))), NOW + 1000).0,
        status
    );
}

#[test]
fn a_grant_says_why_its_key_does_not_take_it() {
    let g = grant(json!(["Decrypt"]), json!(null));
    let (missing, look_again) = status(&g, None, NOW);
    assert_eq!(ready(&missing).1, KEY_NOT_FOUND);
    assert_eq!(look_again, REFUSED_RETRY);
    assert_eq!(missing.key_id, None);
    let (minting, _) = status(&g, Some(&key(json!({}), None)), NOW);
    assert_eq!(ready(&minting).1, KEY_NOT_READY);
    let signing = key(
        json!({"keySpec": "ECC_NIST_P256", "keyUsage": "SIGN_VERIFY"}),
        Some("k-2"),
    );
    let (invalid, _) = status(&g, Some(&signing), NOW);
    assert_eq!(
        ready(&invalid),
        (
            "False",
            INVALID_GRANT,
            "Grant operation Decrypt is not valid for a KMS key with KeySpec ECC_NIST_P256 and KeyUsage SIGN_VERIFY."
        )
    );
    let rsa = key(json!({"keySpec": "RSA_2048"}), Some("k-3"));
    let constrained = grant(json!(["Decrypt"]), json!({"encryptionContextEquals": {}}));
    assert_eq!(
        ready(&status(&constrained, Some(&rsa), NOW).0).1,
        INVALID_GRANT
    );
}
