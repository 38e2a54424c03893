//! ECDH key agreement against AWS-LC.

use super::*;

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
