use aws_lc_rs::signature::{self as lc, KeyPair, UnparsedPublicKey};

use super::*;

/// RFC 8410 `PrivateKeyInfo` (v1) header for Ed25519: the 32-byte seed follows.
const PKCS8_V1_PREFIX: &str = "302e020100300506032b657004220420";

fn key_from_seed(seed_hex: &str) -> Ed25519Key {
    let der = hex::decode(format!("{PKCS8_V1_PREFIX}{seed_hex}")).unwrap();
    Ed25519Key::from_pkcs8(&der).unwrap()
}

fn raw_public(key: &Ed25519Key) -> &[u8] {
    // SPKI DER for Ed25519 is a 12-byte header and the 32-byte point.
    assert_eq!(key.public_key_der().len(), 44);
    &key.public_key_der()[12..]
}

#[test]
fn pure_ed25519_matches_rfc_8032_test_1() {
    let key = key_from_seed("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    assert_eq!(
        hex::encode(raw_public(&key)),
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    );
    let signature = key
        .sign(SigningAlgorithm::Ed25519Sha512, MessageType::Raw, b"")
        .unwrap();
    assert_eq!(
        hex::encode(&signature),
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    );
}

#[test]
fn ed25519ph_matches_rfc_8032_test_abc() {
    let key = key_from_seed("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42");
    assert_eq!(
        hex::encode(raw_public(&key)),
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf"
    );
    assert_eq!(
        hex::encode(key.sign_ph(b"abc").unwrap().to_bytes()),
        "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"
    );
}

#[test]
fn ph_with_a_digest_hashes_the_digest_again_as_aws_documents() {
    let key = key_from_seed("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42");
    let digest = Sha512::digest(b"a message longer than Sign takes");
    let signature = key
        .sign(
            SigningAlgorithm::Ed25519PhSha512,
            MessageType::Digest,
            &digest,
        )
        .unwrap();
    // Ed25519ph of the 64-byte digest, not of the message it digests.
    assert_eq!(signature, key.sign_ph(&digest).unwrap().to_bytes().to_vec());
    key.verify(
        SigningAlgorithm::Ed25519PhSha512,
        MessageType::Digest,
        &digest,
        &signature,
    )
    .unwrap();
}

#[test]
fn generated_keys_are_pkcs8_v1_that_another_implementation_reads_and_verifies() {
    let der = generate_pkcs8().unwrap();
    assert_eq!(der.len(), 48, "v1: no public key in the document");
    assert_eq!(hex::encode(&der[..16]), PKCS8_V1_PREFIX);
    let key = Ed25519Key::from_pkcs8(&der).unwrap();
    let theirs = lc::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).unwrap();
    assert_eq!(theirs.public_key().as_ref(), raw_public(&key));
    let message = b"signed here, checked by AWS-LC";
    let signature = key
        .sign(SigningAlgorithm::Ed25519Sha512, MessageType::Raw, message)
        .unwrap();
    UnparsedPublicKey::new(&lc::ED25519, raw_public(&key))
        .verify(message, &signature)
        .unwrap();
    assert_eq!(
        signature,
        theirs.sign(message).as_ref(),
        "Ed25519 is deterministic"
    );
    assert_ne!(generate_pkcs8().unwrap()[16..], der[16..]);
}

#[test]
fn a_v2_document_must_carry_the_matching_public_key() {
    let seed = [7u8; 32];
    let matching = KeypairBytes::from(&SigningKey::from_bytes(&seed));
    let der = matching.to_pkcs8_der().unwrap();
    let key = Ed25519Key::from_pkcs8(der.as_bytes()).unwrap();
    assert_eq!(
        raw_public(&key),
        matching.public_key.as_ref().unwrap().as_ref()
    );

    let other = SigningKey::from_bytes(&[8u8; 32]).verifying_key();
    let forged = KeypairBytes {
        secret_key: seed,
        public_key: Some(ed25519_dalek::pkcs8::PublicKeyBytes(other.to_bytes())),
    };
    assert!(Ed25519Key::from_pkcs8(forged.to_pkcs8_der().unwrap().as_bytes()).is_err());
    assert!(Ed25519Key::from_pkcs8(&der.as_bytes()[..40]).is_err());
}

#[test]
fn each_algorithm_takes_only_its_message_type_and_signatures_do_not_cross() {
    let key = Ed25519Key::from_pkcs8(&generate_pkcs8().unwrap()).unwrap();
    let message = b"message".to_vec();
    let digest = Sha512::digest(&message).to_vec();
    let pure = SigningAlgorithm::Ed25519Sha512;
    let ph = SigningAlgorithm::Ed25519PhSha512;

    for (algorithm, message_type, input) in [
        (pure, MessageType::Digest, &digest),
        (ph, MessageType::Raw, &message),
        (pure, MessageType::ExternalMu, &digest),
    ] {
        let err = key.sign(algorithm, message_type, input).unwrap_err();
        assert_eq!(
            err,
            CryptoError::Validation(format!(
                "MessageType {message_type} is not valid with signing algorithm {algorithm}; use {}.",
                if algorithm == pure { "RAW" } else { "DIGEST" }
            ))
        );
        assert!(matches!(
            key.verify(algorithm, message_type, input, &[0; 64]),
            Err(CryptoError::Validation(_))
        ));
    }
    let short = key
        .sign(ph, MessageType::Digest, &digest[..32])
        .unwrap_err();
    assert_eq!(
        short,
        CryptoError::Validation(
            "Digest is invalid length for algorithm: expected 64 bytes, got 32.".into()
        )
    );
    let ecdsa = key.sign(SigningAlgorithm::EcdsaSha512, MessageType::Raw, &message);
    assert!(
        matches!(ecdsa, Err(CryptoError::InvalidKeyUsage(_))),
        "{ecdsa:?}"
    );

    let pure_sig = key.sign(pure, MessageType::Raw, &message).unwrap();
    let ph_sig = key.sign(ph, MessageType::Digest, &digest).unwrap();
    assert_ne!(pure_sig, ph_sig);
    key.verify(pure, MessageType::Raw, &message, &pure_sig)
        .unwrap();
    key.verify(ph, MessageType::Digest, &digest, &ph_sig)
        .unwrap();
    let invalid = Err(CryptoError::InvalidSignature);
    assert_eq!(
        key.verify(ph, MessageType::Digest, &digest, &pure_sig),
        invalid
    );
    assert_eq!(
        key.verify(pure, MessageType::Raw, &message, &ph_sig),
        invalid
    );
    assert_eq!(
        key.verify(pure, MessageType::Raw, b"other", &pure_sig),
        invalid
    );
    let mut flipped = pure_sig.clone();
    flipped[10] ^= 1;
    assert_eq!(
        key.verify(pure, MessageType::Raw, &message, &flipped),
        invalid
    );
    assert_eq!(
        key.verify(pure, MessageType::Raw, &message, &pure_sig[..63]),
        invalid
    );
    assert_eq!(key.verify(pure, MessageType::Raw, &message, &[]), invalid);
}
