//! ML-KEM keys (ML_KEM_512/768/1024, FIPS 203) from RustCrypto's `ml-kem`.
//!
//! The material is PKCS#8 holding the 64-byte seed (d ‖ z), the form AWS
//! returns for ML-KEM data key pairs; the key is expanded from it when
//! loaded. Decapsulation rejects implicitly: a ciphertext of the right
//! length made under another key, or altered, yields a pseudo-random
//! secret, not an error (FIPS 203 §6.3), as AWS's Decapsulate does.

use ml_kem::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use ml_kem::{Decapsulate, DecapsulationKey, Encapsulate, MlKem512, MlKem768, MlKem1024, Seed};

use crate::crypto::CryptoError;
use crate::secret::SecretBytes;
use crate::spec::KeySpec;

/// A parsed ML-KEM decapsulation key of one parameter set.
enum Pair {
    K512(DecapsulationKey<MlKem512>),
    K768(DecapsulationKey<MlKem768>),
    K1024(DecapsulationKey<MlKem1024>),
}

/// Runs `$body` with `$dk` bound to the key of whichever parameter set.
macro_rules! with_key {
    ($pair:expr, $dk:ident => $body:expr) => {
        match $pair {
            Pair::K512($dk) => $body,
            Pair::K768($dk) => $body,
            Pair::K1024($dk) => $body,
        }
    };
}

fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

fn not_ml_kem(spec: KeySpec) -> CryptoError {
    CryptoError::Internal(format!("{spec} is not an ML-KEM spec"))
}

/// A fresh key as PKCS#8 holding its seed, drawn from the operating
/// system's CSPRNG.
pub fn generate_pkcs8(spec: KeySpec) -> Result<SecretBytes, CryptoError> {
    let random = super::random_bytes(64);
    let seed = Seed::try_from(&random[..]).expect("64 bytes");
    let pair = match spec {
        KeySpec::MlKem512 => Pair::K512(DecapsulationKey::from_seed(seed)),
        KeySpec::MlKem768 => Pair::K768(DecapsulationKey::from_seed(seed)),
        KeySpec::MlKem1024 => Pair::K1024(DecapsulationKey::from_seed(seed)),
        other => return Err(not_ml_kem(other)),
    };
    let failed = |_| CryptoError::Internal("ML-KEM key encoding failed".into());
    let document = with_key!(&pair, dk => dk.to_pkcs8_der().map_err(failed)?);
    Ok(SecretBytes::new(document.as_bytes().to_vec()))
}

/// A parsed ML-KEM private key with its public key.
pub struct MlKemKey {
    spec: KeySpec,
    pair: Pair,
    public_der: Vec<u8>,
}

impl MlKemKey {
    /// Reads PKCS#8 holding the seed, for the parameter set of `spec` (the
    /// algorithm identifier must name it).
    pub fn from_pkcs8(spec: KeySpec, der: &[u8]) -> Result<Self, String> {
        let pair = match spec {
            KeySpec::MlKem512 => Pair::K512(DecapsulationKey::from_pkcs8_der(der).map_err(text)?),
            KeySpec::MlKem768 => Pair::K768(DecapsulationKey::from_pkcs8_der(der).map_err(text)?),
            KeySpec::MlKem1024 => Pair::K1024(DecapsulationKey::from_pkcs8_der(der).map_err(text)?),
            other => return Err(not_ml_kem(other).to_string()),
        };
        let public_der = with_key!(&pair, dk => dk.encapsulation_key().to_public_key_der())
            .map_err(|e| format!("public key encoding failed: {e}"))?
            .into_vec();
        Ok(MlKemKey {
            spec,
            pair,
            public_der,
        })
    }

    /// SubjectPublicKeyInfo DER.
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_der
    }

    /// A fresh 32-byte shared secret and its ciphertext under this key's
    /// public key: `(ciphertext, secret)`.
    pub fn encapsulate(&self) -> (Vec<u8>, SecretBytes) {
        with_key!(&self.pair, dk => {
            let (ciphertext, secret) = dk.encapsulation_key().encapsulate();
            (ciphertext.to_vec(), SecretBytes::new(secret.to_vec()))
        })
    }

    /// The shared secret `ciphertext` holds for this key. A ciphertext of
    /// another length than the parameter set's is `InvalidCiphertext`.
    pub fn decapsulate(&self, ciphertext: &[u8]) -> Result<SecretBytes, CryptoError> {
        if Some(ciphertext.len()) != self.spec.ml_kem_ciphertext_len() {
            return Err(CryptoError::InvalidCiphertext);
        }
        let invalid = |_| CryptoError::InvalidCiphertext;
        Ok(with_key!(&self.pair, dk => {
            let secret = dk.decapsulate(&ciphertext.try_into().map_err(invalid)?);
            SecretBytes::new(secret.to_vec())
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_set_round_trips_through_its_pkcs8_seed() {
        for (spec, ciphertext_len, public_len) in [
            (KeySpec::MlKem512, 768, 800),
            (KeySpec::MlKem768, 1088, 1184),
            (KeySpec::MlKem1024, 1568, 1568),
        ] {
            let der = generate_pkcs8(spec).unwrap();
            // PKCS#8 v1 with the [0] seed: the same length for every set.
            assert_eq!(der.len(), 86, "{spec}");
            let key = MlKemKey::from_pkcs8(spec, &der).unwrap();
            assert!(key.public_key_der().len() > public_len, "{spec}");
            let (ciphertext, secret) = key.encapsulate();
            assert_eq!((ciphertext.len(), secret.len()), (ciphertext_len, 32));
            assert_eq!(&key.decapsulate(&ciphertext).unwrap()[..], &secret[..]);
            // Loaded again from the same seed: the same key.
            let again = MlKemKey::from_pkcs8(spec, &der).unwrap();
            assert_eq!(again.public_key_der(), key.public_key_der());
            assert_eq!(&again.decapsulate(&ciphertext).unwrap()[..], &secret[..]);
        }
    }

    #[test]
    fn a_ciphertext_of_another_key_or_altered_yields_another_secret() {
        let spec = KeySpec::MlKem768;
        let key = MlKemKey::from_pkcs8(spec, &generate_pkcs8(spec).unwrap()).unwrap();
        let other = MlKemKey::from_pkcs8(spec, &generate_pkcs8(spec).unwrap()).unwrap();
        let (mut ciphertext, secret) = other.encapsulate();
        let rejected = key.decapsulate(&ciphertext).unwrap();
        assert_eq!(rejected.len(), 32);
        assert_ne!(&rejected[..], &secret[..]);
        ciphertext[0] ^= 1;
        let altered = other.decapsulate(&ciphertext).unwrap();
        assert_ne!(&altered[..], &secret[..]);
        for len in [0, 1087, 1089, 768] {
            assert!(matches!(
                key.decapsulate(&vec![0; len]),
                Err(CryptoError::InvalidCiphertext)
            ));
        }
    }

    #[test]
    fn material_of_another_parameter_set_is_refused() {
        let der = generate_pkcs8(KeySpec::MlKem512).unwrap();
        assert!(MlKemKey::from_pkcs8(KeySpec::MlKem768, &der).is_err());
        assert!(MlKemKey::from_pkcs8(KeySpec::MlKem768, b"not der").is_err());
        assert!(generate_pkcs8(KeySpec::MlDsa65).is_err());
    }
}
