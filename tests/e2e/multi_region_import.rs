//! A multi-Region key of imported material with a cluster as a Region: a
//! `kube-kms serve` primary in us-east-1 replicates it into the cluster
//! (eu-west-1), where the replica is made pending import and its owner
//! imports the same material through the controller; new material reaches
//! the replica before the primary rotates onto it.

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::types::{ImportType, IncludeKeyMaterial, KeyState, OriginType};

use super::*;
use crate::import::{parameters, wrap};
use crate::multi_region::{Peered, decrypt, encrypt, peered};

/// GetParametersForImport's token and wrapping key.
type Wrapping = (
    aws_sdk_kms::primitives::Blob,
    aws_lc_rs::rsa::OaepPublicEncryptingKey,
);

/// Imports `material` there with the token and wrapping key given; the
/// error's code if refused.
async fn import(
    kms: &aws_sdk_kms::Client,
    key: &str,
    (token, rsa): &(
        aws_sdk_kms::primitives::Blob,
        aws_lc_rs::rsa::OaepPublicEncryptingKey,
    ),
    material: &[u8],
    import_type: Option<ImportType>,
) -> Result<String, String> {
    kms.import_key_material()
        .key_id(key)
        .import_token(token.clone())
        .encrypted_key_material(wrap(rsa, material))
        .set_import_type(import_type)
        .send()
        .await
        .map(|r| r.key_material_id.unwrap())
        .map_err(|e| e.code().unwrap_or("no code").to_owned())
}

/// A multi-Region key of imported material made there with `material`:
/// its id, the import parameters (kept: their quota is one call every four
/// seconds) and the material's id.
async fn imported_primary(
    kms: &aws_sdk_kms::Client,
    material: &[u8],
) -> (String, Wrapping, String) {
    let created = kms
        .create_key()
        .multi_region(true)
        .origin(OriginType::External)
        .send()
        .await
        .unwrap();
    let key_id = created.key_metadata.unwrap().key_id;
    let wrapping = parameters(kms, &key_id).await;
    let material_id = import(kms, &key_id, &wrapping, material, None)
        .await
        .unwrap();
    (key_id, wrapping, material_id)
}

/// ReplicateKey of `key` there to `region`: the replica is made pending
/// import, of origin EXTERNAL.
async fn replicated_pending_import(kms: &aws_sdk_kms::Client, key: &str, region: &str) {
    let replicated = kms
        .replicate_key()
        .key_id(key)
        .replica_region(region)
        .send()
        .await
        .unwrap();
    let replica = replicated.replica_key_metadata.unwrap();
    assert_eq!(replica.key_state, Some(KeyState::PendingImport));
    assert_eq!(replica.origin, Some(OriginType::External));
}

async fn state(kms: &aws_sdk_kms::Client, key: &str) -> Option<KeyState> {
    let described = kms.describe_key().key_id(key).send().await.unwrap();
    described.key_metadata.unwrap().key_state
}

/// Each material's (id, KeyMaterialState) as ListKeyRotations gives them.
async fn materials(kms: &aws_sdk_kms::Client, key: &str) -> Vec<(String, String)> {
    let listed = kms
        .list_key_rotations()
        .key_id(key)
        .include_key_material(IncludeKeyMaterial::AllKeyMaterial)
        .send()
        .await
        .unwrap();
    let rotations = listed.rotations.unwrap_or_default();
    rotations
        .into_iter()
        .map(|r| {
            let state = r.key_material_state.unwrap().as_str().to_owned();
            (r.key_material_id.unwrap(), state)
        })
        .collect()
}

#[tokio::test]
async fn a_serve_primary_of_imported_material_is_replicated_into_the_cluster() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let keys: Api<KmsKey> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let Peered {
        controller: _controller,
        east: _east,
        east_kms,
        west_kms,
        ..
    } = peered(&cluster).await;
    let (first, other, next) = ([0x11u8; 32], [0x22u8; 32], [0x33u8; 32]);
    let (key_id, east_wrapping, first_id) = imported_primary(&east_kms, &first).await;
    let before = encrypt(&east_kms, &key_id, "written in us-east-1").await;

    // Replicated: a KmsKey of origin EXTERNAL, pending import, no material.
    replicated_pending_import(&east_kms, &key_id, "eu-west-1").await;
    let object = keys.get(&key_id).await.unwrap();
    assert_eq!(object.spec.origin, kube_kms::key::Origin::External);
    assert_eq!(
        state(&west_kms, &key_id).await,
        Some(KeyState::PendingImport)
    );

    // Its owner imports the primary's material there, and no other.
    let west_wrapping = parameters(&west_kms, &key_id).await;
    assert_eq!(
        import(&west_kms, &key_id, &west_wrapping, &other, None).await,
        Err("IncorrectKeyMaterialException".into())
    );
    assert_eq!(
        import(
            &west_kms,
            &key_id,
            &west_wrapping,
            &first,
            Some(ImportType::NewKeyMaterial)
        )
        .await,
        Err("UnsupportedOperationException".into())
    );
    assert_eq!(
        import(&west_kms, &key_id, &west_wrapping, &first, None).await,
        Ok(first_id.clone())
    );
    assert_eq!(state(&west_kms, &key_id).await, Some(KeyState::Enabled));
    assert_eq!(
        decrypt(&west_kms, before.clone()).await,
        "written in us-east-1"
    );

    // New material: the primary, then the replica, then the rotation.
    let next_id = import(
        &east_kms,
        &key_id,
        &east_wrapping,
        &next,
        Some(ImportType::NewKeyMaterial),
    )
    .await
    .unwrap();
    let refused = east_kms
        .rotate_key_on_demand()
        .key_id(&key_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("KMSInvalidStateException"));
    assert_eq!(
        materials(&west_kms, &key_id).await[1],
        (
            next_id.clone(),
            "PENDING_MULTI_REGION_IMPORT_AND_ROTATION".into()
        )
    );
    assert_eq!(
        import(&west_kms, &key_id, &west_wrapping, &next, None).await,
        Ok(next_id.clone())
    );
    assert_eq!(
        materials(&west_kms, &key_id).await[1],
        (next_id.clone(), "PENDING_ROTATION".into())
    );
    east_kms
        .rotate_key_on_demand()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    let rotated = [
        (first_id, "NON_CURRENT".to_owned()),
        (next_id, "CURRENT".to_owned()),
    ];
    wait_for("the rotation in the cluster", READY, || async {
        (materials(&west_kms, &key_id).await == rotated).then_some(())
    })
    .await;
    let after = encrypt(&east_kms, &key_id, "after the rotation").await;
    assert_eq!(decrypt(&west_kms, after).await, "after the rotation");
    assert_eq!(decrypt(&west_kms, before).await, "written in us-east-1");
}

/// The other way: the primary in the cluster (its imports and rotation
/// through the controller), its replica in a `serve` us-east-1.
#[tokio::test]
async fn a_cluster_primary_of_imported_material_rotates_once_its_replica_holds_the_new_material() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let Peered {
        controller: _controller,
        east: _east,
        east_kms,
        west_kms,
        ..
    } = peered(&cluster).await;
    let (first, next) = ([0x44u8; 32], [0x55u8; 32]);
    let (key_id, west_wrapping, first_id) = imported_primary(&west_kms, &first).await;
    replicated_pending_import(&west_kms, &key_id, "us-east-1").await;
    let east_wrapping = parameters(&east_kms, &key_id).await;
    assert_eq!(
        import(&east_kms, &key_id, &east_wrapping, &first, None).await,
        Ok(first_id.clone())
    );
    let sealed = encrypt(&west_kms, &key_id, "from the cluster").await;
    assert_eq!(decrypt(&east_kms, sealed).await, "from the cluster");

    let next_id = import(
        &west_kms,
        &key_id,
        &west_wrapping,
        &next,
        Some(ImportType::NewKeyMaterial),
    )
    .await
    .unwrap();
    assert_eq!(
        materials(&west_kms, &key_id).await[1],
        (
            next_id.clone(),
            "PENDING_MULTI_REGION_IMPORT_AND_ROTATION".into()
        )
    );
    let refused = west_kms
        .rotate_key_on_demand()
        .key_id(&key_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("KMSInvalidStateException"));
    assert!(
        refused.message().unwrap().contains("us-east-1"),
        "{refused:?}"
    );
    assert_eq!(
        import(&east_kms, &key_id, &east_wrapping, &next, None).await,
        Ok(next_id.clone())
    );
    // Asked again at the rotation, the replica says it holds it. The
    // controller rotates (as AWS, the call does not wait for it), and the
    // next replica sync (every second here) tells us-east-1.
    west_kms
        .rotate_key_on_demand()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    let rotated = [
        (first_id, "NON_CURRENT".to_owned()),
        (next_id, "CURRENT".to_owned()),
    ];
    for (kms, region) in [(&west_kms, "eu-west-1"), (&east_kms, "us-east-1")] {
        wait_for(&format!("the rotation in {region}"), READY, || async {
            (materials(kms, &key_id).await == rotated).then_some(())
        })
        .await;
    }
    let after = encrypt(&west_kms, &key_id, "after the rotation").await;
    assert_eq!(decrypt(&east_kms, after).await, "after the rotation");
}
