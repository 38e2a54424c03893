//! Resealing a local store under a new root key version.

use std::sync::Arc;

use super::*;
use crate::crypto::LocalCryptoService;
use crate::key::{MaterialVersion, RotationType};
use crate::root::{FileRootKey, RootKey};
use crate::seal::{MaterialId, SealedMaterial};
use crate::secret::SecretBytes;
use crate::spec::{KeySpec, KeyUsage};
use crate::store::LocalStore;

fn root(versions: &[u32]) -> Arc<dyn RootKey> {
    Arc::new(
        FileRootKey::from_keys(
            versions
                .iter()
                .map(|&v| (v, SecretBytes::new(vec![v as u8; 32]))),
        )
        .unwrap(),
    )
}

fn crypto(versions: &[u32]) -> LocalCryptoService {
    LocalCryptoService::new(root(versions), Default::default())
}

/// A key of `spec` with `versions` material versions, sealed by `crypto`.
async fn key(
    crypto: &dyn CryptoService,
    n: u8,
    spec: KeySpec,
    usage: KeyUsage,
    versions: u32,
) -> KeyRecord {
    let mut key = KeyRecord::test(1_700_000_000_000);
    key.key_id = KeyId::from_bytes([n; 16]);
    key.spec = spec;
    key.usage = usage;
    key.materials.clear();
    for version in 1..=versions {
        let id = MaterialId {
            key_id: key.key_id,
            version,
            spec,
            usage,
        };
        key.materials.push(MaterialVersion {
            version,
            created: 1_700_000_000_000,
            rotation_type: RotationType::Initial,
            sealed: crypto.generate_material(id).await.unwrap(),
        });
    }
    key
}

fn root_versions(key: &KeyRecord) -> Vec<u32> {
    key.materials
        .iter()
        .map(|m| m.sealed.header().unwrap().root_version)
        .collect()
}

/// The plaintext material of every version, opened with `root`.
fn opened(key: &KeyRecord, root: &dyn RootKey) -> Vec<Vec<u8>> {
    key.materials
        .iter()
        .map(|m| {
            let (_, material) = crate::seal::unseal(root, &m.sealed).unwrap();
            material.expose().to_vec()
        })
        .collect()
}

#[tokio::test]
async fn material_moves_to_the_newest_root_key_version_and_stays_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let old = crypto(&[1]);
    let keys = [
        key(
            &old,
            1,
            KeySpec::SymmetricDefault,
            KeyUsage::EncryptDecrypt,
            2,
        )
        .await,
        key(&old, 2, KeySpec::EccNistP256, KeyUsage::SignVerify, 1).await,
        key(&old, 3, KeySpec::Hmac256, KeyUsage::GenerateVerifyMac, 1).await,
    ];
    for key in &keys {
        store.create_key(key.clone()).await.unwrap();
    }
    let before: Vec<_> = keys
        .iter()
        .map(|k| opened(k, root(&[1]).as_ref()))
        .collect();
    assert_eq!(stale_versions(&keys[0], 1), Vec::<u32>::new());
    assert_eq!(stale_versions(&keys[0], 2), vec![1, 2]);

    // Version 2 added: everything moves to it.
    let rotated = crypto(&[1, 2]);
    let done = reseal_store(&store, &rotated).await.unwrap();
    assert_eq!(
        done,
        Resealed {
            root_version: 2,
            materials: 4,
            keys: 3,
            refused: vec![],
        }
    );
    let after = store.all_keys().await.unwrap();
    for key in &after {
        assert!(root_versions(key).iter().all(|&v| v == 2), "{key:?}");
    }
    // Version 1 can go: version 2 alone opens the same material.
    let opened_after: Vec<_> = after
        .iter()
        .map(|k| opened(k, root(&[2]).as_ref()))
        .collect();
    assert_eq!(opened_after, before);
    // Nothing else about the keys changed.
    for (key, was) in after.iter().zip(&keys) {
        let mut same = key.clone();
        same.materials = was.materials.clone();
        same.revision = was.revision;
        assert_eq!(&same, was);
    }
    // A second pass has nothing to do.
    assert_eq!(reseal_store(&store, &rotated).await.unwrap().materials, 0);
}

#[tokio::test]
async fn damaged_material_is_reported_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let old = crypto(&[1]);
    let mut damaged = key(
        &old,
        4,
        KeySpec::SymmetricDefault,
        KeyUsage::EncryptDecrypt,
        2,
    )
    .await;
    let mut bytes = damaged.materials[0].sealed.as_bytes().to_vec();
    *bytes.last_mut().unwrap() ^= 1;
    damaged.materials[0].sealed = SealedMaterial::from_bytes(bytes.clone());
    store.create_key(damaged.clone()).await.unwrap();

    let done = reseal_store(&store, &crypto(&[1, 2])).await.unwrap();
    assert_eq!((done.materials, done.keys), (1, 1));
    assert_eq!(done.refused.len(), 1);
    assert_eq!((done.refused[0].0, done.refused[0].1), (damaged.key_id, 1));
    let stored = store.get_key(damaged.key_id).await.unwrap().unwrap();
    assert_eq!(stored.materials[0].sealed.as_bytes(), bytes.as_slice());
    assert_eq!(root_versions(&stored)[1], 2);
}

#[tokio::test]
async fn imported_material_waiting_for_a_rotation_moves_too() {
    let old = crypto(&[1]);
    let mut key = key(
        &old,
        4,
        KeySpec::SymmetricDefault,
        KeyUsage::EncryptDecrypt,
        2,
    )
    .await;
    key.origin = crate::key::Origin::External;
    let waiting = key.materials.pop().unwrap();
    key.pending_rotation = Some(crate::key::PendingMaterial {
        material: crate::key::ImportedMaterial {
            material_id: "ab".repeat(32),
            valid_to: None,
            description: String::new(),
            imported: 1,
            version: 2,
            since: 0,
        },
        sealed: waiting.sealed.clone(),
    });
    assert_eq!(stale_versions(&key, 2), vec![1, 2]);
    let done = reseal_key(&mut key, 2, &crypto(&[1, 2])).await.unwrap();
    assert_eq!(done.moved, vec![1, 2]);
    let pending = &key.pending_rotation.as_ref().unwrap().sealed;
    assert_eq!(pending.header().unwrap().root_version, 2);
    let (_, was) = crate::seal::unseal(root(&[1]).as_ref(), &waiting.sealed).unwrap();
    let (_, now) = crate::seal::unseal(root(&[2]).as_ref(), pending).unwrap();
    assert_eq!(now.expose(), was.expose());
    assert_eq!(stale_versions(&key, 2), Vec::<u32>::new());
}
