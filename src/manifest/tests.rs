use super::*;
use crate::spec::{KeySpec, KeyUsage};

#[test]
fn a_set_that_would_have_one_manifest_overwrite_another_is_refused() {
    let key = |name: &str, extra: &str| {
        format!(
            "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {{name: {name}}}\nspec: {{{extra}}}\n---\n"
        )
    };
    let alias = |name: &str, alias: &str, target: &str| {
        format!(
            "apiVersion: kubekms.io/v1alpha1\nkind: KmsAlias\nmetadata: {{name: {name}}}\nspec: {{aliasName: {alias}, targetKeyRef: {{name: {target}}}}}\n---\n"
        )
    };
    let pinned = "keyId: 1234abcd-12ab-34cd-56ef-1234567890ab";
    let check = |docs: &[String]| check_set(&parse(&docs.concat()).unwrap());
    let fine = [
        key("a", pinned),
        key("b", ""),
        alias("x", "alias/x", "a"),
        alias("y", "alias/y", "a"),
    ];
    assert_eq!(check(&fine), Ok(()));
    for (docs, expected) in [
        (
            vec![key("a", ""), key("a", "description: again")],
            "KmsKey default/a appears twice",
        ),
        (
            vec![key("a", pinned), key("b", pinned)],
            "KmsKey default/b: key id 1234abcd-12ab-34cd-56ef-1234567890ab is already KmsKey default/a's",
        ),
        (
            vec![
                key("a", ""),
                alias("x", "alias/x", "a"),
                alias("x", "alias/y", "a"),
            ],
            "KmsAlias default/x appears twice",
        ),
        (
            vec![
                key("a", ""),
                key("b", ""),
                alias("x", "alias/x", "a"),
                alias("y", "alias/x", "b"),
            ],
            "KmsAlias default/y: alias/x is already KmsAlias default/x's",
        ),
        (
            vec![key("a", ""), alias("x", "alias/x", "nope")],
            "KmsAlias default/x: no KmsKey named nope in namespace default",
        ),
    ] {
        assert_eq!(check(&docs), Err(expected.to_owned()));
    }
    // The same names in two namespaces are two objects.
    let elsewhere = key("a", "").replace("{name: a}", "{name: a, namespace: other}");
    assert_eq!(check(&[key("a", ""), elsewhere]), Ok(()));
}

#[test]
fn a_replica_is_declared_without_material_of_its_own() {
    let replica = "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {name: orders}\nspec:\n  keyId: mrk-0123456789abcdeff0123456789abcde\n  multiRegion: true\n  primaryRegion: us-east-1\n";
    let parsed = parse(replica).unwrap();
    assert!(
        matches!(&parsed[..], [Manifest::Key { spec, test_material: None, .. }]
            if spec.primary_region.as_deref() == Some("us-east-1"))
    );
    let with_material = format!("{replica}  testMaterial: AAAA\n");
    assert_eq!(
        parse(&with_material).unwrap_err(),
        "KmsKey default/orders: a replica (spec.primaryRegion) has no testMaterial: its material comes from its primary"
    );
}

#[test]
fn keys_and_aliases_parse_with_defaults_and_stable_ids() {
    let text = r#"
apiVersion: kubekms.io/v1alpha1
kind: KmsKey
metadata: {name: app, namespace: team-a}
spec:
  description: app data
  rotation: {enabled: true, periodDays: 90}
---
apiVersion: kubekms.io/v1alpha1
kind: KmsKey
metadata: {name: signer}
spec:
  keySpec: ECC_NIST_P256
  keyUsage: SIGN_VERIFY
  keyId: 1234abcd-12ab-34cd-56ef-1234567890ab
---
apiVersion: kubekms.io/v1alpha1
kind: KmsAlias
metadata: {name: app, namespace: team-a}
spec: {aliasName: alias/app, targetKeyRef: {name: app}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ignored}
spec: {}
"#;
    let manifests = parse(text).unwrap();
    assert_eq!(manifests.len(), 3);
    let Manifest::Key { metadata, spec, .. } = &manifests[0] else {
        panic!()
    };
    assert_eq!(
        (spec.key_spec, spec.key_usage, spec.enabled),
        (KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt, true)
    );
    assert_eq!(spec.rotation.period_days, Some(90));
    assert_eq!(key_id(spec, metadata), key_id(spec, metadata), "stable");
    let other = Metadata {
        name: "app".into(),
        namespace: "team-b".into(),
    };
    assert_ne!(key_id(spec, metadata), key_id(spec, &other));
    assert!(!key_id(spec, metadata).is_multi_region());
    // Declared multi-Region: a marked id, as stable.
    let mut multi_region = spec.clone();
    multi_region.multi_region = true;
    let mrk = key_id(&multi_region, metadata);
    assert!(mrk.is_multi_region() && mrk.to_string().starts_with("mrk-"));
    assert_eq!(mrk, key_id(&multi_region, metadata), "stable");
    assert_ne!(mrk, key_id(&multi_region, &other));
    let Manifest::Key { metadata, spec, .. } = &manifests[1] else {
        panic!()
    };
    assert_eq!(metadata.namespace, "default");
    assert_eq!(
        key_id(spec, metadata).to_string(),
        "1234abcd-12ab-34cd-56ef-1234567890ab"
    );
    assert!(
        matches!(&manifests[2], Manifest::Alias { spec, .. } if spec.alias_name == "alias/app")
    );
}

#[test]
fn a_directory_is_read_as_kubectl_apply_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    // A kustomization has no metadata; it and the other tools' files
    // are skipped, whatever their shape.
    write(
        "kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [keys.yaml]\n",
    );
    write("values.yaml", "replicas: 3\n");
    write(
        "notes.txt",
        "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\n",
    );
    // What `kubectl get kmskeys -o yaml` writes: a v1 List whose items
    // carry status and server-set metadata.
    write(
        "backup.yaml",
        r#"apiVersion: v1
kind: List
metadata: {resourceVersion: ""}
items:
- apiVersion: kubekms.io/v1alpha1
  kind: KmsKey
  metadata: {name: app, namespace: team-a, uid: 5a0c, resourceVersion: "81", generation: 2}
  spec: {description: app data}
  status: {keyId: 1234abcd-12ab-34cd-56ef-1234567890ab, keyState: Enabled}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: cm}
"#,
    );
    write(
        "alias.json",
        r#"{"apiVersion": "kubekms.io/v1alpha1", "kind": "KmsAliasList", "items": [
                {"apiVersion": "kubekms.io/v1alpha1", "kind": "KmsAlias",
                 "metadata": {"name": "app", "namespace": "team-a"},
                 "spec": {"aliasName": "alias/app", "targetKeyRef": {"name": "app"}}}]}"#,
    );
    let manifests = load_dir(dir.path()).unwrap();
    assert_eq!(manifests.len(), 2, "{manifests:?}");
    assert!(matches!(&manifests[0], Manifest::Alias { metadata, spec }
            if metadata.namespace == "team-a" && spec.alias_name == "alias/app"));
    assert!(matches!(&manifests[1], Manifest::Key { metadata, spec, .. }
            if metadata.name == "app" && spec.description == "app data"));
    assert_eq!(check_set(&manifests), Ok(()));
    assert!(
        parse_file(&std::fs::read_to_string(dir.path().join("kustomization.yaml")).unwrap())
            .unwrap()
            .kustomization
    );
}

#[test]
fn objects_of_our_group_that_we_do_not_apply_are_errors() {
    for (text, expected) in [
        (
            "apiVersion: kubekms.io/v1\nkind: KmsKey\nmetadata: {name: k}\n",
            "KmsKey: apiVersion kubekms.io/v1 is not one this kube-kms reads (it reads kubekms.io/v1alpha1)",
        ),
        (
            "apiVersion: kubekms.io/v1alpha1\nkind: KmsWidget\nmetadata: {name: g}\n",
            "kind `KmsWidget` is not one this kube-kms applies (KmsKey, KmsAlias, KmsGrant)",
        ),
        (
            "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nspec: {}\n",
            "KmsKey: missing field `metadata`",
        ),
        (
            "apiVersion: v1\nkind: List\nitems: {a: b}\n",
            "List: `items` must be a list",
        ),
        (
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: kubekms.io/v1alpha1\n  kind: KmsAlias\n  metadata: {name: a}\n  spec: {aliasName: alias/a}\n",
            "KmsAlias default/a: missing field `targetKeyRef`",
        ),
    ] {
        assert_eq!(parse(text).unwrap_err(), expected, "{text}");
    }
}

#[test]
fn mistakes_are_errors_that_name_the_object() {
    let bad_spec = "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {name: k}\nspec: {keySpec: AES_999}\n";
    assert!(parse(bad_spec).unwrap_err().contains("KmsKey default/k"));
    let typo = "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {name: k}\nspec: {keyspec: RSA_2048}\n";
    assert!(
        parse(typo)
            .unwrap_err()
            .contains("unknown field `spec.keyspec`")
    );
    let nested = "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {name: k}\nspec: {rotation: {period: 90}}\n";
    assert!(
        parse(nested)
            .unwrap_err()
            .contains("unknown field `spec.rotation.period`")
    );
    let material = "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {name: k}\nspec: {testMaterial: QUJD}\n";
    assert!(
        matches!(&parse(material).unwrap()[0], Manifest::Key { test_material: Some(m), .. } if m == "QUJD")
    );
}

/// What tells `serve` that DIR changed: the manifest files it reads and
/// their bytes, not other files.
#[test]
fn a_snapshot_changes_with_the_manifest_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let key = "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {name: a}\n";
    std::fs::write(dir.path().join("a.yaml"), key).unwrap();
    let first = Snapshot::read(dir.path()).unwrap();
    assert_eq!(Snapshot::read(dir.path()).unwrap(), first);
    std::fs::write(dir.path().join("README.md"), "notes").unwrap();
    std::fs::write(dir.path().join(".a.yaml.swp"), "editor state").unwrap();
    assert_eq!(Snapshot::read(dir.path()).unwrap(), first);

    std::fs::write(
        dir.path().join("a.yaml"),
        key.replace("{name: a}", "{name: b}"),
    )
    .unwrap();
    let edited = Snapshot::read(dir.path()).unwrap();
    assert_ne!(edited, first);
    assert!(
        matches!(&edited.parse().unwrap()[0], Manifest::Key { metadata, .. } if metadata.name == "b")
    );
    std::fs::write(dir.path().join("b.yml"), "").unwrap();
    assert_ne!(Snapshot::read(dir.path()).unwrap(), edited);
    std::fs::remove_file(dir.path().join("b.yml")).unwrap();
    assert_eq!(Snapshot::read(dir.path()).unwrap(), edited);

    std::fs::write(dir.path().join("c.json"), [0xff, 0xfe]).unwrap();
    let err = Snapshot::read(dir.path()).unwrap().parse().unwrap_err();
    assert!(err.ends_with("c.json: not UTF-8 text"), "{err}");
}
