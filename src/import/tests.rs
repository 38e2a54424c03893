//! The import token's format and the unwrapping algorithms, against a
//! client-side wrapping made with AWS-LC's public-key operations (what an
//! AWS SDK user does with OpenSSL).

use std::sync::Arc;

use super::token::{FORMAT_V1, ImportToken, TokenHeader};
use super::unwrap::{generate_wrapping_key, unwrap};
use super::*;
use crate::crypto::CryptoError;
use crate::material::random_bytes;
use crate::root::FileRootKey;
use crate::spec::{WrappingAlgorithm, WrappingKeySpec};

fn root(version: u32) -> Arc<FileRootKey> {
    Arc::new(FileRootKey::from_keys([(version, random_bytes(32))]).unwrap())
}

fn header(key_id: KeyId) -> TokenHeader {
    TokenHeader {
        root_version: 0,
        key_id,
        wrapping_spec: WrappingKeySpec::Rsa3072,
        algorithm: WrappingAlgorithm::RsaAesKeyWrapSha256,
        valid_to: 1_700_000_000_123,
    }
}

#[test]
fn a_token_carries_its_key_and_use_and_opens_only_unaltered_under_its_root() {
    let root = root(3);
    let key_id = KeyId::random();
    let private = b"a wrapping private key".to_vec();
    let token = ImportToken::seal(root.as_ref(), header(key_id), &private).unwrap();
    let expected = TokenHeader {
        root_version: 3,
        ..header(key_id)
    };
    assert_eq!(token.as_bytes()[0], FORMAT_V1);
    assert_eq!(token.header().unwrap(), expected);
    let (opened, key) = token.open(root.as_ref()).unwrap();
    assert_eq!(opened, expected);
    assert_eq!(&key[..], &private[..]);

    // Every byte is covered: the header by the AAD, the rest by the tag.
    for at in 0..token.as_bytes().len() {
        let mut altered = token.as_bytes().to_vec();
        altered[at] ^= 0x01;
        let result = ImportToken::from_bytes(altered).open(root.as_ref());
        assert!(
            matches!(result, Err(CryptoError::InvalidImportToken(_))),
            "byte {at}: {result:?}"
        );
    }
    let other_root = self::root(3);
    assert!(matches!(
        token.open(other_root.as_ref()),
        Err(CryptoError::InvalidImportToken(_))
    ));
    for short in [0, 1, 30, 58] {
        let cut = ImportToken::from_bytes(token.as_bytes()[..short].to_vec());
        assert!(matches!(
            cut.header(),
            Err(CryptoError::InvalidImportToken(_))
        ));
    }
}

#[test]
fn a_token_golden_vector_reads_the_same_forever() {
    // The header layout is a stored format (tokens live for a day across
    // upgrades): a change needs a new format byte, not an edit here.
    let root = root(1);
    let key_id: KeyId = "1234abcd-12ab-34cd-56ef-1234567890ab".parse().unwrap();
    let token =
        ImportToken::seal_with_nonce(root.as_ref(), header(key_id), b"k", &[9; 12]).unwrap();
    assert_eq!(
        hex::encode(&token.as_bytes()[..43]),
        concat!(
            "b1",
            "00000001",
            "1234abcd12ab34cd56ef1234567890ab",
            "02",
            "04",
            "0000018bcfe5687b",
            "090909090909090909090909"
        )
    );
}

/// What a caller does with GetParametersForImport's public key: wraps
/// `material` by `algorithm` (an AES-256 ephemeral key for the key-wrap
/// algorithms).
pub(crate) fn wrap(public_key: &[u8], algorithm: WrappingAlgorithm, material: &[u8]) -> Vec<u8> {
    use aws_lc_rs::key_wrap::{AES_256, KeyEncryptionKey, KeyWrapPadded};
    use aws_lc_rs::rsa::{
        OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey,
    };
    let rsa =
        OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(public_key).unwrap()).unwrap();
    let oaep = |data: &[u8], sha256: bool| {
        let padding = if sha256 {
            &OAEP_SHA256_MGF1SHA256
        } else {
            &OAEP_SHA1_MGF1SHA1
        };
        let mut out = vec![0u8; rsa.ciphertext_size()];
        rsa.encrypt(padding, data, &mut out, None).unwrap().to_vec()
    };
    match algorithm {
        WrappingAlgorithm::RsaesOaepSha1 => oaep(material, false),
        WrappingAlgorithm::RsaesOaepSha256 => oaep(material, true),
        WrappingAlgorithm::RsaAesKeyWrapSha1 | WrappingAlgorithm::RsaAesKeyWrapSha256 => {
            let aes = random_bytes(32);
            let mut out = oaep(&aes, algorithm == WrappingAlgorithm::RsaAesKeyWrapSha256);
            let kek = KeyEncryptionKey::new(&AES_256, &aes).unwrap();
            let mut wrapped = vec![0u8; material.len() + 16];
            out.extend_from_slice(kek.wrap_with_padding(material, &mut wrapped).unwrap());
            out
        }
    }
}

#[test]
fn each_algorithm_unwraps_what_it_wrapped_and_nothing_else() {
    let material = random_bytes(32);
    for spec in WrappingKeySpec::ALL {
        let (public, private) = generate_wrapping_key(*spec).unwrap();
        for algorithm in WrappingAlgorithm::ALL {
            let wrapped = wrap(&public, *algorithm, &material);
            let unwrapped = unwrap(*spec, *algorithm, &private, &wrapped).unwrap();
            assert_eq!(&unwrapped[..], &material[..], "{spec} {algorithm}");
            // The other hash, or the other kind of wrapping, does not unwrap.
            for other in WrappingAlgorithm::ALL.iter().filter(|a| *a != algorithm) {
                assert_eq!(
                    unwrap(*spec, *other, &private, &wrapped).map(|_| ()),
                    Err(CryptoError::InvalidCiphertext),
                    "{spec} {algorithm} read as {other}"
                );
            }
            let mut altered = wrapped.clone();
            *altered.last_mut().unwrap() ^= 1;
            assert_eq!(
                unwrap(*spec, *algorithm, &private, &altered).map(|_| ()),
                Err(CryptoError::InvalidCiphertext)
            );
            assert_eq!(
                unwrap(*spec, *algorithm, &private, &wrapped[..wrapped.len() - 8]).map(|_| ()),
                Err(CryptoError::InvalidCiphertext)
            );
        }
    }
    // Material of any size goes through the key-wrap algorithms (an RSA
    // private key, say).
    let (public, private) = generate_wrapping_key(WrappingKeySpec::Rsa2048).unwrap();
    let large = random_bytes(2400);
    let wrapped = wrap(&public, WrappingAlgorithm::RsaAesKeyWrapSha1, &large);
    let unwrapped = unwrap(
        WrappingKeySpec::Rsa2048,
        WrappingAlgorithm::RsaAesKeyWrapSha1,
        &private,
        &wrapped,
    )
    .unwrap();
    assert_eq!(&unwrapped[..], &large[..]);
}

#[test]
fn the_material_id_names_one_material_of_one_key() {
    let (a, b) = (KeyId::random(), KeyId::random());
    let id = material_id(a, b"material");
    assert_eq!(id.len(), 64);
    assert!(id.bytes().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(id, material_id(a, b"material"));
    assert_ne!(id, material_id(b, b"material"));
    assert_ne!(id, material_id(a, b"materiaL"));
}
