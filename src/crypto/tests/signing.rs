//! Signatures (RSA, ECDSA, Ed25519) checked by an independent verifier, and HMAC.

use super::*;

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
            // k256 takes only low-S signatures (Bitcoin's rule); AWS KMS's,
            // like ours, are high-S half the time.
            let signature = k256::ecdsa::Signature::from_der(signature).unwrap();
            let signature = signature.normalize_s().unwrap_or(signature);
            key.verify(message, &signature).unwrap();
        }
        KeySpec::EccNistP521 => {
            let point = p521::PublicKey::from_public_key_der(spki).unwrap();
            use p521::elliptic_curve::sec1::ToEncodedPoint;
            let key = p521::ecdsa::VerifyingKey::from_encoded_point(&point.to_encoded_point(false))
                .unwrap();
            key.verify(
                message,
                &p521::ecdsa::Signature::from_der(signature).unwrap(),
            )
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

/// ECC material as RustCrypto writes PKCS#8 (how keys were made before
/// AWS-LC made them, and what an import may bring) signs as it did: the
/// same public key, signatures RustCrypto verifies.
#[test]
fn ecc_material_written_by_another_library_signs_with_the_same_key() {
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey};
    let engine = engine();
    macro_rules! case {
        ($spec:expr, $curve:ident) => {{
            let secret = $curve::SecretKey::random(&mut rand_core::OsRng);
            let der = secret.to_pkcs8_der().unwrap().as_bytes().to_vec();
            let key = engine
                .import_material(id($spec, KeyUsage::SignVerify), SecretBytes::new(der))
                .unwrap();
            let spki = engine.get_public_key(&key).unwrap();
            let expected = secret.public_key().to_public_key_der().unwrap();
            assert_eq!(spki, expected.as_bytes(), "{}", $spec);
            let algorithm = $spec.signing_algorithms(KeyUsage::SignVerify)[0];
            let message = b"signed by material from elsewhere".to_vec();
            let signature = engine
                .sign(&SignRequest {
                    material: key,
                    message: message.clone(),
                    message_type: MessageType::Raw,
                    algorithm,
                })
                .unwrap();
            independent_verify($spec, algorithm, &spki, &message, &signature);
        }};
    }
    case!(KeySpec::EccNistP256, p256);
    case!(KeySpec::EccNistP384, p384);
    case!(KeySpec::EccNistP521, p521);
    case!(KeySpec::EccSecgP256k1, k256);
    // Material on another curve than the key spec says is refused.
    let p384 = p384::SecretKey::random(&mut rand_core::OsRng);
    let err = engine
        .import_material(
            id(KeySpec::EccNistP256, KeyUsage::SignVerify),
            SecretBytes::new(p384.to_pkcs8_der().unwrap().as_bytes().to_vec()),
        )
        .unwrap_err();
    assert_eq!(
        err,
        CryptoError::MalformedMaterial(
            "material is not a valid ECC_NIST_P256: the private key is on another curve".into()
        )
    );
    let err = engine
        .import_material(
            id(KeySpec::EccNistP256, KeyUsage::SignVerify),
            SecretBytes::new(b"not a key".to_vec()),
        )
        .unwrap_err();
    assert!(
        matches!(err, CryptoError::MalformedMaterial(ref m) if m.starts_with("material is not a valid ECC_NIST_P256: not a PKCS#8 EC private key")),
        "{err:?}"
    );
}

/// Each ECDSA signature takes a fresh nonce, as AWS KMS's do: signing the
/// same message twice gives two signatures, both valid.
#[test]
fn ecdsa_signatures_of_one_message_differ() {
    let engine = engine();
    for spec in [KeySpec::EccNistP256, KeySpec::EccSecgP256k1] {
        let key = engine
            .generate_material(id(spec, KeyUsage::SignVerify))
            .unwrap();
        let spki = engine.get_public_key(&key).unwrap();
        let algorithm = SigningAlgorithm::EcdsaSha256;
        let sign = || {
            engine
                .sign(&SignRequest {
                    material: key.clone(),
                    message: b"twice".to_vec(),
                    message_type: MessageType::Raw,
                    algorithm,
                })
                .unwrap()
        };
        let (first, second) = (sign(), sign());
        assert_ne!(first, second, "{spec}");
        for signature in [first, second] {
            independent_verify(spec, algorithm, &spki, b"twice", &signature);
        }
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
fn rsa_sign_verify_every_size_and_padding() {
    let engine = engine();
    for spec in [KeySpec::Rsa2048, KeySpec::Rsa3072, KeySpec::Rsa4096] {
        sign_verify_all(&engine, spec);
    }
}

/// RustCrypto's HMAC: the product computes with AWS-LC's.
fn reference_mac(spec: KeySpec, key: &[u8], message: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    macro_rules! run {
        ($hash:ty) => {{
            let mut mac = <Hmac<$hash>>::new_from_slice(key).unwrap();
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }};
    }
    match spec {
        KeySpec::Hmac224 => run!(sha2::Sha224),
        KeySpec::Hmac256 => run!(sha2::Sha256),
        KeySpec::Hmac384 => run!(sha2::Sha384),
        _ => run!(sha2::Sha512),
    }
}

#[test]
fn hmac_matches_an_independent_implementation_and_verifies_in_constant_time() {
    let engine = engine();
    let message = b"message to authenticate".to_vec();
    for spec in [
        KeySpec::Hmac224,
        KeySpec::Hmac256,
        KeySpec::Hmac384,
        KeySpec::Hmac512,
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
        assert_eq!(mac, reference_mac(spec, &raw, &message), "{spec}");
        engine.verify_mac(&request, &mac).unwrap();
        // Imported material can be as long as the hash's block.
        let long = random_bytes(crate::material::hmac::max_key_len(spec));
        let long_key = engine
            .import_material(id(spec, KeyUsage::GenerateVerifyMac), long.clone())
            .unwrap();
        let long_request = MacRequest {
            material: long_key,
            message: message.clone(),
            algorithm,
        };
        let long_mac = engine.generate_mac(&long_request).unwrap();
        assert_eq!(long_mac, reference_mac(spec, &long, &message), "{spec}");
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
