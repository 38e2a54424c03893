use super::*;
use crate::root::FileRootKey;
use crate::secret::SecretBytes;

fn root(version: u32) -> FileRootKey {
    FileRootKey::from_keys([(version, SecretBytes::new(vec![0x5a; 32]))]).unwrap()
}

/// Every header field at a value whose four bytes all differ, so a field
/// read from the wrong offset shows.
fn distinct_id() -> MaterialId {
    MaterialId {
        key_id: KeyId::from_bytes(*b"0123456789abcdef"),
        version: 0x0a0b_0c0d,
        spec: KeySpec::EccNistP256,
        usage: KeyUsage::SignVerify,
    }
}

#[test]
fn the_header_reads_back_every_field_and_shorter_blobs_are_refused() {
    let root = root(0x0102_0304);
    let material = KeyMaterial::generate(KeySpec::EccNistP256).unwrap();
    let sealed = seal(&root, distinct_id(), &material).unwrap();
    let header = sealed.header().unwrap();
    assert_eq!(
        (header.root_version, header.material),
        (0x0102_0304, distinct_id())
    );
    let (id, opened) = unseal(&root, &sealed).unwrap();
    assert_eq!(id, distinct_id());
    assert_eq!(opened.expose(), material.expose());
    // The shortest blob with a header is header, nonce and tag; anything
    // shorter is refused as such, never read past its end.
    let least = HEADER_LEN + NONCE_LEN + TAG_LEN;
    for len in 0..least {
        let short = SealedMaterial::from_bytes(sealed.as_bytes()[..len].to_vec());
        assert!(
            matches!(short.header(), Err(CryptoError::SealedMaterialInvalid(ref why)) if why == "too short"),
            "{len} bytes"
        );
    }
    let bare = SealedMaterial::from_bytes(sealed.as_bytes()[..least].to_vec());
    assert_eq!(bare.header().unwrap(), header);
    assert!(unseal(&root, &bare).is_err());
    assert_eq!(
        SealedMaterial::from_bytes(sealed.clone().into_bytes()),
        sealed
    );
}

#[test]
fn debug_shows_the_header_never_the_material() {
    let sealed = seal(
        &root(7),
        distinct_id(),
        &KeyMaterial::generate(KeySpec::EccNistP256).unwrap(),
    )
    .unwrap();
    assert_eq!(
        format!("{sealed:?}"),
        format!(
            "SealedMaterial({} v168496141 ECC_NIST_P256 SIGN_VERIFY root v7)",
            distinct_id().key_id
        )
    );
    assert_eq!(
        format!("{:?}", SealedMaterial::from_bytes(vec![0xa1; 9])),
        "SealedMaterial(<9 unparseable bytes>)"
    );
}

#[test]
fn material_is_sealed_only_as_its_own_spec_and_a_usage_the_spec_allows() {
    let root = root(1);
    let p256 = KeyMaterial::generate(KeySpec::EccNistP256).unwrap();
    let as_p384 = MaterialId {
        spec: KeySpec::EccNistP384,
        ..distinct_id()
    };
    let to_encrypt = MaterialId {
        usage: KeyUsage::EncryptDecrypt,
        ..distinct_id()
    };
    for id in [as_p384, to_encrypt] {
        assert!(
            matches!(seal(&root, id, &p256), Err(CryptoError::Internal(_))),
            "{id:?}"
        );
    }
    assert!(seal(&root, distinct_id(), &p256).is_ok());
}
