//! Going back to an older version (`helm rollback`): a key Secret that a
//! newer version wrote is used, never written back without what this
//! version does not know.

use super::*;

const SECRET: &str = "kmskey-newer";

/// The document of the key Secret `SECRET`, and its resourceVersion.
async fn document(secrets: &Api<Secret>) -> (serde_json::Value, String) {
    let secret = secrets.get(SECRET).await.unwrap();
    let bytes = &secret.data.as_ref().unwrap()["key.json"].0;
    let version = secret.resource_version().unwrap();
    (serde_json::from_slice(bytes).unwrap(), version)
}

/// Replaces the document of `SECRET`, as another version of the
/// controller would write it; returns the new resourceVersion.
async fn write_document(secrets: &Api<Secret>, document: &serde_json::Value) -> String {
    let bytes = ByteString(serde_json::to_vec(document).unwrap());
    let patch = json!({"data": {"key.json": bytes}});
    let written = secrets
        .patch(SECRET, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    written.resource_version().unwrap()
}

/// The key's Secret gains a field this version does not know. The
/// controller then refuses the key (`WrittenByNewerVersion`) and never
/// writes the Secret, not for a rotation request nor for the KmsKey's
/// deletion, which waits, Terminating; the endpoint goes on encrypting and
/// decrypting with the key. Once the Secret is as this version writes it
/// again, the deletion goes ahead.
#[tokio::test]
async fn a_key_secret_a_newer_version_wrote_is_used_but_never_written_back() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let mut controller = Controller::start(&cluster);
    let endpoint = controller.start_api(&cluster);
    cluster::callers::let_namespace_in(&cluster).await;
    let (access_key_id, secret_key) = clients::caller(&cluster, &endpoint, "AKIDNEWER").await;
    let kms = clients::kms_client(&endpoint, &access_key_id, &secret_key);
    let keys: Api<KmsKey> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let key = ready_key(&keys, "newer", json!({})).await;
    let key_id = key.status.unwrap().key_id.unwrap();

    let (ours, _) = document(&secrets).await;
    let mut newer = ours.clone();
    newer["record"]["hsm_slot"] = 7.into();
    let written = write_document(&secrets, &newer).await;
    // The Secret watch brings the change to the controller at once.
    let refused = wait_for("WrittenByNewerVersion", READY, || async {
        let k = keys.get("newer").await.ok()?;
        let conditions = &k.status.as_ref()?.conditions;
        (ready_reason(conditions)? == "WrittenByNewerVersion").then_some(k)
    })
    .await;
    let message = &Condition::ready_in(&refused.status.unwrap().conditions)
        .unwrap()
        .message
        .clone();
    assert!(message.contains("`record.hsm_slot`"), "{message}");
    // A rotation asked for is not carried out: it would write the Secret.
    let rotate = json!({"metadata": {"annotations": {"kubekms.io/rotate": "1"}}});
    keys.patch("newer", &PatchParams::default(), &Patch::Merge(rotate))
        .await
        .unwrap();

    // The endpoint serves the key as it reads it.
    let sealed = crate::multi_region::encrypt(&kms, &key_id, "kept").await;
    assert_eq!(crate::multi_region::decrypt(&kms, sealed).await, "kept");

    // Deleting the KmsKey schedules nothing: it stays, Terminating, and
    // says why.
    keys.delete("newer", &DeleteParams::default())
        .await
        .unwrap();
    let events: Api<Event> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let warned = wait_for("a WrittenByNewerVersion event", READY, || async {
        let events = events.list(&Default::default()).await.ok()?.items;
        events.into_iter().find(|e| {
            e.reason.as_deref() == Some("WrittenByNewerVersion")
                && e.regarding.as_ref().and_then(|r| r.kind.as_deref()) == Some("KmsKey")
                && e.note.as_deref().is_some_and(|n| n.contains("hsm_slot"))
        })
    })
    .await;
    assert_eq!(warned.type_.as_deref(), Some("Warning"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = keys.get("newer").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    let (kept, version) = document(&secrets).await;
    assert_eq!((kept, version), (newer, written), "the Secret was written");

    // As this version writes it again (what a newer version would do
    // for a rollback it allows), the deletion goes ahead.
    write_document(&secrets, &ours).await;
    wait_for("KmsKey gone", READY, || async {
        keys.get_opt("newer").await.ok()?.is_none().then_some(())
    })
    .await;
    let (scheduled, _) = document(&secrets).await;
    assert!(
        scheduled["record"]["deletion"]["deletion_date"].is_number(),
        "{scheduled}"
    );
}
