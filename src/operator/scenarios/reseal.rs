//! Root key rotation: material moves to the newest root key version.

use super::*;

/// The stored record with real material, sealed under root key version 1.
async fn sealed_under_version_1() -> KeyRecord {
    use crate::crypto::CryptoService;
    let old = LocalCryptoService::new(root_key(&[1]), CacheConfig::default());
    let mut record = stored_record();
    let id = crate::seal::MaterialId {
        key_id: record.key_id,
        version: 1,
        spec: record.spec,
        usage: record.usage,
    };
    record.materials[0].sealed = old.generate_material(id).await.unwrap();
    record
}

/// A root key version was added: the key's material, sealed under the
/// older one, is sealed again under it with a conditional replace, and an
/// Event says so. The material (so every ciphertext) stays the same.
#[tokio::test]
async fn material_under_an_older_root_key_version_is_resealed() {
    let record = sealed_under_version_1().await;
    let (ctx, mut server) = context_with_root(&[1, 2]);
    let key = key(json!({}));
    let task = reconcile_key(key.clone(), &ctx).await;
    let put = server.expect_key_secret_replaced(&record).await;
    assert_eq!(put.body["metadata"]["resourceVersion"], "20");
    let written: KeyRecord = serde_json::from_value(record_in(&put.body)).unwrap();
    let sealed = &written.materials[0].sealed;
    assert_eq!(sealed.header().unwrap().root_version, 2);
    let unsealed = |root: &FileRootKey, sealed| {
        crate::seal::unseal(root, sealed)
            .unwrap()
            .1
            .expose()
            .to_vec()
    };
    assert_eq!(
        unsealed(&root_key(&[2]), sealed),
        unsealed(&root_key(&[1]), &record.materials[0].sealed),
        "the same material, which version 2 alone opens"
    );
    let mut unchanged = written.clone();
    unchanged.materials = record.materials.clone();
    assert_eq!(unchanged, record, "nothing else changed");
    let event = server.expect_event("Resealed").await;
    assert_eq!(
        event["note"],
        "material versions [1] sealed again under root key version 2"
    );
    server.expect_status(&key).await;
    finish(task).await;
    server.expect_nothing_more().await;
}

/// A key pending deletion (its KmsKey gone, so no reconcile of its own):
/// the sweeper reseals its material too, with a conditional replace that
/// keeps the deletion date, so the old root key version can go before the
/// window ends. Once done it reads the Secret no more.
#[tokio::test]
async fn material_of_a_key_pending_deletion_is_resealed_by_the_sweeper() {
    let mut record = sealed_under_version_1().await;
    let date = NOW + 3 * DAY_MS;
    record.deletion = Some(Deletion {
        window_days: 7,
        deletion_date: date,
    });
    let (ctx, mut server) = context_with_root(&[1, 2]);
    let meta = pending_meta(&record);

    // Someone else wrote first: nothing is taken for done.
    let task = sweep(&meta, &ctx);
    server.expect_key_secret(&record).await;
    server
        .expect("PUT", &format!("{SECRETS}/kmskey-app"), 409, conflict())
        .await;
    assert_eq!(
        task.await.unwrap().unwrap(),
        Action::requeue(Duration::from_millis(3 * DAY_MS as u64).min(super::super::RESYNC))
    );

    let task = sweep(&meta, &ctx);
    server.expect_key_secret(&record).await;
    let mut written_back = secret_json(record.clone(), "uid-1");
    written_back["metadata"]["resourceVersion"] = json!("21");
    let put = server
        .expect("PUT", &format!("{SECRETS}/kmskey-app"), 200, written_back)
        .await;
    task.await.unwrap().unwrap();
    server.expect_nothing_more().await;
    assert_eq!(put.body["metadata"]["resourceVersion"], "20");
    assert_eq!(
        put.body["metadata"]["annotations"][key_secret::DELETION_DATE_ANNOTATION],
        date.to_string()
    );
    assert_eq!(
        put.body["metadata"]["annotations"][key_secret::KEY_NAME_ANNOTATION],
        "app"
    );
    assert_eq!(
        put.body["metadata"]["annotations"][key_secret::OWNER_UID_ANNOTATION],
        "uid-1"
    );
    let written: KeyRecord = serde_json::from_value(record_in(&put.body)).unwrap();
    assert_eq!(
        written.materials[0].sealed.header().unwrap().root_version,
        2
    );
    let mut unchanged = written.clone();
    unchanged.materials = record.materials.clone();
    assert_eq!(unchanged, record, "nothing else changed");

    // The watch brings the version it wrote: nothing more to read.
    let mut after = written;
    after.materials[0].sealed = record.materials[0].sealed.clone();
    let mut meta = (*pending_meta(&after)).clone();
    meta.metadata.resource_version = Some("21".into());
    let task = sweep(&Arc::new(meta), &ctx);
    server.expect_nothing_more().await;
    task.await.unwrap().unwrap();
}

/// The Secret of a key pending deletion that this version cannot read
/// (here: written by a newer version, with a field this one does not know)
/// is left as it is, and read (and warned about) once per version of it,
/// not at every requeue of its key.
#[tokio::test]
async fn an_unreadable_pending_secret_is_read_once_per_version() {
    let mut record = stored_record();
    record.deletion = Some(Deletion {
        window_days: 7,
        deletion_date: NOW + 3 * DAY_MS,
    });
    let (ctx, mut server) = context_with_root(&[1, 2]);
    let mut newer = secret_json(record.clone(), "uid-1");
    let data = &mut newer["data"]["key.json"];
    let mut document: Value =
        serde_json::from_slice(&crate::b64::decode(data.as_str().unwrap()).unwrap()).unwrap();
    document["fromANewerVersion"] = json!(true);
    *data = json!(crate::b64::encode(&serde_json::to_vec(&document).unwrap()));
    let meta = meta_of(&newer);

    let task = sweep(&meta, &ctx);
    server
        .expect("GET", &format!("{SECRETS}/kmskey-app"), 200, newer.clone())
        .await;
    task.await.unwrap().unwrap();
    server.expect_nothing_more().await;
    let task = sweep(&meta, &ctx);
    server.expect_nothing_more().await;
    task.await.unwrap().unwrap();

    // Another version of it is read again.
    let mut changed = (*meta).clone();
    changed.metadata.resource_version = Some("21".into());
    let task = sweep(&Arc::new(changed), &ctx);
    server
        .expect("GET", &format!("{SECRETS}/kmskey-app"), 200, newer)
        .await;
    task.await.unwrap().unwrap();
    server.expect_nothing_more().await;
}
