use super::*;
use crate::plugin::fixture::{self, key_file, version};

fn key() -> KeyId {
    KeyId::from_bytes([3; 16])
}

#[test]
fn encrypt_uses_the_current_version_and_every_version_decrypts() {
    let root = fixture::root(1);
    let v1 = version(&root, key(), 1);
    let one = Keyring::load(&key_file(key(), vec![v1.clone()]), &root).unwrap();
    let seed = [7u8; 32];
    let (old, old_id) = one.encrypt(&seed).unwrap();
    let old_id = old_id.to_owned();
    assert!(old.len() <= 1024 && old_id.len() <= 1024);
    assert_eq!(old_id, one.current_name());

    let two = Keyring::load(&key_file(key(), vec![v1, version(&root, key(), 2)]), &root).unwrap();
    one.check_successor(&two).unwrap();
    assert_eq!(two.current_version(), 2);
    assert_ne!(two.current_name(), old_id, "a rotation changes the key_id");
    let (new, new_id) = two.encrypt(&seed).unwrap();
    assert!(new_id.contains(":v2:"));
    assert_eq!(*two.decrypt(new_id, &new, false).unwrap(), seed);
    assert_eq!(*two.decrypt(&old_id, &old, false).unwrap(), seed);
    // The ciphertext must match the key_id it comes with.
    assert_eq!(
        two.decrypt(&old_id, &new, false),
        Err(SeedError::Mismatch(old_id.clone()))
    );
}

/// `--ciphertext-format 1` for control planes whose other nodes still run
/// a plugin that reads format 1 only: seeds wrapped either way unwrap
/// under the same key_id on either.
#[test]
fn seeds_are_wrapped_in_the_format_asked_and_unwrap_in_both() {
    let root = fixture::root(1);
    let file = key_file(key(), vec![version(&root, key(), 1)]);
    let older = Keyring::load(&file, &root)
        .unwrap()
        .writing(ciphertext::Format::V1);
    let newer = Keyring::load(&file, &root).unwrap();
    assert_eq!(older.current_name(), newer.current_name());
    for (writer, reader, format) in [(&older, &newer, 0x01), (&newer, &older, 0x02)] {
        let (wrapped, id) = writer.encrypt(&[6; 32]).unwrap();
        assert_eq!(wrapped[0], format);
        assert_eq!(*reader.decrypt(id, &wrapped, false).unwrap(), [6; 32]);
    }
}

#[test]
fn the_key_id_commits_to_the_material() {
    let root = fixture::root(1);
    let a = Keyring::load(&key_file(key(), vec![version(&root, key(), 1)]), &root).unwrap();
    // Same key id and version, new material (a key deleted and re-created
    // under a pinned id): a different key_id, and the old one is refused.
    let b = Keyring::load(&key_file(key(), vec![version(&root, key(), 1)]), &root).unwrap();
    assert_ne!(a.current_name(), b.current_name());
    let (ciphertext, id) = a.encrypt(&[1; 32]).unwrap();
    assert_eq!(
        b.decrypt(id, &ciphertext, false),
        Err(SeedError::UnknownMaterial(id.to_owned()))
    );
    assert_eq!(
        a.check_successor(&b).unwrap_err(),
        KeyringError::VersionChanged(1)
    );
    // The same material re-sealed under another root key version keeps its
    // key_id: re-sealing is not a rotation.
    let file = key_file(key(), vec![version(&root, key(), 1)]);
    let rotated_root = crate::root::FileRootKey::from_keys(vec![
        (1, vec![1u8; 32].into()),
        (2, vec![2u8; 32].into()),
    ])
    .unwrap();
    let mut resealed = file.clone();
    resealed.versions[0].sealed = seal::reseal(&rotated_root, &file.versions[0].sealed).unwrap();
    assert_ne!(resealed.versions[0].sealed, file.versions[0].sealed);
    assert_eq!(
        Keyring::load(&file, &root).unwrap().current_name(),
        Keyring::load(&resealed, &rotated_root)
            .unwrap()
            .current_name()
    );
}

#[test]
fn foreign_and_malformed_input_is_refused() {
    let root = fixture::root(1);
    let ring = Keyring::load(&key_file(key(), vec![version(&root, key(), 1)]), &root).unwrap();
    let other_key = KeyId::from_bytes([4; 16]);
    let other = Keyring::load(
        &key_file(other_key, vec![version(&root, other_key, 1)]),
        &root,
    )
    .unwrap();
    let (theirs, their_id) = other.encrypt(&[2; 32]).unwrap();
    assert!(matches!(
        ring.decrypt(their_id, &theirs, false),
        Err(SeedError::OtherKey(_, k, _)) if k == other_key
    ));
    let (ours, id) = ring.encrypt(&[2; 32]).unwrap();
    let id = id.to_owned();
    assert!(matches!(
        ring.decrypt("", &ours, false),
        Err(SeedError::NotOurs(_))
    ));
    assert!(matches!(
        ring.decrypt(&id.replace(":v1:", ":v2:"), &ours, false),
        Err(SeedError::UnknownMaterial(_))
    ));
    assert_eq!(ring.decrypt(&id, &ours, true), Err(SeedError::Annotations));
    // Their ciphertext under our key_id: the header names their key.
    assert_eq!(
        ring.decrypt(&id, &theirs, false),
        Err(SeedError::Mismatch(id.clone()))
    );
    for bad in [
        Vec::new(),
        vec![0u8; 3],
        ours[..ours.len() - 1].to_vec(),
        {
            let mut flipped = ours.clone();
            *flipped.last_mut().unwrap() ^= 1;
            flipped
        },
        [ours.as_slice(), &[0]].concat(),
    ] {
        assert_eq!(
            ring.decrypt(&id, &bad, false),
            Err(SeedError::Ciphertext),
            "{bad:?}"
        );
    }
    assert_eq!(ring.encrypt(&[]), Err(SeedError::SeedLength(0)));
    assert_eq!(
        ring.encrypt(&[0; MAX_SEED_LEN + 1]),
        Err(SeedError::SeedLength(MAX_SEED_LEN + 1))
    );
    let (max, _) = ring.encrypt(&[0; MAX_SEED_LEN]).unwrap();
    assert!(max.len() <= 1024);
    // A seed wrapped by the AWS endpoint's Encrypt (no context) is not a seed.
    let plain = crate::ciphertext::encrypt(
        &ring.versions[&1].key,
        CiphertextHeader {
            key_id: key(),
            material_version: 1,
        },
        &EncryptionContext::default(),
        &[5; 32],
    );
    assert_eq!(ring.decrypt(&id, &plain, false), Err(SeedError::Ciphertext));
}

#[test]
fn successors_must_keep_every_version() {
    let root = fixture::root(1);
    let v1 = version(&root, key(), 1);
    let v2 = version(&root, key(), 2);
    let both = Keyring::load(&key_file(key(), vec![v1.clone(), v2.clone()]), &root).unwrap();
    let only_v2 = Keyring::load(&key_file(key(), vec![v2]), &root).unwrap();
    assert_eq!(
        both.check_successor(&only_v2),
        Err(KeyringError::VersionDropped(1))
    );
    let other_key = KeyId::from_bytes([4; 16]);
    let other = Keyring::load(
        &key_file(other_key, vec![version(&root, other_key, 1)]),
        &root,
    )
    .unwrap();
    assert!(matches!(
        both.check_successor(&other),
        Err(KeyringError::OtherKey { .. })
    ));
    both.check_successor(&both).unwrap();
}

#[test]
fn material_sealed_under_another_root_key_does_not_load() {
    let file = key_file(key(), vec![version(&fixture::root(1), key(), 1)]);
    assert!(matches!(
        Keyring::load(&file, &fixture::root(2)),
        Err(KeyringError::Unseal(1, _))
    ));
}

#[test]
fn a_held_back_write_version_rolls_out_before_it_is_used() {
    let root = fixture::root(1);
    let v1 = version(&root, key(), 1);
    let v2 = version(&root, key(), 2);
    let old = Keyring::load(&key_file(key(), vec![v1.clone()]), &root).unwrap();
    // Phase 1: v2 is there to decrypt, v1 still wraps: the key_id stays.
    let mut held = key_file(key(), vec![v1.clone(), v2.clone()]);
    held.write_version = Some(1);
    let held = Keyring::load(&held, &root).unwrap();
    old.check_successor(&held).unwrap();
    assert_eq!(held.current_name(), old.current_name());
    // Phase 2: v2 wraps.
    let new = Keyring::load(&key_file(key(), vec![v1.clone(), v2.clone()]), &root).unwrap();
    held.check_successor(&new).unwrap();
    let (wrapped, id) = new.encrypt(&[1; 32]).unwrap();
    assert_eq!(*held.decrypt(id, &wrapped, false).unwrap(), [1; 32]);
    // Back to v1 would reuse v1's key_id after v2's: refused.
    let mut back = key_file(key(), vec![v1, v2]);
    back.write_version = Some(1);
    let back = Keyring::load(&back, &root).unwrap();
    assert_eq!(
        new.check_successor(&back),
        Err(KeyringError::WriteVersionBack { serving: 2, new: 1 })
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
    /// Whatever arrives, Decrypt answers with an error or the seed, and
    /// never with someone else's plaintext or a panic.
    #[test]
    fn decrypt_never_panics_on_arbitrary_input(
        key_id in proptest::prelude::any::<String>(),
        flip in 0usize..96,
        cut in 0usize..96,
        garbage in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
    ) {
        use std::sync::OnceLock;
        static RING: OnceLock<(Keyring, Vec<u8>, String)> = OnceLock::new();
        let (ring, good, id) = RING.get_or_init(|| {
            let root = fixture::root(1);
            let ring = Keyring::load(&key_file(key(), vec![version(&root, key(), 1)]), &root).unwrap();
            let (good, id) = ring.encrypt(&[4; 32]).unwrap();
            let id = id.to_owned();
            (ring, good, id)
        });
        let _ = ring.decrypt(&key_id, &garbage, false);
        let _ = ring.decrypt(id, &garbage, false);
        let mut flipped = good.clone();
        let at = flip % flipped.len();
        flipped[at] ^= 0x40;
        proptest::prop_assert!(ring.decrypt(id, &flipped, false).is_err());
        let truncated = &good[..cut.min(good.len() - 1)];
        proptest::prop_assert!(ring.decrypt(id, truncated, false).is_err());
    }
}
