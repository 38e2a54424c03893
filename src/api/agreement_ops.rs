//! Key agreement: DeriveSharedSecret (ECDH with a KEY_AGREEMENT key).

use serde::Deserialize;
use serde_json::{Value, json};

use super::access::Access;
use super::crypto_ops::{current, dry_run};
use super::wire::{
    Blob, Recipient, b64, check_grant_tokens, check_length, decode, parse_enum, refuse_recipient,
    required,
};
use super::{Api, ApiError, Caller};
use crate::crypto::SharedSecretRequest;
use crate::secret::SecretBytes;
use crate::spec::KeyAgreementAlgorithm;
use crate::usage::UsedFor;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeriveSharedSecretInput {
    key_id: Option<String>,
    key_agreement_algorithm: Option<String>,
    public_key: Option<Blob>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
    recipient: Option<Recipient>,
}

impl Api {
    pub(super) async fn derive_shared_secret(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: DeriveSharedSecretInput = decode(body)?;
        let algorithm = required(
            input.key_agreement_algorithm.as_deref(),
            "keyAgreementAlgorithm",
        )?;
        let algorithm: KeyAgreementAlgorithm = parse_enum("keyAgreementAlgorithm", algorithm)?;
        let public_key = required(input.public_key, "publicKey")?.0;
        check_length("publicKey", public_key.len(), 1, 8192)?;
        check_grant_tokens(caller, &input.grant_tokens)?;
        refuse_recipient(&input.recipient)?;
        let keys = [("kms:KeyAgreementAlgorithm", algorithm.as_str())];
        let access = Access::to("kms:DeriveSharedSecret").and(&keys);
        let key = self.crypto_key(caller, input.key_id, access).await?;
        self.admit_key_type(caller, &key)?;
        let arn = self.arn.key_arn(key.key_id);
        let material = current(&key)?.sealed.clone();
        dry_run(input.dry_run)?;
        let secret: SecretBytes = self
            .crypto
            .derive_shared_secret(SharedSecretRequest {
                material,
                algorithm,
                public_key,
            })
            .await
            .map_err(|e| ApiError::from_crypto(e, &arn))?;
        self.used(caller, key.key_id, UsedFor::DeriveSharedSecret);
        Ok(json!({
            "KeyId": arn,
            "SharedSecret": b64(&secret),
            "KeyAgreementAlgorithm": algorithm.as_str(),
            "KeyOrigin": "AWS_KMS",
        }))
    }
}
