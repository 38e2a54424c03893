use std::sync::Arc;

use super::*;
use crate::crypto::{CacheConfig, LocalCryptoService};
use crate::key::{MaterialVersion, RotationType};
use crate::key_id::KeyId;
use crate::material::random_bytes;
use crate::root::FileRootKey;
use crate::seal::{MaterialId, SealedMaterial};
use crate::secret::SecretBytes;
use crate::spec::{KeySpec, KeyUsage};

fn service(versions: &[(u32, &SecretBytes)]) -> LocalCryptoService {
    let root = FileRootKey::from_keys(versions.iter().map(|(v, k)| (*v, (*k).clone()))).unwrap();
    LocalCryptoService::new(Arc::new(root), CacheConfig::default())
}

/// `count` keys with one material version each, sealed by `crypto`.
async fn keys(crypto: &LocalCryptoService, count: usize) -> Vec<KeyRecord> {
    let mut keys = Vec::new();
    for _ in 0..count {
        let mut key = KeyRecord::test(0);
        key.key_id = KeyId::random();
        let id = MaterialId {
            key_id: key.key_id,
            version: 1,
            spec: KeySpec::SymmetricDefault,
            usage: KeyUsage::EncryptDecrypt,
        };
        key.materials = vec![MaterialVersion {
            version: 1,
            created: 0,
            rotation_type: RotationType::Initial,
            sealed: crypto.generate_material(id).await.unwrap(),
        }];
        keys.push(key);
    }
    keys
}

/// The message of a refusal; any other outcome fails the test.
fn refused(error: CheckError) -> String {
    match error {
        CheckError::Refused(message) => message,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn the_root_key_that_sealed_the_store_opens_it_and_another_does_not() {
    let (one, other) = (random_bytes(32), random_bytes(32));
    let sealer = service(&[(1, &one)]);
    let stored = keys(&sealer, 5).await;

    let check = check_root_key(&stored, &service(&[(1, &one)]))
        .await
        .unwrap();
    assert_eq!(
        check,
        RootKeyCheck {
            versions: vec![1],
            damaged: vec![]
        }
    );
    // An empty store has nothing to check.
    assert_eq!(
        check_root_key(&[], &service(&[(1, &other)])).await.unwrap(),
        RootKeyCheck::default()
    );

    // Another key under the same version number: refused, saying why.
    let error = check_root_key(&stored, &service(&[(1, &other)]))
        .await
        .unwrap_err();
    let error = refused(error);
    assert!(error.contains("does not open"), "{error}");
    assert!(error.contains("root key version 1"), "{error}");
    assert!(error.contains("3 of 3 tried"), "{error}");
    // A root key without the version the store was sealed under.
    let error = check_root_key(&stored, &service(&[(2, &one)]))
        .await
        .unwrap_err();
    let error = refused(error);
    assert!(error.contains("root key version 1"), "{error}");
}

#[tokio::test]
async fn after_a_root_key_rotation_every_version_in_use_is_checked() {
    let (v1, v2) = (random_bytes(32), random_bytes(32));
    let mut stored = keys(&service(&[(1, &v1)]), 2).await;
    stored.extend(keys(&service(&[(1, &v1), (2, &v2)]), 2).await);

    let both = service(&[(1, &v1), (2, &v2)]);
    assert_eq!(
        check_root_key(&stored, &both).await.unwrap().versions,
        vec![1, 2]
    );
    // Version 1 dropped from the root key while material still uses it.
    let error = check_root_key(&stored, &service(&[(2, &v2)]))
        .await
        .unwrap_err();
    let error = refused(error);
    assert!(error.contains("root key version 1"), "{error}");
}

#[tokio::test]
async fn one_damaged_blob_is_reported_without_stopping_the_service() {
    let root = random_bytes(32);
    let crypto = service(&[(1, &root)]);
    let mut stored = keys(&crypto, 3).await;
    let mut damaged = stored[0].materials[0].sealed.as_bytes().to_vec();
    *damaged.last_mut().unwrap() ^= 1;
    stored[0].materials[0].sealed = SealedMaterial::from_bytes(damaged);

    let check = check_root_key(&stored, &crypto).await.unwrap();
    assert_eq!(check.versions, vec![1]);
    assert_eq!(check.damaged.len(), 1);
    assert_eq!(check.damaged[0].0, stored[0].key_id.to_string());
}

#[tokio::test]
async fn a_blob_whose_header_does_not_parse_is_reported_and_the_rest_checked() {
    let root = random_bytes(32);
    let crypto = service(&[(1, &root)]);
    let mut stored = keys(&crypto, 2).await;
    stored[1].materials[0].sealed = SealedMaterial::from_bytes(vec![0xff; 3]);

    let check = check_root_key(&stored, &crypto).await.unwrap();
    assert_eq!(check.versions, vec![1]);
    assert_eq!(check.damaged.len(), 1);
    assert_eq!(check.damaged[0].0, stored[1].key_id.to_string());
    // Another root key is still refused by the material that does parse.
    let other = service(&[(1, &random_bytes(32))]);
    refused(check_root_key(&stored, &other).await.unwrap_err());
}

#[tokio::test(start_paused = true)]
async fn a_check_that_cannot_be_made_yet_is_retried_and_a_refusal_is_final() {
    let attempts = std::sync::atomic::AtomicU32::new(0);
    let started = tokio::time::Instant::now();
    let check = until_made(|| {
        let n = attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            if n < 2 {
                Err(Failure::Unchecked("the crypto service is starting".into()))
            } else {
                Ok(RootKeyCheck::default())
            }
        }
    })
    .await;
    assert_eq!(check, Ok(RootKeyCheck::default()));
    assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 3);
    // Waited 1 s, then 2 s.
    assert_eq!(started.elapsed(), std::time::Duration::from_secs(3));

    let refusals = std::sync::atomic::AtomicU32::new(0);
    let refused = until_made(|| {
        refusals.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async { Err(Failure::Refused("not this store's root key".into())) }
    })
    .await;
    assert_eq!(refused, Err("not this store's root key".into()));
    assert_eq!(refusals.load(std::sync::atomic::Ordering::SeqCst), 1);
}
