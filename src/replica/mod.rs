//! Moving a multi-Region key's material from one deployment's crypto
//! service to another's (docs/multi-region.md): the receiver makes an
//! offer, the sender a package for it, the receiver accepts it. Runs inside
//! crypto services only; what passes between them may be logged.

pub mod identity;
pub mod offer;
pub mod one_time;
pub mod package;
pub mod peers_file;

pub use identity::{Peers, PublicIdentity, identities};

use identity::refused;
use offer::Offer;
use package::Package;

use crate::crypto::CryptoError;
use crate::key::{DAY_MS, Millis};
use crate::key_id::KeyId;
use crate::root::RootKey;
use crate::seal::{self, SealedMaterial};

/// How long an offer can be answered and its package accepted.
pub const OFFER_LIFETIME_MS: Millis = DAY_MS;

/// An offer, to send to the primary's crypto service, and its token, to
/// keep until the package comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaOffer {
    pub offer: Vec<u8>,
    pub token: Vec<u8>,
}

/// Material accepted from a peer, sealed under this root key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub sealed: SealedMaterial,
    /// The name of the peer that sent it.
    pub peer: String,
}

fn multi_region_only(key_id: KeyId) -> Result<(), CryptoError> {
    match key_id.is_multi_region() {
        true => Ok(()),
        false => Err(refused(&format!(
            "{key_id} is not a multi-Region key; no other key's material leaves its crypto service"
        ))),
    }
}

fn check_peers(peers: &Peers) -> Result<(), CryptoError> {
    match peers.is_empty() {
        true => Err(refused(
            "this crypto service trusts no peers (its configuration lists none)",
        )),
        false => Ok(()),
    }
}

/// Step 1, on the receiving side: an offer for `key_id`'s material.
pub fn make_offer(
    root: &dyn RootKey,
    key_id: KeyId,
    now: Millis,
) -> Result<ReplicaOffer, CryptoError> {
    multi_region_only(key_id)?;
    let (offer, token) = offer::make(root, key_id, now + OFFER_LIFETIME_MS)?;
    Ok(ReplicaOffer { offer, token })
}

/// Step 2, on the sending side: `sealed` (this root key's) packaged for a
/// peer's offer.
pub fn package(
    root: &dyn RootKey,
    peers: &Peers,
    sealed: &SealedMaterial,
    signed_offer: &[u8],
    now: Millis,
) -> Result<Vec<u8>, CryptoError> {
    check_peers(peers)?;
    let (body, _peer) = peers.verify(offer::SIGN_LABEL, signed_offer, offer::body_len)?;
    let offer = Offer::parse(body)?;
    if now > offer.valid_to {
        return Err(refused("the offer has expired"));
    }
    let (id, material) = seal::unseal(root, sealed)?;
    multi_region_only(id.key_id)?;
    if offer.key_id != id.key_id {
        return Err(refused(&format!(
            "the offer is for key {}, not {}",
            offer.key_id, id.key_id
        )));
    }
    let body = package::make(id, &material, &offer)?;
    identity::sign(root, package::SIGN_LABEL, &body)
}

/// Step 3, on the receiving side: a peer's package for this service's
/// offer (`token`), sealed under this root key.
pub fn accept(
    root: &dyn RootKey,
    peers: &Peers,
    token: &[u8],
    signed_package: &[u8],
    now: Millis,
) -> Result<Accepted, CryptoError> {
    check_peers(peers)?;
    let (body, peer) = peers.verify(package::SIGN_LABEL, signed_package, package::body_len)?;
    let package = Package::parse(body)?;
    let opened = offer::open_token(root, token)?;
    if now > opened.valid_to {
        return Err(refused("the offer has expired"));
    }
    if opened.key_id != package.id.key_id || opened.offer_digest != package.offer_digest {
        return Err(refused("the package answers another offer"));
    }
    multi_region_only(package.id.key_id)?;
    if !package.id.spec.allows_usage(package.id.usage) {
        return Err(refused("the package's key spec does not allow its usage"));
    }
    let receiver = opened.secret.public_point()?;
    let material = package.open(&opened.secret, &receiver)?;
    Ok(Accepted {
        sealed: seal::seal(root, package.id, &material)?,
        peer: peer.to_owned(),
    })
}

#[cfg(test)]
mod tests;
