//! Property tests: any single-bit flip, truncation or extension of a sealed
//! blob, a ciphertext, a signature or a MAC fails with a typed error; so does
//! any change to the encryption context; and no input panics.

use std::sync::{Arc, OnceLock};

use kube_kms::ciphertext::EncryptionContext;
use kube_kms::crypto::{
    CacheConfig, CryptoError, DecryptRequest, EncryptRequest, Engine, MacRequest, SignRequest,
    VerifyRequest,
};
use kube_kms::key_id::KeyId;
use kube_kms::material::random_bytes;
use kube_kms::root::FileRootKey;
use kube_kms::seal::{MaterialId, SealedMaterial};
use kube_kms::secret::SecretBytes;
use kube_kms::spec::*;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;

struct Fixture {
    engine: Engine,
    symmetric: SealedMaterial,
    ecdsa: SealedMaterial,
    ed25519: SealedMaterial,
    hmac: SealedMaterial,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let root = FileRootKey::from_keys([(1, random_bytes(32))]).unwrap();
        // No cache: every operation must authenticate the blob it is given.
        let engine = Engine::new(
            Arc::new(root),
            CacheConfig {
                max_entries: 0,
                ..CacheConfig::default()
            },
        );
        let generate = |spec, usage| {
            engine
                .generate_material(MaterialId {
                    key_id: KeyId::random(),
                    version: 1,
                    spec,
                    usage,
                })
                .unwrap()
        };
        Fixture {
            symmetric: generate(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt),
            ecdsa: generate(KeySpec::EccNistP256, KeyUsage::SignVerify),
            ed25519: generate(KeySpec::EccNistEdwards25519, KeyUsage::SignVerify),
            hmac: generate(KeySpec::Hmac256, KeyUsage::GenerateVerifyMac),
            engine,
        }
    })
}

fn context() -> impl Strategy<Value = EncryptionContext> {
    btree_map("[a-zA-Z0-9:/_-]{0,12}", ".{0,12}", 0..4).prop_map(EncryptionContext::new)
}

fn decrypt(blob: Vec<u8>, context: EncryptionContext) -> Result<SecretBytes, CryptoError> {
    let f = fixture();
    f.engine.decrypt(&DecryptRequest {
        material: f.symmetric.clone(),
        ciphertext: blob,
        context,
        algorithm: EncryptionAlgorithm::SymmetricDefault,
    })
}

fn encrypt(plaintext: &[u8], context: &EncryptionContext) -> Vec<u8> {
    let f = fixture();
    f.engine
        .encrypt(&EncryptRequest {
            material: f.symmetric.clone(),
            plaintext: SecretBytes::new(plaintext.to_vec()),
            context: context.clone(),
            algorithm: EncryptionAlgorithm::SymmetricDefault,
        })
        .unwrap()
}

/// Flipping key-id or version bits names other material (`IncorrectKey`);
/// every other flip is `InvalidCiphertext`.
fn is_ciphertext_rejection(result: &Result<SecretBytes, CryptoError>, flipped_byte: usize) -> bool {
    match result {
        Err(CryptoError::InvalidCiphertext) => true,
        Err(CryptoError::IncorrectKey) => (1..21).contains(&flipped_byte),
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn ciphertext_round_trips(plaintext in vec(any::<u8>(), 1..=4096), context in context()) {
        let blob = encrypt(&plaintext, &context);
        let back = decrypt(blob, context).unwrap();
        prop_assert_eq!(back.as_slice(), plaintext.as_slice());
    }

    #[test]
    fn any_bit_flip_in_a_ciphertext_is_rejected(
        plaintext in vec(any::<u8>(), 1..512), context in context(), bit in any::<prop::sample::Index>()
    ) {
        let mut blob = encrypt(&plaintext, &context);
        let bit = bit.index(blob.len() * 8);
        blob[bit / 8] ^= 1 << (bit % 8);
        let result = decrypt(blob, context);
        prop_assert!(is_ciphertext_rejection(&result, bit / 8), "{:?}", result.map(|_| ()));
    }

    #[test]
    fn truncated_or_extended_ciphertexts_are_rejected(
        plaintext in vec(any::<u8>(), 1..512), context in context(),
        cut in any::<prop::sample::Index>(), extra in vec(any::<u8>(), 1..32)
    ) {
        let blob = encrypt(&plaintext, &context);
        let truncated = blob[..cut.index(blob.len())].to_vec();
        prop_assert_eq!(decrypt(truncated, context.clone()).map(|_| ()), Err(CryptoError::InvalidCiphertext));
        let mut extended = blob;
        extended.extend_from_slice(&extra);
        prop_assert_eq!(decrypt(extended, context).map(|_| ()), Err(CryptoError::InvalidCiphertext));
    }

    #[test]
    fn any_other_context_is_rejected(plaintext in vec(any::<u8>(), 1..64), a in context(), b in context()) {
        prop_assume!(a != b);
        let blob = encrypt(&plaintext, &a);
        prop_assert_eq!(decrypt(blob, b).map(|_| ()), Err(CryptoError::InvalidCiphertext));
    }

    #[test]
    fn random_bytes_never_decrypt(blob in vec(any::<u8>(), 0..200)) {
        prop_assert!(decrypt(blob, EncryptionContext::default()).is_err());
    }

    #[test]
    fn any_change_to_sealed_material_is_rejected(
        which in 0usize..3, bit in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(), extra in vec(any::<u8>(), 1..16)
    ) {
        let f = fixture();
        let sealed = [&f.symmetric, &f.ecdsa, &f.hmac][which].as_bytes().to_vec();
        let bit = bit.index(sealed.len() * 8);
        let mut flipped = sealed.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        let truncated = sealed[..cut.index(sealed.len())].to_vec();
        let mut extended = sealed.clone();
        extended.extend_from_slice(&extra);
        for blob in [flipped, truncated, extended] {
            let result = f.engine.unseal(&SealedMaterial::from_bytes(blob));
            prop_assert!(
                matches!(result, Err(CryptoError::SealedMaterialInvalid(_)) | Err(CryptoError::UnknownRootKey(_))),
                "{:?}", result.map(|u| u.id)
            );
        }
    }

    #[test]
    fn any_change_to_a_signature_is_rejected(message in vec(any::<u8>(), 1..256), bit in any::<prop::sample::Index>(), edwards in any::<bool>()) {
        let f = fixture();
        let (material, algorithm) = if edwards {
            (&f.ed25519, SigningAlgorithm::Ed25519Sha512)
        } else {
            (&f.ecdsa, SigningAlgorithm::EcdsaSha256)
        };
        let signature = f.engine.sign(&SignRequest {
            material: material.clone(),
            message: message.clone(),
            message_type: MessageType::Raw,
            algorithm,
        }).unwrap();
        let mut bad = signature.clone();
        let bit = bit.index(bad.len() * 8);
        bad[bit / 8] ^= 1 << (bit % 8);
        let verify = |signature: Vec<u8>| f.engine.verify(&VerifyRequest {
            material: material.clone(),
            message: message.clone(),
            message_type: MessageType::Raw,
            algorithm,
            signature,
        });
        prop_assert_eq!(verify(signature), Ok(()));
        prop_assert_eq!(verify(bad), Err(CryptoError::InvalidSignature));
    }

    #[test]
    fn any_change_to_a_mac_is_rejected(message in vec(any::<u8>(), 1..256), bit in any::<prop::sample::Index>()) {
        let f = fixture();
        let request = MacRequest { material: f.hmac.clone(), message, algorithm: MacAlgorithm::HmacSha256 };
        let mut mac = f.engine.generate_mac(&request).unwrap();
        prop_assert_eq!(f.engine.verify_mac(&request, &mac), Ok(()));
        let bit = bit.index(mac.len() * 8);
        mac[bit / 8] ^= 1 << (bit % 8);
        prop_assert_eq!(f.engine.verify_mac(&request, &mac), Err(CryptoError::InvalidMac));
    }

    #[test]
    fn malformed_material_and_signatures_never_panic(bytes in vec(any::<u8>(), 0..600), spec in 0..KeySpec::ALL.len()) {
        let f = fixture();
        let spec = KeySpec::ALL[spec];
        let usage = spec.usages()[0];
        let id = MaterialId { key_id: KeyId::random(), version: 1, spec, usage };
        let result = f.engine.import_material(id, SecretBytes::new(bytes.clone()));
        // Raw material of these lengths is well-formed (HMAC keys as AWS
        // imports them: from the hash's output length to its block size).
        let well_formed = match spec {
            KeySpec::SymmetricDefault => Some(32..=32),
            KeySpec::Hmac224 => Some(28..=64),
            KeySpec::Hmac256 => Some(32..=64),
            KeySpec::Hmac384 => Some(48..=128),
            KeySpec::Hmac512 => Some(64..=128),
            _ => None,
        };
        if !well_formed.is_some_and(|lengths| lengths.contains(&bytes.len())) {
            prop_assert!(matches!(result, Err(CryptoError::MalformedMaterial(_))), "{:?}", result);
        }
        let verify = f.engine.verify(&VerifyRequest {
            material: f.ecdsa.clone(),
            message: b"m".to_vec(),
            message_type: MessageType::Raw,
            algorithm: SigningAlgorithm::EcdsaSha256,
            signature: bytes,
        });
        prop_assert!(verify.is_err());
    }
}
