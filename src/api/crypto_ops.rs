//! Symmetric and RSA encryption operations: Encrypt, Decrypt, ReEncrypt,
//! data keys and data key pairs, GenerateRandom.

use serde::Deserialize;
use serde_json::{Value, json};

use super::access::Access;
use super::reply::{Object, Reply};
use super::resolve::Accepts;
use super::wire::{
    Blob, ContextMap, Recipient, b64, check_grant_tokens, check_length, check_range,
    custom_key_store_unsupported, decode, material_id, parse_enum, refuse_recipient, required,
};
use super::{Api, ApiError, Caller};
use crate::b64::encoded_len;
use crate::ciphertext::{CiphertextHeader, EncryptionContext};
use crate::crypto::{
    DataKeyPairRequest, DataKeyRequest, DataKeySize, DecryptRequest, EncryptRequest,
};
use crate::key::{KeyRecord, MaterialVersion};
use crate::lifecycle::Operation;
use crate::seal::SealedMaterial;
use crate::secret::SecretBytes;
use crate::spec::{DataKeyPairSpec, DataKeySpec, EncryptionAlgorithm, Family, KeyUsage};
use crate::usage::UsedFor;

pub(super) fn context(map: Option<ContextMap>) -> EncryptionContext {
    EncryptionContext::new(map.map(|m| m.0).unwrap_or_default())
}

pub(super) fn encryption_algorithm(value: Option<&str>) -> Result<EncryptionAlgorithm, ApiError> {
    value.map_or(Ok(EncryptionAlgorithm::SymmetricDefault), |v| {
        parse_enum("encryptionAlgorithm", v)
    })
}

pub(super) fn current(key: &KeyRecord) -> Result<&MaterialVersion, ApiError> {
    key.current()
        .ok_or_else(|| ApiError::Internal(format!("key {} has no key material", key.key_id)))
}

pub(super) fn dry_run(flag: Option<bool>) -> Result<(), ApiError> {
    if flag == Some(true) {
        Err(ApiError::DryRun)
    } else {
        Ok(())
    }
}

/// Whether a Decrypt or ReEncrypt is a dry run that leaves the ciphertext
/// out (`DryRunModifiers: [IGNORE_CIPHERTEXT]`, which counts only with
/// `DryRun`): then the key named in the request is checked instead.
pub(super) fn ignores_ciphertext(
    dry_run: Option<bool>,
    modifiers: Option<&[String]>,
) -> Result<bool, ApiError> {
    let modifiers = modifiers.unwrap_or_default();
    if let Some(other) = modifiers.iter().find(|m| *m != "IGNORE_CIPHERTEXT") {
        return Err(ApiError::validation(
            "dryRunModifiers",
            other,
            "Member must satisfy enum value set: [IGNORE_CIPHERTEXT]",
        ));
    }
    Ok(dry_run == Some(true) && !modifiers.is_empty())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EncryptInput {
    key_id: Option<String>,
    plaintext: Option<Blob>,
    encryption_context: Option<ContextMap>,
    grant_tokens: Option<Vec<String>>,
    encryption_algorithm: Option<String>,
    dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DecryptInput {
    ciphertext_blob: Option<Blob>,
    encryption_context: Option<ContextMap>,
    grant_tokens: Option<Vec<String>>,
    key_id: Option<String>,
    encryption_algorithm: Option<String>,
    dry_run: Option<bool>,
    dry_run_modifiers: Option<Vec<String>>,
    recipient: Option<Recipient>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DataKeyInput {
    key_id: Option<String>,
    encryption_context: Option<ContextMap>,
    number_of_bytes: Option<i64>,
    key_spec: Option<String>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
    recipient: Option<Recipient>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DataKeyPairInput {
    key_id: Option<String>,
    key_pair_spec: Option<String>,
    encryption_context: Option<ContextMap>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
    recipient: Option<Recipient>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RandomInput {
    number_of_bytes: Option<i64>,
    custom_key_store_id: Option<String>,
    recipient: Option<Recipient>,
}

/// A ciphertext's key and material, ready to decrypt.
pub(super) struct Source {
    pub(super) key: KeyRecord,
    pub(super) material: SealedMaterial,
    pub(super) material_version: u32,
    pub(super) algorithm: EncryptionAlgorithm,
}

impl Api {
    /// Finds the key and material a ciphertext needs: from the blob's header
    /// for symmetric ciphertexts, from `key_id` for asymmetric ones.
    pub(super) async fn decrypt_source(
        &self,
        caller: &Caller,
        blob: &[u8],
        key_id: Option<&str>,
        algorithm: EncryptionAlgorithm,
        access: Access<'_>,
    ) -> Result<Source, ApiError> {
        check_length("ciphertextBlob", blob.len(), 1, 6144)?;
        let named = match key_id {
            Some(r) => Some(
                self.resolve_key(caller, r, Accepts::AnyForm, access)
                    .await?,
            ),
            None => None,
        };
        if algorithm == EncryptionAlgorithm::SymmetricDefault {
            let header = CiphertextHeader::parse(blob)
                .map_err(|_| ApiError::InvalidCiphertext(String::new()))?;
            let key = match named {
                Some(key) if key.key_id != header.key_id => {
                    return Err(ApiError::IncorrectKey(
                        "The key ID in the request does not identify a CMK that can perform this operation.".into(),
                    ));
                }
                Some(key) => key,
                // A blob naming a key that does not exist is not a ciphertext of ours.
                None => {
                    let key = self.store.get_key(header.key_id).await?;
                    let key = key.ok_or_else(|| ApiError::InvalidCiphertext(String::new()))?;
                    caller.keys.add(key.key_id);
                    self.authorize(caller, &key, access, None).await?;
                    key
                }
            };
            self.check_state(&key, Operation::Cryptographic)?;
            let material = key
                .material(header.material_version)
                .ok_or_else(|| ApiError::InvalidCiphertext(String::new()))?
                .sealed
                .clone();
            return Ok(Source {
                material,
                material_version: header.material_version,
                key,
                algorithm,
            });
        }
        let key = named.ok_or_else(|| {
            ApiError::Validation(
                "KeyId is required when decrypting with an asymmetric encryption algorithm.".into(),
            )
        })?;
        self.check_state(&key, Operation::Cryptographic)?;
        let current = current(&key)?;
        let (material, material_version) = (current.sealed.clone(), current.version);
        Ok(Source {
            key,
            material,
            material_version,
            algorithm,
        })
    }

    /// What a dry run without its ciphertext checks instead: the key must
    /// be named, usable now, and one that decrypts.
    pub(super) async fn check_dry_run_key(
        &self,
        caller: &Caller,
        key_id: Option<String>,
        field: &str,
        operation: &str,
        access: Access<'_>,
    ) -> Result<(), ApiError> {
        let key_id = key_id.ok_or_else(|| {
            ApiError::Validation(format!(
                "{field} is required when DryRunModifiers is IGNORE_CIPHERTEXT."
            ))
        })?;
        let key = self.crypto_key(caller, Some(key_id), access).await?;
        if key.usage != KeyUsage::EncryptDecrypt {
            return Err(ApiError::InvalidKeyUsage(format!(
                "{} key usage is {} which is not valid for {operation}.",
                self.arn.key_arn(key.key_id),
                key.usage
            )));
        }
        Ok(())
    }

    /// Counts a cryptographic request against `key`'s type's quota, if
    /// quotas are on and it has one (RSA, ECC, ML-DSA).
    pub(super) fn admit_key_type(&self, caller: &Caller, key: &KeyRecord) -> Result<(), ApiError> {
        match &self.quotas {
            Some(quotas) => quotas.admit_key_type(
                &caller.namespace,
                key.spec.family(),
                std::time::Instant::now(),
            ),
            None => Ok(()),
        }
    }

    /// Resolves a key for a cryptographic operation, asks its policy, and
    /// checks its state.
    pub(super) async fn crypto_key(
        &self,
        caller: &Caller,
        key_id: Option<String>,
        access: Access<'_>,
    ) -> Result<KeyRecord, ApiError> {
        let key_id = required(key_id, "keyId")?;
        let key = self
            .resolve_key(caller, &key_id, Accepts::AnyForm, access)
            .await?;
        self.check_state(&key, Operation::Cryptographic)?;
        Ok(key)
    }

    pub(super) async fn encrypt(&self, caller: &Caller, body: &[u8]) -> Result<Reply, ApiError> {
        let input: EncryptInput = decode(body)?;
        let plaintext = SecretBytes::new(required(input.plaintext, "plaintext")?.0);
        check_length("plaintext", plaintext.len(), 1, 4096)?;
        check_grant_tokens(caller, &input.grant_tokens)?;
        let algorithm = encryption_algorithm(input.encryption_algorithm.as_deref())?;
        let encryption_context = context(input.encryption_context);
        let keys = [("kms:EncryptionAlgorithm", algorithm.as_str())];
        let access = Access::with_context("kms:Encrypt", encryption_context.pairs()).and(&keys);
        let key = self.crypto_key(caller, input.key_id, access).await?;
        let arn = self.arn.key_arn(key.key_id);
        if let Some(max) = key
            .spec
            .max_plaintext_len(algorithm)
            .filter(|max| plaintext.len() > *max)
        {
            return Err(ApiError::Validation(format!(
                "Algorithm {algorithm} and key spec {} cannot encrypt data larger than {max} bytes.",
                key.spec
            )));
        }
        self.admit_key_type(caller, &key)?;
        let material = current(&key)?.sealed.clone();
        dry_run(input.dry_run)?;
        let request = EncryptRequest {
            material,
            plaintext,
            context: encryption_context,
            algorithm,
        };
        let ciphertext = self
            .crypto
            .encrypt(request)
            .await
            .map_err(|e| ApiError::from_crypto(e, &arn))?;
        self.used(caller, key.key_id, UsedFor::Encrypt);
        Ok(
            Object::with_capacity(encoded_len(ciphertext.len()) + arn.len())
                .blob("CiphertextBlob", &ciphertext)
                .string("EncryptionAlgorithm", algorithm.as_str())
                .string("KeyId", &arn)
                .finish(),
        )
    }

    pub(super) async fn decrypt(&self, caller: &Caller, body: &[u8]) -> Result<Reply, ApiError> {
        let input: DecryptInput = decode(body)?;
        refuse_recipient(&input.recipient)?;
        let encryption_context = context(input.encryption_context);
        let algorithm = encryption_algorithm(input.encryption_algorithm.as_deref())?;
        let keys = [("kms:EncryptionAlgorithm", algorithm.as_str())];
        let access = Access::with_context("kms:Decrypt", encryption_context.pairs()).and(&keys);
        if ignores_ciphertext(input.dry_run, input.dry_run_modifiers.as_deref())? {
            self.check_dry_run_key(caller, input.key_id, "KeyId", "Decrypt", access)
                .await?;
            return Err(ApiError::DryRun);
        }
        let blob = required(input.ciphertext_blob, "ciphertextBlob")?.0;
        check_grant_tokens(caller, &input.grant_tokens)?;
        let source = self
            .decrypt_source(caller, &blob, input.key_id.as_deref(), algorithm, access)
            .await?;
        self.admit_key_type(caller, &source.key)?;
        let arn = self.arn.key_arn(source.key.key_id);
        dry_run(input.dry_run)?;
        let request = DecryptRequest {
            material: source.material,
            ciphertext: blob,
            context: encryption_context,
            algorithm: source.algorithm,
        };
        let plaintext = self
            .crypto
            .decrypt(request)
            .await
            .map_err(|e| ApiError::from_crypto(e, &arn))?;
        self.used(caller, source.key.key_id, UsedFor::Decrypt);
        let material_id = material_id(&source.key, source.material_version);
        Ok(
            Object::with_capacity(encoded_len(plaintext.len()) + arn.len() + material_id.len())
                .string("EncryptionAlgorithm", algorithm.as_str())
                .string("KeyId", &arn)
                .string("KeyMaterialId", &material_id)
                .blob("Plaintext", &plaintext)
                .finish(),
        )
    }

    pub(super) async fn generate_data_key(
        &self,
        caller: &Caller,
        body: &[u8],
        with_plaintext: bool,
    ) -> Result<Reply, ApiError> {
        let input: DataKeyInput = decode(body)?;
        // Only the operations that return plaintext take a Recipient.
        if with_plaintext {
            refuse_recipient(&input.recipient)?;
        }
        check_grant_tokens(caller, &input.grant_tokens)?;
        // Each member's shape first, then whether they go together.
        if let Some(n) = input.number_of_bytes {
            check_range("numberOfBytes", n, 1, 1024)?;
        }
        let spec = (input.key_spec.as_deref())
            .map(|spec| parse_enum::<DataKeySpec>("keySpec", spec))
            .transpose()?;
        let size = match (input.number_of_bytes, spec) {
            (Some(n), None) => DataKeySize::Bytes(n as u32),
            (None, Some(spec)) => DataKeySize::Spec(spec),
            _ => {
                return Err(ApiError::Validation(
                    "Please specify either number of bytes or key spec.".into(),
                ));
            }
        };
        let encryption_context = context(input.encryption_context);
        let action = if with_plaintext {
            "kms:GenerateDataKey"
        } else {
            "kms:GenerateDataKeyWithoutPlaintext"
        };
        let keys = [("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT")];
        let access = Access::with_context(action, encryption_context.pairs()).and(&keys);
        let key = self.crypto_key(caller, input.key_id, access).await?;
        let arn = self.arn.key_arn(key.key_id);
        let material = current(&key)?;
        let material_id = material_id(&key, material.version);
        let request = DataKeyRequest {
            material: material.sealed.clone(),
            size,
            context: encryption_context,
            include_plaintext: with_plaintext,
        };
        let operation = if with_plaintext {
            UsedFor::GenerateDataKey
        } else {
            UsedFor::GenerateDataKeyWithoutPlaintext
        };
        self.require_symmetric(&key, operation.as_str())?;
        dry_run(input.dry_run)?;
        let data_key = self
            .crypto
            .generate_data_key(request)
            .await
            .map_err(|e| ApiError::from_crypto(e, &arn))?;
        self.used(caller, key.key_id, operation);
        let plaintext_len = data_key
            .plaintext
            .as_ref()
            .map_or(0, |p| encoded_len(p.len()));
        let out = Object::with_capacity(
            encoded_len(data_key.ciphertext.len()) + plaintext_len + arn.len() + material_id.len(),
        )
        .blob("CiphertextBlob", &data_key.ciphertext)
        .string("KeyId", &arn)
        .string("KeyMaterialId", &material_id);
        Ok(match &data_key.plaintext {
            Some(plaintext) => out.blob("Plaintext", plaintext),
            None => out,
        }
        .finish())
    }

    fn require_symmetric(&self, key: &KeyRecord, operation: &str) -> Result<(), ApiError> {
        if key.spec.family() == Family::Symmetric {
            return Ok(());
        }
        Err(ApiError::InvalidKeyUsage(format!(
            "{} key usage is {} and key spec is {} which is not valid for {operation}.",
            self.arn.key_arn(key.key_id),
            key.usage,
            key.spec
        )))
    }

    pub(super) async fn generate_data_key_pair(
        &self,
        caller: &Caller,
        body: &[u8],
        with_plaintext: bool,
    ) -> Result<Value, ApiError> {
        let input: DataKeyPairInput = decode(body)?;
        if with_plaintext {
            refuse_recipient(&input.recipient)?;
        }
        check_grant_tokens(caller, &input.grant_tokens)?;
        let spec_name = required(input.key_pair_spec, "keyPairSpec")?;
        let spec: DataKeyPairSpec = parse_enum("keyPairSpec", &spec_name)?;
        let encryption_context = context(input.encryption_context);
        let action = if with_plaintext {
            "kms:GenerateDataKeyPair"
        } else {
            "kms:GenerateDataKeyPairWithoutPlaintext"
        };
        let keys = [
            ("kms:DataKeyPairSpec", spec.as_str()),
            ("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT"),
        ];
        let access = Access::with_context(action, encryption_context.pairs()).and(&keys);
        let key = self.crypto_key(caller, input.key_id, access).await?;
        let arn = self.arn.key_arn(key.key_id);
        let operation = if with_plaintext {
            UsedFor::GenerateDataKeyPair
        } else {
            UsedFor::GenerateDataKeyPairWithoutPlaintext
        };
        self.require_symmetric(&key, operation.as_str())?;
        let material = current(&key)?;
        let material_id = material_id(&key, material.version);
        dry_run(input.dry_run)?;
        let request = DataKeyPairRequest {
            material: material.sealed.clone(),
            spec,
            context: encryption_context,
            include_plaintext: with_plaintext,
        };
        let pair = self
            .crypto
            .generate_data_key_pair(request)
            .await
            .map_err(|e| ApiError::from_crypto(e, &arn))?;
        self.used(caller, key.key_id, operation);
        let mut out = json!({
            "PrivateKeyCiphertextBlob": b64(&pair.private_key_ciphertext),
            "PublicKey": b64(&pair.public_key),
            "KeyId": arn,
            "KeyPairSpec": spec.as_str(),
            "KeyMaterialId": material_id,
        });
        if let Some(private) = pair.private_key_plaintext {
            out["PrivateKeyPlaintext"] = b64(&private);
        }
        Ok(out)
    }

    pub(super) async fn generate_random(&self, body: &[u8]) -> Result<Value, ApiError> {
        let input: RandomInput = decode(body)?;
        refuse_recipient(&input.recipient)?;
        if let Some(store) = &input.custom_key_store_id {
            return Err(custom_key_store_unsupported(store));
        }
        let n = required(input.number_of_bytes, "numberOfBytes")?;
        check_range("numberOfBytes", n, 1, 1024)?;
        let random = self
            .crypto
            .generate_random(n as u32)
            .await
            .map_err(|e| ApiError::from_crypto(e, ""))?;
        Ok(json!({ "Plaintext": b64(&random) }))
    }
}
