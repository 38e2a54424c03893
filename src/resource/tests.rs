use kube::CustomResourceExt;
use serde_json::{Value, json};

use super::*;

fn crd_json<K: CustomResourceExt>() -> Value {
    serde_json::to_value(K::crd()).unwrap()
}

fn spec_schema(crd: &Value) -> &Value {
    &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
}

#[test]
fn kmskey_crd_names_columns_and_subresources() {
    let crd = crd_json::<KmsKey>();
    assert_eq!(crd["metadata"]["name"], "kmskeys.kubekms.io");
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    assert_eq!(crd["spec"]["names"]["shortNames"], json!(["kmskey"]));
    assert_eq!(crd["spec"]["names"]["categories"], json!(["kubekms"]));
    let version = &crd["spec"]["versions"][0];
    assert_eq!(version["name"], "v1alpha1");
    assert!(version["subresources"]["status"].is_object());
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        [
            "Key ID",
            "Spec",
            "Usage",
            "State",
            "Version",
            "Age",
            "Primary Region",
            "Last Used"
        ]
    );
    // `-o wide` only, as the version is.
    let column = |n: usize| {
        let column = &version["additionalPrinterColumns"][n];
        (column["jsonPath"].clone(), column["priority"].clone())
    };
    assert_eq!(column(6), (json!(".spec.primaryRegion"), json!(1)));
    assert_eq!(column(7), (json!(".status.lastUsage.timestamp"), json!(1)));
    let spec = spec_schema(&crd);
    // Enum values come from the AWS enums, so explain lists them.
    let specs = spec["properties"]["keySpec"]["enum"].as_array().unwrap();
    assert!(specs.contains(&json!("SYMMETRIC_DEFAULT")) && specs.contains(&json!("HMAC_512")));
    assert_eq!(
        spec["properties"]["keySpec"]["default"],
        "SYMMETRIC_DEFAULT"
    );
    assert!(
        spec["properties"]["description"]["description"]
            .as_str()
            .unwrap()
            .starts_with("What the key is for")
    );
}

#[test]
fn crds_are_structural_without_refs() {
    for (name, yaml) in crd_files() {
        assert!(!yaml.contains("$ref"), "{name} must inline every schema");
        assert!(
            !yaml.contains("testMaterial"),
            "{name}: no key material in a CRD"
        );
    }
}

/// Every `format` in `schema` with its `type`, at any depth.
fn formats<'a>(schema: &'a Value, found: &mut Vec<(&'a str, &'a str)>) {
    match schema {
        Value::Object(members) => {
            if let Some(Value::String(format)) = members.get("format") {
                found.push((members["type"].as_str().unwrap_or(""), format));
            }
            members.values().for_each(|v| formats(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| formats(v, found)),
        _ => {}
    }
}

/// The API server warns of any other format when a CRD is applied (1.34
/// and later; apiextensions-apiserver's validation/formats.go), and drops it.
#[test]
fn crds_use_only_formats_kubernetes_recognizes() {
    const STRINGS: [&str; 4] = ["byte", "date", "datetime", "duration"];
    for crd in [
        crd_json::<KmsKey>(),
        crd_json::<KmsAlias>(),
        crd_json::<KmsGrant>(),
    ] {
        let mut found = Vec::new();
        formats(&crd["spec"]["versions"], &mut found);
        for (kind, format) in found {
            let recognized = match kind {
                "integer" => ["int32", "int64"].contains(&format),
                "number" => ["float", "double"].contains(&format),
                "string" => STRINGS.contains(&format.replace('-', "").as_str()),
                _ => false,
            };
            assert!(
                recognized,
                "{}: format {format} on type {kind}",
                crd["metadata"]["name"]
            );
        }
    }
}

fn key_spec(extra: Value) -> Value {
    let mut spec = json!({"keySpec": "SYMMETRIC_DEFAULT", "keyUsage": "ENCRYPT_DECRYPT"});
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    spec
}

#[test]
fn cel_rules_bound_windows_and_periods() {
    for (extra, ok) in [
        (json!({}), true),
        (json!({"pendingWindowDays": 7}), true),
        (json!({"pendingWindowDays": 30}), true),
        (json!({"pendingWindowDays": 6}), false),
        (json!({"pendingWindowDays": 31}), false),
    ] {
        let result = KmsKeySpec::validate_cel(&key_spec(extra.clone()), None);
        assert_eq!(result.is_ok(), ok, "{extra}: {result:?}");
    }
    for (period, ok) in [(90, true), (2560, true), (89, false), (2561, false)] {
        let rotation = json!({"enabled": true, "periodDays": period});
        let result = RotationSpec::validate_cel(&rotation, None);
        assert_eq!(result.is_ok(), ok, "{period}: {result:?}");
    }
}

/// The API server refuses a policy over the byte quota that maxLength, which
/// counts characters, lets through; the controller would only mark it
/// InvalidSpec.
#[test]
fn cel_rules_bound_the_policy_in_bytes() {
    for (policy, ok) in [
        ("a".repeat(32768), true),
        ("é".repeat(16384), true),
        ("é".repeat(16385), false),
        (format!("{}é", "a".repeat(32767)), false),
    ] {
        let spec = key_spec(json!({ "policy": policy }));
        let result = KmsKeySpec::validate_cel(&spec, None);
        assert_eq!(
            result.is_ok(),
            ok,
            "{} characters, {} bytes: {result:?}",
            policy.chars().count(),
            policy.len()
        );
    }
}

#[test]
fn cel_rules_keep_spec_usage_and_pinned_id_immutable() {
    let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
    let old = key_spec(json!({"keyId": id}));
    let check = |new: Value| KmsKeySpec::validate_cel(&new, Some(&old));
    assert!(check(key_spec(json!({"keyId": id, "description": "x"}))).is_ok());
    let err = check(json!({"keySpec": "RSA_2048", "keyUsage": "ENCRYPT_DECRYPT", "keyId": id}));
    assert!(
        format!("{err:?}").contains("keySpec is immutable"),
        "{err:?}"
    );
    let err = check(
        json!({"keySpec": "SYMMETRIC_DEFAULT", "keyUsage": "GENERATE_VERIFY_MAC", "keyId": id}),
    );
    assert!(
        format!("{err:?}").contains("keyUsage is immutable"),
        "{err:?}"
    );
    let err = check(key_spec(json!({})));
    assert!(
        format!("{err:?}").contains("keyId cannot be changed"),
        "{err:?}"
    );
    let err = check(key_spec(
        json!({"keyId": "00000000-0000-4000-8000-000000000000"}),
    ));
    assert!(
        format!("{err:?}").contains("keyId cannot be changed"),
        "{err:?}"
    );
    // Pinning an id that was not pinned before is allowed (the controller
    // checks it against the material it holds).
    let unpinned = key_spec(json!({}));
    assert!(KmsKeySpec::validate_cel(&old, Some(&unpinned)).is_ok());
}

#[test]
fn cel_rules_keep_the_origin_whether_or_not_it_is_spelt_out() {
    let generated = key_spec(json!({}));
    let spelt = key_spec(json!({"origin": "AWS_KMS"}));
    let external = key_spec(json!({"origin": "EXTERNAL"}));
    let check = |new: &Value, old: &Value| KmsKeySpec::validate_cel(new, Some(old));
    assert!(check(&spelt, &generated).is_ok());
    assert!(check(&generated, &spelt).is_ok());
    assert!(check(&external, &external).is_ok());
    for (new, old) in [
        (&external, &generated),
        (&external, &spelt),
        (&generated, &external),
    ] {
        let err = check(new, old);
        assert!(
            format!("{err:?}").contains("origin is immutable"),
            "{old} -> {new}: {err:?}"
        );
    }
    // A misspelt origin is refused by the schema's enum.
    let crd = crd_json::<KmsKey>();
    let origin = &spec_schema(&crd)["properties"]["origin"];
    assert_eq!(origin["enum"], json!(["AWS_KMS", "EXTERNAL"]));
}

#[test]
fn cel_rules_keep_multi_region_and_match_it_to_a_pinned_id() {
    let single = key_spec(json!({}));
    let spelt = key_spec(json!({"multiRegion": false}));
    let multi = key_spec(json!({"multiRegion": true}));
    let check = |new: &Value, old: Option<&Value>| KmsKeySpec::validate_cel(new, old);
    assert!(check(&spelt, Some(&single)).is_ok());
    assert!(check(&multi, Some(&multi)).is_ok());
    for (new, old) in [(&multi, &single), (&single, &multi), (&spelt, &multi)] {
        let err = check(new, Some(old));
        assert!(
            format!("{err:?}").contains("multiRegion is immutable"),
            "{old} -> {new}: {err:?}"
        );
    }
    let uuid = "1234abcd-12ab-34cd-56ef-1234567890ab";
    let mrk = "mrk-1234abcd12ab34cdf6ef1234567890ab";
    for (extra, ok) in [
        (json!({"keyId": uuid}), true),
        (json!({"keyId": mrk, "multiRegion": true}), true),
        (json!({"keyId": uuid, "multiRegion": true}), false),
        (json!({"keyId": mrk}), false),
        (json!({"keyId": mrk, "multiRegion": false}), false),
    ] {
        let err = check(&key_spec(extra.clone()), None);
        assert_eq!(err.is_ok(), ok, "{extra}: {err:?}");
        if !ok {
            assert!(
                format!("{err:?}").contains("mrk- id exactly when multiRegion"),
                "{err:?}"
            );
        }
    }
}

#[test]
fn cel_rules_make_a_replica_a_pinned_multi_region_key() {
    let mrk = "mrk-1234abcd12ab34cdf6ef1234567890ab";
    for (extra, ok) in [
        (
            json!({"keyId": mrk, "multiRegion": true, "primaryRegion": "us-east-1"}),
            true,
        ),
        (
            json!({"multiRegion": true, "primaryRegion": "us-east-1"}),
            false,
        ),
        (json!({"primaryRegion": "us-east-1"}), false),
    ] {
        let err = KmsKeySpec::validate_cel(&key_spec(extra.clone()), None);
        assert_eq!(err.is_ok(), ok, "{extra}: {err:?}");
        if !ok {
            assert!(
                format!("{err:?}").contains("a replica (primaryRegion)"),
                "{err:?}"
            );
        }
    }
}

#[test]
fn cel_rules_keep_replica_regions_to_multi_region_keys() {
    for (extra, ok) in [
        (
            json!({"multiRegion": true, "replicaRegions": ["eu-west-1"]}),
            true,
        ),
        (json!({"replicaRegions": ["eu-west-1"]}), false),
    ] {
        let err = KmsKeySpec::validate_cel(&key_spec(extra.clone()), None);
        assert_eq!(err.is_ok(), ok, "{extra}: {err:?}");
    }
}

#[test]
fn cel_rules_check_alias_names() {
    let spec = |name: &str| json!({"aliasName": name, "targetKeyRef": {"name": "app"}});
    for (name, ok) in [
        ("alias/app", true),
        ("alias/team-a/app_1", true),
        ("app", false),
        ("alias/", false),
        ("alias/aws/s3", false),
        ("alias/has space", false),
    ] {
        let result = KmsAliasSpec::validate_cel(&spec(name), None);
        assert_eq!(result.is_ok(), ok, "{name}: {result:?}");
    }
    let long = format!("alias/{}", "a".repeat(251));
    assert!(KmsAliasSpec::validate_cel(&spec(&long), None).is_err());
}

#[test]
fn a_grant_names_its_grantee_by_arn_and_one_kind_of_constraint() {
    let spec = |grantee: &str, constraints: serde_json::Value| {
        serde_json::json!({
            "keyRef": {"name": "app"}, "granteePrincipal": grantee,
            "operations": ["Decrypt"], "constraints": constraints,
        })
    };
    let app = "arn:aws:iam::111122223333:role/team-a/app";
    let subset = serde_json::json!({"encryptionContextSubset": {"app": "web"}});
    assert!(KmsGrantSpec::validate_cel(&spec(app, subset.clone()), None).is_ok());
    assert!(KmsGrantSpec::validate_cel(&spec("app", subset), None).is_err());
    let both = serde_json::json!({"encryptionContextSubset": {}, "encryptionContextEquals": {}});
    assert!(KmsGrantSpec::validate_cel(&spec(app, both), None).is_err());
    let mut none = spec(app, serde_json::json!({}));
    none["operations"] = serde_json::json!([]);
    assert!(KmsGrantSpec::validate_cel(&none, None).is_err());
    // Operations are AWS's names, checked by the schema's enum.
    assert!(
        serde_json::from_value::<KmsGrantSpec>(serde_json::json!({
            "keyRef": {"name": "app"}, "granteePrincipal": app, "operations": ["Frobnicate"]}))
        .is_err()
    );
}

// The CRD files the repository ships are what the types generate: a
// change to a type without `kube-kms crdgen` fails here, in the suite,
// not first in a cluster that refuses or prunes a field.
#[test]
fn the_crds_the_repository_ships_are_current() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dirs = CRD_DIRS.map(|dir| root.join(dir));
    let stale = stale_crd_files(dirs.iter().map(|d| d.as_path()));
    assert!(
        stale.is_empty(),
        "stale CRD files, run `cargo run -- crdgen`: {stale:?}"
    );
}

#[test]
fn a_changed_or_missing_crd_file_is_stale() {
    let dir = tempfile::tempdir().unwrap();
    let files = crd_files();
    for (name, text) in &files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    assert!(stale_crd_files([dir.path()]).is_empty());
    let (changed, text) = &files[1];
    std::fs::write(dir.path().join(changed), text.replace("v1alpha1", "v1")).unwrap();
    std::fs::remove_file(dir.path().join(files[2].0)).unwrap();
    assert_eq!(
        stale_crd_files([dir.path()]),
        [dir.path().join(changed), dir.path().join(files[2].0)]
    );
}
