//! The operations themselves, synchronous and transport-free: unseal (through
//! the cache), check the key's spec and usage, run the cipher.

use std::sync::Arc;

use super::cache::{CacheConfig, MaterialCache, Unsealed};
use super::{
    CryptoError, DataKey, DataKeyPair, DataKeyPairRequest, DataKeyRequest, DataKeySize,
    DecapsulateRequest, DecryptRequest, Encapsulated, EncryptRequest, ImportParameters,
    ImportParametersRequest, MAX_MESSAGE_LEN, MAX_RANDOM_LEN, MacRequest, ReEncryptRequest,
    RootKeyInfo, SharedSecretRequest, SignRequest, UnwrapImportRequest, UnwrappedMaterial,
    VerifyRequest,
};
use crate::ciphertext::{self, CiphertextHeader, EncryptionContext};
use crate::import::{self, ImportToken, TokenHeader, unwrap};
use crate::key::Millis;
use crate::key_id::KeyId;
use crate::material::symmetric::SymmetricKey;
use crate::material::{KeyMaterial, LoadedKey, SignatureKey, random_bytes};
use crate::replica::{self, Accepted, Peers, PublicIdentity, ReplicaOffer};
use crate::root::RootKey;
use crate::seal::{self, MaterialId, SealedMaterial};
use crate::secret::SecretBytes;
use crate::spec::{DataKeySpec, EncryptionAlgorithm, KeyUsage};

/// The in-memory crypto engine: a root key and a cache of unsealed material.
#[derive(Debug)]
pub struct Engine {
    root: Arc<dyn RootKey>,
    cache: MaterialCache,
    /// The crypto services trusted with multi-Region keys' material
    /// (replaced when the peers file changes).
    peers: std::sync::RwLock<Peers>,
    /// The format new symmetric ciphertexts are written in.
    format: ciphertext::Format,
}

fn usage_error(id: &MaterialId, operation: &str) -> CryptoError {
    CryptoError::InvalidKeyUsage(format!(
        "key usage is {} which is not valid for {operation}.",
        id.usage
    ))
}

fn check_len(name: &str, len: usize, max: usize) -> Result<(), CryptoError> {
    if len == 0 {
        return Err(CryptoError::Validation(format!(
            "1 validation error detected: Value at '{name}' failed to satisfy constraint: Member must have length greater than or equal to 1"
        )));
    }
    if len > max {
        return Err(CryptoError::Validation(format!(
            "1 validation error detected: Value at '{name}' failed to satisfy constraint: Member must have length less than or equal to {max}"
        )));
    }
    Ok(())
}

impl Engine {
    pub fn new(root: Arc<dyn RootKey>, cache: CacheConfig) -> Self {
        Engine {
            root,
            cache: MaterialCache::new(cache),
            peers: Default::default(),
            format: Default::default(),
        }
    }

    /// Writes new symmetric ciphertexts in `format` (format 2 by default).
    pub fn writing(mut self, format: ciphertext::Format) -> Self {
        self.format = format;
        self
    }

    /// Trusts `peers` to send and receive multi-Region keys' material.
    pub fn with_peers(self, peers: Peers) -> Self {
        self.trust(peers);
        self
    }

    /// Trusts `peers` from now on, in place of those trusted before.
    pub fn trust(&self, peers: Peers) {
        *self.peers.write().unwrap_or_else(|e| e.into_inner()) = peers;
    }

    fn peers(&self) -> std::sync::RwLockReadGuard<'_, Peers> {
        self.peers.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn identities(&self) -> Result<Vec<(u32, PublicIdentity)>, CryptoError> {
        replica::identities(self.root.as_ref())
    }

    pub fn replica_offer(&self, key_id: KeyId, now: Millis) -> Result<ReplicaOffer, CryptoError> {
        replica::make_offer(self.root.as_ref(), key_id, now)
    }

    pub fn package_replica(
        &self,
        material: &SealedMaterial,
        offer: &[u8],
        now: Millis,
    ) -> Result<Vec<u8>, CryptoError> {
        replica::package(self.root.as_ref(), &self.peers(), material, offer, now)
    }

    pub fn accept_replica(
        &self,
        token: &[u8],
        package: &[u8],
        now: Millis,
    ) -> Result<Accepted, CryptoError> {
        replica::accept(self.root.as_ref(), &self.peers(), token, package, now)
    }

    pub fn cache(&self) -> &MaterialCache {
        &self.cache
    }

    pub fn root_key_info(&self) -> RootKeyInfo {
        RootKeyInfo {
            current: self.root.current_version(),
            versions: self.root.versions(),
        }
    }

    /// The unsealed form of `sealed`, from the cache or the root key.
    pub fn unseal(&self, sealed: &SealedMaterial) -> Result<Arc<Unsealed>, CryptoError> {
        if let Some(hit) = self.cache.get(sealed.as_bytes()) {
            return Ok(hit);
        }
        let (id, material) = seal::unseal(self.root.as_ref(), sealed)?;
        let key = material
            .load()
            .map_err(|_| CryptoError::SealedMaterialInvalid("material does not parse".into()))?;
        let unsealed = Arc::new(Unsealed { id, key });
        self.cache.insert(sealed.as_bytes(), unsealed.clone());
        Ok(unsealed)
    }

    pub fn generate_material(&self, id: MaterialId) -> Result<SealedMaterial, CryptoError> {
        check_usage_for_spec(&id)?;
        let material = KeyMaterial::generate(id.spec)?;
        seal::seal(self.root.as_ref(), id, &material)
    }

    pub fn import_material(
        &self,
        id: MaterialId,
        bytes: SecretBytes,
    ) -> Result<SealedMaterial, CryptoError> {
        check_usage_for_spec(&id)?;
        let material = KeyMaterial::from_bytes(id.spec, bytes)?;
        seal::seal(self.root.as_ref(), id, &material)
    }

    pub fn import_parameters(
        &self,
        request: &ImportParametersRequest,
    ) -> Result<ImportParameters, CryptoError> {
        let (public_key, private_key) = unwrap::generate_wrapping_key(request.wrapping_spec)?;
        let header = TokenHeader {
            root_version: self.root.current_version(),
            key_id: request.key_id,
            wrapping_spec: request.wrapping_spec,
            algorithm: request.algorithm,
            valid_to: request.valid_to,
        };
        let token = ImportToken::seal(self.root.as_ref(), header, &private_key)?;
        Ok(ImportParameters { public_key, token })
    }

    pub fn unwrap_import(
        &self,
        request: &UnwrapImportRequest,
    ) -> Result<UnwrappedMaterial, CryptoError> {
        check_usage_for_spec(&request.id)?;
        let (header, private_key) = request.token.open(self.root.as_ref())?;
        if header.key_id != request.id.key_id {
            return Err(CryptoError::InvalidImportToken(
                "The import token was issued for a different KMS key.".into(),
            ));
        }
        let bytes = unwrap::unwrap(
            header.wrapping_spec,
            header.algorithm,
            &private_key,
            &request.wrapped,
        )?;
        let material_id = import::material_id(request.id.key_id, &bytes);
        let material = KeyMaterial::from_bytes(request.id.spec, bytes)?;
        Ok(UnwrappedMaterial {
            sealed: seal::seal(self.root.as_ref(), request.id, &material)?,
            material_id,
        })
    }

    pub fn reseal(&self, sealed: &SealedMaterial) -> Result<SealedMaterial, CryptoError> {
        seal::reseal(self.root.as_ref(), sealed)
    }

    fn symmetric<'a>(
        unsealed: &'a Unsealed,
        operation: &str,
    ) -> Result<&'a SymmetricKey, CryptoError> {
        match &unsealed.key {
            LoadedKey::Symmetric(key) if unsealed.id.usage == KeyUsage::EncryptDecrypt => Ok(key),
            _ if unsealed.id.usage != KeyUsage::EncryptDecrypt => {
                Err(usage_error(&unsealed.id, operation))
            }
            _ => Err(CryptoError::InvalidKeyUsage(format!(
                "{operation} requires a symmetric encryption key; this key's spec is {}.",
                unsealed.id.spec
            ))),
        }
    }

    fn encrypt_with(
        &self,
        unsealed: &Unsealed,
        plaintext: &[u8],
        context: &EncryptionContext,
        algorithm: EncryptionAlgorithm,
        operation: &str,
    ) -> Result<Vec<u8>, CryptoError> {
        if unsealed.id.usage != KeyUsage::EncryptDecrypt {
            return Err(usage_error(&unsealed.id, operation));
        }
        check_algorithm(&unsealed.id, algorithm)?;
        match &unsealed.key {
            LoadedKey::Symmetric(key) => {
                check_len("plaintext", plaintext.len(), MAX_MESSAGE_LEN)?;
                let header = CiphertextHeader {
                    key_id: unsealed.id.key_id,
                    material_version: unsealed.id.version,
                };
                Ok(ciphertext::encrypt_as(
                    self.format,
                    key,
                    header,
                    context,
                    plaintext,
                ))
            }
            LoadedKey::Rsa(key) => {
                check_no_context(context)?;
                check_len("plaintext", plaintext.len(), MAX_MESSAGE_LEN)?;
                key.encrypt(algorithm, plaintext)
            }
            _ => Err(usage_error(&unsealed.id, operation)),
        }
    }

    fn decrypt_with(
        unsealed: &Unsealed,
        request: &DecryptRequest,
        operation: &str,
    ) -> Result<SecretBytes, CryptoError> {
        if unsealed.id.usage != KeyUsage::EncryptDecrypt {
            return Err(usage_error(&unsealed.id, operation));
        }
        check_algorithm(&unsealed.id, request.algorithm)?;
        match &unsealed.key {
            LoadedKey::Symmetric(key) => {
                let header = CiphertextHeader::parse(&request.ciphertext)?;
                if header.key_id != unsealed.id.key_id
                    || header.material_version != unsealed.id.version
                {
                    return Err(CryptoError::IncorrectKey);
                }
                ciphertext::decrypt(key, &request.ciphertext, &request.context)
            }
            LoadedKey::Rsa(key) => {
                check_no_context(&request.context)?;
                key.decrypt(request.algorithm, &request.ciphertext)
            }
            _ => Err(usage_error(&unsealed.id, operation)),
        }
    }

    pub fn encrypt(&self, request: &EncryptRequest) -> Result<Vec<u8>, CryptoError> {
        let unsealed = self.unseal(&request.material)?;
        self.encrypt_with(
            &unsealed,
            &request.plaintext,
            &request.context,
            request.algorithm,
            "Encrypt",
        )
    }

    pub fn decrypt(&self, request: &DecryptRequest) -> Result<SecretBytes, CryptoError> {
        let unsealed = self.unseal(&request.material)?;
        Self::decrypt_with(&unsealed, request, "Decrypt")
    }

    pub fn re_encrypt(&self, request: &ReEncryptRequest) -> Result<Vec<u8>, CryptoError> {
        let source = self.unseal(&request.source.material)?;
        let destination = self.unseal(&request.destination)?;
        let plaintext = Self::decrypt_with(&source, &request.source, "ReEncrypt")?;
        self.encrypt_with(
            &destination,
            &plaintext,
            &request.destination_context,
            request.destination_algorithm,
            "ReEncrypt",
        )
    }

    pub fn generate_data_key(&self, request: &DataKeyRequest) -> Result<DataKey, CryptoError> {
        let len = match request.size {
            DataKeySize::Spec(DataKeySpec::Aes128) => 16,
            DataKeySize::Spec(DataKeySpec::Aes256) => 32,
            DataKeySize::Bytes(n) if (1..=MAX_RANDOM_LEN).contains(&n) => n as usize,
            DataKeySize::Bytes(n) => return Err(number_of_bytes_error(n)),
        };
        let operation = if request.include_plaintext {
            "GenerateDataKey"
        } else {
            "GenerateDataKeyWithoutPlaintext"
        };
        let unsealed = self.unseal(&request.material)?;
        let key = Self::symmetric(&unsealed, operation)?;
        let plaintext = random_bytes(len);
        let ciphertext = ciphertext::encrypt_as(
            self.format,
            key,
            header_of(&unsealed.id),
            &request.context,
            &plaintext,
        );
        Ok(DataKey {
            ciphertext,
            plaintext: request.include_plaintext.then_some(plaintext),
        })
    }

    pub fn generate_data_key_pair(
        &self,
        request: &DataKeyPairRequest,
    ) -> Result<DataKeyPair, CryptoError> {
        let operation = if request.include_plaintext {
            "GenerateDataKeyPair"
        } else {
            "GenerateDataKeyPairWithoutPlaintext"
        };
        let unsealed = self.unseal(&request.material)?;
        let key = Self::symmetric(&unsealed, operation)?;
        let pair = KeyMaterial::generate(request.spec.key_spec())?;
        let public_key = pair
            .load()?
            .public_key_der()
            .ok_or_else(|| CryptoError::Internal("data key pair is not asymmetric".into()))?
            .to_vec();
        let private_key_ciphertext = ciphertext::encrypt_as(
            self.format,
            key,
            header_of(&unsealed.id),
            &request.context,
            pair.expose(),
        );
        Ok(DataKeyPair {
            private_key_ciphertext,
            private_key_plaintext: request
                .include_plaintext
                .then(|| SecretBytes::new(pair.expose().to_vec())),
            public_key,
        })
    }

    pub fn sign(&self, request: &SignRequest) -> Result<Vec<u8>, CryptoError> {
        check_len("message", request.message.len(), MAX_MESSAGE_LEN)?;
        let unsealed = self.unseal(&request.material)?;
        let key = Self::signature_key(&unsealed, "Sign")?;
        check_signing_algorithm(&unsealed.id, request.algorithm)?;
        key.sign(request.algorithm, request.message_type, &request.message)
    }

    pub fn verify(&self, request: &VerifyRequest) -> Result<(), CryptoError> {
        check_len("message", request.message.len(), MAX_MESSAGE_LEN)?;
        check_len("signature", request.signature.len(), 6144)?;
        let unsealed = self.unseal(&request.material)?;
        let key = Self::signature_key(&unsealed, "Verify")?;
        check_signing_algorithm(&unsealed.id, request.algorithm)?;
        key.verify(
            request.algorithm,
            request.message_type,
            &request.message,
            &request.signature,
        )
    }

    /// The unsealed key as a signing key, if its usage is SIGN_VERIFY.
    fn signature_key<'a>(
        unsealed: &'a Unsealed,
        operation: &str,
    ) -> Result<&'a dyn SignatureKey, CryptoError> {
        match unsealed.key.signature_key() {
            Some(key) if unsealed.id.usage == KeyUsage::SignVerify => Ok(key),
            _ => Err(usage_error(&unsealed.id, operation)),
        }
    }

    pub fn derive_shared_secret(
        &self,
        request: &SharedSecretRequest,
    ) -> Result<SecretBytes, CryptoError> {
        let unsealed = self.unseal(&request.material)?;
        if unsealed.id.usage != KeyUsage::KeyAgreement {
            return Err(usage_error(&unsealed.id, "DeriveSharedSecret"));
        }
        match &unsealed.key {
            LoadedKey::Ecc(key) => key.shared_secret(request.algorithm, &request.public_key),
            _ => Err(usage_error(&unsealed.id, "DeriveSharedSecret")),
        }
    }

    pub fn encapsulate(&self, material: &SealedMaterial) -> Result<Encapsulated, CryptoError> {
        let unsealed = self.unseal(material)?;
        match &unsealed.key {
            LoadedKey::MlKem(key) if unsealed.id.usage == KeyUsage::EncapsulateDecapsulate => {
                let (ciphertext, secret) = key.encapsulate();
                Ok(Encapsulated { ciphertext, secret })
            }
            _ => Err(usage_error(&unsealed.id, "Encapsulate")),
        }
    }

    pub fn decapsulate(&self, request: &DecapsulateRequest) -> Result<SecretBytes, CryptoError> {
        let unsealed = self.unseal(&request.material)?;
        match &unsealed.key {
            LoadedKey::MlKem(key) if unsealed.id.usage == KeyUsage::EncapsulateDecapsulate => {
                key.decapsulate(&request.ciphertext)
            }
            _ => Err(usage_error(&unsealed.id, "Decapsulate")),
        }
    }

    pub fn get_public_key(&self, material: &SealedMaterial) -> Result<Vec<u8>, CryptoError> {
        let unsealed = self.unseal(material)?;
        match unsealed.key.public_key_der() {
            Some(der) => Ok(der.to_vec()),
            None => Err(CryptoError::Unsupported(format!(
                "{} keys have no public key.",
                unsealed.id.spec
            ))),
        }
    }

    fn hmac<'a>(
        unsealed: &'a Unsealed,
        request: &MacRequest,
        operation: &str,
    ) -> Result<&'a crate::material::hmac::HmacKey, CryptoError> {
        check_len("message", request.message.len(), MAX_MESSAGE_LEN)?;
        let LoadedKey::Hmac(key) = &unsealed.key else {
            return Err(usage_error(&unsealed.id, operation));
        };
        if key.algorithm() != request.algorithm {
            return Err(CryptoError::InvalidKeyUsage(format!(
                "Algorithm {} is incompatible with key spec {}.",
                request.algorithm, unsealed.id.spec
            )));
        }
        Ok(key)
    }

    pub fn generate_mac(&self, request: &MacRequest) -> Result<Vec<u8>, CryptoError> {
        let unsealed = self.unseal(&request.material)?;
        Ok(Self::hmac(&unsealed, request, "GenerateMac")?.mac(&request.message))
    }

    pub fn verify_mac(&self, request: &MacRequest, mac: &[u8]) -> Result<(), CryptoError> {
        check_len("mac", mac.len(), 6144)?;
        let unsealed = self.unseal(&request.material)?;
        if Self::hmac(&unsealed, request, "VerifyMac")?.verify(&request.message, mac) {
            Ok(())
        } else {
            Err(CryptoError::InvalidMac)
        }
    }

    pub fn generate_random(&self, len: u32) -> Result<SecretBytes, CryptoError> {
        if !(1..=MAX_RANDOM_LEN).contains(&len) {
            return Err(number_of_bytes_error(len));
        }
        Ok(random_bytes(len as usize))
    }
}

fn header_of(id: &MaterialId) -> CiphertextHeader {
    CiphertextHeader {
        key_id: id.key_id,
        material_version: id.version,
    }
}

fn number_of_bytes_error(n: u32) -> CryptoError {
    let constraint = if n == 0 {
        "Member must have value greater than or equal to 1"
    } else {
        "Member must have value less than or equal to 1024"
    };
    CryptoError::Validation(format!(
        "1 validation error detected: Value '{n}' at 'numberOfBytes' failed to satisfy constraint: {constraint}"
    ))
}

fn check_usage_for_spec(id: &MaterialId) -> Result<(), CryptoError> {
    if id.spec.allows_usage(id.usage) {
        Ok(())
    } else {
        Err(CryptoError::Validation(format!(
            "KeyUsage {} is not compatible with KeySpec {}",
            id.usage, id.spec
        )))
    }
}

fn check_algorithm(id: &MaterialId, algorithm: EncryptionAlgorithm) -> Result<(), CryptoError> {
    if id.spec.encryption_algorithms(id.usage).contains(&algorithm) {
        Ok(())
    } else {
        Err(CryptoError::InvalidKeyUsage(format!(
            "Algorithm {algorithm} is incompatible with key spec {}.",
            id.spec
        )))
    }
}

fn check_signing_algorithm(
    id: &MaterialId,
    algorithm: crate::spec::SigningAlgorithm,
) -> Result<(), CryptoError> {
    if id.spec.signing_algorithms(id.usage).contains(&algorithm) {
        Ok(())
    } else {
        Err(CryptoError::InvalidKeyUsage(format!(
            "Algorithm {algorithm} is incompatible with key spec {}.",
            id.spec
        )))
    }
}

fn check_no_context(context: &EncryptionContext) -> Result<(), CryptoError> {
    if context.is_empty() {
        Ok(())
    } else {
        Err(CryptoError::Validation(
            "EncryptionContext is not supported with asymmetric KMS keys.".into(),
        ))
    }
}
