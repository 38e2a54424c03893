//! SYMMETRIC_DEFAULT keys: AES-256-GCM, and a key-derivation key giving
//! each ciphertext an AES key of its own.
//!
//! AES-GCM runs on AWS-LC (aws-lc-rs), already our RSA provider: its
//! AES-NI/VAES + CLMUL code encrypts 4 KiB several times faster than the
//! `aes-gcm` crate measured in `benches/crypto.rs`, and AWS-LC clears key
//! schedules when they are freed.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::kdf::{KbkdfCtrHmacAlgorithmId, get_kbkdf_ctr_hmac_algorithm, kbkdf_ctr_hmac};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

use crate::secret::SecretBytes;

pub const KEY_LEN: usize = 32;
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;

/// An AES-256-GCM key with its expanded key schedule, and the same bytes
/// as the key [`SymmetricKey::message_key`] derives from.
pub struct SymmetricKey {
    aead: Aead,
    kdf: Zeroizing<[u8; KEY_LEN]>,
}

impl SymmetricKey {
    pub fn new(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != KEY_LEN {
            return None;
        }
        let mut kdf = Zeroizing::new([0u8; KEY_LEN]);
        kdf.copy_from_slice(bytes);
        Some(SymmetricKey {
            aead: Aead::new(bytes)?,
            kdf,
        })
    }

    /// Encrypts with the given nonce; returns ciphertext ‖ tag.
    pub fn seal_with_nonce(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        self.seal_append(nonce, aad, plaintext, &mut out);
        out
    }

    /// Encrypts with the given nonce and appends ciphertext ‖ tag to `out`,
    /// in place: a ciphertext blob is built in one buffer, not copied
    /// into it.
    pub fn seal_append(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) {
        self.aead.seal_append(nonce, aad, plaintext, out);
    }

    /// Decrypts ciphertext ‖ tag; `None` if authentication fails.
    pub fn open(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], sealed: &[u8]) -> Option<SecretBytes> {
        self.aead.open(nonce, aad, sealed)
    }

    /// The AES-256-GCM key for one message: NIST SP 800-108's KDF in
    /// counter mode with HMAC-SHA256 under this key, one block, for `label`
    /// and `context` (`[1]₄ ‖ label ‖ 0x00 ‖ context ‖ [256]₄`). A context
    /// holding a fresh random salt gives every message its own key, so no
    /// key meets GCM's 2³² limit on random nonces however much it encrypts.
    pub fn message_key(&self, label: &[u8], context: &[u8]) -> MessageKey {
        // AWS-LC's KDF writes the key straight into a buffer wiped when
        // dropped, and wipes its own HMAC state and blocks: no copy of the
        // message key is left behind (an HMAC tag would be one).
        let mut info = Vec::with_capacity(label.len() + 1 + context.len() + 4);
        info.extend_from_slice(label);
        info.push(0);
        info.extend_from_slice(context);
        info.extend_from_slice(&256u32.to_be_bytes());
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        let sha256 = get_kbkdf_ctr_hmac_algorithm(KbkdfCtrHmacAlgorithmId::Sha256)
            .expect("AWS-LC has SP 800-108 with HMAC-SHA256");
        kbkdf_ctr_hmac(sha256, &self.kdf[..], &info, &mut bytes[..])
            .expect("one block from a 32-byte key");
        MessageKey(Aead::new(&bytes[..]).expect("a 32-byte key"))
    }
}

/// An AES-256-GCM key derived for one message. It seals once (it is
/// consumed), so its nonce can be fixed: all zeros.
pub struct MessageKey(Aead);

impl MessageKey {
    const NONCE: [u8; NONCE_LEN] = [0; NONCE_LEN];

    /// Appends ciphertext ‖ tag of `plaintext` to `out`.
    pub fn seal_append(self, aad: &[u8], plaintext: &[u8], out: &mut Vec<u8>) {
        self.0.seal_append(&Self::NONCE, aad, plaintext, out);
    }

    /// Decrypts ciphertext ‖ tag; `None` if authentication fails.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<SecretBytes> {
        self.0.open(&Self::NONCE, aad, sealed)
    }
}

/// AES-256-GCM on AWS-LC.
struct Aead(LessSafeKey);

impl Aead {
    fn new(bytes: &[u8]) -> Option<Self> {
        UnboundKey::new(&AES_256_GCM, bytes)
            .ok()
            .map(|k| Aead(LessSafeKey::new(k)))
    }

    fn seal_append(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) {
        let start = out.len();
        out.reserve(plaintext.len() + TAG_LEN);
        out.extend_from_slice(plaintext);
        let nonce = Nonce::assume_unique_for_key(*nonce);
        let tag = self
            .0
            .seal_in_place_separate_tag(nonce, Aad::from(aad), &mut out[start..])
            // Fails only beyond GCM's 64 GiB limit; plaintexts here are KiB.
            .expect("AES-GCM seals any plaintext under 64 GiB");
        out.extend_from_slice(tag.as_ref());
    }

    fn open(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], sealed: &[u8]) -> Option<SecretBytes> {
        let mut buffer = SecretBytes::new(sealed.to_vec());
        let nonce = Nonce::assume_unique_for_key(*nonce);
        let len = self
            .0
            .open_in_place(nonce, Aad::from(aad), &mut buffer)
            .ok()?
            .len();
        buffer.truncate(len);
        Some(buffer)
    }
}

/// Random bytes drawn from the DRBG at once per thread: each `RAND_bytes`
/// call costs about 400 ns whatever its length (its per-call reseed checks
/// and key schedules), four times the AES-GCM of a 4 KiB Encrypt.
const POOL_LEN: usize = 768;

struct RandomPool {
    bytes: [u8; POOL_LEN],
    /// How many bytes of `bytes` are handed out already.
    used: usize,
}

thread_local! {
    static POOL: std::cell::RefCell<RandomPool> = const {
        std::cell::RefCell::new(RandomPool {
            bytes: [0; POOL_LEN],
            used: POOL_LEN,
        })
    };
}

/// A fresh random nonce (see [`random_unique`]).
pub fn random_nonce() -> [u8; NONCE_LEN] {
    random_unique()
}

/// `N` fresh random bytes for a value that must be unique but need not be
/// secret (a nonce, a ciphertext's salt). One is drawn per ciphertext, so
/// they come from AWS-LC's DRBG (seeded from the OS) rather than a system
/// call each, [`POOL_LEN`] bytes at a time into a pool of this thread's,
/// each byte handed out once. If the DRBG ever fails, from the OS
/// directly. The pool is not wiped on `fork`, which is safe because this
/// process forks only to `exec` (`std::process::Command`) and a child never
/// draws from it.
pub fn random_unique<const N: usize>() -> [u8; N] {
    const { assert!(N <= POOL_LEN) };
    let mut out = [0u8; N];
    POOL.with_borrow_mut(|pool| {
        if POOL_LEN - pool.used < N {
            if aws_lc_rs::rand::fill(&mut pool.bytes).is_err() {
                OsRng.fill_bytes(&mut pool.bytes);
            }
            pool.used = 0;
        }
        out.copy_from_slice(&pool.bytes[pool.used..pool.used + N]);
        pool.used += N;
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_values_are_never_handed_out_twice_within_or_across_threads() {
        // Several pools' worth on each thread, nonces and salts interleaved
        // so that refills fall at every offset.
        let per_thread = POOL_LEN / NONCE_LEN * 5 + 3;
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || {
                    (0..per_thread)
                        .map(|_| (random_nonce(), random_unique::<32>()))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let (mut nonces, mut salts) = (
            std::collections::HashSet::new(),
            std::collections::HashSet::new(),
        );
        for thread in threads {
            for (nonce, salt) in thread.join().unwrap() {
                assert_ne!(nonce, [0; NONCE_LEN], "an unfilled pool handed out");
                assert_ne!(salt, [0; 32], "an unfilled pool handed out");
                assert!(nonces.insert(nonce), "nonce {nonce:?} handed out twice");
                assert!(salts.insert(salt), "salt {salt:?} handed out twice");
            }
        }
        assert_eq!(
            (nonces.len(), salts.len()),
            (4 * per_thread, 4 * per_thread)
        );
    }

    #[test]
    fn message_keys_differ_by_label_and_context_and_open_only_their_own() {
        let key = SymmetricKey::new(&[7; KEY_LEN]).unwrap();
        let mut sealed = Vec::new();
        key.message_key(b"label", b"salt-1")
            .seal_append(b"aad", b"secret", &mut sealed);
        let opened = key.message_key(b"label", b"salt-1").open(b"aad", &sealed);
        assert_eq!(opened.unwrap().as_slice(), b"secret");
        for (label, context) in [(&b"label"[..], &b"salt-2"[..]), (b"other", b"salt-1")] {
            assert!(
                key.message_key(label, context)
                    .open(b"aad", &sealed)
                    .is_none()
            );
        }
        assert!(
            key.message_key(b"label", b"salt-1")
                .open(b"aax", &sealed)
                .is_none()
        );
        // Not the material itself, with the message key's nonce.
        assert!(key.open(&[0; NONCE_LEN], b"aad", &sealed).is_none());
        let other = SymmetricKey::new(&[8; KEY_LEN]).unwrap();
        assert!(
            other
                .message_key(b"label", b"salt-1")
                .open(b"aad", &sealed)
                .is_none()
        );
    }
}
