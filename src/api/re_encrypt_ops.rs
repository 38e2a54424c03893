//! ReEncrypt: decrypting under one key and encrypting under another (or
//! the same) inside the crypto service, the plaintext never leaving it.

use serde::Deserialize;
use serde_json::{Value, json};

use super::access::Access;
use super::crypto_ops::{context, current, dry_run, encryption_algorithm, ignores_ciphertext};
use super::resolve::Accepts;
use super::wire::{Blob, ContextMap, b64, check_grant_tokens, decode, material_id, required};
use super::{Api, ApiError, Caller};
use crate::ciphertext::CiphertextHeader;
use crate::crypto::{DecryptRequest, ReEncryptRequest};
use crate::spec::Family;
use crate::usage::UsedFor;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReEncryptInput {
    ciphertext_blob: Option<Blob>,
    source_encryption_context: Option<ContextMap>,
    source_key_id: Option<String>,
    destination_key_id: Option<String>,
    destination_encryption_context: Option<ContextMap>,
    source_encryption_algorithm: Option<String>,
    destination_encryption_algorithm: Option<String>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
    dry_run_modifiers: Option<Vec<String>>,
}

impl Api {
    /// Whether a ReEncrypt decrypts and encrypts under one key (the
    /// `kms:ReEncryptOnSameKey` condition key), told before either key's
    /// policy is asked, as both are asked with it. `false` where a key is
    /// not found: the request then fails on that key anyway.
    async fn same_key(
        &self,
        caller: &Caller,
        blob: Option<&[u8]>,
        source: Option<&str>,
        destination: &str,
    ) -> bool {
        let find = |reference| async move {
            let found = self.find_key(caller, reference, Accepts::AnyForm).await;
            found.ok().map(|(key, _)| key.key_id)
        };
        let source = match source {
            Some(reference) => find(reference).await,
            None => blob.and_then(|b| CiphertextHeader::parse(b).ok().map(|h| h.key_id)),
        };
        source.is_some() && source == find(destination).await
    }

    pub(super) async fn re_encrypt(&self, caller: &Caller, body: &[u8]) -> Result<Value, ApiError> {
        let input: ReEncryptInput = decode(body)?;
        let destination_id = required(input.destination_key_id, "destinationKeyId")?;
        let source_context = context(input.source_encryption_context);
        let destination_context = context(input.destination_encryption_context);
        let source_algorithm = encryption_algorithm(input.source_encryption_algorithm.as_deref())?;
        let destination_algorithm =
            encryption_algorithm(input.destination_encryption_algorithm.as_deref())?;
        let blob = input.ciphertext_blob.map(|b| b.0);
        let same = self
            .same_key(
                caller,
                blob.as_deref(),
                input.source_key_id.as_deref(),
                &destination_id,
            )
            .await;
        let same = if same { "true" } else { "false" };
        let from_keys = [
            ("kms:EncryptionAlgorithm", source_algorithm.as_str()),
            ("kms:ReEncryptOnSameKey", same),
        ];
        let to_keys = [
            ("kms:EncryptionAlgorithm", destination_algorithm.as_str()),
            ("kms:ReEncryptOnSameKey", same),
        ];
        let from =
            Access::with_context("kms:ReEncryptFrom", source_context.pairs()).and(&from_keys);
        let to = Access::with_context("kms:ReEncryptTo", destination_context.pairs()).and(&to_keys);
        if ignores_ciphertext(input.dry_run, input.dry_run_modifiers.as_deref())? {
            self.check_dry_run_key(
                caller,
                input.source_key_id,
                "SourceKeyId",
                "ReEncrypt",
                from,
            )
            .await?;
            self.check_dry_run_key(
                caller,
                Some(destination_id),
                "DestinationKeyId",
                "ReEncrypt",
                to,
            )
            .await?;
            return Err(ApiError::DryRun);
        }
        let blob = required(blob, "ciphertextBlob")?;
        check_grant_tokens(caller, &input.grant_tokens)?;
        let source = self
            .decrypt_source(
                caller,
                &blob,
                input.source_key_id.as_deref(),
                source_algorithm,
                from,
            )
            .await?;
        let destination = self.crypto_key(caller, Some(destination_id), to).await?;
        // One request, counted once: against the asymmetric key's type if
        // either key is one.
        let counted = match source.key.spec.family() {
            Family::Symmetric => &destination,
            _ => &source.key,
        };
        self.admit_key_type(caller, counted)?;
        let destination_material = current(&destination)?;
        let (source_arn, destination_arn) = (
            self.arn.key_arn(source.key.key_id),
            self.arn.key_arn(destination.key_id),
        );
        dry_run(input.dry_run)?;
        let request = ReEncryptRequest {
            source: DecryptRequest {
                material: source.material,
                ciphertext: blob,
                context: source_context,
                algorithm: source_algorithm,
            },
            destination: destination_material.sealed.clone(),
            destination_context,
            destination_algorithm,
        };
        let ciphertext = self
            .crypto
            .re_encrypt(request)
            .await
            .map_err(|e| ApiError::from_crypto(e, &destination_arn))?;
        self.used(caller, source.key.key_id, UsedFor::ReEncrypt);
        self.used(caller, destination.key_id, UsedFor::ReEncrypt);
        Ok(json!({
            "CiphertextBlob": b64(&ciphertext),
            "SourceKeyId": source_arn,
            "KeyId": destination_arn,
            "SourceEncryptionAlgorithm": source_algorithm.as_str(),
            "DestinationEncryptionAlgorithm": destination_algorithm.as_str(),
            "SourceKeyMaterialId": material_id(&source.key, source.material_version),
            "DestinationKeyMaterialId": material_id(&destination, destination_material.version),
        }))
    }
}
