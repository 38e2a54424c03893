//! Key import in a cluster: a KmsKey of origin EXTERNAL is minted without
//! material, and ImportKeyMaterial / DeleteImportedKeyMaterial go through
//! the controller (a `kubekms.io/material` request it removes once done).

use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey};
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    AlgorithmSpec, ExpirationModelType, ImportType, IncludeKeyMaterial, KeyState, OriginType,
    WrappingKeySpec,
};
use kube_kms::resource::MATERIAL_ANNOTATION;

use super::*;
use crate::clients::key_admin;

/// GetParametersForImport's import token and wrapping key (one call: its
/// quota is one every four seconds, as AWS's).
pub(super) async fn parameters(
    kms: &aws_sdk_kms::Client,
    key: &str,
) -> (Blob, OaepPublicEncryptingKey) {
    let parameters = kms
        .get_parameters_for_import()
        .key_id(key)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .unwrap();
    let public = PublicEncryptingKey::from_der(parameters.public_key().unwrap().as_ref()).unwrap();
    let rsa = OaepPublicEncryptingKey::new(public).unwrap();
    (parameters.import_token.unwrap(), rsa)
}

/// `material` wrapped under `rsa`.
pub(super) fn wrap(rsa: &OaepPublicEncryptingKey, material: &[u8]) -> Blob {
    let mut out = vec![0u8; rsa.ciphertext_size()];
    let blob = rsa
        .encrypt(&OAEP_SHA256_MGF1SHA256, material, &mut out, None)
        .unwrap()
        .to_vec();
    Blob::new(blob)
}

#[tokio::test]
async fn imported_material_goes_through_the_controller_into_the_key_secret() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let mut controller = Controller::start(&cluster);
    let endpoint = controller.start_api(&cluster);
    let ns = cluster.namespace.clone();
    let keys: Api<KmsKey> = Api::namespaced(cluster.client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &ns);
    let kms = key_admin(&cluster, &endpoint, "AKIDOWNER").await;

    // CreateKey: a KmsKey of origin EXTERNAL, pending import.
    let created = kms
        .create_key()
        .origin(OriginType::External)
        .description("bring your own key")
        .send()
        .await
        .unwrap();
    let meta = created.key_metadata.unwrap();
    assert_eq!(meta.key_state(), Some(&KeyState::PendingImport));
    let key_id = meta.key_id;
    let object = keys.get(&key_id).await.unwrap();
    assert_eq!(object.spec.origin, kube_kms::key::Origin::External);
    let refused = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(&b"x"[..]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("KMSInvalidStateException"));

    // Imported: in force when the call returns, in the Secret, and the
    // request with its sealed copy gone from the KmsKey.
    let (token, wrapping) = parameters(&kms, &key_id).await;
    let blob = wrap(&wrapping, &[0x42u8; 32]);
    let imported = kms
        .import_key_material()
        .key_id(&key_id)
        .import_token(token.clone())
        .encrypted_key_material(blob.clone())
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .unwrap();
    let material_id = imported.key_material_id.unwrap();
    let described = kms.describe_key().key_id(&key_id).send().await.unwrap();
    let described = described.key_metadata.unwrap();
    assert_eq!(described.key_state(), Some(&KeyState::Enabled));
    assert_eq!(
        described.current_key_material_id(),
        Some(material_id.as_str())
    );
    let sealed = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(&b"imported"[..]))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let stored = secrets.get(&format!("kmskey-{key_id}")).await.unwrap();
    assert!(
        stored
            .annotations()
            .contains_key("kubekms.io/material-handled")
    );
    wait_for("the request to leave the KmsKey", READY, || async {
        let object = keys.get(&key_id).await.ok()?;
        (!object.annotations().contains_key(MATERIAL_ANNOTATION)).then_some(())
    })
    .await;
    let status = keys.get(&key_id).await.unwrap().status.unwrap();
    assert_eq!(status.key_state.as_deref(), Some("Enabled"));

    // Deleted: pending import, and what it encrypted waits for it.
    kms.delete_imported_key_material()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    let refused = kms
        .decrypt()
        .ciphertext_blob(sealed.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("KMSInvalidStateException"));
    // Other material is refused; the same comes back, with the same token.
    let refused = kms
        .import_key_material()
        .key_id(&key_id)
        .import_token(token.clone())
        .encrypted_key_material(wrap(&wrapping, &[7u8; 32]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("IncorrectKeyMaterialException"));
    // The controller may still be removing the last request: retried as
    // an SDK user retries a ConflictException.
    let again = wait_for("the same material to be imported again", READY, || async {
        kms.import_key_material()
            .key_id(&key_id)
            .import_token(token.clone())
            .encrypted_key_material(blob.clone())
            .send()
            .await
            .ok()
    })
    .await;
    assert_eq!(again.key_material_id.as_deref(), Some(material_id.as_str()));
    let plain = kms
        .decrypt()
        .ciphertext_blob(sealed.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.plaintext.unwrap().as_ref(), b"imported");

    // New material waits in the key Secret until an on-demand rotation
    // makes it version 2; what version 1 encrypted still decrypts.
    let new_blob = wrap(&wrapping, &[0x43u8; 32]);
    let new = wait_for("new material to be imported", READY, || async {
        kms.import_key_material()
            .key_id(&key_id)
            .import_token(token.clone())
            .encrypted_key_material(new_blob.clone())
            .import_type(ImportType::NewKeyMaterial)
            .send()
            .await
            .ok()
    })
    .await;
    let new_id = new.key_material_id.unwrap();
    let states = || async {
        let listed = kms
            .list_key_rotations()
            .key_id(&key_id)
            .include_key_material(IncludeKeyMaterial::AllKeyMaterial)
            .send()
            .await
            .unwrap();
        listed
            .rotations()
            .iter()
            .map(|r| {
                let state = r.key_material_state().map(|s| s.as_str().to_owned());
                (r.key_material_id().unwrap().to_owned(), state.unwrap())
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        states().await,
        [
            (material_id.clone(), "CURRENT".to_owned()),
            (new_id.clone(), "PENDING_ROTATION".to_owned())
        ]
    );
    kms.rotate_key_on_demand()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    wait_for("the controller to rotate onto it", READY, || async {
        let expected = [
            (material_id.clone(), "NON_CURRENT".to_owned()),
            (new_id.clone(), "CURRENT".to_owned()),
        ];
        (states().await == expected).then_some(())
    })
    .await;
    let after = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(&b"after"[..]))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    for (blob, id) in [(after, &new_id), (sealed, &material_id)] {
        let plain = kms.decrypt().ciphertext_blob(blob).send().await.unwrap();
        assert_eq!(plain.key_material_id(), Some(id.as_str()));
    }
    let status = keys.get(&key_id).await.unwrap().status.unwrap();
    assert_eq!(status.current_version, Some(2));

    // Declared in Git: pending import; its origin cannot change.
    let declared = ready_key(&keys, "byok", json!({"origin": "EXTERNAL"})).await;
    assert_eq!(
        declared.status.unwrap().key_state.as_deref(),
        Some("PendingImport")
    );
    let changed = keys
        .patch(
            "byok",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"origin": "AWS_KMS"}})),
        )
        .await
        .unwrap_err();
    assert!(
        changed.to_string().contains("origin is immutable"),
        "{changed}"
    );
}
