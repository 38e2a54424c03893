//! SYMMETRIC_DEFAULT keys: AES-256-GCM with a 96-bit random nonce.
//!
//! AES-GCM runs on AWS-LC (aws-lc-rs), already our RSA provider: its
//! AES-NI/VAES + CLMUL code encrypts 4 KiB several times faster than the
//! `aes-gcm` crate measured in `benches/crypto.rs`, and AWS-LC clears key
//! schedules when they are freed.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use rand_core::{OsRng, RngCore};

use crate::secret::SecretBytes;

pub const KEY_LEN: usize = 32;
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;

/// An AES-256-GCM key with its expanded key schedule.
pub struct SymmetricKey(LessSafeKey);

impl SymmetricKey {
    pub fn new(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != KEY_LEN {
            return None;
        }
        UnboundKey::new(&AES_256_GCM, bytes)
            .ok()
            .map(|k| SymmetricKey(LessSafeKey::new(k)))
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

    /// Decrypts ciphertext ‖ tag; `None` if authentication fails.
    pub fn open(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], sealed: &[u8]) -> Option<SecretBytes> {
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

/// Nonces drawn from the DRBG at once per thread: each `RAND_bytes` call
/// costs about 400 ns whatever its length (its per-call reseed checks and
/// key schedules), four times the AES-GCM of a 4 KiB Encrypt.
const POOLED_NONCES: usize = 64;

struct NoncePool {
    bytes: [u8; NONCE_LEN * POOLED_NONCES],
    /// How many bytes of `bytes` are handed out already.
    used: usize,
}

thread_local! {
    static NONCE_POOL: std::cell::RefCell<NoncePool> = const {
        std::cell::RefCell::new(NoncePool {
            bytes: [0; NONCE_LEN * POOLED_NONCES],
            used: NONCE_LEN * POOLED_NONCES,
        })
    };
}

/// A fresh random nonce. Nonces need uniqueness, not secrecy, and one is
/// drawn per ciphertext, so they come from AWS-LC's DRBG (seeded from the
/// OS) rather than a system call each, drawn [`POOLED_NONCES`] at a time
/// into a pool of this thread's, each handed out once. If the DRBG ever
/// fails, from the OS directly. The pool is not wiped on `fork`, which is
/// safe because this process forks only to `exec` (`std::process::Command`)
/// and a child never draws a nonce.
pub fn random_nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    NONCE_POOL.with_borrow_mut(|pool| {
        if pool.used == pool.bytes.len() {
            if aws_lc_rs::rand::fill(&mut pool.bytes).is_err() {
                OsRng.fill_bytes(&mut pool.bytes);
            }
            pool.used = 0;
        }
        nonce.copy_from_slice(&pool.bytes[pool.used..pool.used + NONCE_LEN]);
        pool.used += NONCE_LEN;
    });
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_never_handed_out_twice_within_or_across_threads() {
        // Several pools' worth on each thread, so refills are crossed.
        let per_thread = POOLED_NONCES * 5 + 3;
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || {
                    (0..per_thread).map(|_| random_nonce()).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut seen = std::collections::HashSet::new();
        for thread in threads {
            for nonce in thread.join().unwrap() {
                assert_ne!(nonce, [0; NONCE_LEN], "an unfilled pool handed out");
                assert!(seen.insert(nonce), "nonce {nonce:?} handed out twice");
            }
        }
        assert_eq!(seen.len(), 4 * per_thread);
    }
}
