//! Symmetric and RSA encryption, and which algorithm each key allows.

use super::*;

#[test]
fn symmetric_round_trip_binds_the_context_in_any_order() {
    let engine = engine();
    let key = engine
        .generate_material(id(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt))
        .unwrap();
    let sd = EncryptionAlgorithm::SymmetricDefault;
    let blob = engine
        .encrypt(&encrypt_req(
            &key,
            b"attack at dawn",
            ctx(&[("a", "1"), ("b", "2")]),
            sd,
        ))
        .unwrap();
    let header = CiphertextHeader::parse(&blob).unwrap();
    assert_eq!(header.key_id, key.header().unwrap().material.key_id);
    assert_eq!(blob.len(), 14 + crate::ciphertext::OVERHEAD);
    let plain = engine
        .decrypt(&decrypt_req(
            &key,
            &blob,
            ctx(&[("b", "2"), ("a", "1")]),
            sd,
        ))
        .unwrap();
    assert_eq!(plain.as_slice(), b"attack at dawn");
    for wrong in [
        ctx(&[]),
        ctx(&[("a", "1")]),
        ctx(&[("a", "1"), ("b", "3")]),
        ctx(&[("A", "1"), ("b", "2")]),
    ] {
        let err = engine
            .decrypt(&decrypt_req(&key, &blob, wrong, sd))
            .unwrap_err();
        assert_eq!(err, CryptoError::InvalidCiphertext);
    }
}

#[test]
fn symmetric_plaintext_limits() {
    let engine = engine();
    let key = engine
        .generate_material(id(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt))
        .unwrap();
    let sd = EncryptionAlgorithm::SymmetricDefault;
    let max = engine
        .encrypt(&encrypt_req(&key, &[7; 4096], ctx(&[]), sd))
        .unwrap();
    assert_eq!(max.len(), 4096 + crate::ciphertext::OVERHEAD);
    for len in [0, 4097] {
        let err = engine
            .encrypt(&encrypt_req(&key, &vec![7; len], ctx(&[]), sd))
            .unwrap_err();
        assert!(
            matches!(err, CryptoError::Validation(ref m) if m.contains("'plaintext'")),
            "{len}: {err:?}"
        );
    }
}

#[test]
fn ciphertext_of_another_key_or_version_is_incorrect_key() {
    let engine = engine();
    let sd = EncryptionAlgorithm::SymmetricDefault;
    let v1 = id(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    let v2 = MaterialId { version: 2, ..v1 };
    let (k1, k2) = (
        engine.generate_material(v1).unwrap(),
        engine.generate_material(v2).unwrap(),
    );
    let other = engine
        .generate_material(id(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt))
        .unwrap();
    let blob = engine
        .encrypt(&encrypt_req(&k1, b"x", ctx(&[]), sd))
        .unwrap();
    assert_eq!(
        engine
            .decrypt(&decrypt_req(&k2, &blob, ctx(&[]), sd))
            .unwrap_err(),
        CryptoError::IncorrectKey
    );
    assert_eq!(
        engine
            .decrypt(&decrypt_req(&other, &blob, ctx(&[]), sd))
            .unwrap_err(),
        CryptoError::IncorrectKey
    );
    assert_eq!(
        engine
            .decrypt(&decrypt_req(&k1, &blob, ctx(&[]), sd))
            .unwrap()
            .as_slice(),
        b"x"
    );
}

#[test]
fn rsa_oaep_round_trips_within_aws_limits() {
    let engine = engine();
    for (spec, sha1_max, sha256_max) in [
        (KeySpec::Rsa2048, 214, 190),
        (KeySpec::Rsa3072, 342, 318),
        (KeySpec::Rsa4096, 470, 446),
    ] {
        let key = engine
            .generate_material(id(spec, KeyUsage::EncryptDecrypt))
            .unwrap();
        for (alg, max) in [
            (EncryptionAlgorithm::RsaesOaepSha1, sha1_max),
            (EncryptionAlgorithm::RsaesOaepSha256, sha256_max),
        ] {
            let plaintext = vec![0x5a; max];
            let blob = engine
                .encrypt(&encrypt_req(&key, &plaintext, ctx(&[]), alg))
                .unwrap();
            assert_eq!(blob.len(), spec.rsa_modulus_len().unwrap());
            let back = engine
                .decrypt(&decrypt_req(&key, &blob, ctx(&[]), alg))
                .unwrap();
            assert_eq!(back.as_slice(), plaintext.as_slice());
            let err = engine
                .encrypt(&encrypt_req(&key, &vec![1; max + 1], ctx(&[]), alg))
                .unwrap_err();
            assert_eq!(
                err,
                CryptoError::Validation(format!(
                    "Algorithm {alg} and key spec {spec} cannot encrypt data larger than {max} bytes."
                ))
            );
            let mut tampered = blob.clone();
            tampered[10] ^= 1;
            assert_eq!(
                engine
                    .decrypt(&decrypt_req(&key, &tampered, ctx(&[]), alg))
                    .unwrap_err(),
                CryptoError::InvalidCiphertext
            );
        }
        // Decrypting with the other OAEP hash fails cleanly.
        let blob = engine
            .encrypt(&encrypt_req(
                &key,
                b"hi",
                ctx(&[]),
                EncryptionAlgorithm::RsaesOaepSha1,
            ))
            .unwrap();
        let err = engine
            .decrypt(&decrypt_req(
                &key,
                &blob,
                ctx(&[]),
                EncryptionAlgorithm::RsaesOaepSha256,
            ))
            .unwrap_err();
        assert_eq!(err, CryptoError::InvalidCiphertext);
    }
}

#[test]
fn algorithms_and_usages_are_enforced() {
    let engine = engine();
    let sym = engine
        .generate_material(id(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt))
        .unwrap();
    let rsa_enc = engine
        .generate_material(id(KeySpec::Rsa2048, KeyUsage::EncryptDecrypt))
        .unwrap();
    let rsa_sign = engine
        .generate_material(id(KeySpec::Rsa2048, KeyUsage::SignVerify))
        .unwrap();
    let hmac = engine
        .generate_material(id(KeySpec::Hmac256, KeyUsage::GenerateVerifyMac))
        .unwrap();
    let usage = |r: Result<Vec<u8>, CryptoError>| {
        assert!(matches!(r, Err(CryptoError::InvalidKeyUsage(_))), "{r:?}")
    };
    usage(engine.encrypt(&encrypt_req(
        &sym,
        b"x",
        ctx(&[]),
        EncryptionAlgorithm::RsaesOaepSha256,
    )));
    usage(engine.encrypt(&encrypt_req(
        &rsa_enc,
        b"x",
        ctx(&[]),
        EncryptionAlgorithm::SymmetricDefault,
    )));
    usage(engine.encrypt(&encrypt_req(
        &rsa_sign,
        b"x",
        ctx(&[]),
        EncryptionAlgorithm::RsaesOaepSha256,
    )));
    usage(engine.encrypt(&encrypt_req(
        &hmac,
        b"x",
        ctx(&[]),
        EncryptionAlgorithm::SymmetricDefault,
    )));
    let sign = |material: &SealedMaterial, algorithm| {
        engine.sign(&SignRequest {
            material: material.clone(),
            message: b"m".to_vec(),
            message_type: MessageType::Raw,
            algorithm,
        })
    };
    usage(sign(&rsa_enc, SigningAlgorithm::RsassaPssSha256));
    usage(sign(&sym, SigningAlgorithm::RsassaPssSha256));
    usage(sign(&rsa_sign, SigningAlgorithm::EcdsaSha256));
    let err = engine
        .encrypt(&encrypt_req(
            &rsa_sign,
            b"x",
            ctx(&[]),
            EncryptionAlgorithm::RsaesOaepSha256,
        ))
        .unwrap_err();
    assert_eq!(
        err,
        CryptoError::InvalidKeyUsage(
            "key usage is SIGN_VERIFY which is not valid for Encrypt.".into()
        )
    );
    let err = engine
        .encrypt(&encrypt_req(
            &rsa_enc,
            b"x",
            ctx(&[("a", "b")]),
            EncryptionAlgorithm::RsaesOaepSha256,
        ))
        .unwrap_err();
    assert!(matches!(err, CryptoError::Validation(_)));
    let dk = engine.generate_data_key(&DataKeyRequest {
        material: rsa_enc.clone(),
        size: DataKeySize::Spec(DataKeySpec::Aes256),
        context: ctx(&[]),
        include_plaintext: true,
    });
    assert!(matches!(dk, Err(CryptoError::InvalidKeyUsage(_))));
    assert!(matches!(
        engine.get_public_key(&sym),
        Err(CryptoError::Unsupported(_))
    ));
    assert!(matches!(
        engine.get_public_key(&hmac),
        Err(CryptoError::Unsupported(_))
    ));
}

/// `--ciphertext-format 1`: every operation that writes a symmetric
/// ciphertext writes format 1, which an engine writing format 2 (a newer
/// replica) decrypts, and the other way round: versions side by side in an
/// upgrade read each other's, so long as the older one is not asked for
/// format 2.
#[test]
fn an_engine_writing_format_1_and_one_writing_format_2_read_each_other() {
    let root_key = random_bytes(32);
    let older = Engine::new(root(&[(1, &root_key)]), CacheConfig::default())
        .writing(crate::ciphertext::Format::V1);
    let newer = Engine::new(root(&[(1, &root_key)]), CacheConfig::default());
    let key = newer
        .generate_material(id(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt))
        .unwrap();
    let sd = EncryptionAlgorithm::SymmetricDefault;
    let context = || ctx(&[("app", "upgrade")]);
    for (writer, reader, format) in [(&older, &newer, 0x01), (&newer, &older, 0x02)] {
        let encrypted = writer
            .encrypt(&encrypt_req(&key, b"either way", context(), sd))
            .unwrap();
        let data_key = writer
            .generate_data_key(&DataKeyRequest {
                material: key.clone(),
                size: DataKeySize::Bytes(32),
                context: context(),
                include_plaintext: true,
            })
            .unwrap();
        let pair = writer
            .generate_data_key_pair(&DataKeyPairRequest {
                material: key.clone(),
                spec: DataKeyPairSpec::EccNistP256,
                context: context(),
                include_plaintext: true,
            })
            .unwrap();
        let re_encrypted = writer
            .re_encrypt(&ReEncryptRequest {
                source: decrypt_req(&key, &encrypted, context(), sd),
                destination: key.clone(),
                destination_context: context(),
                destination_algorithm: sd,
            })
            .unwrap();
        for (blob, plaintext) in [
            (&encrypted, b"either way".to_vec()),
            (&data_key.ciphertext, data_key.plaintext.unwrap().to_vec()),
            (
                &pair.private_key_ciphertext,
                pair.private_key_plaintext.unwrap().to_vec(),
            ),
            (&re_encrypted, b"either way".to_vec()),
        ] {
            assert_eq!(blob[0], format);
            let opened = reader
                .decrypt(&decrypt_req(&key, blob, context(), sd))
                .unwrap();
            assert_eq!(opened.as_slice(), plaintext.as_slice());
        }
    }
}
