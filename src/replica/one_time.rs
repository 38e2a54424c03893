//! The one-time P-256 keys of offers and packages, through AWS-LC: its
//! ECDH wipes the shared point and the memory it frees, where RustCrypto's
//! left the shared point's coordinates (the shared secret) on the stack.

use aws_lc_rs::agreement::{self, ECDH_P256, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::encoding::{AsBigEndian, EcPrivateKeyBin};
use zeroize::Zeroizing;

use super::offer::POINT_LEN;
use crate::crypto::CryptoError;

/// A P-256 private key used for one offer or one package.
pub struct OneTimeKey(PrivateKey);

impl OneTimeKey {
    pub fn random() -> Result<Self, CryptoError> {
        PrivateKey::generate(&ECDH_P256)
            .map(OneTimeKey)
            .map_err(|_| CryptoError::Internal("P-256 key generation failed".into()))
    }

    /// The key whose private scalar is `scalar` (32 bytes, big-endian),
    /// if it is one.
    pub fn from_scalar(scalar: &[u8]) -> Option<Self> {
        PrivateKey::from_private_key(&ECDH_P256, scalar)
            .ok()
            .map(OneTimeKey)
    }

    /// The private scalar, 32 bytes big-endian, in a wiping buffer.
    pub fn scalar(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let bin: EcPrivateKeyBin<'static> = self
            .0
            .as_be_bytes()
            .map_err(|_| CryptoError::Internal("P-256 key encoding failed".into()))?;
        Ok(Zeroizing::new(bin.as_ref().to_vec()))
    }

    /// The public key, SEC1 uncompressed.
    pub fn public_point(&self) -> Result<[u8; POINT_LEN], CryptoError> {
        let public = self
            .0
            .compute_public_key()
            .map_err(|_| CryptoError::Internal("P-256 public key failed".into()))?;
        public
            .as_ref()
            .try_into()
            .map_err(|_| CryptoError::Internal("a P-256 public key is not 65 bytes".into()))
    }

    /// The ECDH shared secret (the x-coordinate) with `peer`, a SEC1
    /// uncompressed P-256 point; `None` when `peer` is not one.
    pub fn agree(&self, peer: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
        if peer.len() != POINT_LEN || peer[0] != 0x04 {
            return None;
        }
        agreement::agree(
            &self.0,
            UnparsedPublicKey::new(&ECDH_P256, peer),
            (),
            |shared| {
                let mut out = Zeroizing::new([0u8; 32]);
                out.copy_from_slice(shared.get(..32).ok_or(())?);
                Ok(out)
            },
        )
        .ok()
    }
}

#[cfg(test)]
mod tests {
    use p256::elliptic_curve::sec1::ToEncodedPoint;

    use super::*;

    #[test]
    fn agrees_with_another_implementation_and_keeps_its_scalar() {
        let ours = OneTimeKey::random().unwrap();
        // The peer is RustCrypto's.
        let peer = p256::SecretKey::random(&mut rand_core::OsRng);
        let peer_point = peer.public_key().to_encoded_point(false);
        let ours_public = p256::PublicKey::from_sec1_bytes(&ours.public_point().unwrap()).unwrap();
        let expected =
            p256::ecdh::diffie_hellman(peer.to_nonzero_scalar(), ours_public.as_affine());
        let shared = ours.agree(peer_point.as_bytes()).unwrap();
        assert_eq!(shared[..], expected.raw_secret_bytes()[..]);

        // The scalar a token keeps makes the same key again.
        let again = OneTimeKey::from_scalar(&ours.scalar().unwrap()).unwrap();
        assert_eq!(again.public_point().unwrap(), ours.public_point().unwrap());
        assert_eq!(
            p256::SecretKey::from_slice(&ours.scalar().unwrap())
                .unwrap()
                .public_key()
                .to_encoded_point(false)
                .as_bytes(),
            ours.public_point().unwrap()
        );
    }

    #[test]
    fn what_is_not_a_point_or_a_scalar_is_refused() {
        let ours = OneTimeKey::random().unwrap();
        let peer = p256::SecretKey::random(&mut rand_core::OsRng).public_key();
        let uncompressed = peer.to_encoded_point(false).as_bytes().to_vec();
        let compressed = peer.to_encoded_point(true).as_bytes().to_vec();
        let mut off_curve = uncompressed.clone();
        off_curve[64] ^= 1;
        for point in [
            compressed,
            off_curve,
            uncompressed[..64].to_vec(),
            vec![0; POINT_LEN],
            Vec::new(),
        ] {
            assert!(ours.agree(&point).is_none(), "{point:?}");
        }
        // Zero, the group order (not below it), a short scalar.
        let order = hex::decode("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")
            .unwrap();
        for scalar in [vec![0; 32], order, vec![1; 31]] {
            assert!(OneTimeKey::from_scalar(&scalar).is_none(), "{scalar:?}");
        }
    }
}
