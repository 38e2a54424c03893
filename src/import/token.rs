//! The import token: GetParametersForImport's wrapping private key, sealed
//! under the root key together with what it may be used for.
//!
//! Layout (format 1; integers big-endian):
//!
//! | offset | length | field                                      |
//! |--------|--------|--------------------------------------------|
//! | 0      | 1      | format = 0xB1                              |
//! | 1      | 4      | root key version that sealed it            |
//! | 5      | 16     | key id the material is for                 |
//! | 21     | 1      | wrapping key spec code                     |
//! | 22     | 1      | wrapping algorithm code                    |
//! | 23     | 8      | valid until, ms since the epoch (signed)   |
//! | 31     | 12     | nonce (random)                             |
//! | 43     | n      | AES-256-GCM ciphertext of the PKCS#8 key   |
//! | 43 + n | 16     | GCM tag                                    |
//!
//! AAD = `"kube-kms/import-token/1\0"` ‖ bytes 0..31: a token cannot be
//! used for another key, with another algorithm, or past its time, and the
//! endpoint may read the header without being able to change it. Tokens
//! are not stored: one stays usable until it expires, as AWS's do.

use crate::crypto::CryptoError;
use crate::key::Millis;
use crate::key_id::KeyId;
use crate::material::symmetric::{NONCE_LEN, TAG_LEN, random_nonce};
use crate::root::{RootKey, open_framed, seal_framed};
use crate::secret::SecretBytes;
use crate::spec::{WrappingAlgorithm, WrappingKeySpec};

pub const FORMAT_V1: u8 = 0xB1;
const HEADER_LEN: usize = 31;
const AAD_LABEL: &[u8] = b"kube-kms/import-token/1\0";

/// What a token is for, readable without the root key (and authenticated
/// when the crypto service opens the token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenHeader {
    pub root_version: u32,
    pub key_id: KeyId,
    pub wrapping_spec: WrappingKeySpec,
    pub algorithm: WrappingAlgorithm,
    pub valid_to: Millis,
}

fn invalid(why: &str) -> CryptoError {
    CryptoError::InvalidImportToken(format!("The import token is invalid: {why}."))
}

impl TokenHeader {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = FORMAT_V1;
        out[1..5].copy_from_slice(&self.root_version.to_be_bytes());
        out[5..21].copy_from_slice(self.key_id.as_bytes());
        out[21] = self.wrapping_spec.code() as u8;
        out[22] = self.algorithm.code() as u8;
        out[23..31].copy_from_slice(&self.valid_to.to_be_bytes());
        out
    }

    /// Reads the header of `token`.
    pub fn parse(token: &[u8]) -> Result<Self, CryptoError> {
        if token.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
            return Err(invalid("too short"));
        }
        if token[0] != FORMAT_V1 {
            return Err(invalid("unknown format"));
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&token[5..21]);
        let mut valid_to = [0u8; 8];
        valid_to.copy_from_slice(&token[23..31]);
        Ok(TokenHeader {
            root_version: u32::from_be_bytes([token[1], token[2], token[3], token[4]]),
            key_id: KeyId::from_bytes(id),
            wrapping_spec: WrappingKeySpec::from_code(token[21].into())
                .ok_or_else(|| invalid("unknown wrapping key spec"))?,
            algorithm: WrappingAlgorithm::from_code(token[22].into())
                .ok_or_else(|| invalid("unknown wrapping algorithm"))?,
            valid_to: Millis::from_be_bytes(valid_to),
        })
    }
}

/// A sealed import token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportToken(Vec<u8>);

impl ImportToken {
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        ImportToken(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    pub fn header(&self) -> Result<TokenHeader, CryptoError> {
        TokenHeader::parse(&self.0)
    }

    /// Seals `private_key` (PKCS#8) for the use `header` describes; its
    /// root key version is the root key's current one.
    pub fn seal(
        root: &dyn RootKey,
        header: TokenHeader,
        private_key: &[u8],
    ) -> Result<Self, CryptoError> {
        Self::seal_with_nonce(root, header, private_key, &random_nonce())
    }

    /// As [`ImportToken::seal`] with a given nonce: for golden vectors only.
    pub fn seal_with_nonce(
        root: &dyn RootKey,
        header: TokenHeader,
        private_key: &[u8],
        nonce: &[u8; NONCE_LEN],
    ) -> Result<Self, CryptoError> {
        let header = TokenHeader {
            root_version: root.current_version(),
            ..header
        }
        .encode();
        let version = root.current_version();
        let token = seal_framed(root, version, AAD_LABEL, &header, nonce, private_key)?;
        Ok(ImportToken(token))
    }

    /// Authenticates the token and returns its header and wrapping private
    /// key. Anything altered, or sealed by another root key, is
    /// `InvalidImportToken`.
    pub fn open(&self, root: &dyn RootKey) -> Result<(TokenHeader, SecretBytes), CryptoError> {
        // `header` checked the token is long enough.
        let header = self.header()?;
        let key = open_framed(root, header.root_version, AAD_LABEL, HEADER_LEN, &self.0).map_err(
            |e| match e {
                CryptoError::UnknownRootKey(_) | CryptoError::SealedMaterialInvalid(_) => {
                    invalid("it was altered, or not issued by this service")
                }
                other => other,
            },
        )?;
        Ok((header, key))
    }
}
