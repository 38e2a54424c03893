//! Multi-Region keys of imported material between two `kube-kms serve`
//! Regions, with the AWS SDK for Rust: as in AWS, each Region imports the
//! same material itself (none travels), a replica takes no other, and the
//! primary rotates onto new material only once every replica holds it.

use aws_sdk_kms::Client;
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    AlgorithmSpec, ImportType, IncludeKeyMaterial, KeyState, OriginType, WrappingKeySpec,
};

use super::multi_region::TwoRegions;
use super::support::{self, SECRET_KEY};

/// Imports `material` into `key` there; the error's code if refused.
async fn import(
    kms: &Client,
    key: &str,
    material: &[u8],
    import_type: Option<ImportType>,
) -> Result<String, String> {
    use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey};
    let parameters = kms
        .get_parameters_for_import()
        .key_id(key)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .map_err(|e| format!("{:?}", e.code()))?;
    let wrapping = OaepPublicEncryptingKey::new(
        PublicEncryptingKey::from_der(parameters.public_key().unwrap().as_ref()).unwrap(),
    )
    .unwrap();
    let mut wrapped = vec![0u8; wrapping.ciphertext_size()];
    let wrapped = wrapping
        .encrypt(&OAEP_SHA256_MGF1SHA256, material, &mut wrapped, None)
        .unwrap()
        .to_vec();
    kms.import_key_material()
        .key_id(key)
        .import_token(parameters.import_token().unwrap().clone())
        .encrypted_key_material(Blob::new(wrapped))
        .set_import_type(import_type)
        .send()
        .await
        .map(|r| r.key_material_id().unwrap().to_owned())
        .map_err(|e| e.code().unwrap_or("no code").to_owned())
}

async fn state(kms: &Client, key: &str) -> KeyState {
    let described = kms.describe_key().key_id(key).send().await.unwrap();
    described.key_metadata.unwrap().key_state.unwrap()
}

async fn encrypt(kms: &Client, key: &str, text: &[u8]) -> Blob {
    let out = kms
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new(text))
        .send()
        .await
        .unwrap();
    out.ciphertext_blob.unwrap()
}

async fn decrypt(kms: &Client, blob: &Blob) -> Result<Vec<u8>, String> {
    kms.decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .map(|d| d.plaintext.unwrap().into_inner())
        .map_err(|e| e.code().unwrap_or("no code").to_owned())
}

/// Each material's (id, KeyMaterialState, ImportState) as ListKeyRotations
/// reports them with ALL_KEY_MATERIAL.
async fn materials(kms: &Client, key: &str) -> Vec<(String, String, String)> {
    let listed = kms
        .list_key_rotations()
        .key_id(key)
        .include_key_material(IncludeKeyMaterial::AllKeyMaterial)
        .send()
        .await
        .unwrap();
    listed
        .rotations()
        .iter()
        .map(|r| {
            (
                r.key_material_id().unwrap().to_owned(),
                r.key_material_state().unwrap().as_str().to_owned(),
                r.import_state().unwrap().as_str().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_primary_of_imported_material_is_replicated_and_each_region_imports_it() {
    let regions = TwoRegions::start(&[], None);
    let east = support::kms_client(&regions.east.endpoint, SECRET_KEY);
    let west = support::kms_client_in(&regions.west.endpoint, SECRET_KEY, "eu-west-1");
    let created = east
        .create_key()
        .multi_region(true)
        .origin(OriginType::External)
        .send()
        .await
        .unwrap();
    let key = created.key_metadata.unwrap().key_id;
    let replicate = async || {
        east.replicate_key()
            .key_id(&key)
            .replica_region("eu-west-1")
            .send()
            .await
    };
    // Nothing imported: nothing to replicate yet (as AWS).
    let refused = replicate().await.unwrap_err();
    assert_eq!(refused.code(), Some("KMSInvalidStateException"));
    let (first, other, next) = ([0x11u8; 32], [0x22u8; 32], [0x33u8; 32]);
    let first_id = import(&east, &key, &first, None).await.unwrap();
    let before = encrypt(&east, &key, b"sealed in us-east-1").await;

    // The replica is made pending import: no material travels.
    let replica = replicate().await.unwrap();
    let metadata = replica.replica_key_metadata.unwrap();
    assert_eq!(metadata.key_state, Some(KeyState::PendingImport));
    assert_eq!(metadata.origin, Some(OriginType::External));
    assert_eq!(
        decrypt(&west, &before).await,
        Err("KMSInvalidStateException".into())
    );
    assert_eq!(
        materials(&west, &key).await,
        [(first_id.clone(), "CURRENT".into(), "PENDING_IMPORT".into())]
    );

    // Only the primary's material goes in there, and never as new.
    assert_eq!(
        import(&west, &key, &other, None).await,
        Err("IncorrectKeyMaterialException".into())
    );
    assert_eq!(
        import(&west, &key, &first, Some(ImportType::NewKeyMaterial)).await,
        Err("UnsupportedOperationException".into())
    );
    assert_eq!(state(&west, &key).await, KeyState::PendingImport);
    assert_eq!(
        import(&west, &key, &first, None).await,
        Ok(first_id.clone())
    );
    assert_eq!(state(&west, &key).await, KeyState::Enabled);
    assert_eq!(
        decrypt(&west, &before).await.unwrap(),
        b"sealed in us-east-1"
    );
    let from_west = encrypt(&west, &key, b"sealed in eu-west-1").await;
    assert_eq!(
        decrypt(&east, &from_west).await.unwrap(),
        b"sealed in eu-west-1"
    );

    // New material: into the primary first, then the replica; only then
    // does the primary rotate onto it.
    let next_id = import(&east, &key, &next, Some(ImportType::NewKeyMaterial))
        .await
        .unwrap();
    let waiting = (
        next_id.clone(),
        "PENDING_MULTI_REGION_IMPORT_AND_ROTATION".to_owned(),
    );
    let east_materials = materials(&east, &key).await;
    assert_eq!(
        (east_materials[1].0.clone(), east_materials[1].1.clone()),
        waiting
    );
    let refused = east
        .rotate_key_on_demand()
        .key_id(&key)
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("KMSInvalidStateException"));
    assert!(
        refused.message().unwrap().contains("eu-west-1"),
        "{refused:?}"
    );
    // The replica lists what it is to import.
    assert_eq!(
        materials(&west, &key).await[1],
        (
            waiting.0.clone(),
            waiting.1.clone(),
            "PENDING_IMPORT".into()
        )
    );
    assert_eq!(import(&west, &key, &next, None).await, Ok(next_id.clone()));
    assert_eq!(
        materials(&west, &key).await[1],
        (
            next_id.clone(),
            "PENDING_ROTATION".into(),
            "IMPORTED".into()
        )
    );
    east.rotate_key_on_demand()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        materials(&east, &key).await[1].1,
        "CURRENT",
        "rotated onto it"
    );
    let rotated = encrypt(&east, &key, b"after the rotation").await;
    assert_eq!(
        decrypt(&west, &rotated).await.unwrap(),
        b"after the rotation"
    );
    assert_eq!(
        materials(&west, &key).await,
        [
            (first_id, "NON_CURRENT".into(), "IMPORTED".into()),
            (next_id, "CURRENT".into(), "IMPORTED".into()),
        ]
    );
    assert_eq!(
        decrypt(&west, &before).await.unwrap(),
        b"sealed in us-east-1"
    );

    // Material pending rotation holds the primary where it is; deleted on
    // the primary, it goes from the replica too.
    let fourth = import(&east, &key, &[0x44u8; 32], Some(ImportType::NewKeyMaterial))
        .await
        .unwrap();
    assert_eq!(
        materials(&west, &key).await.len(),
        3,
        "the replica learns at once"
    );
    let moving = async || {
        east.update_primary_region()
            .key_id(&key)
            .primary_region("eu-west-1")
            .send()
            .await
    };
    let refused = moving().await.unwrap_err();
    assert_eq!(refused.code(), Some("KMSInvalidStateException"));
    east.delete_imported_key_material()
        .key_id(&key)
        .key_material_id(&fourth)
        .send()
        .await
        .unwrap();
    assert_eq!(materials(&west, &key).await.len(), 2);
    assert_eq!(state(&east, &key).await, KeyState::Enabled);
    moving().await.unwrap();
    let moved = encrypt(&west, &key, b"from the new primary").await;
    assert_eq!(
        decrypt(&east, &moved).await.unwrap(),
        b"from the new primary"
    );
}

/// A primary of imported material declared with `replicaRegions`: its
/// replica is made once its material is imported (not before, as
/// ReplicateKey would refuse it), pending import there.
#[tokio::test]
async fn a_declared_primary_of_imported_material_is_replicated_once_imported() {
    let key = "mrk-0123456789abcdeff123456789abcdef";
    let manifest = format!(
        "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {{name: byok}}\nspec:\n  keyId: {key}\n  multiRegion: true\n  origin: EXTERNAL\n  replicaRegions: [eu-west-1]\n"
    );
    let regions = TwoRegions::start(&["--lifecycle-interval-seconds", "1"], Some(&manifest));
    let east = support::kms_client(&regions.east.endpoint, SECRET_KEY);
    let west = support::kms_client_in(&regions.west.endpoint, SECRET_KEY, "eu-west-1");
    // Several syncs, nothing made while the primary is pending import.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let missing = west.describe_key().key_id(key).send().await.unwrap_err();
    assert_eq!(missing.code(), Some("NotFoundException"));
    let material = [0x66u8; 32];
    let id = import(&east, key, &material, None).await.unwrap();
    let started = std::time::Instant::now();
    while west.describe_key().key_id(key).send().await.is_err() {
        assert!(started.elapsed().as_secs() < 20, "no replica in eu-west-1");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(state(&west, key).await, KeyState::PendingImport);
    assert_eq!(import(&west, key, &material, None).await, Ok(id));
    let sealed = encrypt(&east, key, b"declared, imported").await;
    assert_eq!(
        decrypt(&west, &sealed).await.unwrap(),
        b"declared, imported"
    );
}
