//! Does material supplied from outside equal what a sealed blob holds?
//! Answered with the service's own operations on a probe, so the stored
//! material is never unsealed outside it: a ciphertext made with one that
//! the other opens, the same MAC, or the same public key.

use super::{CryptoError, CryptoService, DecryptRequest, EncryptRequest, MacRequest};
use crate::ciphertext::EncryptionContext;
use crate::seal::{MaterialId, SealedMaterial};
use crate::secret::SecretBytes;
use crate::spec::{EncryptionAlgorithm, Family};

const PROBE: &[u8] = b"kube-kms material comparison";

/// Whether `supplied` (material for `id`, in the encoding `import_material`
/// takes) is the material sealed in `stored`, which must be `id`'s.
pub async fn holds(
    crypto: &dyn CryptoService,
    stored: &SealedMaterial,
    id: MaterialId,
    supplied: SecretBytes,
) -> Result<bool, CryptoError> {
    let imported = crypto.import_material(id, supplied).await?;
    match id.spec.family() {
        Family::Symmetric => {
            let ciphertext = crypto
                .encrypt(EncryptRequest {
                    material: imported,
                    plaintext: SecretBytes::new(PROBE.to_vec()),
                    context: EncryptionContext::default(),
                    algorithm: EncryptionAlgorithm::SymmetricDefault,
                })
                .await?;
            let opened = crypto
                .decrypt(DecryptRequest {
                    material: stored.clone(),
                    ciphertext,
                    context: EncryptionContext::default(),
                    algorithm: EncryptionAlgorithm::SymmetricDefault,
                })
                .await;
            match opened {
                Ok(_) => Ok(true),
                Err(CryptoError::InvalidCiphertext) => Ok(false),
                Err(e) => Err(e),
            }
        }
        Family::Hmac => {
            let algorithm = id.spec.mac_algorithms()[0];
            let mac = |material: SealedMaterial| {
                crypto.generate_mac(MacRequest {
                    material,
                    message: PROBE.to_vec(),
                    algorithm,
                })
            };
            Ok(mac(imported).await? == mac(stored.clone()).await?)
        }
        Family::Rsa | Family::Ecc | Family::Edwards | Family::MlDsa | Family::MlKem => {
            Ok(crypto.get_public_key(imported).await?
                == crypto.get_public_key(stored.clone()).await?)
        }
    }
}
