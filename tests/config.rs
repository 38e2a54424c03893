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
fn sample_manifests_are_valid_kmskeys_aliases_and_grants() {
    let manifests = manifest::load_dir(&Path::new(ROOT).join("config/samples")).unwrap();
    let keys = manifests
        .iter()
        .filter(|m| matches!(m, Manifest::Key { .. }))
        .count();
    let aliases = manifests
        .iter()
        .filter(|m| matches!(m, Manifest::Alias { .. }))
        .count();
    let grants = manifests
        .iter()
        .filter(|m| matches!(m, Manifest::Grant { .. }))
        .count();
    assert_eq!((keys, aliases, grants), (3, 1, 1));
    // Each as the controller would take it, policy included.
    for manifest in &manifests {
        if let Manifest::Key { spec, metadata, .. } = manifest {
            kube_kms::declared::validate(spec)
                .unwrap_or_else(|e| panic!("sample KmsKey {}: {e}", metadata.name));
        }
    }
    assert!(
        manifests
            .iter()
            .any(|m| matches!(m, Manifest::Key { spec, .. } if spec.policy.is_some())),
        "a sample shows a key policy"
    );
    assert!(
        manifests.iter().any(
            |m| matches!(m, Manifest::Key { spec, .. } if spec.origin == kube_kms::key::Origin::External)
        ),
        "a sample shows a key of imported material"
    );
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

/// A key of imported material before its import.
fn pending_import() -> KeyRecord {
    let mut record = record(true, false);
    record.origin = kube_kms::key::Origin::External;
    record.materials.clear();
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
        json!({"name": "pending import", "expect": "Suspended",
            "obj": with_status(&key, key_status::reconciled(&key, &pending_import(), &arn, None, 0))}),
        json!({"name": "refused", "expect": "Degraded",
            "obj": with_status(&key, key_status::refused(&key, &Refusal { reason: "SecretConflict", message: "x".into() }, 0))}),
    ];
    // A declared replica waiting for its primary's Region: on its way
    // until that Region refuses it.
    let awaiting = Refusal {
        reason: "AwaitingReplication",
        message: "x".into(),
    };
    let mut refused = key_status::refused(&key, &awaiting, 0);
    cases.push(json!({"name": "replica awaited", "expect": "Progressing",
        "obj": with_status(&key, refused.clone())}));
    refused.replication_refusal = Some(kube_kms::resource::ReplicationRefusal {
        since: "2026-12-06T19:00:00Z".into(),
        message: "Region us-east-1 refused: AccessDenied".into(),
    });
    cases.push(json!({"name": "replica refused", "expect": "Degraded",
        "obj": with_status(&key, refused)}));
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
        ("key deleted", "False", "KeyPendingDeletion", "Degraded"),
        ("name conflict", "False", "AliasNameConflict", "Degraded"),
    ] {
        cases.push(json!({"name": name, "expect": expect, "obj": with_status_alias(&alias, condition(status, reason))}));
    }
    let grant = json!({
        "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsGrant",
        "metadata": {"name": "web", "namespace": "team-a", "generation": 1},
        "spec": {"keyRef": {"name": "app"}, "granteePrincipal": "arn:aws:iam::111122223333:role/team-b/web",
                 "operations": ["Decrypt"]},
    });
    cases.push(json!({"name": "new", "expect": "Progressing", "obj": grant.clone()}));
    for (name, status, reason, expect) in [
        ("granted", "True", "Granted", "Healthy"),
        ("waiting for key", "False", "KeyNotFound", "Progressing"),
        ("invalid", "False", "InvalidGrant", "Degraded"),
    ] {
        let mut obj = grant.clone();
        obj["status"] = condition(status, reason);
        cases.push(json!({"name": name, "expect": expect, "obj": obj}));
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
        out.contains("ok  KmsKey disabled: Suspended")
            && out.contains("ok  KmsKey pending import: Suspended")
            && out.contains("ok  KmsGrant invalid: Degraded")
            && out.contains("ok  KmsKey replica awaited: Progressing")
            && out.contains("ok  KmsKey replica refused: Degraded")
            && out.contains("values.schema.json"),
        "{out}"
    );
}

fn with_status_alias(alias: &KmsAlias, status: Value) -> Value {
    let mut obj = serde_json::to_value(alias).unwrap();
    obj["status"] = status;
    obj
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

/// The KMS v2 plugin's static pod, EncryptionConfiguration and kind
/// config agree with each other and with kube-apiserver's rules.
#[test]
fn kms_plugin_deployment_artifacts_fit_together() {
    let pod = yaml("config/kms-plugin/static-pod.yaml");
    let spec = &pod["spec"];
    assert_eq!(pod["metadata"]["namespace"], "kube-system");
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(spec["priorityClassName"], "system-node-critical");
    assert_eq!(spec["automountServiceAccountToken"], false);
    assert!(spec.get("serviceAccountName").is_none());
    let text =
        std::fs::read_to_string(Path::new(ROOT).join("config/kms-plugin/static-pod.yaml")).unwrap();
    for forbidden in [
        "secret:",
        "configMap:",
        "projected:",
        "secretKeyRef",
        "configMapKeyRef",
    ] {
        assert!(
            !text.contains(forbidden),
            "a static pod cannot use {forbidden}"
        );
    }
    let volumes: Vec<(&str, &str)> = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap(),
                v["hostPath"]["path"]
                    .as_str()
                    .expect("only hostPath volumes"),
            )
        })
        .collect();
    let container = &spec["containers"][0];
    let mount = |name: &str| -> String {
        let m = container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap();
        let host = volumes.iter().find(|(n, _)| *n == name).unwrap().1;
        assert_eq!(
            m["mountPath"], host,
            "{name} is mounted where the host has it"
        );
        host.to_owned()
    };
    let socket_dir = mount("socket-dir");
    let keys_dir = mount("keys");
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "plugin");
    let arg = |flag: &str| -> &str {
        args.iter()
            .find_map(|a| a.strip_prefix(&format!("--{flag}=")))
            .unwrap_or_else(|| panic!("--{flag} missing"))
    };
    let socket = arg("socket");
    assert!(socket.starts_with(&format!("{socket_dir}/")));
    assert!(arg("key-file").starts_with(&format!("{keys_dir}/")));
    assert!(arg("root-key").starts_with(&format!("{keys_dir}/")));
    let port: u16 = arg("health-listen")
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    for (probe, path) in [("livenessProbe", "/livez"), ("readinessProbe", "/healthz")] {
        assert_eq!(container[probe]["httpGet"]["port"], port);
        assert_eq!(container[probe]["httpGet"]["path"], path);
    }
    // Every flag is one the binary knows.
    let help = Command::new(env!("CARGO_BIN_EXE_kube-kms"))
        .args(["plugin", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for a in &args[1..] {
        let flag = a.split('=').next().unwrap();
        assert!(help.contains(flag), "kube-kms plugin has no {flag}");
    }

    let config = yaml("config/kms-plugin/encryption-configuration.yaml");
    assert_eq!(config["kind"], "EncryptionConfiguration");
    let providers = config["resources"][0]["providers"].as_array().unwrap();
    let kms = &providers[0]["kms"];
    assert_eq!(
        kms["apiVersion"], "v2",
        "v1 is the default and disabled since 1.29"
    );
    assert!(kms.get("cachesize").is_none(), "v2 refuses cachesize");
    assert!(!kms["name"].as_str().unwrap().contains(':'));
    assert_eq!(kms["endpoint"], format!("unix://{socket}"));
    assert_eq!(
        providers.last().unwrap(),
        &json!({"identity": {}}),
        "identity last"
    );

    let kind = yaml("kind/kms-plugin/cluster.yaml");
    let kind_text =
        std::fs::read_to_string(Path::new(ROOT).join("kind/kms-plugin/cluster.yaml")).unwrap();
    assert!(
        !kind_text.contains("feature-gates"),
        "KMSv2 gates are gone since 1.32"
    );
    let node = &kind["nodes"][0];
    let mounts: Vec<&str> = node["extraMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["containerPath"].as_str().unwrap())
        .collect();
    assert!(mounts.contains(&keys_dir.as_str()));
    assert!(
        mounts
            .iter()
            .any(|m| m.starts_with("/etc/kubernetes/manifests/"))
    );
    let patch: Value =
        serde_yaml::from_str(node["kubeadmConfigPatches"][0].as_str().unwrap()).unwrap();
    assert!(
        patch.get("apiVersion").is_none(),
        "kind converts patches without one"
    );
    let api = &patch["apiServer"];
    let config_path = api["extraArgs"]["encryption-provider-config"]
        .as_str()
        .unwrap();
    assert!(mounts.contains(&config_path));
    let volume_paths: Vec<(&str, &str)> = api["extraVolumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["hostPath"].as_str().unwrap(),
                v["mountPath"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(volume_paths.contains(&(config_path, config_path)));
    assert!(
        volume_paths.contains(&(socket_dir.as_str(), socket_dir.as_str())),
        "kube-apiserver sees the socket where the plugin makes it"
    );
}
