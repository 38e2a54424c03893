//! Two crypto services with their own root keys, moving material between
//! them; and every way a message can be refused.

use std::sync::Arc;

use super::*;
use crate::material::{KeyMaterial, random_bytes};
use crate::root::FileRootKey;
use crate::seal::MaterialId;
use crate::secret::SecretBytes;
use crate::spec::{KeySpec, KeyUsage};

const NOW: Millis = 1_800_000_000_000;

fn root(versions: &[u32]) -> Arc<FileRootKey> {
    Arc::new(FileRootKey::from_keys(versions.iter().map(|v| (*v, random_bytes(32)))).unwrap())
}

/// A deployment: its root key, and the peers it trusts.
struct Side {
    root: Arc<FileRootKey>,
    peers: Peers,
}

fn trusting(root: Arc<FileRootKey>, names: &[(&str, &FileRootKey)]) -> Side {
    let peers = Peers::new(names.iter().flat_map(|(name, other)| {
        identities(*other)
            .unwrap()
            .into_iter()
            .map(|(_, id)| (name.to_string(), id))
    }));
    Side { root, peers }
}

/// A primary in us-east-1 and a replica Region in eu-west-1, each trusting
/// the other.
fn pair() -> (Side, Side) {
    let (east, west) = (root(&[1]), root(&[1]));
    let east_side = trusting(east.clone(), &[("eu-west-1", &west)]);
    let west_side = trusting(west, &[("us-east-1", &east)]);
    (east_side, west_side)
}

fn material_id(key_id: KeyId, version: u32, spec: KeySpec, usage: KeyUsage) -> MaterialId {
    MaterialId {
        key_id,
        version,
        spec,
        usage,
    }
}

fn sealed(side: &Side, id: MaterialId) -> (SealedMaterial, Vec<u8>) {
    let material = KeyMaterial::generate(id.spec).unwrap();
    let bytes = material.expose().to_vec();
    (seal::seal(&*side.root, id, &material).unwrap(), bytes)
}

/// A new multi-Region symmetric key's first version, sealed on `side`.
fn symmetric_primary(side: &Side) -> (KeyId, MaterialId, SealedMaterial) {
    let key_id = KeyId::random_multi_region();
    let id = material_id(
        key_id,
        1,
        KeySpec::SymmetricDefault,
        KeyUsage::EncryptDecrypt,
    );
    (key_id, id, sealed(side, id).0)
}

fn replicate(
    from: &Side,
    to: &Side,
    sealed: &SealedMaterial,
    key_id: KeyId,
) -> Result<Accepted, CryptoError> {
    let offer = make_offer(&*to.root, key_id, NOW)?;
    let packaged = package(&*from.root, &from.peers, sealed, &offer.offer, NOW)?;
    accept(&*to.root, &to.peers, &offer.token, &packaged, NOW + 1000)
}

fn refusal(result: Result<impl std::fmt::Debug, CryptoError>) -> String {
    match result {
        Err(CryptoError::ReplicationRefused(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn material_crosses_to_the_other_root_key_unchanged() {
    let (east, west) = pair();
    let key_id = KeyId::random_multi_region();
    for (version, spec, usage) in [
        (1, KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt),
        (7, KeySpec::Hmac384, KeyUsage::GenerateVerifyMac),
        (1, KeySpec::EccNistP256, KeyUsage::SignVerify),
        (2, KeySpec::Rsa2048, KeyUsage::EncryptDecrypt),
        (1, KeySpec::MlDsa44, KeyUsage::SignVerify),
    ] {
        let id = material_id(key_id, version, spec, usage);
        let (primary, bytes) = sealed(&east, id);
        let accepted = replicate(&east, &west, &primary, key_id).unwrap();
        assert_eq!(accepted.peer, "us-east-1");
        // Sealed under the replica's root key, as the same key and version,
        // holding the same material; the primary's root key cannot open it.
        let (got_id, got) = seal::unseal(&*west.root, &accepted.sealed).unwrap();
        assert_eq!(got_id, id);
        assert_eq!(got.expose(), &bytes[..]);
        assert!(seal::unseal(&*east.root, &accepted.sealed).is_err());
    }
}

#[test]
fn only_multi_region_keys_and_the_offered_key_cross() {
    let (east, west) = pair();
    let single = KeyId::random();
    let message = refusal(make_offer(&*west.root, single, NOW));
    assert!(message.contains("not a multi-Region key"), "{message}");
    // An offer for one key does not take another's material.
    let (mrk, other) = (KeyId::random_multi_region(), KeyId::random_multi_region());
    let offer = make_offer(&*west.root, mrk, NOW).unwrap();
    let spec = (KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
    let (theirs, _) = sealed(&east, material_id(other, 1, spec.0, spec.1));
    let message = refusal(package(
        &*east.root,
        &east.peers,
        &theirs,
        &offer.offer,
        NOW,
    ));
    assert!(message.contains("the offer is for key"), "{message}");
    // Nor a single-Region key's, whatever the offer names.
    let (single_sealed, _) = sealed(&east, material_id(single, 1, spec.0, spec.1));
    let message = refusal(package(
        &*east.root,
        &east.peers,
        &single_sealed,
        &offer.offer,
        NOW,
    ));
    assert!(message.contains("not a multi-Region key"), "{message}");
}

#[test]
fn only_peers_may_ask_or_supply() {
    let (east, west) = pair();
    let (key_id, id, primary) = symmetric_primary(&east);
    // A stranger's offer gets nothing.
    let stranger = trusting(root(&[1]), &[("us-east-1", &*east.root)]);
    let offer = make_offer(&*stranger.root, key_id, NOW).unwrap();
    let message = refusal(package(
        &*east.root,
        &east.peers,
        &primary,
        &offer.offer,
        NOW,
    ));
    assert!(
        message.contains("not signed by a crypto service this one trusts"),
        "{message}"
    );
    // A stranger cannot supply material either: it would choose the key
    // the replica encrypts under.
    let offer = make_offer(&*west.root, key_id, NOW).unwrap();
    let (forged, _) = sealed(&stranger, id);
    let stranger_as_sender = trusting(stranger.root.clone(), &[("eu-west-1", &*west.root)]);
    let packaged = package(
        &*stranger_as_sender.root,
        &stranger_as_sender.peers,
        &forged,
        &offer.offer,
        NOW,
    )
    .unwrap();
    let message = refusal(accept(
        &*west.root,
        &west.peers,
        &offer.token,
        &packaged,
        NOW,
    ));
    assert!(
        message.contains("not signed by a crypto service this one trusts"),
        "{message}"
    );
    // A service with no peers configured says so.
    let alone = Side {
        root: east.root.clone(),
        peers: Peers::default(),
    };
    let message = refusal(package(
        &*alone.root,
        &alone.peers,
        &primary,
        &offer.offer,
        NOW,
    ));
    assert!(message.contains("trusts no peers"), "{message}");
}

#[test]
fn any_altered_byte_is_refused() {
    let (east, west) = pair();
    let (key_id, _, primary) = symmetric_primary(&east);
    let offer = make_offer(&*west.root, key_id, NOW).unwrap();
    for i in 0..offer.offer.len() {
        let mut altered = offer.offer.clone();
        altered[i] ^= 0x01;
        refusal(package(&*east.root, &east.peers, &primary, &altered, NOW));
    }
    let packaged = package(&*east.root, &east.peers, &primary, &offer.offer, NOW).unwrap();
    for i in 0..packaged.len() {
        let mut altered = packaged.clone();
        altered[i] ^= 0x01;
        refusal(accept(
            &*west.root,
            &west.peers,
            &offer.token,
            &altered,
            NOW,
        ));
    }
    for i in 0..offer.token.len() {
        let mut altered = offer.token.clone();
        altered[i] ^= 0x01;
        refusal(accept(&*west.root, &west.peers, &altered, &packaged, NOW));
    }
    for cut in [0, 1, packaged.len() / 2, packaged.len() - 1] {
        refusal(accept(
            &*west.root,
            &west.peers,
            &offer.token,
            &packaged[..cut],
            NOW,
        ));
    }
    let mut longer = packaged.clone();
    longer.push(0);
    refusal(accept(&*west.root, &west.peers, &offer.token, &longer, NOW));
    // Unaltered, it is accepted.
    accept(&*west.root, &west.peers, &offer.token, &packaged, NOW).unwrap();
}

#[test]
fn a_package_opens_only_with_its_own_offer_and_in_time() {
    let (east, west) = pair();
    let (key_id, _, primary) = symmetric_primary(&east);
    let first = make_offer(&*west.root, key_id, NOW).unwrap();
    let second = make_offer(&*west.root, key_id, NOW).unwrap();
    let packaged = package(&*east.root, &east.peers, &primary, &first.offer, NOW).unwrap();
    let message = refusal(accept(
        &*west.root,
        &west.peers,
        &second.token,
        &packaged,
        NOW,
    ));
    assert!(message.contains("answers another offer"), "{message}");
    // Another deployment's token (sealed under its root key) is not this one's.
    let elsewhere = trusting(root(&[1]), &[("us-east-1", &*east.root)]);
    let message = refusal(accept(
        &*elsewhere.root,
        &elsewhere.peers,
        &first.token,
        &packaged,
        NOW,
    ));
    assert!(
        message.contains("not made by this crypto service"),
        "{message}"
    );
    // Expired: the offer when packaged, the token when accepted.
    let late = NOW + OFFER_LIFETIME_MS + 1;
    let message = refusal(super::package(
        &*east.root,
        &east.peers,
        &primary,
        &first.offer,
        late,
    ));
    assert!(message.contains("expired"), "{message}");
    let message = refusal(accept(
        &*west.root,
        &west.peers,
        &first.token,
        &packaged,
        late,
    ));
    assert!(message.contains("expired"), "{message}");
    accept(&*west.root, &west.peers, &first.token, &packaged, late - 1).unwrap();
}

#[test]
fn identities_follow_root_key_versions_and_survive_rotation() {
    let old = random_bytes(32);
    let new = random_bytes(32);
    let keys = |versions: &[(u32, &SecretBytes)]| {
        FileRootKey::from_keys(versions.iter().map(|(v, k)| (*v, (*k).clone()))).unwrap()
    };
    let before = keys(&[(1, &old)]);
    let during = keys(&[(1, &old), (2, &new)]);
    let after = keys(&[(2, &new)]);
    let ids = |root: &FileRootKey| identities(root).unwrap();
    // Derived, not random: the same root key version is the same identity.
    assert_eq!(ids(&before), ids(&keys(&[(1, &old)])));
    assert_eq!(ids(&during)[0], ids(&before)[0]);
    assert_eq!(ids(&during)[1], ids(&after)[0]);
    assert_ne!(ids(&before)[0].1, ids(&after)[0].1);
    // A peer trusting only the old identity still accepts what a service
    // holding both versions signs; once the old version is gone, it must
    // trust the new one.
    let primary_root = root(&[1]);
    let trusts_old = trusting(primary_root.clone(), &[("replica", &before)]);
    let key_id = KeyId::random_multi_region();
    let id = material_id(
        key_id,
        1,
        KeySpec::SymmetricDefault,
        KeyUsage::EncryptDecrypt,
    );
    let (sealed_primary, _) = sealed(&trusts_old, id);
    let offer = make_offer(&during, key_id, NOW).unwrap();
    package(
        &*trusts_old.root,
        &trusts_old.peers,
        &sealed_primary,
        &offer.offer,
        NOW,
    )
    .unwrap();
    let offer = make_offer(&after, key_id, NOW).unwrap();
    refusal(package(
        &*trusts_old.root,
        &trusts_old.peers,
        &sealed_primary,
        &offer.offer,
        NOW,
    ));
}

#[test]
fn identities_are_written_as_hex_and_read_back() {
    let (id, written) = {
        let (_, id) = identities(&*root(&[3])).unwrap()[0];
        (id, id.to_string())
    };
    assert_eq!(written.len(), 64);
    assert_eq!(written.parse::<PublicIdentity>().unwrap(), id);
    assert!("00".parse::<PublicIdentity>().is_err());
    assert!("zz".repeat(32).parse::<PublicIdentity>().is_err());
}
