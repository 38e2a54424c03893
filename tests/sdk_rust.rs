//! The AWS SDK for Rust (`aws-sdk-kms`) against `kube-kms serve`.

mod support;

#[path = "sdk_rust/live_changes.rs"]
mod live_changes;
#[path = "sdk_rust/multi_region.rs"]
mod multi_region;
#[path = "sdk_rust/multi_region_import.rs"]
mod multi_region_import;
#[path = "sdk_rust/multi_region_namespaces.rs"]
mod multi_region_namespaces;
#[path = "sdk_rust/multi_region_pull.rs"]
mod multi_region_pull;
#[path = "sdk_rust/peers_reload.rs"]
mod peers_reload;
#[path = "sdk_rust/policies.rs"]
mod policies;
#[path = "sdk_rust/store_upgrade.rs"]
mod store_upgrade;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    DataKeySpec, KeyAgreementAlgorithmSpec, KeySpec, KeyUsageType, MacAlgorithmSpec, OriginType,
    SigningAlgorithmSpec,
};
use support::{SECRET_KEY, Server};

fn client(server: &Server, secret: &str) -> aws_sdk_kms::Client {
    support::kms_client(&server.endpoint, secret)
}

#[tokio::test]
async fn sdk_for_rust_round_trips_and_errors() {
    let server = Server::start();
    let kms = client(&server, SECRET_KEY);

    let key = kms
        .create_key()
        .description("rust sdk")
        .send()
        .await
        .unwrap();
    let key = key.key_metadata().unwrap();
    let key_id = key.key_id().to_owned();
    assert_eq!(key.key_spec(), Some(&KeySpec::SymmetricDefault));
    kms.create_alias()
        .alias_name("alias/rust")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();

    let encrypted = kms
        .encrypt()
        .key_id("alias/rust")
        .plaintext(Blob::new(b"from rust".to_vec()))
        .encryption_context("k", "v")
        .send()
        .await
        .unwrap();
    let blob = encrypted.ciphertext_blob().unwrap().clone();
    let decrypted = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("k", "v")
        .send()
        .await
        .unwrap();
    assert_eq!(decrypted.plaintext().unwrap().as_ref(), b"from rust");
    assert_eq!(decrypted.key_id(), Some(key.arn().unwrap()));

    let err = kms
        .decrypt()
        .ciphertext_blob(blob)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_ciphertext_exception(), "{err:?}");

    // Key policies: the default, then one put and read back, and a
    // malformed one refused with the SDK's modelled error; one that would
    // lock its setter out refused (the lockout safety check), and one
    // enforced.
    let default = kms.get_key_policy().key_id(&key_id).send().await.unwrap();
    assert!(default.policy().unwrap().contains(":root"), "{default:?}");
    let locking = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Resource":"*"}]}"#;
    let err = kms
        .put_key_policy()
        .key_id(&key_id)
        .policy(locking)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_malformed_policy_document_exception(), "{err:?}");
    let policy = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Principal":"*","Action":"kms:UpdateKeyDescription","Resource":"*"}]}"#;
    kms.put_key_policy()
        .key_id(&key_id)
        .policy(policy)
        .send()
        .await
        .unwrap();
    let got = kms.get_key_policy().key_id(&key_id).send().await.unwrap();
    assert_eq!(
        (got.policy(), got.policy_name()),
        (Some(policy), Some("default"))
    );
    let err = kms
        .put_key_policy()
        .key_id(&key_id)
        .policy("{}")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_malformed_policy_document_exception(), "{err:?}");
    let denied = kms
        .update_key_description()
        .key_id(&key_id)
        .description("d")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    // Not in the SDK's model of KMS: the code and message as AWS sends them.
    use aws_sdk_kms::error::ProvideErrorMetadata;
    assert_eq!(denied.code(), Some("AccessDeniedException"), "{denied:?}");
    assert!(
        denied
            .message()
            .unwrap()
            .ends_with("with an explicit deny in a resource-based policy"),
        "{denied:?}"
    );
    let names = kms
        .list_key_policies()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    assert_eq!(names.policy_names(), ["default"]);

    let data_key = kms
        .generate_data_key()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(data_key.plaintext().unwrap().as_ref().len(), 32);

    let signer = kms
        .create_key()
        .key_spec(KeySpec::EccNistP384)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let signature = kms
        .sign()
        .key_id(&signer)
        .message(Blob::new(b"m".to_vec()))
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha384)
        .send()
        .await
        .unwrap();
    let verify = kms
        .verify()
        .key_id(&signer)
        .message(Blob::new(b"m".to_vec()))
        .signature(signature.signature().unwrap().clone())
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha384)
        .send()
        .await
        .unwrap();
    assert!(verify.signature_valid());
    let bad = kms
        .verify()
        .key_id(&signer)
        .message(Blob::new(b"other".to_vec()))
        .signature(signature.signature().unwrap().clone())
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha384)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(bad.is_kms_invalid_signature_exception(), "{bad:?}");

    let edwards = kms
        .create_key()
        .key_spec(KeySpec::EccNistEdwards25519)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap();
    let edwards = edwards.key_metadata().unwrap();
    assert_eq!(
        edwards.signing_algorithms(),
        &[
            SigningAlgorithmSpec::Ed25519Sha512,
            SigningAlgorithmSpec::Ed25519PhSha512
        ]
    );
    let signed = kms
        .sign()
        .key_id(edwards.key_id())
        .message(Blob::new(b"m".to_vec()))
        .signing_algorithm(SigningAlgorithmSpec::Ed25519Sha512)
        .send()
        .await
        .unwrap();
    assert_eq!(signed.signature().unwrap().as_ref().len(), 64);
    let verified = kms
        .verify()
        .key_id(edwards.key_id())
        .message(Blob::new(b"m".to_vec()))
        .signature(signed.signature().unwrap().clone())
        .signing_algorithm(SigningAlgorithmSpec::Ed25519Sha512)
        .send()
        .await
        .unwrap();
    assert!(verified.signature_valid());

    // Key agreement: two KEY_AGREEMENT keys derive the same secret.
    let mut agreeing = Vec::new();
    for _ in 0..2 {
        let created = kms
            .create_key()
            .key_spec(KeySpec::EccNistP256)
            .key_usage(KeyUsageType::KeyAgreement)
            .send()
            .await
            .unwrap();
        let metadata = created.key_metadata().unwrap();
        assert_eq!(
            metadata.key_agreement_algorithms(),
            &[KeyAgreementAlgorithmSpec::Ecdh]
        );
        let public = kms
            .get_public_key()
            .key_id(metadata.key_id())
            .send()
            .await
            .unwrap();
        agreeing.push((
            metadata.key_id().to_owned(),
            public.public_key().unwrap().clone(),
        ));
    }
    let mut secrets = Vec::new();
    for (mine, theirs) in [(0, 1), (1, 0)] {
        let derived = kms
            .derive_shared_secret()
            .key_id(&agreeing[mine].0)
            .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
            .public_key(agreeing[theirs].1.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(derived.key_origin(), Some(&OriginType::AwsKms));
        secrets.push(derived.shared_secret().unwrap().as_ref().to_vec());
    }
    assert_eq!(secrets[0].len(), 32);
    assert_eq!(secrets[0], secrets[1]);

    let mac_key = kms
        .create_key()
        .key_spec(KeySpec::Hmac256)
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let mac = kms
        .generate_mac()
        .key_id(&mac_key)
        .message(Blob::new(b"m".to_vec()))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap();
    assert_eq!(mac.mac().unwrap().as_ref().len(), 32);

    kms.disable_key().key_id(&key_id).send().await.unwrap();
    let disabled = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(disabled.is_disabled_exception(), "{disabled:?}");
    let scheduled = kms
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(scheduled.pending_window_in_days(), Some(7));
    assert!(scheduled.deletion_date().is_some());

    let missing = kms
        .describe_key()
        .key_id("alias/none")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(missing.is_not_found_exception(), "{missing:?}");

    let wrong = client(&server, "not-the-secret");
    let denied = wrong.list_keys().send().await.unwrap_err();
    let raw = format!("{denied:?}");
    assert!(raw.contains("InvalidSignatureException"), "{raw}");
}

/// The credentials file is followed while serving: a changed secret and a
/// removed access key take effect within seconds, and a file that does not
/// load leaves the keys in force as they were.
/// ML-KEM through the SDK: a key, its public key (AWS-LC encapsulates to
/// it, the endpoint decapsulates), Encapsulate and Decapsulate.
#[tokio::test]
async fn sdk_for_rust_encapsulates_with_ml_kem_keys() {
    use aws_lc_rs::kem;
    use aws_sdk_kms::types::EncapsulationAlgorithmSpec;
    let server = Server::start();
    let kms = client(&server, SECRET_KEY);
    let key = kms
        .create_key()
        .key_spec(KeySpec::MlKem768)
        .key_usage(KeyUsageType::EncapsulateDecapsulate)
        .send()
        .await
        .unwrap();
    let key = key.key_metadata().unwrap();
    assert_eq!(
        key.encapsulation_algorithms(),
        [EncapsulationAlgorithmSpec::MlKem]
    );
    let public = kms
        .get_public_key()
        .key_id(key.key_id())
        .send()
        .await
        .unwrap();
    let spki = public.public_key().unwrap().as_ref();
    let (ciphertext, secret) =
        kem::EncapsulationKey::new(&kem::ML_KEM_768, &spki[spki.len() - 1184..])
            .unwrap()
            .encapsulate()
            .unwrap();
    let decapsulate = |ciphertext: &[u8]| {
        kms.decapsulate()
            .key_id(key.key_id())
            .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
            .shared_secret_ciphertext_blob(Blob::new(ciphertext.to_vec()))
            .send()
    };
    let opened = decapsulate(ciphertext.as_ref()).await.unwrap();
    assert_eq!(opened.shared_secret().unwrap().as_ref(), secret.as_ref());
    let made = kms
        .encapsulate()
        .key_id(key.key_id())
        .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
        .send()
        .await
        .unwrap();
    let blob = made.shared_secret_ciphertext_blob().unwrap().as_ref();
    assert_eq!(blob.len(), 1088);
    let again = decapsulate(blob).await.unwrap();
    assert_eq!(again.shared_secret(), made.shared_secret());
    let short = decapsulate(&blob[..100]).await.unwrap_err();
    assert!(
        short.into_service_error().is_invalid_ciphertext_exception(),
        "a ciphertext of the wrong length"
    );
}

/// Key import through the SDK's typed shapes: an HMAC key whose MACs are
/// the imported secret's, expiring material, and the SDK's modelled errors.
#[tokio::test]
async fn sdk_for_rust_imports_key_material() {
    use aws_lc_rs::hmac;
    use aws_lc_rs::rsa::{OAEP_SHA1_MGF1SHA1, OaepPublicEncryptingKey, PublicEncryptingKey};
    use aws_sdk_kms::primitives::DateTime;
    use aws_sdk_kms::types::{
        AlgorithmSpec, ExpirationModelType, ImportState, KeyState, WrappingKeySpec,
    };
    let server = Server::start();
    let kms = client(&server, SECRET_KEY);
    let key = kms
        .create_key()
        .origin(OriginType::External)
        .key_spec(KeySpec::Hmac384)
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .send()
        .await
        .unwrap();
    let key = key.key_metadata().unwrap();
    assert_eq!(key.key_state(), Some(&KeyState::PendingImport));
    assert_eq!(key.origin(), Some(&OriginType::External));
    let parameters = kms
        .get_parameters_for_import()
        .key_id(key.key_id())
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha1)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .unwrap();
    let valid_for = parameters.parameters_valid_to().unwrap().secs()
        - DateTime::from(std::time::SystemTime::now()).secs();
    assert!((86_300..=86_400).contains(&valid_for), "{valid_for} s");
    let wrapping = OaepPublicEncryptingKey::new(
        PublicEncryptingKey::from_der(parameters.public_key().unwrap().as_ref()).unwrap(),
    )
    .unwrap();
    let secret = [0x5au8; 100];
    let mut wrapped = vec![0u8; wrapping.ciphertext_size()];
    let wrapped = wrapping
        .encrypt(&OAEP_SHA1_MGF1SHA1, &secret, &mut wrapped, None)
        .unwrap()
        .to_vec();
    let valid_to = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    let imported = kms
        .import_key_material()
        .key_id(key.key_id())
        .import_token(parameters.import_token().unwrap().clone())
        .encrypted_key_material(Blob::new(wrapped.clone()))
        .expiration_model(ExpirationModelType::KeyMaterialExpires)
        .valid_to(DateTime::from(valid_to))
        .send()
        .await
        .unwrap();
    let described = kms
        .describe_key()
        .key_id(key.key_id())
        .send()
        .await
        .unwrap();
    let described = described.key_metadata().unwrap();
    assert_eq!(described.key_state(), Some(&KeyState::Enabled));
    assert_eq!(
        described.expiration_model(),
        Some(&ExpirationModelType::KeyMaterialExpires)
    );
    assert_eq!(
        described.valid_to().unwrap().secs(),
        DateTime::from(valid_to).secs()
    );
    assert_eq!(
        described.current_key_material_id(),
        imported.key_material_id()
    );
    let mac = kms
        .generate_mac()
        .key_id(key.key_id())
        .message(Blob::new(b"imported".to_vec()))
        .mac_algorithm(MacAlgorithmSpec::HmacSha384)
        .send()
        .await
        .unwrap();
    let expected = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA384, &secret), b"imported");
    assert_eq!(mac.mac().unwrap().as_ref(), expected.as_ref());
    let rotations = kms
        .list_key_rotations()
        .key_id(key.key_id())
        .include_key_material(aws_sdk_kms::types::IncludeKeyMaterial::AllKeyMaterial)
        .send()
        .await
        .unwrap();
    assert_eq!(
        rotations.rotations()[0].import_state(),
        Some(&ImportState::Imported)
    );
    kms.delete_imported_key_material()
        .key_id(key.key_id())
        .send()
        .await
        .unwrap();
    let refused = kms
        .generate_mac()
        .key_id(key.key_id())
        .message(Blob::new(b"imported".to_vec()))
        .mac_algorithm(MacAlgorithmSpec::HmacSha384)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(refused.is_kms_invalid_state_exception(), "{refused:?}");
    let refused = kms
        .import_key_material()
        .key_id(key.key_id())
        .import_token(Blob::new(vec![0xB1; 80]))
        .encrypted_key_material(Blob::new(wrapped))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(refused.is_invalid_import_token_exception(), "{refused:?}");
}
