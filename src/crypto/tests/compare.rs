//! Supplied material compared with sealed material, for every family.

use super::*;
use crate::crypto::compare::holds;
use crate::material::{ecc, eddsa, mldsa, rsa};

fn service() -> LocalCryptoService {
    LocalCryptoService::new(root(&[(1, &random_bytes(32))]), CacheConfig::default())
}

/// Two encodings of material of `spec`, told apart by `holds`.
async fn same_and_other(spec: KeySpec, usage: KeyUsage, one: SecretBytes, other: SecretBytes) {
    let crypto = service();
    let id = id(spec, usage);
    let stored = crypto.import_material(id, one.clone()).await.unwrap();
    assert!(
        holds(&crypto, &stored, id, one).await.unwrap(),
        "{spec:?}: the same material"
    );
    assert!(
        !holds(&crypto, &stored, id, other).await.unwrap(),
        "{spec:?}: other material"
    );
}

#[tokio::test]
async fn the_same_material_is_recognised_and_other_material_is_not() {
    use KeySpec::*;
    let raw = |len| random_bytes(len);
    same_and_other(SymmetricDefault, KeyUsage::EncryptDecrypt, raw(32), raw(32)).await;
    same_and_other(Hmac256, KeyUsage::GenerateVerifyMac, raw(32), raw(32)).await;
    same_and_other(Hmac512, KeyUsage::GenerateVerifyMac, raw(64), raw(64)).await;
    let pkcs8 =
        |generate: fn(KeySpec) -> Result<SecretBytes, CryptoError>, spec| generate(spec).unwrap();
    same_and_other(
        EccNistP256,
        KeyUsage::SignVerify,
        pkcs8(ecc::generate_pkcs8, EccNistP256),
        pkcs8(ecc::generate_pkcs8, EccNistP256),
    )
    .await;
    same_and_other(
        Rsa2048,
        KeyUsage::EncryptDecrypt,
        pkcs8(rsa::generate_pkcs8, Rsa2048),
        pkcs8(rsa::generate_pkcs8, Rsa2048),
    )
    .await;
    same_and_other(
        EccNistEdwards25519,
        KeyUsage::SignVerify,
        eddsa::generate_pkcs8().unwrap(),
        eddsa::generate_pkcs8().unwrap(),
    )
    .await;
    same_and_other(
        MlDsa44,
        KeyUsage::SignVerify,
        pkcs8(mldsa::generate_pkcs8, MlDsa44),
        pkcs8(mldsa::generate_pkcs8, MlDsa44),
    )
    .await;
}

#[tokio::test]
async fn material_that_does_not_fit_the_spec_is_an_error_not_a_mismatch() {
    let crypto = service();
    let id = id(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    let stored = crypto.generate_material(id).await.unwrap();
    let error = holds(&crypto, &stored, id, random_bytes(16))
        .await
        .unwrap_err();
    assert!(
        matches!(error, CryptoError::MalformedMaterial(_)),
        "{error:?}"
    );
}
