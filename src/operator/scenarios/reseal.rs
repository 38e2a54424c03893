//! Root key rotation: material moves to the newest root key version.

use super::*;

/// A root key version was added: the key's material, sealed under the
/// older one, is sealed again under it with a conditional replace, and an
/// Event says so. The material (so every ciphertext) stays the same.
#[tokio::test]
async fn material_under_an_older_root_key_version_is_resealed() {
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
    let (ctx, mut server) = context_with_root(&[1, 2]);
    let key = key(json!({}));
    let task = reconcile_key(key.clone(), &ctx).await;
    server
        .expect(
            "GET",
            &format!("{SECRETS}/kmskey-app"),
            200,
            secret_json(record.clone(), "uid-1"),
        )
        .await;
    let put = server
        .expect("PUT", &format!("{SECRETS}/kmskey-app"), 200, json!({}))
        .await;
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
    server
        .expect(
            "PATCH",
            &format!("{KEYS}/app/status"),
            200,
            serde_json::to_value(&key).unwrap(),
        )
        .await;
    finish(task).await;
    server.expect_nothing_more().await;
}
