//! Key import (BYOK): GetParametersForImport, ImportKeyMaterial,
//! DeleteImportedKeyMaterial, and the end of imported material's validity.
//! Which material goes where (versions, material pending rotation) is
//! `lifecycle::imported`'s to decide.

use serde::Deserialize;
use serde_json::{Value, json};

use super::access::Access;
use super::wire::{Blob, check_length, check_text, decode, parse_enum, required, timestamp};
use super::{Api, ApiError, Caller};
use crate::crypto::{CryptoError, ImportParametersRequest, UnwrapImportRequest};
use crate::import::ImportToken;
use crate::key::{ImportedMaterial, KeyRecord, Millis, Origin};
use crate::key_id::KeyId;
use crate::lifecycle::imported::ImportRefusal;
use crate::lifecycle::{self, Action, Operation};
use crate::seal::MaterialId;
use crate::spec::{
    ExpirationModel, Family, ImportType, KeySpec, WrappingAlgorithm, WrappingKeySpec,
};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ParametersInput {
    key_id: Option<String>,
    wrapping_algorithm: Option<String>,
    wrapping_key_spec: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ImportInput {
    key_id: Option<String>,
    import_token: Option<Blob>,
    encrypted_key_material: Option<Blob>,
    /// Epoch seconds.
    valid_to: Option<f64>,
    expiration_model: Option<String>,
    import_type: Option<String>,
    key_material_description: Option<String>,
    key_material_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteInput {
    key_id: Option<String>,
    key_material_id: Option<String>,
}

/// Whether RSAES-OAEP under a `wrapping` key can carry `spec`'s material:
/// RSA private keys never fit, and a P-521 key does not fit a 2048-bit
/// wrapping key (AWS refuses both).
fn oaep_carries(spec: KeySpec, wrapping: WrappingKeySpec) -> bool {
    match spec.family() {
        Family::Rsa => false,
        _ if spec == KeySpec::EccNistP521 => wrapping != WrappingKeySpec::Rsa2048,
        _ => true,
    }
}

fn is_oaep(algorithm: WrappingAlgorithm) -> bool {
    matches!(
        algorithm,
        WrappingAlgorithm::RsaesOaepSha1 | WrappingAlgorithm::RsaesOaepSha256
    )
}

/// A `KeyMaterialId` member: 64 lower-case hex digits.
fn check_material_id(id: &Option<String>) -> Result<(), ApiError> {
    let Some(id) = id else { return Ok(()) };
    check_text("keyMaterialId", id, 64, 64)?;
    if !id.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        let pattern = "Member must satisfy regular expression pattern: ^[a-f0-9]+$";
        return Err(ApiError::validation("keyMaterialId", id, pattern));
    }
    Ok(())
}

/// A `KeyMaterialDescription` member, as AWS's model bounds it.
fn check_description(description: &str) -> Result<(), ApiError> {
    check_text("keyMaterialDescription", description, 0, 256)?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || c.is_whitespace() || ":/_.-".contains(c);
    if !description.chars().all(allowed) {
        let pattern = r"Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_\s.-]+$";
        return Err(ApiError::validation(
            "keyMaterialDescription",
            description,
            pattern,
        ));
    }
    Ok(())
}

/// How the material of one import is to be kept, from the request's
/// `ExpirationModel` and `ValidTo`.
fn expiration(
    model: Option<&str>,
    valid_to: Option<f64>,
    now: Millis,
) -> Result<Option<Millis>, ApiError> {
    let model = model
        .map(|m| parse_enum::<ExpirationModel>("expirationModel", m))
        .transpose()?;
    let valid_to = valid_to.map(|seconds| (seconds * 1000.0) as Millis);
    match (model, valid_to) {
        (Some(ExpirationModel::KeyMaterialExpires) | None, Some(valid_to)) => {
            lifecycle::check_valid_to(valid_to, now)
                .map_err(|e| ApiError::Validation(e.to_string()))?;
            Ok(Some(valid_to))
        }
        (Some(ExpirationModel::KeyMaterialExpires), None) => Err(ApiError::Validation(
            "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES".into(),
        )),
        (Some(ExpirationModel::KeyMaterialDoesNotExpire), Some(_)) => Err(ApiError::Validation(
            "A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE"
                .into(),
        )),
        (Some(ExpirationModel::KeyMaterialDoesNotExpire) | None, None) => Ok(None),
    }
}

/// A refused import, as AWS words it.
fn import_refusal(refusal: ImportRefusal, arn: &str) -> ApiError {
    match refusal {
        ImportRefusal::NothingImported => ApiError::IncorrectKeyMaterial(format!(
            "No key material has been imported into {arn} yet: import it with ImportType NEW_KEY_MATERIAL."
        )),
        ImportRefusal::NotTheKeys => ApiError::IncorrectKeyMaterial(format!(
            "The key material in the request is not key material previously imported into {arn}; to import new key material, set ImportType to NEW_KEY_MATERIAL."
        )),
        ImportRefusal::AlreadyTheKeys(version) => ApiError::IncorrectKeyMaterial(format!(
            "The key material in the request is already associated with {arn} (version {version}); to import it again, set ImportType to EXISTING_KEY_MATERIAL."
        )),
        ImportRefusal::DoesNotRotate => ApiError::Unsupported(format!(
            "{arn} already has key material, and only symmetric encryption keys take new key material for on-demand rotation."
        )),
        ImportRefusal::OtherPending(id) => ApiError::InvalidState(format!(
            "{arn} already has key material {id} pending rotation: rotate the key (RotateKeyOnDemand) or delete that key material first."
        )),
        ImportRefusal::ReplicaTakesPrimarys(primary) => ApiError::Unsupported(format!(
            "{arn} is a replica key: import new key material (NEW_KEY_MATERIAL) into its primary key in {primary}, then the same key material into this one (EXISTING_KEY_MATERIAL)."
        )),
    }
}

impl Api {
    /// `UnsupportedOperationException` unless `key` takes imported material.
    fn require_external(&self, key: &KeyRecord) -> Result<(), ApiError> {
        if key.origin == Origin::External {
            return Ok(());
        }
        Err(ApiError::Unsupported(format!(
            "{} origin is {} which is not valid for this operation.",
            self.arn.key_arn(key.key_id),
            key.origin.as_str()
        )))
    }

    pub(super) async fn get_parameters_for_import(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: ParametersInput = decode(body)?;
        let algorithm: WrappingAlgorithm = parse_enum(
            "wrappingAlgorithm",
            &required(input.wrapping_algorithm, "wrappingAlgorithm")?,
        )?;
        let wrapping_spec: WrappingKeySpec = parse_enum(
            "wrappingKeySpec",
            &required(input.wrapping_key_spec, "wrappingKeySpec")?,
        )?;
        let keys = [
            ("kms:WrappingAlgorithm", algorithm.as_str()),
            ("kms:WrappingKeySpec", wrapping_spec.as_str()),
        ];
        let access = Access::to("kms:GetParametersForImport").and(&keys);
        let key = self.managed_key(caller, input.key_id, access).await?;
        self.require_external(&key)?;
        self.check_state(&key, Operation::Import)?;
        if is_oaep(algorithm) && !oaep_carries(key.spec, wrapping_spec) {
            return Err(ApiError::Validation(format!(
                "{algorithm} with a {wrapping_spec} wrapping key cannot carry {} key material; use RSA_AES_KEY_WRAP_SHA_256.",
                key.spec
            )));
        }
        let arn = self.arn.key_arn(key.key_id);
        let valid_to = self.now() + lifecycle::IMPORT_PARAMETERS_VALIDITY_MS;
        let parameters = self
            .crypto
            .import_parameters(ImportParametersRequest {
                key_id: key.key_id,
                wrapping_spec,
                algorithm,
                valid_to,
            })
            .await
            .map_err(|e| ApiError::from_crypto(e, &arn))?;
        Ok(json!({
            "KeyId": arn,
            "ImportToken": super::wire::b64(parameters.token.as_bytes()),
            "PublicKey": super::wire::b64(&parameters.public_key),
            "ParametersValidTo": timestamp(valid_to),
        }))
    }

    pub(super) async fn import_key_material(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: ImportInput = decode(body)?;
        let token = required(input.import_token, "importToken")?.0;
        check_length("importToken", token.len(), 1, 6144)?;
        let wrapped = required(input.encrypted_key_material, "encryptedKeyMaterial")?.0;
        check_length("encryptedKeyMaterial", wrapped.len(), 1, 6144)?;
        let import_type = input
            .import_type
            .as_deref()
            .map(|t| parse_enum::<ImportType>("importType", t))
            .transpose()?;
        check_material_id(&input.key_material_id)?;
        if import_type == Some(ImportType::NewKeyMaterial) && input.key_material_id.is_some() {
            return Err(ApiError::Validation(
                "You cannot specify a key material ID with ImportType set to NEW_KEY_MATERIAL."
                    .into(),
            ));
        }
        if let Some(description) = &input.key_material_description {
            check_description(description)?;
        }
        let now = self.now();
        let valid_to = expiration(input.expiration_model.as_deref(), input.valid_to, now)?;
        let model = match valid_to {
            Some(_) => ExpirationModel::KeyMaterialExpires,
            None => ExpirationModel::KeyMaterialDoesNotExpire,
        };
        let valid_to_seconds = valid_to.map(|ms| (ms / 1000).to_string());
        let mut keys = vec![("kms:ExpirationModel", model.as_str())];
        if let Some(seconds) = &valid_to_seconds {
            keys.push(("kms:ValidTo", seconds.as_str()));
        }
        let access = Access::to("kms:ImportKeyMaterial").and(&keys);
        let key = self.managed_key(caller, input.key_id, access).await?;
        self.require_external(&key)?;
        self.check_state(&key, Operation::Import)?;
        let arn = self.arn.key_arn(key.key_id);
        let token = ImportToken::from_bytes(token);
        let header = token.header().map_err(|e| ApiError::from_crypto(e, &arn))?;
        if header.key_id != key.key_id {
            return Err(ApiError::InvalidImportToken(
                "The import token was issued for a different KMS key.".into(),
            ));
        }
        if now >= header.valid_to {
            return Err(ApiError::ExpiredImportToken(
                "The import token has expired; call GetParametersForImport for a new one.".into(),
            ));
        }
        // The material's id (and so the version it belongs to) is known
        // only once it is unwrapped; sealed for the version it most likely
        // is, it is unwrapped again in the rare case it is another.
        let requested_id = input.key_material_id.as_deref();
        let mut version = lifecycle::imported::expected_version(&key, import_type, requested_id);
        let mut unwrapped = self.unwrap_for(&key, version, &token, &wrapped).await?;
        if let Some(requested) = requested_id
            && *requested != unwrapped.material_id
        {
            return Err(ApiError::IncorrectKeyMaterial(format!(
                "The key material in the request does not have the key material ID {requested}."
            )));
        }
        let material_id = unwrapped.material_id.clone();
        if let Ok(placement) = lifecycle::imported::place(&key, &material_id, import_type)
            && placement.version() != version
        {
            version = placement.version();
            unwrapped = self.unwrap_for(&key, version, &token, &wrapped).await?;
        }
        let description = input.key_material_description;
        let sealed = unwrapped.sealed;
        let (key, ()) = self
            .update_key(key.key_id, |key| {
                self.check_state(key, Operation::Import)?;
                let placement = lifecycle::imported::place(key, &material_id, import_type)
                    .map_err(|refusal| import_refusal(refusal, &arn))?;
                if placement.version() != version {
                    // The key changed between the read and this write.
                    return Err(ApiError::Conflict(format!(
                        "{arn} changed while the key material was imported; retry."
                    )));
                }
                // Imported again without one: the description stays.
                let previous = lifecycle::imported::described(key, placement)
                    .filter(|p| p.material_id == material_id);
                let description = description
                    .clone()
                    .or_else(|| previous.map(|p| p.description.clone()))
                    .unwrap_or_default();
                let imported = ImportedMaterial {
                    material_id: material_id.clone(),
                    valid_to,
                    description,
                    imported: now,
                    version,
                    since: 0,
                };
                lifecycle::imported::import(key, placement, sealed.clone(), imported);
                Ok(())
            })
            .await?;
        self.tell_replicas(&key).await;
        Ok(json!({ "KeyId": arn, "KeyMaterialId": material_id }))
    }

    /// A primary's replicas learn of its material now (new material pending
    /// rotation, to import there too; or deleted, to go there too); one not
    /// reached learns at a later sync.
    async fn tell_replicas(&self, key: &KeyRecord) {
        if key.regions.as_ref().is_some_and(|r| !r.replica) {
            // Boxed, as in `Api::respond`.
            Box::pin(self.sync_key(key)).await;
        }
    }

    /// Has the crypto service unwrap imported material and seal it for
    /// `key`'s version `version`.
    async fn unwrap_for(
        &self,
        key: &KeyRecord,
        version: u32,
        token: &ImportToken,
        wrapped: &[u8],
    ) -> Result<crate::crypto::UnwrappedMaterial, ApiError> {
        let arn = self.arn.key_arn(key.key_id);
        self.crypto
            .unwrap_import(UnwrapImportRequest {
                id: MaterialId {
                    key_id: key.key_id,
                    version,
                    spec: key.spec,
                    usage: key.usage,
                },
                token: token.clone(),
                wrapped: wrapped.to_vec(),
            })
            .await
            .map_err(|e| match e {
                CryptoError::MalformedMaterial(why) => ApiError::IncorrectKeyMaterial(format!(
                    "The key material is not valid for {arn}: {why}."
                )),
                CryptoError::InvalidCiphertext => ApiError::InvalidCiphertext(
                    "The encrypted key material could not be unwrapped with the import token's wrapping key and algorithm.".into(),
                ),
                other => ApiError::from_crypto(other, &arn),
            })
    }

    pub(super) async fn delete_imported_key_material(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: DeleteInput = decode(body)?;
        check_material_id(&input.key_material_id)?;
        let key = self
            .managed_key(
                caller,
                input.key_id,
                Access::to("kms:DeleteImportedKeyMaterial"),
            )
            .await?;
        self.require_external(&key)?;
        let arn = self.arn.key_arn(key.key_id);
        let asked = input.key_material_id.as_deref();
        let (key, material_id) = self
            .update_key(key.key_id, |key| {
                let Some(target) = lifecycle::imported::deletion_target(key, asked) else {
                    return Err(match asked {
                        Some(asked) => ApiError::NotFound(format!(
                            "Key material '{asked}' is not associated with {arn}."
                        )),
                        // Nothing was ever imported: nothing to delete.
                        None => return Ok(String::new()),
                    });
                };
                let id = lifecycle::imported::described(key, target).map(|i| i.material_id.clone());
                // Deleted already: nothing to delete, no change.
                lifecycle::imported::delete(key, target);
                Ok(id.unwrap_or_default())
            })
            .await?;
        self.tell_replicas(&key).await;
        Ok(json!({ "KeyId": arn, "KeyMaterialId": material_id }))
    }

    /// Deletes imported material that has reached its `ValidTo`, if it
    /// still has (the lifecycle run's `ExpireMaterial`).
    pub(super) async fn expire_material(&self, id: KeyId) -> Result<(), ApiError> {
        let now = self.now();
        self.update_key(id, |key| {
            if lifecycle::plan(key, now) == Some(Action::ExpireMaterial) {
                lifecycle::imported::expire(key, now);
            }
            Ok(())
        })
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oaep_carries_what_fits_its_wrapping_key() {
        use WrappingKeySpec::*;
        for spec in KeySpec::ALL {
            for wrapping in [Rsa2048, Rsa3072, Rsa4096] {
                let expected = match spec.family() {
                    Family::Rsa => false,
                    _ => !(*spec == KeySpec::EccNistP521 && wrapping == Rsa2048),
                };
                assert_eq!(oaep_carries(*spec, wrapping), expected, "{spec} {wrapping}");
            }
        }
    }

    #[test]
    fn expiration_needs_a_valid_to_exactly_when_material_expires() {
        let now = 1_000_000_000_000;
        let day = crate::key::DAY_MS as f64 / 1000.0;
        let in_a_day = (now as f64 / 1000.0) + day;
        assert_eq!(expiration(None, None, now), Ok(None));
        assert_eq!(
            expiration(Some("KEY_MATERIAL_DOES_NOT_EXPIRE"), None, now),
            Ok(None)
        );
        let expected = Some(now + crate::key::DAY_MS);
        assert_eq!(expiration(None, Some(in_a_day), now), Ok(expected));
        assert_eq!(
            expiration(Some("KEY_MATERIAL_EXPIRES"), Some(in_a_day), now),
            Ok(expected)
        );
        for (model, valid_to) in [
            (Some("KEY_MATERIAL_EXPIRES"), None),
            (Some("KEY_MATERIAL_DOES_NOT_EXPIRE"), Some(in_a_day)),
            (None, Some(now as f64 / 1000.0)),
            (None, Some(in_a_day + 365.0 * day)),
            (Some("SOMETIMES"), None),
        ] {
            assert!(
                matches!(
                    expiration(model, valid_to, now),
                    Err(ApiError::Validation(_))
                ),
                "{model:?} {valid_to:?}"
            );
        }
    }
}
