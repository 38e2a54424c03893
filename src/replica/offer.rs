//! The offer: the receiving crypto service's one-time P-256 key for one
//! multi-Region key's material, signed with its identity. Its private half
//! stays sealed under the receiver's root key in the offer token.
//!
//! Offer body (format 0xC1, 90 bytes; then the signatures of
//! `identity::sign`):
//!
//! | offset | length | field                                    |
//! |--------|--------|------------------------------------------|
//! | 0      | 1      | format = 0xC1                            |
//! | 1      | 16     | key id the material is for               |
//! | 17     | 8      | valid until, ms since the epoch (signed) |
//! | 25     | 65     | P-256 public key, SEC1 uncompressed      |
//!
//! Offer token (format 0xC2): header bytes 0..61 (format, root key
//! version (4), key id (16), valid until (8), SHA-256 of the offer body
//! (32)), then the root-key-sealed 32-byte private scalar as every sealed
//! blob is framed (`root::seal_framed`).

use sha2::{Digest, Sha256};

use super::identity::{self, refused};
use super::one_time::OneTimeKey;
use crate::crypto::CryptoError;
use crate::key::Millis;
use crate::key_id::KeyId;
use crate::material::symmetric::{NONCE_LEN, TAG_LEN, random_nonce};
use crate::root::{RootKey, open_framed, seal_framed};
use crate::secret::SecretBytes;

pub const OFFER_FORMAT: u8 = 0xC1;
pub const TOKEN_FORMAT: u8 = 0xC2;
pub const BODY_LEN: usize = 90;
pub const POINT_LEN: usize = 65;
const TOKEN_HEADER_LEN: usize = 61;
pub const SIGN_LABEL: &[u8] = b"kube-kms/replica-offer/1\0";
const TOKEN_LABEL: &[u8] = b"kube-kms/replica-offer-token/1\0";

/// What an offer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub key_id: KeyId,
    pub valid_to: Millis,
    pub public_key: [u8; POINT_LEN],
    /// SHA-256 of the body: what a package and the token are bound to.
    pub digest: [u8; 32],
}

impl Offer {
    fn encode(key_id: KeyId, valid_to: Millis, public_key: &[u8; POINT_LEN]) -> Vec<u8> {
        let mut body = Vec::with_capacity(BODY_LEN);
        body.push(OFFER_FORMAT);
        body.extend_from_slice(key_id.as_bytes());
        body.extend_from_slice(&valid_to.to_be_bytes());
        body.extend_from_slice(public_key);
        body
    }

    pub fn parse(body: &[u8]) -> Result<Self, CryptoError> {
        if body.len() != BODY_LEN || body[0] != OFFER_FORMAT {
            return Err(refused("the offer is malformed"));
        }
        Ok(Offer {
            key_id: KeyId::from_bytes(body[1..17].try_into().expect("16 bytes")),
            valid_to: Millis::from_be_bytes(body[17..25].try_into().expect("8 bytes")),
            public_key: body[25..].try_into().expect("65 bytes"),
            digest: Sha256::digest(body).into(),
        })
    }
}

/// The length of an offer's body, for `Peers::verify`.
pub fn body_len(signed: &[u8]) -> Option<usize> {
    (signed.first() == Some(&OFFER_FORMAT)).then_some(BODY_LEN)
}

/// A new offer for `key_id`'s material until `valid_to`: the signed offer
/// and its sealed token.
pub fn make(
    root: &dyn RootKey,
    key_id: KeyId,
    valid_to: Millis,
) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    make_with(
        root,
        key_id,
        valid_to,
        &OneTimeKey::random()?,
        &random_nonce(),
    )
}

/// As [`make`] with a given one-time key and token nonce: for golden
/// vectors only.
pub fn make_with(
    root: &dyn RootKey,
    key_id: KeyId,
    valid_to: Millis,
    secret: &OneTimeKey,
    nonce: &[u8; NONCE_LEN],
) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    let public = secret.public_point()?;
    let body = Offer::encode(key_id, valid_to, &public);
    let digest: [u8; 32] = Sha256::digest(&body).into();
    let version = root.current_version();
    let mut header = Vec::with_capacity(TOKEN_HEADER_LEN);
    header.push(TOKEN_FORMAT);
    header.extend_from_slice(&version.to_be_bytes());
    header.extend_from_slice(key_id.as_bytes());
    header.extend_from_slice(&valid_to.to_be_bytes());
    header.extend_from_slice(&digest);
    let scalar = secret.scalar()?;
    let token = seal_framed(root, version, TOKEN_LABEL, &header, nonce, &scalar)?;
    Ok((identity::sign(root, SIGN_LABEL, &body)?, token))
}

/// What an opened token holds.
pub struct Opened {
    pub key_id: KeyId,
    pub valid_to: Millis,
    pub offer_digest: [u8; 32],
    pub secret: OneTimeKey,
}

/// Authenticates a token this root key sealed and returns its contents.
pub fn open_token(root: &dyn RootKey, token: &[u8]) -> Result<Opened, CryptoError> {
    if token.len() < TOKEN_HEADER_LEN + NONCE_LEN + TAG_LEN || token[0] != TOKEN_FORMAT {
        return Err(refused("the offer token is malformed"));
    }
    let version = u32::from_be_bytes(token[1..5].try_into().expect("4 bytes"));
    let scalar: SecretBytes = open_framed(root, version, TOKEN_LABEL, TOKEN_HEADER_LEN, token)
        .map_err(|e| match e {
            CryptoError::UnknownRootKey(_) | CryptoError::SealedMaterialInvalid(_) => {
                refused("the offer token was not made by this crypto service, or was altered")
            }
            other => other,
        })?;
    let secret = OneTimeKey::from_scalar(&scalar)
        .ok_or_else(|| refused("the offer token holds no P-256 key"))?;
    Ok(Opened {
        key_id: KeyId::from_bytes(token[5..21].try_into().expect("16 bytes")),
        valid_to: Millis::from_be_bytes(token[21..29].try_into().expect("8 bytes")),
        offer_digest: token[29..61].try_into().expect("32 bytes"),
        secret,
    })
}
