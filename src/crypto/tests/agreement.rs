//! ECDH key agreement, checked against RustCrypto's.

use super::*;

#[test]
fn ecdh_agrees_with_another_implementation_on_every_nist_curve() {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use p256::pkcs8::EncodePublicKey;
    let engine = engine();
    macro_rules! case {
        ($spec:expr, $curve:ident) => {{
            let key = engine
                .generate_material(id($spec, KeyUsage::KeyAgreement))
                .unwrap();
            let ours =
                $curve::PublicKey::from_public_key_der(&engine.get_public_key(&key).unwrap())
                    .unwrap();
            // The peer is RustCrypto, another implementation.
            let peer = $curve::SecretKey::random(&mut rand_core::OsRng);
            let peer_spki = peer.public_key().to_public_key_der().unwrap().into_vec();
            let expected = $curve::ecdh::diffie_hellman(peer.to_nonzero_scalar(), ours.as_affine())
                .raw_secret_bytes()
                .to_vec();
            let request = |public_key: Vec<u8>| SharedSecretRequest {
                material: key.clone(),
                algorithm: KeyAgreementAlgorithm::Ecdh,
                public_key,
            };
            let secret = engine.derive_shared_secret(&request(peer_spki)).unwrap();
            assert_eq!(secret.to_vec(), expected, "{}", $spec);
            // AWS takes the peer's key as SubjectPublicKeyInfo, not as a bare point.
            let point = peer.public_key().to_encoded_point(false).as_bytes().to_vec();
            let err = engine.derive_shared_secret(&request(point)).unwrap_err();
            assert!(
                matches!(err, CryptoError::Validation(ref m) if m.contains("SubjectPublicKeyInfo")),
                "{err:?}"
            );
            key
        }};
    }
    let p256_key = case!(KeySpec::EccNistP256, p256);
    let p384_key = case!(KeySpec::EccNistP384, p384);
    case!(KeySpec::EccNistP521, p521);

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
