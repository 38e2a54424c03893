//! Golden vectors for the binary formats (`docs/formats.md`). If one of these
//! fails, a format changed: every stored blob would stop working. Change a
//! format only by adding a new format byte, never by editing these vectors.

use std::collections::BTreeMap;

use kube_kms::ciphertext::{self, CiphertextHeader, EncryptionContext};
use kube_kms::key_id::KeyId;
use kube_kms::material::KeyMaterial;
use kube_kms::material::symmetric::SymmetricKey;
use kube_kms::root::{FileRootKey, RootKey};
use kube_kms::seal::{self, MaterialId, SealedMaterial};
use kube_kms::secret::SecretBytes;
use kube_kms::spec::{KeySpec, KeyUsage};

/// Reads `tests/vectors/formats.txt`: `name = value` lines, `#` comments.
fn vectors() -> BTreeMap<String, String> {
    include_str!("vectors/formats.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').expect("name = value");
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect()
}

fn hex(name: &str) -> Vec<u8> {
    let v = &vectors()[name];
    (0..v.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&v[i..i + 2], 16).unwrap())
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn array<const N: usize>(name: &str) -> [u8; N] {
    hex(name).try_into().unwrap()
}

fn root_key() -> FileRootKey {
    FileRootKey::from_keys([(3, SecretBytes::new(hex("root_key")))]).unwrap()
}

fn material_id() -> MaterialId {
    MaterialId {
        key_id: vectors()["key_id"].parse::<KeyId>().unwrap(),
        version: 2,
        spec: KeySpec::SymmetricDefault,
        usage: KeyUsage::EncryptDecrypt,
    }
}

fn context() -> EncryptionContext {
    [("purpose", "golden"), ("app", "kube-kms")]
        .into_iter()
        .collect()
}

#[test]
fn encryption_context_encoding_is_stable() {
    assert_eq!(
        to_hex(&context().canonical()),
        vectors()["context_canonical"]
    );
    assert_eq!(
        to_hex(&EncryptionContext::default().canonical()),
        "00000000"
    );
}

#[test]
fn sealed_material_format_1_is_stable() {
    let root = root_key();
    let material =
        KeyMaterial::from_bytes(KeySpec::SymmetricDefault, SecretBytes::new(hex("material")))
            .unwrap();
    let sealed =
        seal::seal_with_nonce(&root, material_id(), &material, &array("seal_nonce")).unwrap();
    assert_eq!(to_hex(sealed.as_bytes()), vectors()["sealed_material"]);

    let (id, unsealed) =
        seal::unseal(&root, &SealedMaterial::from_bytes(hex("sealed_material"))).unwrap();
    assert_eq!(id, material_id());
    assert_eq!(unsealed.expose(), hex("material").as_slice());
    assert_eq!(root.current_version(), 3);
}

fn golden_header() -> CiphertextHeader {
    CiphertextHeader {
        key_id: material_id().key_id,
        material_version: 2,
    }
}

/// Format 1 is no longer written; what was stays readable.
#[test]
fn ciphertext_format_1_is_stable() {
    let key = SymmetricKey::new(&hex("material")).unwrap();
    let golden = hex("ciphertext");
    assert_eq!(CiphertextHeader::parse(&golden).unwrap(), golden_header());
    let back = ciphertext::decrypt(&key, &golden, &context()).unwrap();
    assert_eq!(back.as_slice(), vectors()["plaintext"].as_bytes());
}

#[test]
fn ciphertext_format_2_is_stable() {
    let key = SymmetricKey::new(&hex("material")).unwrap();
    let plaintext = vectors()["plaintext"].clone();
    let blob = ciphertext::encrypt_with_salt(
        &key,
        golden_header(),
        &context(),
        plaintext.as_bytes(),
        &array("ciphertext_salt"),
    );
    assert_eq!(to_hex(&blob), vectors()["ciphertext_2"]);
    assert_eq!(blob.len(), plaintext.len() + ciphertext::OVERHEAD);

    let golden = hex("ciphertext_2");
    assert_eq!(CiphertextHeader::parse(&golden).unwrap(), golden_header());
    let back = ciphertext::decrypt(&key, &golden, &context()).unwrap();
    assert_eq!(back.as_slice(), plaintext.as_bytes());
    // What Encrypt writes now is format 2, and never twice the same.
    let fresh = ciphertext::encrypt(&key, golden_header(), &context(), plaintext.as_bytes());
    assert_eq!(fresh[0], ciphertext::FORMAT_V2);
    assert_ne!(
        fresh,
        ciphertext::encrypt(&key, golden_header(), &context(), plaintext.as_bytes())
    );
}

/// What kube-apiserver stores in etcd with every object the KMS v2 plugin
/// encrypted: the plugin's key_id and its wrapped seed. A later version
/// that named the same material differently, or could not unwrap this
/// seed, would leave every such object unreadable.
#[test]
fn kms_v2_plugin_key_id_and_wrapped_seed_format_1_are_stable() {
    use kube_kms::key::{MaterialVersion, RotationType};
    use kube_kms::plugin::key_file::{FORMAT, KIND, KeyFile};
    use kube_kms::plugin::keyring::Keyring;
    let file = KeyFile {
        kind: KIND.into(),
        format: FORMAT,
        key_id: material_id().key_id,
        exported: 0,
        source: None,
        versions: vec![MaterialVersion {
            version: 2,
            created: 0,
            rotation_type: RotationType::Initial,
            sealed: SealedMaterial::from_bytes(hex("sealed_material")),
        }],
        write_version: None,
    };
    let ring = Keyring::load(&file, &root_key()).unwrap();
    assert_eq!(ring.current_name(), vectors()["plugin_key_id"]);
    // Seeds wrapped since format 2 are ordinary format 2 ciphertexts under
    // this context; the older ones and these unwrap alike.
    let seed_context: EncryptionContext = [("kubekms.io/use", "kubernetes-kms-v2-seed")]
        .into_iter()
        .collect();
    let blob = ciphertext::encrypt_with_salt(
        &SymmetricKey::new(&hex("material")).unwrap(),
        golden_header(),
        &seed_context,
        &hex("plugin_seed"),
        &array("plugin_salt"),
    );
    assert_eq!(to_hex(&blob), vectors()["plugin_ciphertext_2"]);
    for wrapped in ["plugin_ciphertext", "plugin_ciphertext_2"] {
        let seed = ring
            .decrypt(&vectors()["plugin_key_id"], &hex(wrapped), false)
            .unwrap();
        assert_eq!(seed.as_slice(), hex("plugin_seed").as_slice(), "{wrapped}");
    }
}

/// The documented layouts, checked with another AES-GCM implementation: the
/// AAD and nonce positions in docs/formats.md are what the code does.
#[test]
fn documented_layouts_decrypt_with_an_independent_aes_gcm() {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let open = |key: &[u8], nonce: &[u8], aad: Vec<u8>, sealed: &[u8]| {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap());
        let mut buf = sealed.to_vec();
        let nonce = Nonce::try_assume_unique_for_key(nonce).unwrap();
        key.open_in_place(nonce, Aad::from(aad), &mut buf)
            .unwrap()
            .to_vec()
    };
    let sealed = hex("sealed_material");
    let mut aad = b"kube-kms/sealed-material/1\0".to_vec();
    aad.extend_from_slice(&sealed[..28]);
    assert_eq!(
        open(&hex("root_key"), &sealed[28..40], aad, &sealed[40..]),
        hex("material")
    );

    let blob = hex("ciphertext");
    let mut aad = b"kube-kms/ciphertext/1\0".to_vec();
    aad.extend_from_slice(&blob[..21]);
    aad.extend_from_slice(&hex("context_canonical"));
    assert_eq!(
        open(&hex("material"), &blob[21..33], aad, &blob[33..]),
        vectors()["plaintext"].as_bytes()
    );

    // Format 2: the message key by SP 800-108 (counter mode, HMAC-SHA256
    // from RustCrypto's crates rather than AWS-LC), an all-zero nonce.
    use hmac::Mac;
    let blob = hex("ciphertext_2");
    let mut kdf = hmac::Hmac::<sha2::Sha256>::new_from_slice(&hex("material")).unwrap();
    kdf.update(&1u32.to_be_bytes());
    kdf.update(b"kube-kms/ciphertext/2\0");
    kdf.update(&blob[..53]);
    kdf.update(&256u32.to_be_bytes());
    let message_key = kdf.finalize().into_bytes();
    let mut aad = b"kube-kms/ciphertext/2\0".to_vec();
    aad.extend_from_slice(&blob[..53]);
    aad.extend_from_slice(&hex("context_canonical"));
    assert_eq!(
        open(&message_key, &[0; 12], aad, &blob[53..]),
        vectors()["plaintext"].as_bytes()
    );
}

/// Replication messages travel between deployments that may run different
/// versions: one made today must be read by every later one.
#[test]
fn replication_messages_format_1_are_stable() {
    use kube_kms::replica::{self, Peers, identity, offer, package};
    let root = root_key();
    let key_id: KeyId = vectors()["mrk_key_id"].parse().unwrap();
    let id = MaterialId {
        key_id,
        ..material_id()
    };
    let valid_to: i64 = vectors()["offer_valid_to"].parse().unwrap();
    let secret = |name: &str| replica::one_time::OneTimeKey::from_scalar(&hex(name)).unwrap();
    let (_, me) = replica::identities(&root).unwrap()[0];
    let (made_offer, made_token) = offer::make_with(
        &root,
        key_id,
        valid_to,
        &secret("offer_secret"),
        &array("token_nonce"),
    )
    .unwrap();
    let offer_body = &made_offer[..offer::BODY_LEN];
    let material =
        KeyMaterial::from_bytes(KeySpec::SymmetricDefault, SecretBytes::new(hex("material")))
            .unwrap();
    let body = package::make_with(
        id,
        &material,
        &offer::Offer::parse(offer_body).unwrap(),
        &secret("package_secret"),
        &array("package_nonce"),
    )
    .unwrap();
    let made_package = identity::sign(&root, package::SIGN_LABEL, &body).unwrap();
    let made = [
        ("identity", me.to_string()),
        ("replica_offer", to_hex(&made_offer)),
        ("replica_offer_token", to_hex(&made_token)),
        ("replica_package", to_hex(&made_package)),
    ];
    let missing: Vec<String> = made
        .iter()
        .filter(|(name, _)| !vectors().contains_key(*name))
        .map(|(name, value)| format!("{name} = {value}"))
        .collect();
    assert!(
        missing.is_empty(),
        "vectors to add:\n{}",
        missing.join("\n")
    );
    for (name, value) in &made {
        assert_eq!(value, &vectors()[*name], "{name}");
    }
    // The stored vectors are accepted as they are, whatever made them.
    let peers = Peers::new([("self".to_owned(), me)]);
    let accepted = replica::accept(
        &root,
        &peers,
        &hex("replica_offer_token"),
        &hex("replica_package"),
        1_800_000_000_000,
    )
    .unwrap();
    let (opened_id, opened) = seal::unseal(&root, &accepted.sealed).unwrap();
    assert_eq!((opened_id, opened.expose()), (id, &hex("material")[..]));
}
