//! Generating, importing, resealing and caching key material.

use super::*;

#[test]
fn every_spec_generates_material_that_seals_and_loads() {
    let engine = engine();
    for &spec in KeySpec::ALL {
        for &usage in spec
            .usages()
            .iter()
            .filter(|u| **u != KeyUsage::KeyAgreement)
        {
            let id = id(spec, usage);
            let sealed = engine.generate_material(id).unwrap();
            let header = sealed.header().unwrap();
            assert_eq!(header.material, id, "{spec} {usage}");
            assert_eq!(header.root_version, 1);
            assert_eq!(engine.unseal(&sealed).unwrap().id, id);
        }
    }
}

#[test]
fn usage_must_fit_the_spec() {
    let engine = engine();
    for (spec, usage) in [
        (KeySpec::SymmetricDefault, KeyUsage::SignVerify),
        (KeySpec::Hmac256, KeyUsage::EncryptDecrypt),
        (KeySpec::EccNistP256, KeyUsage::EncryptDecrypt),
        (KeySpec::EccSecgP256k1, KeyUsage::KeyAgreement),
        (KeySpec::EccNistEdwards25519, KeyUsage::KeyAgreement),
        (KeySpec::EccNistEdwards25519, KeyUsage::EncryptDecrypt),
    ] {
        let err = engine.generate_material(id(spec, usage)).unwrap_err();
        assert!(
            matches!(err, CryptoError::Validation(_)),
            "{spec} {usage}: {err:?}"
        );
    }
}

#[test]
fn reseal_moves_material_to_the_newest_root_key_without_changing_it() {
    let (r1, r2) = (random_bytes(32), random_bytes(32));
    let old = Engine::new(root(&[(1, &r1)]), CacheConfig::default());
    let id = id(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    let sealed = old.generate_material(id).unwrap();
    let sd = EncryptionAlgorithm::SymmetricDefault;
    let blob = old
        .encrypt(&encrypt_req(&sealed, b"kept", ctx(&[]), sd))
        .unwrap();

    let both = Engine::new(root(&[(1, &r1), (2, &r2)]), CacheConfig::default());
    let resealed = both.reseal(&sealed).unwrap();
    assert_eq!(resealed.header().unwrap().root_version, 2);
    assert_eq!(resealed.header().unwrap().material, id);
    assert_eq!(
        both.decrypt(&decrypt_req(&resealed, &blob, ctx(&[]), sd))
            .unwrap()
            .as_slice(),
        b"kept"
    );
    assert_eq!(
        both.reseal(&resealed).unwrap(),
        resealed,
        "already current: unchanged"
    );

    let only_new = Engine::new(root(&[(2, &r2)]), CacheConfig::default());
    assert_eq!(
        only_new.unseal(&sealed).unwrap_err(),
        CryptoError::UnknownRootKey(1)
    );
    assert_eq!(
        only_new
            .decrypt(&decrypt_req(&resealed, &blob, ctx(&[]), sd))
            .unwrap()
            .as_slice(),
        b"kept"
    );

    let wrong = Engine::new(root(&[(1, &random_bytes(32))]), CacheConfig::default());
    assert!(matches!(
        wrong.unseal(&sealed),
        Err(CryptoError::SealedMaterialInvalid(_))
    ));
}

#[test]
fn imported_material_is_checked_for_its_spec() {
    let engine = engine();
    let sym = id(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    assert!(matches!(
        engine.import_material(sym, random_bytes(31)),
        Err(CryptoError::MalformedMaterial(_))
    ));
    assert!(matches!(
        engine.import_material(
            id(KeySpec::Rsa2048, KeyUsage::SignVerify),
            random_bytes(1200)
        ),
        Err(CryptoError::MalformedMaterial(_))
    ));
    // An RSA-3072 key is not RSA_2048 material.
    let rsa3072 = crate::material::KeyMaterial::generate(KeySpec::Rsa3072).unwrap();
    let err = engine
        .import_material(
            id(KeySpec::Rsa2048, KeyUsage::SignVerify),
            SecretBytes::new(rsa3072.expose().to_vec()),
        )
        .unwrap_err();
    assert!(
        matches!(err, CryptoError::MalformedMaterial(ref m) if m.contains("3072")),
        "{err:?}"
    );
    let p256 = crate::material::KeyMaterial::generate(KeySpec::EccNistP256).unwrap();
    let err = engine
        .import_material(
            id(KeySpec::EccNistP384, KeyUsage::SignVerify),
            SecretBytes::new(p256.expose().to_vec()),
        )
        .unwrap_err();
    assert!(matches!(err, CryptoError::MalformedMaterial(_)));
    engine.import_material(sym, random_bytes(32)).unwrap();
    // HMAC material: from the hash's output length to its block size, as
    // AWS imports it.
    for (spec, shortest, longest) in [
        (KeySpec::Hmac224, 28, 64),
        (KeySpec::Hmac256, 32, 64),
        (KeySpec::Hmac384, 48, 128),
        (KeySpec::Hmac512, 64, 128),
    ] {
        let mac = id(spec, KeyUsage::GenerateVerifyMac);
        for len in [shortest, longest] {
            engine.import_material(mac, random_bytes(len)).unwrap();
        }
        for len in [shortest - 1, longest + 1] {
            assert!(
                matches!(
                    engine.import_material(mac, random_bytes(len)),
                    Err(CryptoError::MalformedMaterial(_))
                ),
                "{spec}: {len} bytes"
            );
        }
    }
}

#[test]
fn cache_is_bounded_in_entries_and_time() {
    let engine = Engine::new(
        root(&[(1, &random_bytes(32))]),
        CacheConfig {
            max_entries: 2,
            ttl: Duration::from_millis(200),
        },
    );
    let keys: Vec<_> = (0..3)
        .map(|_| {
            engine
                .generate_material(id(KeySpec::Hmac256, KeyUsage::GenerateVerifyMac))
                .unwrap()
        })
        .collect();
    let first = engine.unseal(&keys[0]).unwrap();
    assert!(
        Arc::ptr_eq(&first, &engine.unseal(&keys[0]).unwrap()),
        "second use is a cache hit"
    );
    for key in &keys {
        engine.unseal(key).unwrap();
    }
    assert_eq!(engine.cache().len(), 2);
    std::thread::sleep(Duration::from_millis(250));
    engine.cache().sweep();
    assert_eq!(engine.cache().len(), 0);
}

#[test]
fn secrets_never_show_in_debug_output() {
    let material = crate::material::KeyMaterial::from_bytes(
        KeySpec::SymmetricDefault,
        SecretBytes::new(vec![0xAB; 32]),
    )
    .unwrap();
    let shown = format!("{material:?} {:?}", material.load().unwrap());
    assert!(
        !shown.to_lowercase().contains("ab, ") && !shown.contains("171"),
        "{shown}"
    );
    assert!(shown.contains("redacted"));
}
