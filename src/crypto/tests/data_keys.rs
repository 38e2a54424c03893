//! Data keys, data key pairs and random bytes.

use super::*;

#[test]
fn data_keys_of_every_size() {
    let engine = engine();
    let key = engine
        .generate_material(id(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt))
        .unwrap();
    let context = ctx(&[("purpose", "test")]);
    for (size, len) in [
        (DataKeySize::Spec(DataKeySpec::Aes128), 16),
        (DataKeySize::Spec(DataKeySpec::Aes256), 32),
        (DataKeySize::Bytes(1), 1),
        (DataKeySize::Bytes(1024), 1024),
    ] {
        let request = DataKeyRequest {
            material: key.clone(),
            size,
            context: context.clone(),
            include_plaintext: true,
        };
        let data_key = engine.generate_data_key(&request).unwrap();
        let plaintext = data_key.plaintext.unwrap();
        assert_eq!(plaintext.len(), len);
        let back = engine
            .decrypt(&decrypt_req(
                &key,
                &data_key.ciphertext,
                context.clone(),
                EncryptionAlgorithm::SymmetricDefault,
            ))
            .unwrap();
        assert_eq!(back, plaintext);
        let without = engine
            .generate_data_key(&DataKeyRequest {
                include_plaintext: false,
                ..request
            })
            .unwrap();
        assert!(without.plaintext.is_none());
        assert_eq!(without.ciphertext.len(), len + crate::ciphertext::OVERHEAD);
    }
    for n in [0, 1025] {
        let err = engine
            .generate_data_key(&DataKeyRequest {
                material: key.clone(),
                size: DataKeySize::Bytes(n),
                context: context.clone(),
                include_plaintext: true,
            })
            .unwrap_err();
        assert!(
            matches!(err, CryptoError::Validation(ref m) if m.contains("numberOfBytes")),
            "{err:?}"
        );
    }
}

#[test]
fn data_key_pairs_are_pkcs8_and_spki_of_the_right_kind() {
    use pkcs8::DecodePrivateKey;
    let engine = engine();
    let key = engine
        .generate_material(id(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt))
        .unwrap();
    for &spec in DataKeyPairSpec::ALL {
        let request = DataKeyPairRequest {
            material: key.clone(),
            spec,
            context: ctx(&[("k", "v")]),
            include_plaintext: true,
        };
        let pair = engine.generate_data_key_pair(&request).unwrap();
        let private = pair.private_key_plaintext.clone().unwrap();
        let back = engine
            .decrypt(&decrypt_req(
                &key,
                &pair.private_key_ciphertext,
                ctx(&[("k", "v")]),
                EncryptionAlgorithm::SymmetricDefault,
            ))
            .unwrap();
        assert_eq!(back, private);
        // The private key parses with an independent parser and matches the public key.
        let public_from_private = match spec {
            DataKeyPairSpec::EccNistP256 => {
                let public = p256::SecretKey::from_pkcs8_der(&private)
                    .unwrap()
                    .public_key();
                assert_eq!(
                    public,
                    p256::PublicKey::from_public_key_der(&pair.public_key).unwrap()
                );
                continue;
            }
            DataKeyPairSpec::EccNistP384 => {
                let public = p384::SecretKey::from_pkcs8_der(&private)
                    .unwrap()
                    .public_key();
                assert_eq!(
                    public,
                    p384::PublicKey::from_public_key_der(&pair.public_key).unwrap()
                );
                continue;
            }
            DataKeyPairSpec::EccNistP521 => {
                let public = p521::SecretKey::from_pkcs8_der(&private)
                    .unwrap()
                    .public_key();
                assert_eq!(
                    public,
                    p521::PublicKey::from_public_key_der(&pair.public_key).unwrap()
                );
                continue;
            }
            DataKeyPairSpec::EccSecgP256k1 => {
                let public = k256::SecretKey::from_pkcs8_der(&private)
                    .unwrap()
                    .public_key();
                assert_eq!(
                    public,
                    k256::PublicKey::from_public_key_der(&pair.public_key).unwrap()
                );
                continue;
            }
            DataKeyPairSpec::MlKem512 | DataKeyPairSpec::MlKem768 | DataKeyPairSpec::MlKem1024 => {
                // AWS-LC encapsulates to the public key (its SPKI ends with
                // the raw encapsulation key); the private key, read from its
                // seed, must open what it made.
                use aws_lc_rs::kem;
                let (algorithm, raw_len) = match spec {
                    DataKeyPairSpec::MlKem512 => (&kem::ML_KEM_512, 800),
                    DataKeyPairSpec::MlKem768 => (&kem::ML_KEM_768, 1184),
                    _ => (&kem::ML_KEM_1024, 1568),
                };
                let raw = &pair.public_key[pair.public_key.len() - raw_len..];
                let (ciphertext, secret) = kem::EncapsulationKey::new(algorithm, raw)
                    .unwrap()
                    .encapsulate()
                    .unwrap();
                let key = crate::material::mlkem::MlKemKey::from_pkcs8(spec.key_spec(), &private)
                    .unwrap();
                assert_eq!(key.public_key_der(), &pair.public_key[..]);
                let opened = key.decapsulate(ciphertext.as_ref()).unwrap();
                assert_eq!(&opened[..], secret.as_ref(), "{spec}");
                // Seed form: 86 bytes whatever the parameter set (AWS's docs).
                assert_eq!(private.len(), 86, "{spec}");
                continue;
            }
            DataKeyPairSpec::EccNistEdwards25519 => {
                use aws_lc_rs::signature::KeyPair;
                let pair_lc = lc::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&private).unwrap();
                // SPKI DER for Ed25519: a 12-byte header, then the point.
                assert_eq!(&pair.public_key[12..], pair_lc.public_key().as_ref());
                assert_eq!(pair.public_key.len(), 44);
                continue;
            }
            _ => {
                use aws_lc_rs::encoding::AsDer;
                let rsa = aws_lc_rs::rsa::PrivateDecryptingKey::from_pkcs8(&private).unwrap();
                assert_eq!(
                    rsa.key_size_bytes(),
                    spec.key_spec().rsa_modulus_len().unwrap()
                );
                rsa.public_key().as_der().unwrap().as_ref().to_vec()
            }
        };
        assert_eq!(public_from_private, pair.public_key, "{spec}");
        let without = engine
            .generate_data_key_pair(&DataKeyPairRequest {
                include_plaintext: false,
                ..request
            })
            .unwrap();
        assert!(without.private_key_plaintext.is_none());
    }
}

#[test]
fn random_bytes_within_limits() {
    let engine = engine();
    assert_eq!(engine.generate_random(1).unwrap().len(), 1);
    let a = engine.generate_random(1024).unwrap();
    assert_eq!(a.len(), 1024);
    assert_ne!(a, engine.generate_random(1024).unwrap());
    for n in [0, 1025] {
        assert!(matches!(
            engine.generate_random(n),
            Err(CryptoError::Validation(_))
        ));
    }
}
