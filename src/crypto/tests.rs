//! The crypto engine, operation by operation, for every spec and usage.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::signature::{self as lc, UnparsedPublicKey};
use p256::pkcs8::DecodePublicKey;
use sha2::Digest;

use super::*;
use crate::ciphertext::{CiphertextHeader, EncryptionContext};
use crate::key_id::KeyId;
use crate::material::random_bytes;
use crate::root::FileRootKey;
use crate::seal::MaterialId;
use crate::secret::SecretBytes;
use crate::spec::*;

fn root(versions: &[(u32, &SecretBytes)]) -> Arc<FileRootKey> {
    Arc::new(FileRootKey::from_keys(versions.iter().map(|(v, k)| (*v, (*k).clone()))).unwrap())
}

fn engine() -> Engine {
    Engine::new(root(&[(1, &random_bytes(32))]), CacheConfig::default())
}

fn id(spec: KeySpec, usage: KeyUsage) -> MaterialId {
    MaterialId {
        key_id: KeyId::random(),
        version: 1,
        spec,
        usage,
    }
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs.iter().map(|(k, v)| (*k, *v)).collect()
}

fn encrypt_req(
    material: &SealedMaterial,
    plaintext: &[u8],
    context: EncryptionContext,
    algorithm: EncryptionAlgorithm,
) -> EncryptRequest {
    EncryptRequest {
        material: material.clone(),
        plaintext: SecretBytes::new(plaintext.to_vec()),
        context,
        algorithm,
    }
}

fn decrypt_req(
    material: &SealedMaterial,
    ciphertext: &[u8],
    context: EncryptionContext,
    algorithm: EncryptionAlgorithm,
) -> DecryptRequest {
    DecryptRequest {
        material: material.clone(),
        ciphertext: ciphertext.to_vec(),
        context,
        algorithm,
    }
}

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

fn sign_verify_all(engine: &Engine, spec: KeySpec) {
    let key = engine
        .generate_material(id(spec, KeyUsage::SignVerify))
        .unwrap();
    let spki = engine.get_public_key(&key).unwrap();
    let message = b"the quick brown fox".to_vec();
    for &algorithm in spec.signing_algorithms(KeyUsage::SignVerify) {
        let digest = match algorithm.hash() {
            Hash::Sha256 => sha2::Sha256::digest(&message).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(&message).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(&message).to_vec(),
            Hash::Sha224 | Hash::Shake256 => unreachable!(),
        };
        for (message_type, input) in [(MessageType::Raw, &message), (MessageType::Digest, &digest)]
        {
            let sign = SignRequest {
                material: key.clone(),
                message: input.clone(),
                message_type,
                algorithm,
            };
            let signature = engine.sign(&sign).unwrap();
            let verify = |message_type, message: &Vec<u8>, signature: Vec<u8>| {
                engine.verify(&VerifyRequest {
                    material: key.clone(),
                    message: message.clone(),
                    message_type,
                    algorithm,
                    signature,
                })
            };
            // A DIGEST signature is the signature of the message it digests.
            verify(MessageType::Raw, &message, signature.clone()).unwrap();
            verify(MessageType::Digest, &digest, signature.clone()).unwrap();
            let mut bad = signature.clone();
            let last = bad.len() - 1;
            bad[last] ^= 0x01;
            assert_eq!(
                verify(MessageType::Raw, &message, bad),
                Err(CryptoError::InvalidSignature)
            );
            assert_eq!(
                verify(MessageType::Raw, &b"other".to_vec(), signature.clone()),
                Err(CryptoError::InvalidSignature)
            );
            assert_eq!(
                verify(MessageType::Raw, &message, vec![0x30, 0x00]),
                Err(CryptoError::InvalidSignature)
            );
            independent_verify(spec, algorithm, &spki, &message, &signature);
        }
        let short = engine.sign(&SignRequest {
            material: key.clone(),
            message: vec![0; algorithm.hash().output_len() - 1],
            message_type: MessageType::Digest,
            algorithm,
        });
        assert!(
            matches!(short, Err(CryptoError::Validation(_))),
            "{short:?}"
        );
    }
}

/// Checks a signature against the exported public key with another library.
fn independent_verify(
    spec: KeySpec,
    algorithm: SigningAlgorithm,
    spki: &[u8],
    message: &[u8],
    signature: &[u8],
) {
    use signature::Verifier;
    match spec {
        KeySpec::EccNistP256 => {
            let key = p256::ecdsa::VerifyingKey::from_public_key_der(spki).unwrap();
            key.verify(
                message,
                &p256::ecdsa::Signature::from_der(signature).unwrap(),
            )
            .unwrap();
        }
        KeySpec::EccNistP384 => {
            let key = p384::ecdsa::VerifyingKey::from_public_key_der(spki).unwrap();
            key.verify(
                message,
                &p384::ecdsa::Signature::from_der(signature).unwrap(),
            )
            .unwrap();
        }
        KeySpec::EccSecgP256k1 => {
            let key = k256::ecdsa::VerifyingKey::from_public_key_der(spki).unwrap();
            key.verify(
                message,
                &k256::ecdsa::Signature::from_der(signature).unwrap(),
            )
            .unwrap();
        }
        KeySpec::EccNistP521 => {
            let algorithm = &lc::ECDSA_P521_SHA512_ASN1;
            let point = p521::PublicKey::from_public_key_der(spki).unwrap();
            use p521::elliptic_curve::sec1::ToEncodedPoint;
            UnparsedPublicKey::new(algorithm, point.to_encoded_point(false).as_bytes())
                .verify(message, signature)
                .unwrap();
        }
        _ => {
            let parameters: &lc::RsaParameters = match algorithm {
                SigningAlgorithm::RsassaPssSha256 => &lc::RSA_PSS_2048_8192_SHA256,
                SigningAlgorithm::RsassaPssSha384 => &lc::RSA_PSS_2048_8192_SHA384,
                SigningAlgorithm::RsassaPssSha512 => &lc::RSA_PSS_2048_8192_SHA512,
                SigningAlgorithm::RsassaPkcs1V15Sha256 => &lc::RSA_PKCS1_2048_8192_SHA256,
                SigningAlgorithm::RsassaPkcs1V15Sha384 => &lc::RSA_PKCS1_2048_8192_SHA384,
                _ => &lc::RSA_PKCS1_2048_8192_SHA512,
            };
            let public = aws_lc_rs::rsa::PublicEncryptingKey::from_der(spki).unwrap();
            assert_eq!(public.key_size_bytes(), spec.rsa_modulus_len().unwrap());
            UnparsedPublicKey::new(parameters, spki)
                .verify(message, signature)
                .unwrap();
        }
    }
}

#[test]
fn ecdsa_sign_verify_every_curve() {
    let engine = engine();
    for spec in [
        KeySpec::EccNistP256,
        KeySpec::EccNistP384,
        KeySpec::EccNistP521,
        KeySpec::EccSecgP256k1,
    ] {
        sign_verify_all(&engine, spec);
    }
}

#[test]
fn ed25519_signs_through_sealed_material_as_rfc_8032_and_aws_lc_expect() {
    let engine = engine();
    // RFC 8032 §7.1 test 2, imported as PKCS#8 v1 the way a manifest supplies it.
    let der = hex::decode(
        "302e020100300506032b6570042204204ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    )
    .unwrap();
    let key = engine
        .import_material(
            id(KeySpec::EccNistEdwards25519, KeyUsage::SignVerify),
            SecretBytes::new(der),
        )
        .unwrap();
    let spki = engine.get_public_key(&key).unwrap();
    assert_eq!(
        hex::encode(&spki[12..]),
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
    );
    let sign = |algorithm, message_type, message: &[u8]| {
        engine.sign(&SignRequest {
            material: key.clone(),
            message: message.to_vec(),
            message_type,
            algorithm,
        })
    };
    let signature = sign(SigningAlgorithm::Ed25519Sha512, MessageType::Raw, &[0x72]).unwrap();
    assert_eq!(
        hex::encode(&signature),
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
    );
    UnparsedPublicKey::new(&lc::ED25519, &spki[12..])
        .verify(&[0x72], &signature)
        .unwrap();

    let digest = sha2::Sha512::digest(b"large message").to_vec();
    let ph = sign(
        SigningAlgorithm::Ed25519PhSha512,
        MessageType::Digest,
        &digest,
    )
    .unwrap();
    let verify = |algorithm, message_type, message: &[u8], signature: &[u8]| {
        engine.verify(&VerifyRequest {
            material: key.clone(),
            message: message.to_vec(),
            message_type,
            algorithm,
            signature: signature.to_vec(),
        })
    };
    verify(
        SigningAlgorithm::Ed25519PhSha512,
        MessageType::Digest,
        &digest,
        &ph,
    )
    .unwrap();
    assert_eq!(
        verify(
            SigningAlgorithm::Ed25519Sha512,
            MessageType::Raw,
            &digest,
            &ph
        ),
        Err(CryptoError::InvalidSignature)
    );
    assert!(matches!(
        sign(SigningAlgorithm::EcdsaSha256, MessageType::Raw, b"m"),
        Err(CryptoError::InvalidKeyUsage(_))
    ));
}

#[test]
fn ecdh_agrees_with_aws_lc_on_every_nist_curve() {
    use aws_lc_rs::agreement;
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use p256::pkcs8::EncodePublicKey;
    let engine = engine();
    let rng = aws_lc_rs::rand::SystemRandom::new();
    macro_rules! case {
        ($spec:expr, $curve:ident, $lc:expr) => {{
            let key = engine
                .generate_material(id($spec, KeyUsage::KeyAgreement))
                .unwrap();
            let ours =
                $curve::PublicKey::from_public_key_der(&engine.get_public_key(&key).unwrap())
                    .unwrap();
            // The peer is AWS-LC, another implementation.
            let peer = agreement::EphemeralPrivateKey::generate($lc, &rng).unwrap();
            let peer_point = peer.compute_public_key().unwrap();
            let peer_spki = $curve::PublicKey::from_sec1_bytes(peer_point.as_ref())
                .unwrap()
                .to_public_key_der()
                .unwrap()
                .into_vec();
            let expected = agreement::agree_ephemeral(
                peer,
                &agreement::UnparsedPublicKey::new($lc, ours.to_encoded_point(false).as_bytes()),
                (),
                |secret| Ok(secret.to_vec()),
            )
            .unwrap();
            let request = |public_key: Vec<u8>| SharedSecretRequest {
                material: key.clone(),
                algorithm: KeyAgreementAlgorithm::Ecdh,
                public_key,
            };
            let secret = engine.derive_shared_secret(&request(peer_spki)).unwrap();
            assert_eq!(secret.to_vec(), expected, "{}", $spec);
            key
        }};
    }
    let p256_key = case!(KeySpec::EccNistP256, p256, &agreement::ECDH_P256);
    let p384_key = case!(KeySpec::EccNistP384, p384, &agreement::ECDH_P384);
    case!(KeySpec::EccNistP521, p521, &agreement::ECDH_P521);

    // A peer on another curve, or not a public key at all.
    let p384_peer = engine.get_public_key(&p384_key).unwrap();
    for public_key in [p384_peer, b"not a key".to_vec()] {
        let err = engine
            .derive_shared_secret(&SharedSecretRequest {
                material: p256_key.clone(),
                algorithm: KeyAgreementAlgorithm::Ecdh,
                public_key,
            })
            .unwrap_err();
        assert!(
            matches!(err, CryptoError::Validation(ref m) if m.contains("ECC_NIST_P256")),
            "{err:?}"
        );
    }
    // Usages do not cross: a signing key cannot agree, an agreement key cannot sign.
    let signer = engine
        .generate_material(id(KeySpec::EccNistP256, KeyUsage::SignVerify))
        .unwrap();
    let err = engine
        .derive_shared_secret(&SharedSecretRequest {
            material: signer,
            algorithm: KeyAgreementAlgorithm::Ecdh,
            public_key: engine.get_public_key(&p256_key).unwrap(),
        })
        .unwrap_err();
    assert_eq!(
        err,
        CryptoError::InvalidKeyUsage(
            "key usage is SIGN_VERIFY which is not valid for DeriveSharedSecret.".into()
        )
    );
    let sign = engine.sign(&SignRequest {
        material: p256_key,
        message: b"m".to_vec(),
        message_type: MessageType::Raw,
        algorithm: SigningAlgorithm::EcdsaSha256,
    });
    assert!(
        matches!(sign, Err(CryptoError::InvalidKeyUsage(_))),
        "{sign:?}"
    );
}

#[test]
fn rsa_sign_verify_every_size_and_padding() {
    let engine = engine();
    for spec in [KeySpec::Rsa2048, KeySpec::Rsa3072, KeySpec::Rsa4096] {
        sign_verify_all(&engine, spec);
    }
}

#[test]
fn hmac_matches_an_independent_implementation_and_verifies_in_constant_time() {
    let engine = engine();
    let message = b"message to authenticate".to_vec();
    for (spec, lc_alg) in [
        (KeySpec::Hmac224, aws_lc_rs::hmac::HMAC_SHA224),
        (KeySpec::Hmac256, aws_lc_rs::hmac::HMAC_SHA256),
        (KeySpec::Hmac384, aws_lc_rs::hmac::HMAC_SHA384),
        (KeySpec::Hmac512, aws_lc_rs::hmac::HMAC_SHA512),
    ] {
        let raw = random_bytes(crate::material::hmac::key_len(spec));
        let key = engine
            .import_material(id(spec, KeyUsage::GenerateVerifyMac), raw.clone())
            .unwrap();
        let algorithm = spec.mac_algorithms()[0];
        let request = MacRequest {
            material: key.clone(),
            message: message.clone(),
            algorithm,
        };
        let mac = engine.generate_mac(&request).unwrap();
        let expected = aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(lc_alg, &raw), &message);
        assert_eq!(mac, expected.as_ref(), "{spec}");
        engine.verify_mac(&request, &mac).unwrap();
        let mut bad = mac.clone();
        bad[0] ^= 0x80;
        assert_eq!(
            engine.verify_mac(&request, &bad),
            Err(CryptoError::InvalidMac)
        );
        assert_eq!(
            engine.verify_mac(&request, &mac[..mac.len() - 1]),
            Err(CryptoError::InvalidMac)
        );
        let wrong = MacRequest {
            algorithm: if algorithm == MacAlgorithm::HmacSha256 {
                MacAlgorithm::HmacSha224
            } else {
                MacAlgorithm::HmacSha256
            },
            ..request
        };
        let err = engine.generate_mac(&wrong).unwrap_err();
        assert_eq!(
            err,
            CryptoError::InvalidKeyUsage(format!(
                "Algorithm {} is incompatible with key spec {spec}.",
                wrong.algorithm
            ))
        );
    }
}

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
