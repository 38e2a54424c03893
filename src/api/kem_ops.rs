//! Key encapsulation: Encapsulate and Decapsulate (ML-KEM with an
//! ENCAPSULATE_DECAPSULATE key).

use serde::Deserialize;
use serde_json::{Value, json};

use super::access::Access;
use super::crypto_ops::{current, dry_run};
use super::wire::{Blob, b64, check_grant_tokens, check_length, decode, parse_enum, required};
use super::{Api, ApiError, Caller};
use crate::crypto::DecapsulateRequest;
use crate::key::KeyRecord;
use crate::spec::{EncapsulationAlgorithm, KeyUsage};
use crate::usage::UsedFor;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KemInput {
    key_id: Option<String>,
    encapsulation_algorithm: Option<String>,
    shared_secret_ciphertext_blob: Option<Blob>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
}

impl KemInput {
    fn algorithm(&self) -> Result<EncapsulationAlgorithm, ApiError> {
        let name = required(
            self.encapsulation_algorithm.as_deref(),
            "encapsulationAlgorithm",
        )?;
        parse_enum("encapsulationAlgorithm", name)
    }
}

impl Api {
    pub(super) async fn encapsulate(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: KemInput = decode(body)?;
        let algorithm = input.algorithm()?;
        check_grant_tokens(caller, &input.grant_tokens)?;
        let key = self
            .kem_key(caller, input.key_id, "kms:Encapsulate")
            .await?;
        let arn = self.arn.key_arn(key.key_id);
        let material = current(&key)?.sealed.clone();
        dry_run(input.dry_run)?;
        let encapsulated = self
            .crypto
            .encapsulate(material)
            .await
            .map_err(|e| ApiError::from_crypto(e, &arn))?;
        self.used(caller, key.key_id, UsedFor::Encapsulate);
        Ok(json!({
            "KeyId": arn,
            "SharedSecret": b64(&encapsulated.secret),
            "SharedSecretCiphertextBlob": b64(&encapsulated.ciphertext),
            "EncapsulationAlgorithm": algorithm.as_str(),
        }))
    }

    pub(super) async fn decapsulate(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: KemInput = decode(body)?;
        let ciphertext = required(
            input.shared_secret_ciphertext_blob.as_ref(),
            "sharedSecretCiphertextBlob",
        )?;
        check_length("sharedSecretCiphertextBlob", ciphertext.0.len(), 1, 6144)?;
        let algorithm = input.algorithm()?;
        check_grant_tokens(caller, &input.grant_tokens)?;
        let key = self
            .kem_key(caller, input.key_id.clone(), "kms:Decapsulate")
            .await?;
        let arn = self.arn.key_arn(key.key_id);
        // AWS: "InvalidCiphertextException when the length of the
        // SharedSecretCiphertextBlob is inconsistent with the ML-KEM key spec".
        if Some(ciphertext.0.len()) != key.spec.ml_kem_ciphertext_len() {
            return Err(ApiError::InvalidCiphertext(String::new()));
        }
        let material = current(&key)?.sealed.clone();
        dry_run(input.dry_run)?;
        let secret = self
            .crypto
            .decapsulate(DecapsulateRequest {
                material,
                ciphertext: ciphertext.0.clone(),
            })
            .await
            .map_err(|e| ApiError::from_crypto(e, &arn))?;
        self.used(caller, key.key_id, UsedFor::Decapsulate);
        Ok(json!({
            "KeyId": arn,
            "SharedSecret": b64(&secret),
            "EncapsulationAlgorithm": algorithm.as_str(),
        }))
    }

    /// The key of an Encapsulate or Decapsulate request (`action`,
    /// `kms:<operation>`), usable now, and an ENCAPSULATE_DECAPSULATE key,
    /// counted against its key type's quota.
    async fn kem_key(
        &self,
        caller: &Caller,
        key_id: Option<String>,
        action: &'static str,
    ) -> Result<KeyRecord, ApiError> {
        let key = self.crypto_key(caller, key_id, Access::to(action)).await?;
        let operation = action.trim_start_matches("kms:");
        if key.usage != KeyUsage::EncapsulateDecapsulate {
            return Err(ApiError::InvalidKeyUsage(format!(
                "{} key usage is {} which is not valid for {operation}.",
                self.arn.key_arn(key.key_id),
                key.usage
            )));
        }
        self.admit_key_type(caller, &key)?;
        Ok(key)
    }
}
