//! Deleting keys' Secrets and namespaces: the finalizer holds the
//! material, the controller says so, and `kube-kms move-key` keeps the keys
//! of a namespace being deleted.

use super::*;

#[tokio::test]
async fn a_key_whose_secret_is_forced_away_is_reported_at_once_and_never_reminted() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let _controller = Controller::start(&cluster);
    let keys: Api<KmsKey> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let key = ready_key(&keys, "doomed", json!({})).await;
    // Deleting the Secret (or its namespace) destroys nothing: the
    // finalizer holds it, material and all, and the key keeps working.
    secrets
        .delete("kmskey-doomed", &DeleteParams::default())
        .await
        .unwrap();
    let held = secrets.get("kmskey-doomed").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    assert_eq!(
        held.finalizers(),
        [kube_kms::operator::key_secret::MATERIAL_FINALIZER]
    );
    // Its KmsKey stays Ready and says so (the Secret watch brings it).
    wait_for(
        "Ready, SecretBeingDeleted",
        Duration::from_secs(10),
        || async {
            let k = keys.get("doomed").await.ok()?;
            let reason = ready_reason(&k.status.as_ref()?.conditions)?;
            (ready(&k) && reason == "SecretBeingDeleted").then_some(())
        },
    )
    .await;
    // Only taking the finalizer off by hand lets the Secret go.
    secrets
        .patch(
            "kmskey-doomed",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    // Well before the hourly resync: the Secret watch triggers the reconcile.
    let refused = wait_for("MaterialMissing", Duration::from_secs(10), || async {
        let k = keys.get("doomed").await.ok()?;
        let reason = ready_reason(&k.status.as_ref()?.conditions)?;
        (reason == "MaterialMissing").then_some(k)
    })
    .await;
    assert_eq!(refused.status.unwrap().key_id, key.status.unwrap().key_id);
    assert!(
        secrets.get_opt("kmskey-doomed").await.unwrap().is_none(),
        "no new material under the old id"
    );
}

/// `kube-kms move-key` and its output.
fn move_key(cluster: &cluster::Cluster, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kube-kms"))
        .arg("move-key")
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "move-key {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Keys are kept out of a namespace being deleted by moving them: the
/// namespace finishes terminating, and KmsKeys elsewhere take the very same
/// keys (id and sealed material).
#[tokio::test]
async fn keys_moved_out_of_a_namespace_being_deleted_stay_the_same_keys() {
    use kube_kms::operator::key_secret;
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let _controller = Controller::start(&cluster);
    let ns = cluster.namespace.as_str();
    let keys: Api<KmsKey> = Api::namespaced(cluster.client.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), ns);
    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    let doomed = format!("{ns}-doomed");
    let namespace: Namespace =
        serde_json::from_value(json!({"metadata": {"name": doomed}})).unwrap();
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
    let doomed_secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &doomed);
    let manifest = |name: &str, spec: serde_json::Value| -> KmsKey {
        serde_json::from_value(json!({
            "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
            "metadata": {"name": name}, "spec": spec,
        }))
        .unwrap()
    };
    let record = |secret: &Secret| key_secret::read(secret).unwrap().record;
    let mut originals = BTreeMap::new();
    for name in ["app", "logs"] {
        ready_key(&keys, name, json!({})).await;
        let secret = secrets.get(&format!("kmskey-{name}")).await.unwrap();
        originals.insert(name, record(&secret));
        // Its KmsKey deleted, the key is pending deletion.
        keys.delete(name, &DeleteParams::default()).await.unwrap();
        wait_for("KmsKey gone", READY, || async {
            keys.get_opt(name).await.ok()?.is_none().then_some(())
        })
        .await;
    }
    let key_id = originals["app"].key_id.to_string();

    // Both moved out; the originals are deleted (their namespace is not
    // being deleted).
    let out = move_key(&cluster, &["-n", ns, "--all", "--to-namespace", &doomed]);
    assert_eq!(out.matches("moved key").count(), 2, "{out}");
    for (name, original) in &originals {
        let secret = format!("kmskey-{name}");
        assert!(secrets.get_opt(&secret).await.unwrap().is_none());
        let copy = record(&doomed_secrets.get(&secret).await.unwrap());
        assert_eq!(
            (copy.key_id, copy.namespace.as_str(), copy.deletion),
            (original.key_id, doomed.as_str(), None)
        );
        assert_eq!(copy.materials, original.materials);
    }

    // Their namespace deleted: the Secrets are held by the finalizer, and
    // the namespace with them.
    namespaces
        .delete(&doomed, &DeleteParams::default())
        .await
        .unwrap();
    wait_for("key Secrets being deleted", READY, || async {
        let held = doomed_secrets.list(&Default::default()).await.ok()?.items;
        let held = held
            .iter()
            .filter(|s| s.metadata.deletion_timestamp.is_some());
        (held.count() == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let terminating = namespaces.get(&doomed).await.unwrap();
    assert_eq!(
        terminating.status.and_then(|s| s.phase).as_deref(),
        Some("Terminating")
    );

    // Moved back out, one under another name, then the rest: the
    // namespace finishes.
    let back = ["-n", &doomed, "--to-namespace", ns];
    move_key(
        &cluster,
        &[&back[..], &["--key", "app", "--to-name", "rescued"]].concat(),
    );
    let out = move_key(&cluster, &[&back[..], &["--all"]].concat());
    assert_eq!(out.matches("moved key").count(), 1, "{out}");
    wait_for("the namespace gone", Duration::from_secs(60), || async {
        namespaces
            .get_opt(&doomed)
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;

    // A moved key no KmsKey took yet, its Secret deleted: held, and said
    // so on the Secret (this namespace is not terminating, so it takes
    // the event).
    secrets
        .delete("kmskey-rescued", &DeleteParams::default())
        .await
        .unwrap();
    let events: Api<Event> = Api::namespaced(cluster.client.clone(), ns);
    let held = wait_for("a MaterialHeld event", READY, || async {
        let events = events.list(&Default::default()).await.ok()?.items;
        events.into_iter().find(|e| {
            e.reason.as_deref() == Some(kube_kms::operator::sweeper::MATERIAL_HELD)
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("kmskey-rescued")
        })
    })
    .await;
    assert_eq!(held.type_.as_deref(), Some("Warning"));
    assert!(
        held.note.as_deref().unwrap_or_default().contains(&key_id),
        "{held:?}"
    );

    // A KmsKey pinned to the key id takes the same key, as the event says
    // (the Secret held by the finalizer still).
    keys.create(
        &PostParams::default(),
        &manifest("rescued", json!({"keyId": key_id})),
    )
    .await
    .unwrap();
    let rescued = wait_for("rescued KmsKey Ready", READY, || async {
        keys.get("rescued").await.ok().filter(ready)
    })
    .await;
    let status = rescued.status.unwrap();
    assert_eq!(ready_reason(&status.conditions), Some("SecretBeingDeleted"));
    assert_eq!(status.key_id.as_deref(), Some(key_id.as_str()));
    assert_eq!(status.key_state.as_deref(), Some("Enabled"));
    for (name, original) in [("rescued", &originals["app"]), ("logs", &originals["logs"])] {
        let kept = record(&secrets.get(&format!("kmskey-{name}")).await.unwrap());
        assert_eq!(
            (kept.key_id, kept.namespace.as_str(), kept.deletion),
            (original.key_id, ns, None)
        );
        assert_eq!(kept.materials, original.materials);
    }
}
