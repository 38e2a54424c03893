//! Root keys inside a PKCS#11 token (an HSM; tested with SoftHSM2). Each
//! version is a non-extractable AES-256 secret key object labelled
//! `kube-kms-root-v<N>`; sealing and unsealing run AES-GCM inside the token,
//! so the root key never leaves it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use super::{RootKey, unseal_failed};
use crate::crypto::CryptoError;
use crate::material::symmetric::NONCE_LEN;
use crate::secret::SecretBytes;

const LABEL_PREFIX: &str = "kube-kms-root-v";

/// Where the token is and how to log in.
#[derive(Clone)]
pub struct Pkcs11Config {
    /// The PKCS#11 module, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    pub token_label: String,
    pub pin: Zeroizing<String>,
}

impl fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("pin", &"<redacted>")
            .finish()
    }
}

pub struct Pkcs11RootKey {
    // Kept alive for the session's sake; finalized on drop.
    _context: Pkcs11,
    // A PKCS#11 session is not safe for concurrent use. The unsealed-material
    // cache keeps traffic here rare, so one session behind a lock is enough.
    session: Mutex<Session>,
    keys: BTreeMap<u32, ObjectHandle>,
}

impl fmt::Debug for Pkcs11RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Pkcs11RootKey(versions {:?})",
            self.keys.keys().collect::<Vec<_>>()
        )
    }
}

fn hsm_error(what: &str, e: impl fmt::Display) -> CryptoError {
    CryptoError::RootKey(format!("PKCS#11 {what}: {e}"))
}

impl Pkcs11RootKey {
    /// Opens the token and finds its root key versions. With `create_if_missing`,
    /// a token without any gets version 1 generated inside it.
    pub fn open(config: &Pkcs11Config, create_if_missing: bool) -> Result<Self, CryptoError> {
        let context =
            Pkcs11::new(&config.module).map_err(|e| hsm_error("loading the module", e))?;
        context
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(|e| hsm_error("initialize", e))?;
        let slot = context
            .get_slots_with_token()
            .map_err(|e| hsm_error("listing slots", e))?
            .into_iter()
            .find(|slot| {
                context
                    .get_token_info(*slot)
                    .map(|info| info.label().trim_end() == config.token_label)
                    .unwrap_or(false)
            })
            .ok_or_else(|| {
                hsm_error(
                    "token",
                    format!("no token labelled '{}'", config.token_label),
                )
            })?;
        let session = context
            .open_rw_session(slot)
            .map_err(|e| hsm_error("opening a session", e))?;
        let pin = AuthPin::from(config.pin.as_str().to_owned());
        session
            .login(UserType::User, Some(&pin))
            .map_err(|e| hsm_error("login", e))?;
        let mut root = Pkcs11RootKey {
            _context: context,
            session: Mutex::new(session),
            keys: BTreeMap::new(),
        };
        root.keys = root.find_versions()?;
        if root.keys.is_empty() {
            if !create_if_missing {
                return Err(hsm_error(
                    "token",
                    format!(
                        "no root key objects labelled {LABEL_PREFIX}<N> in token '{}'",
                        config.token_label
                    ),
                ));
            }
            root.add_version()?;
        }
        Ok(root)
    }

    fn find_versions(&self) -> Result<BTreeMap<u32, ObjectHandle>, CryptoError> {
        let session = self
            .session
            .lock()
            .map_err(|_| hsm_error("session", "lock poisoned"))?;
        let handles = session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
            ])
            .map_err(|e| hsm_error("finding keys", e))?;
        let mut keys = BTreeMap::new();
        for handle in handles {
            let attributes = session
                .get_attributes(handle, &[AttributeType::Label])
                .map_err(|e| hsm_error("reading labels", e))?;
            for attribute in attributes {
                if let Attribute::Label(label) = attribute {
                    let version = std::str::from_utf8(&label)
                        .ok()
                        .and_then(|l| l.strip_prefix(LABEL_PREFIX))
                        .and_then(|n| n.parse::<u32>().ok());
                    if let Some(version) = version {
                        keys.insert(version, handle);
                    }
                }
            }
        }
        Ok(keys)
    }

    /// Generates the next root key version inside the token and makes it
    /// current. Returns its version.
    pub fn add_version(&mut self) -> Result<u32, CryptoError> {
        let version = self.current_version() + 1;
        let label = format!("{LABEL_PREFIX}{version}");
        let handle = {
            let session = self
                .session
                .lock()
                .map_err(|_| hsm_error("session", "lock poisoned"))?;
            session
                .generate_key(
                    &Mechanism::AesKeyGen,
                    &[
                        Attribute::Class(ObjectClass::SECRET_KEY),
                        Attribute::KeyType(KeyType::AES),
                        Attribute::ValueLen(32.into()),
                        Attribute::Token(true),
                        Attribute::Private(true),
                        Attribute::Sensitive(true),
                        Attribute::Extractable(false),
                        Attribute::Encrypt(true),
                        Attribute::Decrypt(true),
                        Attribute::Label(label.into_bytes()),
                    ],
                )
                .map_err(|e| hsm_error("generating a root key", e))?
        };
        self.keys.insert(version, handle);
        Ok(version)
    }

    fn gcm(
        &self,
        version: u32,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        input: &[u8],
        encrypt: bool,
    ) -> Result<Vec<u8>, CryptoError> {
        let handle = *self
            .keys
            .get(&version)
            .ok_or(CryptoError::UnknownRootKey(version))?;
        let mut iv = *nonce;
        let params =
            GcmParams::new(&mut iv, aad, 128.into()).map_err(|e| hsm_error("GCM parameters", e))?;
        let mechanism = Mechanism::AesGcm(params);
        let session = self
            .session
            .lock()
            .map_err(|_| hsm_error("session", "lock poisoned"))?;
        if encrypt {
            session
                .encrypt(&mechanism, handle, input)
                .map_err(|e| hsm_error("encrypt", e))
        } else {
            session
                .decrypt(&mechanism, handle, input)
                .map_err(|_| unseal_failed())
        }
    }
}

impl RootKey for Pkcs11RootKey {
    fn current_version(&self) -> u32 {
        self.keys.keys().next_back().copied().unwrap_or(0)
    }

    fn versions(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    fn seal(
        &self,
        version: u32,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.gcm(version, nonce, aad, plaintext, true)
    }

    fn unseal(
        &self,
        version: u32,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        self.gcm(version, nonce, aad, sealed, false)
            .map(SecretBytes::new)
    }
}
