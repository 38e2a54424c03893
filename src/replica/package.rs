//! The package: one material version of a multi-Region key, encrypted by
//! the sending crypto service to an offer and signed with its identity.
//!
//! Package body (format 0xC3; then the signatures of `identity::sign`):
//!
//! | offset | length | field                                          |
//! |--------|--------|------------------------------------------------|
//! | 0      | 1      | format = 0xC3                                  |
//! | 1      | 4      | length n of the encrypted material, tag included |
//! | 5      | 16     | key id                                         |
//! | 21     | 4      | material version                               |
//! | 25     | 2      | key spec code                                  |
//! | 27     | 1      | key usage code                                 |
//! | 28     | 32     | SHA-256 of the offer body it answers           |
//! | 60     | 65     | the sender's one-time P-256 public key          |
//! | 125    | 12     | nonce                                          |
//! | 137    | n      | AES-256-GCM of the material encoding, and tag  |
//!
//! The AES key is HKDF-SHA256 of the ECDH secret between the two one-time
//! keys, salted with the offer's digest, with both public keys in its
//! info; the associated data is the label and bytes 0..137.

use aws_lc_rs::hkdf;

use super::identity::refused;
use super::offer::{Offer, POINT_LEN};
use super::one_time::OneTimeKey;
use crate::crypto::CryptoError;
use crate::key_id::KeyId;
use crate::material::KeyMaterial;
use crate::material::symmetric::{KEY_LEN, NONCE_LEN, SymmetricKey, TAG_LEN, random_nonce};
use crate::seal::MaterialId;
use crate::secret::SecretBytes;
use crate::spec::{KeySpec, KeyUsage};

pub const FORMAT: u8 = 0xC3;
const HEADER_LEN: usize = 137;
pub const SIGN_LABEL: &[u8] = b"kube-kms/replica-package/1\0";
const AEAD_LABEL: &[u8] = b"kube-kms/replica-material/1\0";
/// Larger than any material encoding (an RSA-4096 PKCS#8 key is ~2.4 KB).
const MAX_SEALED: usize = 16 * 1024;

/// The length of a package's body, for `Peers::verify`.
pub fn body_len(signed: &[u8]) -> Option<usize> {
    if signed.len() < 5 || signed[0] != FORMAT {
        return None;
    }
    let n = u32::from_be_bytes(signed[1..5].try_into().expect("4 bytes")) as usize;
    (TAG_LEN..=MAX_SEALED)
        .contains(&n)
        .then_some(HEADER_LEN + n)
}

fn wrapping_key(
    shared: &[u8; 32],
    offer_digest: &[u8; 32],
    sender: &[u8],
    receiver: &[u8],
) -> SymmetricKey {
    let mut info = AEAD_LABEL.to_vec();
    info.extend_from_slice(sender);
    info.extend_from_slice(receiver);
    let mut key = zeroize::Zeroizing::new([0u8; KEY_LEN]);
    // HKDF-SHA256 through AWS-LC, which wipes the pseudorandom key and the
    // HMAC states keyed with it (RustCrypto's `hkdf` 0.12 leaves them).
    hkdf::Salt::new(hkdf::HKDF_SHA256, offer_digest)
        .extract(shared)
        .expand(&[&info], hkdf::HKDF_SHA256)
        .and_then(|okm| okm.fill(key.as_mut_slice()))
        .expect("32 bytes is a valid HKDF-SHA256 length");
    SymmetricKey::new(key.as_slice()).expect("32-byte key")
}

/// The body of a package of `material` (version `id`) for `offer`.
pub fn make(id: MaterialId, material: &KeyMaterial, offer: &Offer) -> Result<Vec<u8>, CryptoError> {
    make_with(id, material, offer, &OneTimeKey::random()?, &random_nonce())
}

/// As [`make`] with a given one-time key and nonce: for golden vectors only.
pub fn make_with(
    id: MaterialId,
    material: &KeyMaterial,
    offer: &Offer,
    secret: &OneTimeKey,
    nonce: &[u8; NONCE_LEN],
) -> Result<Vec<u8>, CryptoError> {
    let shared = secret
        .agree(&offer.public_key)
        .ok_or_else(|| refused("the offer's public key is not a P-256 point"))?;
    let sender = secret.public_point()?;
    let key = wrapping_key(&shared, &offer.digest, &sender, &offer.public_key);
    let nonce = *nonce;
    let sealed_len = (material.expose().len() + TAG_LEN) as u32;
    let mut body = Vec::with_capacity(HEADER_LEN + sealed_len as usize);
    body.push(FORMAT);
    body.extend_from_slice(&sealed_len.to_be_bytes());
    body.extend_from_slice(id.key_id.as_bytes());
    body.extend_from_slice(&id.version.to_be_bytes());
    body.extend_from_slice(&id.spec.code().to_be_bytes());
    body.push(id.usage.code() as u8);
    body.extend_from_slice(&offer.digest);
    body.extend_from_slice(&sender);
    body.extend_from_slice(&nonce);
    let mut aad = AEAD_LABEL.to_vec();
    aad.extend_from_slice(&body);
    key.seal_append(&nonce, &aad, material.expose(), &mut body);
    Ok(body)
}

/// What a package holds, before it is opened.
pub struct Package<'a> {
    pub id: MaterialId,
    pub offer_digest: [u8; 32],
    sender: &'a [u8],
    nonce: [u8; NONCE_LEN],
    header: &'a [u8],
    sealed: &'a [u8],
}

impl<'a> Package<'a> {
    /// Reads a body `body_len` measured.
    pub fn parse(body: &'a [u8]) -> Result<Self, CryptoError> {
        let malformed = || refused("the package is malformed");
        if body_len(body) != Some(body.len()) {
            return Err(malformed());
        }
        let spec =
            KeySpec::from_code(u16::from_be_bytes([body[25], body[26]])).ok_or_else(malformed)?;
        let usage = KeyUsage::from_code(body[27].into()).ok_or_else(malformed)?;
        Ok(Package {
            id: MaterialId {
                key_id: KeyId::from_bytes(body[5..21].try_into().expect("16 bytes")),
                version: u32::from_be_bytes(body[21..25].try_into().expect("4 bytes")),
                spec,
                usage,
            },
            offer_digest: body[28..60].try_into().expect("32 bytes"),
            sender: &body[60..125],
            nonce: body[125..137].try_into().expect("12 bytes"),
            header: &body[..HEADER_LEN],
            sealed: &body[HEADER_LEN..],
        })
    }

    /// The material, with the offer's private key and public key.
    pub fn open(
        &self,
        secret: &OneTimeKey,
        receiver: &[u8; POINT_LEN],
    ) -> Result<KeyMaterial, CryptoError> {
        let shared = secret
            .agree(self.sender)
            .ok_or_else(|| refused("the package's public key is not a P-256 point"))?;
        let key = wrapping_key(&shared, &self.offer_digest, self.sender, receiver);
        let mut aad = AEAD_LABEL.to_vec();
        aad.extend_from_slice(self.header);
        let bytes: SecretBytes = key
            .open(&self.nonce, &aad, self.sealed)
            .ok_or_else(|| refused("the package does not open with this offer"))?;
        KeyMaterial::from_bytes(self.id.spec, bytes)
            .map_err(|_| refused("the package's material does not parse for its key spec"))
    }
}
