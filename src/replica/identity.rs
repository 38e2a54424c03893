//! A crypto service's identity: an Ed25519 key pair per root key version,
//! derived from the root key itself (a keyed one-way function computed by
//! the root key source, so PKCS#11 root keys have one too), and the peers
//! whose identities it trusts. Signs and checks what crypto services send
//! each other to move a multi-Region key's material.

use std::collections::BTreeMap;
use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::crypto::CryptoError;
use crate::material::symmetric::NONCE_LEN;
use crate::root::RootKey;

const SEED_LABEL: &[u8] = b"kube-kms/identity/1\0";
/// The nonce of the one encryption each root key version does for its
/// identity. Seals use random nonces; meeting this one is a 2^-96 chance.
const SEED_NONCE: [u8; NONCE_LEN] = [0xff; NONCE_LEN];
pub const PUBLIC_LEN: usize = 32;
const SIGNATURE_LEN: usize = 64;
/// Signatures a signed message may carry: one per root key version held.
const MAX_SIGNATURES: usize = 8;

/// The public half of an identity, written as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicIdentity([u8; PUBLIC_LEN]);

impl PublicIdentity {
    pub fn as_bytes(&self) -> &[u8; PUBLIC_LEN] {
        &self.0
    }
}

impl fmt::Display for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicIdentity({self})")
    }
}

impl std::str::FromStr for PublicIdentity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bytes: [u8; PUBLIC_LEN] = hex::decode(s.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| format!("'{s}' is not an identity (64 hex digits)"))?;
        VerifyingKey::from_bytes(&bytes)
            .map_err(|_| format!("'{s}' is not an Ed25519 public key"))?;
        Ok(PublicIdentity(bytes))
    }
}

/// The identity of root key `version`: its signing key.
fn signing_key(root: &dyn RootKey, version: u32) -> Result<SigningKey, CryptoError> {
    // AES-GCM of zeros under a fixed nonce is the keystream: a PRF of the
    // root key that never leaves this function.
    let stream = Zeroizing::new(root.seal(version, &SEED_NONCE, SEED_LABEL, &[0u8; 32])?);
    let mut seed = Zeroizing::new([0u8; 32]);
    seed.copy_from_slice(
        &Sha256::new()
            .chain_update(SEED_LABEL)
            .chain_update(&*stream)
            .finalize(),
    );
    Ok(SigningKey::from_bytes(&seed))
}

/// The public identity of each root key version `root` holds, ascending.
pub fn identities(root: &dyn RootKey) -> Result<Vec<(u32, PublicIdentity)>, CryptoError> {
    root.versions()
        .into_iter()
        .map(|v| {
            Ok((
                v,
                PublicIdentity(signing_key(root, v)?.verifying_key().to_bytes()),
            ))
        })
        .collect()
}

/// `body` followed by a signature over `label ‖ body` by every root key
/// version's identity: count (1 byte), then (public key ‖ signature) each.
pub fn sign(root: &dyn RootKey, label: &[u8], body: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let versions = root.versions();
    // The newest versions: a source holds one or two in practice.
    let versions = &versions[versions.len().saturating_sub(MAX_SIGNATURES)..];
    let mut message = label.to_vec();
    message.extend_from_slice(body);
    let mut out = body.to_vec();
    out.push(versions.len() as u8);
    for &version in versions {
        let key = signing_key(root, version)?;
        out.extend_from_slice(&key.verifying_key().to_bytes());
        out.extend_from_slice(&key.sign(&message).to_bytes());
    }
    Ok(out)
}

/// The identities a crypto service trusts to send and receive a
/// multi-Region key's material, by name (the Region, or any label the
/// configuration gives).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peers(BTreeMap<PublicIdentity, String>);

impl Peers {
    pub fn new(peers: impl IntoIterator<Item = (String, PublicIdentity)>) -> Self {
        Peers(peers.into_iter().map(|(name, id)| (id, name)).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Splits a signed message into its body and the name of the peer that
    /// signed it, or refuses it: too short, unsigned, or signed by no peer.
    pub fn verify<'m>(
        &self,
        label: &[u8],
        signed: &'m [u8],
        body_len: impl Fn(&[u8]) -> Option<usize>,
    ) -> Result<(&'m [u8], &str), CryptoError> {
        let malformed = || refused("the message is malformed");
        let len = body_len(signed).ok_or_else(malformed)?;
        let (body, signatures) = signed.split_at_checked(len).ok_or_else(malformed)?;
        let (&count, entries) = signatures.split_first().ok_or_else(malformed)?;
        let entry = PUBLIC_LEN + SIGNATURE_LEN;
        if count == 0 || entries.len() != count as usize * entry {
            return Err(malformed());
        }
        let mut message = label.to_vec();
        message.extend_from_slice(body);
        for entry in entries.chunks_exact(entry) {
            let (public, signature) = entry.split_at(PUBLIC_LEN);
            let public = PublicIdentity(public.try_into().expect("split at PUBLIC_LEN"));
            let Some(name) = self.0.get(&public) else {
                continue;
            };
            let key = VerifyingKey::from_bytes(public.as_bytes()).map_err(|_| malformed())?;
            let signature = Signature::from_slice(signature).map_err(|_| malformed())?;
            return match key.verify_strict(&message, &signature) {
                Ok(()) => Ok((body, name)),
                Err(_) => Err(refused("its signature does not verify")),
            };
        }
        Err(refused(
            "it is not signed by a crypto service this one trusts (its peers)",
        ))
    }
}

/// Why a replication message was refused.
pub fn refused(why: &str) -> CryptoError {
    CryptoError::ReplicationRefused(format!("The replication message was refused: {why}."))
}
