//! The packaging in `config/` and `charts/` checked against the code: sample
//! manifests against the CRD schema, Argo CD health scripts (in real Lua)
//! against statuses the controller writes, chart values against their schema.

mod support;

use std::path::Path;
use std::process::Command;

use kube_kms::api::ArnConfig;
use kube_kms::key::{Deletion, KeyRecord};
use kube_kms::manifest::{self, Manifest};
use kube_kms::operator::key_plan::Refusal;
use kube_kms::operator::key_status;
use kube_kms::resource::{KmsAlias, KmsKey};
use serde_json::{Value, json};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn sample_manifests_are_valid_kmskeys_and_aliases() {
    let manifests = manifest::load_dir(&Path::new(ROOT).join("config/samples")).unwrap();
    let keys = manifests
        .iter()
        .filter(|m| matches!(m, Manifest::Key { .. }))
        .count();
    let aliases = manifests
        .iter()
        .filter(|m| matches!(m, Manifest::Alias { .. }))
        .count();
    assert_eq!((keys, aliases), (2, 1));
}

fn key_object(generation: i64) -> KmsKey {
    serde_json::from_value(json!({
        "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
        "metadata": {"name": "app", "namespace": "team-a", "uid": "u", "generation": generation},
        "spec": {},
    }))
    .unwrap()
}

fn record(enabled: bool, pending: bool) -> KeyRecord {
    let mut record: KeyRecord = serde_json::from_value(json!({
        "key_id": "1234abcd-12ab-34cd-56ef-1234567890ab", "namespace": "team-a", "description": "",
        "spec": "SYMMETRIC_DEFAULT", "usage": "ENCRYPT_DECRYPT", "created": 0, "enabled": enabled,
        "deletion": null, "rotation": {"enabled": false, "period_days": 365, "next": null},
        "on_demand_rotations": 0, "tags": {},
        "materials": [{"version": 1, "created": 0, "rotation_type": "Initial", "sealed": "oQ=="}],
    }))
    .unwrap();
    if pending {
        record.deletion = Some(Deletion {
            window_days: 7,
            deletion_date: 1,
        });
    }
    record
}

fn with_status(key: &KmsKey, status: impl serde::Serialize) -> Value {
    let mut obj = serde_json::to_value(key).unwrap();
    obj["status"] = serde_json::to_value(status).unwrap();
    obj
}

#[test]
fn argocd_health_checks_and_chart_values() {
    let arn = ArnConfig::default();
    let key = key_object(2);
    let mut cases = vec![
        json!({"name": "new", "obj": serde_json::to_value(&key).unwrap(), "expect": "Progressing"}),
        json!({"name": "ready", "expect": "Healthy",
            "obj": with_status(&key, key_status::reconciled(&key, &record(true, false), &arn, None, 0))}),
        json!({"name": "disabled", "expect": "Suspended",
            "obj": with_status(&key, key_status::reconciled(&key, &record(false, false), &arn, None, 0))}),
        json!({"name": "refused", "expect": "Degraded",
            "obj": with_status(&key, key_status::refused(&key, &Refusal { reason: "SecretConflict", message: "x".into() }, 0))}),
    ];
    // A status from an older generation is not yet healthy.
    let older = key_object(1);
    let stale = key_status::reconciled(&older, &record(true, false), &arn, None, 0);
    cases.push(json!({"name": "stale generation", "expect": "Progressing", "obj": with_status(&key, stale)}));
    let alias: KmsAlias = serde_json::from_value(json!({
        "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsAlias",
        "metadata": {"name": "app", "namespace": "team-a", "generation": 1},
        "spec": {"aliasName": "alias/app", "targetKeyRef": {"name": "app"}},
    }))
    .unwrap();
    let condition = |status: &str, reason: &str| json!({"conditions": [{"type": "Ready", "status": status, "reason": reason, "message": "m", "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
    for (name, status, reason, expect) in [
        ("resolved", "True", "Resolved", "Healthy"),
        ("waiting for key", "False", "KeyNotReady", "Progressing"),
        ("name conflict", "False", "AliasNameConflict", "Degraded"),
    ] {
        cases.push(json!({"name": name, "expect": expect, "obj": with_status_alias(&alias, condition(status, reason))}));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cases.json");
    std::fs::write(&file, serde_json::to_vec(&cases).unwrap()).unwrap();
    let mut cmd = Command::new(support::python());
    cmd.arg(Path::new(ROOT).join("tests/python/config_check.py"))
        .arg(&file)
        .arg(ROOT);
    let out = support::run(cmd, "config_check.py");
    assert!(
        out.contains("ok  KmsKey disabled: Suspended") && out.contains("values.schema.json"),
        "{out}"
    );
}

fn with_status_alias(alias: &KmsAlias, status: Value) -> Value {
    let mut obj = serde_json::to_value(alias).unwrap();
    obj["status"] = status;
    obj
}
