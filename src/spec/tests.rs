use std::collections::HashSet;

use super::*;

#[test]
fn names_round_trip_and_unknown_names_are_rejected() {
    for &spec in KeySpec::ALL {
        assert_eq!(spec.as_str().parse::<KeySpec>().unwrap(), spec);
    }
    let err = "AES_256".parse::<KeySpec>().unwrap_err();
    assert_eq!(err.to_string(), "Value 'AES_256' is not a valid KeySpec");
    assert!(
        "symmetric_default".parse::<KeySpec>().is_err(),
        "names are case-sensitive"
    );
}

/// Codes are part of the sealed-material format: this table must never change.
#[test]
fn format_codes_are_stable_and_unique() {
    let expected = [
        ("SYMMETRIC_DEFAULT", 0x0001),
        ("RSA_2048", 0x0101),
        ("RSA_3072", 0x0102),
        ("RSA_4096", 0x0103),
        ("ECC_NIST_P256", 0x0201),
        ("ECC_NIST_P384", 0x0202),
        ("ECC_NIST_P521", 0x0203),
        ("ECC_SECG_P256K1", 0x0204),
        ("ECC_NIST_EDWARDS25519", 0x0210),
        ("HMAC_224", 0x0301),
        ("HMAC_256", 0x0302),
        ("HMAC_384", 0x0303),
        ("HMAC_512", 0x0304),
        ("ML_DSA_44", 0x0401),
        ("ML_DSA_65", 0x0402),
        ("ML_DSA_87", 0x0403),
        ("ML_KEM_512", 0x0501),
        ("ML_KEM_768", 0x0502),
        ("ML_KEM_1024", 0x0503),
    ];
    assert_eq!(KeySpec::ALL.len(), expected.len());
    for (name, code) in expected {
        let spec: KeySpec = name.parse().unwrap();
        assert_eq!(spec.code(), code, "{name}");
        assert_eq!(KeySpec::from_code(code), Some(spec));
    }
    let usages: HashSet<_> = KeyUsage::ALL.iter().map(|u| u.code()).collect();
    assert_eq!(usages.len(), KeyUsage::ALL.len());
    assert_eq!(KeyUsage::EncryptDecrypt.code(), 1);
    assert_eq!(KeyUsage::SignVerify.code(), 2);
    assert_eq!(KeyUsage::GenerateVerifyMac.code(), 3);
    assert_eq!(KeyUsage::EncapsulateDecapsulate.code(), 5);
    let algorithms: HashSet<_> = SigningAlgorithm::ALL.iter().map(|a| a.code()).collect();
    assert_eq!(algorithms.len(), SigningAlgorithm::ALL.len());
    assert_eq!(SigningAlgorithm::Ed25519Sha512.code(), 10);
    assert_eq!(SigningAlgorithm::Ed25519PhSha512.code(), 11);
    assert_eq!(SigningAlgorithm::MlDsaShake256.code(), 12);
}

#[test]
fn algorithms_per_spec_follow_aws() {
    use SigningAlgorithm::*;
    assert_eq!(
        KeySpec::EccNistP256.signing_algorithms(KeyUsage::SignVerify),
        &[EcdsaSha256]
    );
    assert_eq!(
        KeySpec::EccNistP384.signing_algorithms(KeyUsage::SignVerify),
        &[EcdsaSha384]
    );
    assert_eq!(
        KeySpec::EccNistP521.signing_algorithms(KeyUsage::SignVerify),
        &[EcdsaSha512]
    );
    assert_eq!(
        KeySpec::EccSecgP256k1.signing_algorithms(KeyUsage::SignVerify),
        &[EcdsaSha256]
    );
    assert_eq!(
        KeySpec::Rsa3072
            .signing_algorithms(KeyUsage::SignVerify)
            .len(),
        6
    );
    assert!(
        KeySpec::Rsa3072
            .signing_algorithms(KeyUsage::EncryptDecrypt)
            .is_empty()
    );
    assert!(
        KeySpec::Rsa2048
            .encryption_algorithms(KeyUsage::SignVerify)
            .is_empty()
    );
    assert_eq!(
        KeySpec::Hmac384.mac_algorithms(),
        &[MacAlgorithm::HmacSha384]
    );
    assert!(!KeySpec::SymmetricDefault.allows_usage(KeyUsage::SignVerify));
    assert!(!KeySpec::EccSecgP256k1.allows_usage(KeyUsage::KeyAgreement));
    assert_eq!(
        KeySpec::EccNistEdwards25519.signing_algorithms(KeyUsage::SignVerify),
        &[Ed25519Sha512, Ed25519PhSha512]
    );
    assert_eq!(
        KeySpec::EccNistEdwards25519.usages(),
        &[KeyUsage::SignVerify],
        "AWS: SIGN_VERIFY only"
    );
    assert_eq!(
        DataKeyPairSpec::EccNistEdwards25519.key_spec(),
        KeySpec::EccNistEdwards25519
    );
    for spec in [KeySpec::MlDsa44, KeySpec::MlDsa65, KeySpec::MlDsa87] {
        assert_eq!(spec.usages(), &[KeyUsage::SignVerify]);
        assert_eq!(
            spec.signing_algorithms(KeyUsage::SignVerify),
            &[MlDsaShake256]
        );
        assert_eq!(spec.customer_master_key_spec(), None);
    }
    assert_eq!(
        KeySpec::Rsa2048.customer_master_key_spec(),
        Some("RSA_2048")
    );
}

#[test]
fn message_types_follow_aws() {
    use MessageType::*;
    use SigningAlgorithm::*;
    for &algorithm in SigningAlgorithm::ALL {
        let expected: &[MessageType] = match algorithm {
            Ed25519Sha512 => &[Raw],
            Ed25519PhSha512 => &[Digest],
            MlDsaShake256 => &[Raw, ExternalMu],
            _ => &[Raw, Digest],
        };
        for &message_type in MessageType::ALL {
            let input = vec![0u8; algorithm.hash().output_len()];
            let result = algorithm.check_message(message_type, &input);
            assert_eq!(
                result.is_ok(),
                expected.contains(&message_type),
                "{algorithm} {message_type}: {result:?}"
            );
        }
    }
    assert_eq!(
        EcdsaSha384.check_message(Digest, &[0; 32]),
        Err("Digest is invalid length for algorithm: expected 48 bytes, got 32.".into())
    );
    assert_eq!(EcdsaSha384.check_message(Raw, &[0; 32]), Ok(()));
    assert_eq!(
        MlDsaShake256.check_message(ExternalMu, &[0; 63]),
        Err("EXTERNAL_MU must be 64 bytes, got 63.".into())
    );
    assert_eq!(
        EcdsaSha256.check_message(ExternalMu, &[0; 64]),
        Err(
            "MessageType EXTERNAL_MU is not valid with signing algorithm ECDSA_SHA_256; use RAW or DIGEST."
                .into()
        )
    );
}

#[test]
fn rsa_plaintext_limits_match_aws() {
    use EncryptionAlgorithm::*;
    let table = [
        (KeySpec::Rsa2048, 214, 190),
        (KeySpec::Rsa3072, 342, 318),
        (KeySpec::Rsa4096, 470, 446),
    ];
    for (spec, sha1, sha256) in table {
        assert_eq!(spec.max_plaintext_len(RsaesOaepSha1), Some(sha1));
        assert_eq!(spec.max_plaintext_len(RsaesOaepSha256), Some(sha256));
        assert_eq!(spec.max_plaintext_len(SymmetricDefault), None);
    }
    assert_eq!(
        KeySpec::SymmetricDefault.max_plaintext_len(SymmetricDefault),
        Some(4096)
    );
}
