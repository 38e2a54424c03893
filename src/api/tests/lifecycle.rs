//! Scheduled deletion, rotation and manifests over time (the clock moves).

use super::*;

#[tokio::test]
async fn deletion_destroys_the_key_and_its_aliases_when_the_window_ends() {
    let h = harness();
    let id = h.key(json!({})).await;
    h.ok(
        "CreateAlias",
        json!({ "AliasName": "alias/doomed", "TargetKeyId": id }),
    )
    .await;
    h.ok(
        "ScheduleKeyDeletion",
        json!({ "KeyId": id, "PendingWindowInDays": 7 }),
    )
    .await;
    h.advance(7 * DAY_MS - 1);
    assert!(h.api.run_due().await.unwrap().is_empty());
    h.ok("DescribeKey", json!({ "KeyId": id })).await;
    h.advance(1);
    assert_eq!(h.api.run_due().await.unwrap().len(), 1);
    assert_eq!(
        h.err("DescribeKey", json!({ "KeyId": id })).await.0,
        "NotFoundException"
    );
    assert_eq!(h.ok("ListAliases", json!({})).await["Aliases"], json!([]));
}

#[tokio::test]
async fn a_deletion_cancelled_after_planning_destroys_nothing() {
    let h = harness();
    let id = h.key(json!({})).await;
    h.ok(
        "ScheduleKeyDeletion",
        json!({ "KeyId": id, "PendingWindowInDays": 7 }),
    )
    .await;
    let planned = h
        .api
        .store()
        .get_key(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    h.ok("CancelKeyDeletion", json!({ "KeyId": id })).await;
    let stale = h
        .api
        .store()
        .delete_key(planned.key_id, planned.revision)
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    h.advance(8 * DAY_MS);
    assert!(h.api.run_due().await.unwrap().is_empty());
    assert_eq!(
        h.ok("DescribeKey", json!({ "KeyId": id })).await["KeyMetadata"]["KeyState"],
        "Disabled"
    );
}

#[tokio::test]
async fn rotation_adds_versions_and_old_ciphertexts_still_decrypt() {
    let h = harness();
    let id = h.key(json!({})).await;
    let before = h
        .ok("Encrypt", json!({ "KeyId": id, "Plaintext": b64(b"old") }))
        .await;
    assert_eq!(
        h.err(
            "EnableKeyRotation",
            json!({ "KeyId": id, "RotationPeriodInDays": 89 })
        )
        .await
        .0,
        "ValidationException"
    );
    h.ok(
        "EnableKeyRotation",
        json!({ "KeyId": id, "RotationPeriodInDays": 90 }),
    )
    .await;
    let status = h.ok("GetKeyRotationStatus", json!({ "KeyId": id })).await;
    assert_eq!(status["KeyRotationEnabled"], true);
    assert_eq!(status["RotationPeriodInDays"], 90);
    assert_eq!(
        status["NextRotationDate"],
        json!((T0 + 90 * DAY_MS) as f64 / 1000.0)
    );
    h.advance(90 * DAY_MS);
    assert_eq!(h.api.run_due().await.unwrap().len(), 1);
    let rotations = h.ok("ListKeyRotations", json!({ "KeyId": id })).await;
    assert_eq!(rotations["Rotations"].as_array().unwrap().len(), 1);
    assert_eq!(rotations["Rotations"][0]["RotationType"], "AUTOMATIC");
    let after = h
        .ok("Encrypt", json!({ "KeyId": id, "Plaintext": b64(b"new") }))
        .await;
    let old = h
        .ok(
            "Decrypt",
            json!({ "CiphertextBlob": before["CiphertextBlob"] }),
        )
        .await;
    let new = h
        .ok(
            "Decrypt",
            json!({ "CiphertextBlob": after["CiphertextBlob"] }),
        )
        .await;
    assert_eq!(old["Plaintext"], b64(b"old"));
    assert_eq!(new["Plaintext"], b64(b"new"));
    assert_ne!(old["KeyMaterialId"], new["KeyMaterialId"]);
    assert_eq!(
        h.ok("DescribeKey", json!({ "KeyId": id })).await["KeyMetadata"]["CurrentKeyMaterialId"],
        new["KeyMaterialId"]
    );

    for _ in 0..25 {
        h.ok("RotateKeyOnDemand", json!({ "KeyId": id })).await;
    }
    assert_eq!(
        h.err("RotateKeyOnDemand", json!({ "KeyId": id })).await.0,
        "LimitExceededException"
    );
    let all = h
        .ok(
            "ListKeyRotations",
            json!({ "KeyId": id, "IncludeKeyMaterial": "ALL_KEY_MATERIAL", "Limit": 1000 }),
        )
        .await;
    assert_eq!(all["Rotations"].as_array().unwrap().len(), 27);
    h.ok(
        "Decrypt",
        json!({ "CiphertextBlob": before["CiphertextBlob"] }),
    )
    .await;
    h.ok("DisableKey", json!({ "KeyId": id })).await;
    assert_eq!(
        h.err("EnableKeyRotation", json!({ "KeyId": id })).await.0,
        "DisabledException"
    );

    let rsa = h
        .key(json!({ "KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY" }))
        .await;
    assert_eq!(
        h.err("EnableKeyRotation", json!({ "KeyId": rsa })).await.0,
        "UnsupportedOperationException"
    );
    assert_eq!(
        h.err("RotateKeyOnDemand", json!({ "KeyId": rsa })).await.0,
        "UnsupportedOperationException"
    );
    assert_eq!(
        h.err("DisableKeyRotation", json!({ "KeyId": rsa })).await.0,
        "UnsupportedOperationException"
    );
    // Its status is read like any key's: not rotating.
    let hmac = h
        .key(json!({ "KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC" }))
        .await;
    for key in [&rsa, &hmac] {
        let status = h.ok("GetKeyRotationStatus", json!({ "KeyId": key })).await;
        assert_eq!(status["KeyRotationEnabled"], false, "{status}");
        assert!(status.get("RotationPeriodInDays").is_none(), "{status}");
        assert!(status["KeyId"].as_str().unwrap().ends_with(key.as_str()));
    }
}

#[tokio::test]
async fn manifests_create_adopt_and_cancel_deletion() {
    use crate::manifest::parse;
    let material = b64(&[7u8; 32]);
    let text = format!(
        "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {{name: app}}\nspec:\n  description: from git\n  keyId: 1234abcd-12ab-34cd-56ef-1234567890ab\n  testMaterial: {material}\n---\napiVersion: kubekms.io/v1alpha1\nkind: KmsAlias\nmetadata: {{name: app}}\nspec: {{aliasName: alias/app, targetKeyRef: {{name: app}}}}\n"
    );
    let manifests = parse(&text).unwrap();
    let (h1, h2) = (harness(), harness());
    crate::serve::apply_manifests(&h1.api, &manifests)
        .await
        .unwrap();
    crate::serve::apply_manifests(&h2.api, &manifests)
        .await
        .unwrap();
    // Same pinned id and material in two separate stores: ciphertexts move between them.
    let blob = h1
        .ok(
            "Encrypt",
            json!({ "KeyId": "alias/app", "Plaintext": b64(b"fixture") }),
        )
        .await["CiphertextBlob"]
        .clone();
    assert_eq!(
        h2.ok("Decrypt", json!({ "CiphertextBlob": blob })).await["Plaintext"],
        b64(b"fixture")
    );
    // Other material under the same pinned id is refused, and changes nothing.
    let changed = text
        .replace(&material, &b64(&[8u8; 32]))
        .replace("from git", "changed");
    let refused = crate::serve::apply_manifests(&h1.api, &parse(&changed).unwrap())
        .await
        .unwrap_err();
    assert!(
        refused.contains(
            "testMaterial is not the material key 1234abcd-12ab-34cd-56ef-1234567890ab holds"
        ),
        "{refused}"
    );
    assert_eq!(
        h1.ok("Decrypt", json!({ "CiphertextBlob": blob })).await["Plaintext"],
        b64(b"fixture")
    );
    let meta = h1.ok("DescribeKey", json!({ "KeyId": "alias/app" })).await["KeyMetadata"].clone();
    assert_eq!(meta["Description"], "from git");
    h1.ok(
        "ScheduleKeyDeletion",
        json!({ "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab" }),
    )
    .await;
    crate::serve::apply_manifests(&h1.api, &manifests)
        .await
        .unwrap();
    let meta = h1.ok("DescribeKey", json!({ "KeyId": "alias/app" })).await["KeyMetadata"].clone();
    assert_eq!(
        meta["KeyState"], "Enabled",
        "re-applying the manifest cancels the deletion and re-enables"
    );
    assert_eq!(meta["Description"], "from git");
    // A set in which one manifest would overwrite another changes nothing.
    let other = text.replace("{name: app}\nspec:\n", "{name: other}\nspec:\n");
    assert_ne!(other, text);
    let clash = other + "---\n" + &text.replace("from git", "overwritten");
    let h3 = harness();
    let refused = crate::serve::apply_manifests(&h3.api, &parse(&clash).unwrap()).await;
    assert!(
        refused
            .unwrap_err()
            .contains("is already KmsKey default/other's")
    );
    assert_eq!(h3.ok("ListKeys", json!({})).await["Keys"], json!([]));
}

/// Automatic rotations and ends of deletion windows are audit records, as
/// AWS's own `RotateKey` and `DeleteKey` are.
#[tokio::test]
async fn lifecycle_actions_are_audit_records() {
    let h = harness();
    let rotating = h.key(json!({})).await;
    h.ok(
        "EnableKeyRotation",
        json!({ "KeyId": rotating, "RotationPeriodInDays": 90 }),
    )
    .await;
    let doomed = h.key(json!({})).await;
    h.ok(
        "ScheduleKeyDeletion",
        json!({ "KeyId": doomed, "PendingWindowInDays": 30 }),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let audit = crate::audit::AuditLog::open(
        &crate::audit::Destination::File(path.clone(), crate::audit::Rotation::NEVER),
        ArnConfig::default(),
    )
    .unwrap();
    crate::serve::run_lifecycle(&h.api, Some(&audit)).await;
    h.advance(90 * DAY_MS);
    crate::serve::run_lifecycle(&h.api, Some(&audit)).await;
    audit.flush().await;
    let mut records: Vec<(String, String)> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| {
            let record: Value = serde_json::from_str(l).unwrap();
            assert_eq!(
                record["userIdentity"]["principalId"], "kube-kms",
                "{record}"
            );
            assert_eq!(record["readOnly"], false);
            (
                record["eventName"].as_str().unwrap().to_owned(),
                record["resources"][0]["ARN"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    records.sort();
    assert_eq!(
        records,
        [
            ("DeleteKey".to_owned(), arn(&doomed)),
            ("RotateKey".to_owned(), arn(&rotating)),
        ]
    );
}
