//! Asymmetric and HMAC operations: Sign, Verify, GetPublicKey, GenerateMac,
//! VerifyMac.

use serde::Deserialize;
use serde_json::{Value, json};

use super::access::Access;
use super::crypto_ops::{current, dry_run};
use super::wire::{
    Blob, KeyInput, b64, check_grant_tokens, check_length, decode, parse_enum, required,
};
use super::{Api, ApiError, Caller};
use crate::crypto::{MacRequest, SignRequest, VerifyRequest};
use crate::key::KeyRecord;
use crate::spec::{MacAlgorithm, MessageType, SigningAlgorithm};
use crate::usage::UsedFor;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SignInput {
    key_id: Option<String>,
    message: Option<Blob>,
    message_type: Option<String>,
    signing_algorithm: Option<String>,
    signature: Option<Blob>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MacInput {
    key_id: Option<String>,
    message: Option<Blob>,
    mac_algorithm: Option<String>,
    mac: Option<Blob>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
}

impl Api {
    async fn sign_input(
        &self,
        caller: &Caller,
        input: &mut SignInput,
        action: &'static str,
    ) -> Result<(KeyRecord, MessageType, SigningAlgorithm, Vec<u8>), ApiError> {
        let message = required(input.message.take(), "message")?.0;
        check_length("message", message.len(), 1, 4096)?;
        check_grant_tokens(caller, &input.grant_tokens)?;
        let algorithm = required(input.signing_algorithm.as_deref(), "signingAlgorithm")?;
        let algorithm: SigningAlgorithm = parse_enum("signingAlgorithm", algorithm)?;
        let message_type = match input.message_type.as_deref() {
            None => MessageType::Raw,
            Some(t) => parse_enum("messageType", t)?,
        };
        let keys = [
            ("kms:SigningAlgorithm", algorithm.as_str()),
            ("kms:MessageType", message_type.as_str()),
        ];
        let access = Access::to(action).and(&keys);
        let key = self.crypto_key(caller, input.key_id.take(), access).await?;
        self.admit_key_type(caller, &key)?;
        Ok((key, message_type, algorithm, message))
    }

    pub(super) async fn sign(&self, caller: &Caller, body: &[u8]) -> Result<Value, ApiError> {
        let mut input: SignInput = decode(body)?;
        let (key, message_type, algorithm, message) =
            self.sign_input(caller, &mut input, "kms:Sign").await?;
        let arn = self.arn.key_arn(key.key_id);
        let material = current(&key)?.sealed.clone();
        dry_run(input.dry_run)?;
        let signature = self
            .crypto
            .sign(SignRequest {
                material,
                message,
                message_type,
                algorithm,
            })
            .await
            .map_err(|e| ApiError::from_crypto(e, &arn))?;
        self.used(caller, key.key_id, UsedFor::Sign);
        Ok(
            json!({ "KeyId": arn, "Signature": b64(&signature), "SigningAlgorithm": algorithm.as_str() }),
        )
    }

    pub(super) async fn verify(&self, caller: &Caller, body: &[u8]) -> Result<Value, ApiError> {
        let mut input: SignInput = decode(body)?;
        let signature = required(input.signature.take(), "signature")?.0;
        check_length("signature", signature.len(), 1, 6144)?;
        let (key, message_type, algorithm, message) =
            self.sign_input(caller, &mut input, "kms:Verify").await?;
        let arn = self.arn.key_arn(key.key_id);
        let material = current(&key)?.sealed.clone();
        dry_run(input.dry_run)?;
        self.crypto
            .verify(VerifyRequest {
                material,
                message,
                message_type,
                algorithm,
                signature,
            })
            .await
            .map_err(|e| ApiError::from_crypto(e, &arn))?;
        self.used(caller, key.key_id, UsedFor::Verify);
        Ok(json!({ "KeyId": arn, "SignatureValid": true, "SigningAlgorithm": algorithm.as_str() }))
    }

    pub(super) async fn get_public_key(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: KeyInput = decode(body)?;
        check_grant_tokens(caller, &input.grant_tokens)?;
        let key = self
            .crypto_key(caller, input.key_id, Access::to("kms:GetPublicKey"))
            .await?;
        let arn = self.arn.key_arn(key.key_id);
        let material = current(&key)?.sealed.clone();
        let public_key = self
            .crypto
            .get_public_key(material)
            .await
            .map_err(|e| ApiError::from_crypto(e, &arn))?;
        let mut out = json!({
            "KeyId": arn,
            "PublicKey": b64(&public_key),
            "KeySpec": key.spec.as_str(),
            "KeyUsage": key.usage.as_str(),
        });
        if let Some(spec) = key.spec.customer_master_key_spec() {
            out["CustomerMasterKeySpec"] = json!(spec);
        }
        let encryption: Vec<_> = key
            .spec
            .encryption_algorithms(key.usage)
            .iter()
            .map(|a| a.as_str())
            .collect();
        let signing: Vec<_> = key
            .spec
            .signing_algorithms(key.usage)
            .iter()
            .map(|a| a.as_str())
            .collect();
        if !encryption.is_empty() {
            out["EncryptionAlgorithms"] = json!(encryption);
        }
        if !signing.is_empty() {
            out["SigningAlgorithms"] = json!(signing);
        }
        let agreement: Vec<_> = key
            .spec
            .key_agreement_algorithms(key.usage)
            .iter()
            .map(|a| a.as_str())
            .collect();
        if !agreement.is_empty() {
            out["KeyAgreementAlgorithms"] = json!(agreement);
        }
        let encapsulation = key.spec.encapsulation_algorithms();
        if !encapsulation.is_empty() {
            let names: Vec<_> = encapsulation.iter().map(|a| a.as_str()).collect();
            out["EncapsulationAlgorithms"] = json!(names);
        }
        Ok(out)
    }

    async fn mac_input(
        &self,
        caller: &Caller,
        input: &mut MacInput,
        action: &'static str,
    ) -> Result<(KeyRecord, MacRequest), ApiError> {
        let message = required(input.message.take(), "message")?.0;
        check_length("message", message.len(), 1, 4096)?;
        check_grant_tokens(caller, &input.grant_tokens)?;
        let algorithm = required(input.mac_algorithm.as_deref(), "macAlgorithm")?;
        let algorithm: MacAlgorithm = parse_enum("macAlgorithm", algorithm)?;
        let keys = [("kms:MacAlgorithm", algorithm.as_str())];
        let access = Access::to(action).and(&keys);
        let key = self.crypto_key(caller, input.key_id.take(), access).await?;
        let material = current(&key)?.sealed.clone();
        Ok((
            key,
            MacRequest {
                material,
                message,
                algorithm,
            },
        ))
    }

    pub(super) async fn generate_mac(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let mut input: MacInput = decode(body)?;
        let (key, request) = self
            .mac_input(caller, &mut input, "kms:GenerateMac")
            .await?;
        let arn = self.arn.key_arn(key.key_id);
        let algorithm = request.algorithm;
        dry_run(input.dry_run)?;
        let mac = self
            .crypto
            .generate_mac(request)
            .await
            .map_err(|e| ApiError::from_crypto(e, &arn))?;
        self.used(caller, key.key_id, UsedFor::GenerateMac);
        Ok(json!({ "Mac": b64(&mac), "MacAlgorithm": algorithm.as_str(), "KeyId": arn }))
    }

    pub(super) async fn verify_mac(&self, caller: &Caller, body: &[u8]) -> Result<Value, ApiError> {
        let mut input: MacInput = decode(body)?;
        let mac = required(input.mac.take(), "mac")?.0;
        check_length("mac", mac.len(), 1, 6144)?;
        let (key, request) = self.mac_input(caller, &mut input, "kms:VerifyMac").await?;
        let arn = self.arn.key_arn(key.key_id);
        let algorithm = request.algorithm;
        dry_run(input.dry_run)?;
        self.crypto
            .verify_mac(request, mac)
            .await
            .map_err(|e| ApiError::from_crypto(e, &arn))?;
        self.used(caller, key.key_id, UsedFor::VerifyMac);
        Ok(json!({ "KeyId": arn, "MacValid": true, "MacAlgorithm": algorithm.as_str() }))
    }
}
