//! Base64 as AWS JSON carries blobs: the standard alphabet, padded, and
//! canonical (no whitespace, no stray trailing bits).
//!
//! SIMD with runtime CPU detection (`base64-simd`, the implementation the AWS
//! SDK for Rust uses): for a 4 KiB Encrypt, decoding the plaintext and
//! encoding the ciphertext were ≈ 7 µs with the scalar `base64` crate and
//! are ≈ 1.5 µs with this, on the same machine.

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("not canonical padded base64")]
pub struct InvalidBase64;

pub fn encode(bytes: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(bytes)
}

/// Appends the base64 of `bytes` to `out` (a JSON body being written).
pub fn encode_append(bytes: &[u8], out: &mut Vec<u8>) {
    base64_simd::STANDARD.encode_append(bytes, out);
}

/// How long the base64 of `n` bytes is.
pub const fn encoded_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

pub fn decode(text: impl AsRef<[u8]>) -> Result<Vec<u8>, InvalidBase64> {
    base64_simd::STANDARD
        .decode_to_vec(text.as_ref())
        .map_err(|_| InvalidBase64)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as REFERENCE;
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn edges_agree_with_the_reference() {
        for text in [
            "", "=", "==", "QQ==", "QR==", "QQ", "QQ=", "QQ===", "Q Q==", "QUJD", "QUJD\n", "QUI=",
            "QUJ=", "QQ==QQ==", "QUJD====", "-_8=", "+/8=", "AAAA", "AAA=", "AA==",
        ] {
            assert_eq!(decode(text).ok(), REFERENCE.decode(text).ok(), "{text:?}");
        }
    }

    proptest! {
        #[test]
        fn encode_matches_the_reference(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(encode(&bytes), REFERENCE.encode(&bytes));
            prop_assert_eq!(decode(encode(&bytes)), Ok(bytes));
        }

        // Mostly alphabet, sometimes padding or a stray byte, at every
        // length: both implementations accept exactly the same texts.
        #[test]
        fn decode_accepts_what_the_reference_accepts(
            text in proptest::collection::vec(
                prop_oneof![
                    20 => proptest::sample::select(
                        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".to_vec()),
                    2 => Just(b'='),
                    1 => any::<u8>(),
                ],
                0..200,
            )
        ) {
            prop_assert_eq!(decode(&text).ok(), REFERENCE.decode(&text).ok());
        }
    }
}
