use ml_dsa::{EncodedSignature, EncodedVerifyingKey, MlDsa44, MlDsa65, MlDsa87, MlDsaParams};

use super::*;

/// RustCrypto's ML-DSA, a second implementation, checks a signature over
/// `message` with the empty context AWS uses.
fn rustcrypto_verifies<P: MlDsaParams>(public: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let Ok(public) = EncodedVerifyingKey::<P>::try_from(public) else {
        return false;
    };
    let Ok(encoded) = EncodedSignature::<P>::try_from(signature) else {
        return false;
    };
    let Some(signature) = ml_dsa::Signature::<P>::decode(&encoded) else {
        return false;
    };
    ml_dsa::VerifyingKey::<P>::decode(&public).verify_with_context(message, b"", &signature)
}

/// (spec, raw public key length, signature length) from FIPS 204 table 2.
const SIZES: [(KeySpec, usize, usize); 3] = [
    (KeySpec::MlDsa44, 1312, 2420),
    (KeySpec::MlDsa65, 1952, 3309),
    (KeySpec::MlDsa87, 2592, 4627),
];

#[test]
fn every_size_signs_what_another_implementation_verifies() {
    let algorithm = SigningAlgorithm::MlDsaShake256;
    for (spec, public_len, signature_len) in SIZES {
        let key = MlDsaKey::from_pkcs8(spec, &generate_pkcs8(spec).unwrap()).unwrap();
        // SPKI: a 22-byte header (SEQUENCE, the algorithm's OID, BIT STRING)
        // and the raw key.
        let spki = key.public_key_der();
        assert_eq!(spki.len(), 22 + public_len, "{spec}");
        let public = &spki[22..];
        let message = format!("signed with {spec}").into_bytes();
        let signature = key.sign(algorithm, MessageType::Raw, &message).unwrap();
        assert_eq!(signature.len(), signature_len, "{spec}");
        key.verify(algorithm, MessageType::Raw, &message, &signature)
            .unwrap();
        let theirs = match spec {
            KeySpec::MlDsa44 => rustcrypto_verifies::<MlDsa44>,
            KeySpec::MlDsa65 => rustcrypto_verifies::<MlDsa65>,
            _ => rustcrypto_verifies::<MlDsa87>,
        };
        assert!(theirs(public, &message, &signature), "{spec}");
        assert!(!theirs(public, b"another message", &signature), "{spec}");

        let mut flipped = signature.clone();
        flipped[signature_len / 2] ^= 0x10;
        let invalid = Err(CryptoError::InvalidSignature);
        assert_eq!(
            key.verify(algorithm, MessageType::Raw, &message, &flipped),
            invalid
        );
        assert_eq!(
            key.verify(algorithm, MessageType::Raw, b"other", &signature),
            invalid
        );
        assert_eq!(
            key.verify(algorithm, MessageType::Raw, &message, &signature[1..]),
            invalid
        );
    }
}

#[test]
fn material_must_be_of_its_own_size() {
    let der44 = generate_pkcs8(KeySpec::MlDsa44).unwrap();
    assert!(MlDsaKey::from_pkcs8(KeySpec::MlDsa44, &der44).is_ok());
    assert!(MlDsaKey::from_pkcs8(KeySpec::MlDsa65, &der44).is_err());
    assert!(MlDsaKey::from_pkcs8(KeySpec::MlDsa44, &der44[..der44.len() - 1]).is_err());
    assert!(MlDsaKey::from_pkcs8(KeySpec::EccNistP256, &der44).is_err());
    // A generated key is the seed (32 bytes) in PKCS#8, not the 2560-byte
    // expanded key: small to seal and store.
    assert!(der44.len() < 64, "{}", der44.len());
    assert_ne!(generate_pkcs8(KeySpec::MlDsa44).unwrap(), der44);
}

#[test]
fn external_mu_is_refused_plainly_and_digests_are_not_ml_dsa() {
    let key =
        MlDsaKey::from_pkcs8(KeySpec::MlDsa65, &generate_pkcs8(KeySpec::MlDsa65).unwrap()).unwrap();
    let algorithm = SigningAlgorithm::MlDsaShake256;
    let mu = [0u8; 64];
    assert!(matches!(
        key.sign(algorithm, MessageType::ExternalMu, &mu),
        Err(CryptoError::Unsupported(m)) if m.contains("EXTERNAL_MU")
    ));
    assert_eq!(
        key.sign(algorithm, MessageType::ExternalMu, &mu[..32]),
        Err(CryptoError::Validation(
            "EXTERNAL_MU must be 64 bytes, got 32.".into()
        ))
    );
    assert_eq!(
        key.sign(algorithm, MessageType::Digest, &mu),
        Err(CryptoError::Validation(
            "MessageType DIGEST is not valid with signing algorithm ML_DSA_SHAKE_256; use RAW or EXTERNAL_MU.".into()
        ))
    );
    assert!(matches!(
        key.sign(SigningAlgorithm::EcdsaSha512, MessageType::Raw, b"m"),
        Err(CryptoError::InvalidKeyUsage(_))
    ));
}
