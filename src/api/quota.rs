//! Request quotas: requests per second per namespace (AWS: per account),
//! one quota per operation except the cryptographic operations, which share
//! theirs per key type, at AWS KMS's default rates (its developer guide's
//! request quotas page as of 2026; reference §4.3 has the 2023 figures,
//! lower for asymmetric keys and data key pairs). Past a quota a request is
//! refused with `ThrottlingException`, which the AWS SDKs retry with backoff,
//! so one tenant's runaway job slows itself down, not the others.
//!
//! A request is counted on arrival against its operation's quota, and a
//! cryptographic one with an RSA, elliptic curve or ML-DSA key again against
//! its key type's once the key is known (an RSA_2048 decryption takes a core
//! about a millisecond, an AES-GCM one microseconds). So an RSA Encrypt,
//! Decrypt or ReEncrypt also draws on the symmetric quota (AWS counts the
//! two apart; the endpoint cannot know the key before it reads the
//! request), and Sign, Verify and DeriveSharedSecret, which only asymmetric
//! keys do, are counted when their key is found: one refused before that
//! did no cryptography.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

use super::ApiError;
use crate::spec::{DataKeyPairSpec, Family};

/// What AWS answers past a quota.
const MESSAGE: &str =
    "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.";

/// The symmetric cryptographic operations' shared quota.
pub const CRYPTOGRAPHIC: &str = "cryptographic";
/// The cryptographic operations with RSA keys share one.
pub const RSA: &str = "rsa";
/// Those with elliptic curve keys (NIST, secp256k1, Ed25519) share one.
pub const ECC: &str = "ecc";
/// Those with ML-DSA keys share one.
pub const ML_DSA: &str = "ml-dsa";
/// Those with ML-KEM keys (Encapsulate, Decapsulate) share one. AWS's
/// figure is not in our reference; ML-DSA's is taken.
pub const ML_KEM: &str = "ml-kem";

/// The quota an operation counts against on arrival, and AWS's default
/// rate for it (the symmetric one is its smallest regional figure). Sign,
/// Verify, DeriveSharedSecret, Encapsulate and Decapsulate have none: they
/// count against their key type's ([`key_type_quota`]).
pub fn default_quota(operation: &str) -> Option<(&'static str, f64)> {
    Some(match operation {
        "Encrypt"
        | "Decrypt"
        | "ReEncrypt"
        | "GenerateDataKey"
        | "GenerateDataKeyWithoutPlaintext"
        | "GenerateMac"
        | "VerifyMac"
        | "GenerateRandom" => (CRYPTOGRAPHIC, 10_000.0),
        "DescribeKey" => ("DescribeKey", 2000.0),
        "GetPublicKey" => ("GetPublicKey", 2000.0),
        "ListResourceTags" => ("ListResourceTags", 2000.0),
        "GetKeyPolicy" => ("GetKeyPolicy", 1000.0),
        "GetKeyRotationStatus" => ("GetKeyRotationStatus", 1000.0),
        // Not in our reference; GetKeyRotationStatus's, another read of
        // one key's record, is taken.
        "GetKeyLastUsage" => ("GetKeyLastUsage", 1000.0),
        "ListAliases" => ("ListAliases", 500.0),
        "ListKeys" => ("ListKeys", 500.0),
        "ListGrants" => ("ListGrants", 100.0),
        "ListKeyPolicies" => ("ListKeyPolicies", 100.0),
        "ListRetirableGrants" => ("ListRetirableGrants", 100.0),
        "CreateGrant" => ("CreateGrant", 50.0),
        "RetireGrant" => ("RetireGrant", 30.0),
        "RevokeGrant" => ("RevokeGrant", 30.0),
        "ListKeyRotations" => ("ListKeyRotations", 100.0),
        "DeleteAlias" => ("DeleteAlias", 15.0),
        "EnableKeyRotation" => ("EnableKeyRotation", 15.0),
        "PutKeyPolicy" => ("PutKeyPolicy", 15.0),
        "ScheduleKeyDeletion" => ("ScheduleKeyDeletion", 15.0),
        "TagResource" => ("TagResource", 10.0),
        "CancelKeyDeletion" => ("CancelKeyDeletion", 5.0),
        "CreateAlias" => ("CreateAlias", 5.0),
        "CreateKey" => ("CreateKey", 5.0),
        "DisableKey" => ("DisableKey", 5.0),
        "DisableKeyRotation" => ("DisableKeyRotation", 5.0),
        "EnableKey" => ("EnableKey", 5.0),
        "RotateKeyOnDemand" => ("RotateKeyOnDemand", 5.0),
        "ImportKeyMaterial" => ("ImportKeyMaterial", 5.0),
        "DeleteImportedKeyMaterial" => ("DeleteImportedKeyMaterial", 5.0),
        // One every four seconds: each makes an RSA key pair.
        "GetParametersForImport" => ("GetParametersForImport", 0.25),
        "UntagResource" => ("UntagResource", 5.0),
        "UpdateAlias" => ("UpdateAlias", 5.0),
        "ReplicateKey" => ("ReplicateKey", 5.0),
        "UpdatePrimaryRegion" => ("UpdatePrimaryRegion", 5.0),
        "UpdateKeyDescription" => ("UpdateKeyDescription", 5.0),
        "DescribeCustomKeyStores" => ("DescribeCustomKeyStores", 5.0),
        _ => return None,
    })
}

/// The quota a cryptographic request with a key of `family` counts against
/// once the key is known, and AWS's rate for it: none for symmetric and
/// HMAC keys, whose operations' quota is theirs.
pub fn key_type_quota(family: Family) -> Option<(&'static str, f64)> {
    match family {
        Family::Symmetric | Family::Hmac => None,
        Family::Rsa => Some((RSA, 1000.0)),
        Family::Ecc | Family::Edwards => Some((ECC, 1000.0)),
        Family::MlDsa => Some((ML_DSA, 1000.0)),
        Family::MlKem => Some((ML_KEM, 1000.0)),
    }
}

/// GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext share a
/// quota per key pair spec, AWS's rates: an RSA_4096 pair costs a core
/// hundreds of milliseconds, so it has the smallest.
fn key_pair_quota(spec: DataKeyPairSpec) -> (&'static str, f64) {
    match spec {
        DataKeyPairSpec::Rsa2048 => ("GenerateDataKeyPair/RSA_2048", 20.0),
        DataKeyPairSpec::Rsa3072 => ("GenerateDataKeyPair/RSA_3072", 4.0),
        DataKeyPairSpec::Rsa4096 => ("GenerateDataKeyPair/RSA_4096", 1.0),
        DataKeyPairSpec::EccNistP256 => ("GenerateDataKeyPair/ECC_NIST_P256", 100.0),
        DataKeyPairSpec::EccNistP384 => ("GenerateDataKeyPair/ECC_NIST_P384", 100.0),
        DataKeyPairSpec::EccNistP521 => ("GenerateDataKeyPair/ECC_NIST_P521", 100.0),
        DataKeyPairSpec::EccSecgP256k1 => ("GenerateDataKeyPair/ECC_SECG_P256K1", 100.0),
        DataKeyPairSpec::EccNistEdwards25519 => {
            ("GenerateDataKeyPair/ECC_NIST_EDWARDS25519", 100.0)
        }
        // Not in our reference either; an ML-KEM pair costs what an ECC one does.
        DataKeyPairSpec::MlKem512 => ("GenerateDataKeyPair/ML_KEM_512", 100.0),
        DataKeyPairSpec::MlKem768 => ("GenerateDataKeyPair/ML_KEM_768", 100.0),
        DataKeyPairSpec::MlKem1024 => ("GenerateDataKeyPair/ML_KEM_1024", 100.0),
    }
}

/// The quota a request counts against and its default rate: by operation,
/// and for data key pairs by the `KeyPairSpec` in `body` (a request
/// without a valid one is refused before it costs anything, so it is not
/// counted).
pub fn quota_of(operation: &str, body: &[u8]) -> Option<(&'static str, f64)> {
    match operation {
        "GenerateDataKeyPair" | "GenerateDataKeyPairWithoutPlaintext" => {
            #[derive(serde::Deserialize)]
            struct Pair<'a> {
                #[serde(rename = "KeyPairSpec", borrow)]
                spec: Option<std::borrow::Cow<'a, str>>,
            }
            let pair: Pair<'_> = serde_json::from_slice(body).ok()?;
            Some(key_pair_quota(pair.spec?.parse().ok()?))
        }
        _ => default_quota(operation),
    }
}

/// Rates per quota, AWS's defaults with some changed.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaConfig {
    rates: BTreeMap<&'static str, f64>,
}

impl QuotaConfig {
    /// AWS's defaults, with `overrides` (`QUOTA=RATE`: an operation's name,
    /// or `cryptographic`, `rsa`, `ecc`, `ml-dsa` for the shared ones).
    pub fn aws_with(overrides: &[String]) -> Result<QuotaConfig, String> {
        let mut rates: BTreeMap<&'static str, f64> = super::OPERATIONS
            .iter()
            .filter_map(|operation| default_quota(operation))
            .chain(
                DataKeyPairSpec::ALL
                    .iter()
                    .map(|spec| key_pair_quota(*spec)),
            )
            .chain(
                crate::spec::KeySpec::ALL
                    .iter()
                    .filter_map(|spec| key_type_quota(spec.family())),
            )
            .collect();
        for spec in overrides {
            let (name, rate) = spec
                .split_once('=')
                .ok_or_else(|| format!("request quota {spec:?}: expected QUOTA=RATE"))?;
            let quota = rates
                .keys()
                .copied()
                .find(|known| *known == name)
                .ok_or_else(|| {
                    format!(
                        "request quota {name:?}: not a quota (an operation with a quota of its own, \
                         {CRYPTOGRAPHIC}: Encrypt, Decrypt, ReEncrypt, GenerateDataKey…, \
                         {RSA} / {ECC} / {ML_DSA} / {ML_KEM}: the cryptographic operations with such keys, \
                         or GenerateDataKeyPair/<KeyPairSpec>)"
                    )
                })?;
            let rate: f64 = rate
                .parse()
                .ok()
                .filter(|r: &f64| r.is_finite() && *r > 0.0)
                .ok_or_else(|| {
                    format!("request quota {spec:?}: the rate must be a positive number per second")
                })?;
            rates.insert(quota, rate);
        }
        Ok(QuotaConfig { rates })
    }

    pub fn rate(&self, quota: &str) -> Option<f64> {
        self.rates.get(quota).copied()
    }
}

/// A token bucket holding up to one second's worth of requests.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A bucket holds a second's worth of requests, and at least one.
fn capacity(rate: f64) -> f64 {
    rate.max(1.0)
}

/// Namespaces tracked before idle ones are forgotten: bounds memory
/// whatever callers do.
const MAX_NAMESPACES: usize = 4096;

type Buckets = HashMap<&'static str, Bucket>;

/// Admits requests within their namespace's quotas.
pub struct RequestQuotas {
    config: QuotaConfig,
    namespaces: Mutex<HashMap<String, Buckets>>,
}

impl RequestQuotas {
    pub fn new(config: QuotaConfig) -> Self {
        RequestQuotas {
            config,
            namespaces: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one `operation` request from `namespace` on its arrival at
    /// `now`; `ThrottlingException` past its quota. Operations without one
    /// (unknown targets) are not counted.
    pub fn admit(
        &self,
        namespace: &str,
        operation: &str,
        body: &[u8],
        now: Instant,
    ) -> Result<(), ApiError> {
        match quota_of(operation, body) {
            Some((quota, _)) => self.take(namespace, quota, now),
            None => Ok(()),
        }
    }

    /// Counts a cryptographic request from `namespace` with a key of
    /// `family`, found at `now`, against its key type's quota, if it has one.
    pub fn admit_key_type(
        &self,
        namespace: &str,
        family: Family,
        now: Instant,
    ) -> Result<(), ApiError> {
        match key_type_quota(family) {
            Some((quota, _)) => self.take(namespace, quota, now),
            None => Ok(()),
        }
    }

    /// Takes a token from `namespace`'s bucket of `quota`, or refuses.
    fn take(&self, namespace: &str, quota: &'static str, now: Instant) -> Result<(), ApiError> {
        let Some(rate) = self.config.rate(quota) else {
            return Ok(());
        };
        let mut namespaces = self.namespaces.lock().expect("quota lock");
        // Looked up by &str: no allocation but for a namespace's first request.
        if !namespaces.contains_key(namespace) {
            if namespaces.len() >= MAX_NAMESPACES {
                // A namespace whose buckets are all full again is one that
                // has been idle: forgetting it changes nothing.
                namespaces.retain(|_, buckets| !buckets.iter().all(|(q, b)| self.full(q, b, now)));
            }
            namespaces.insert(namespace.to_owned(), Buckets::new());
        }
        let buckets = namespaces.get_mut(namespace).expect("inserted above");
        let bucket = buckets.entry(quota).or_insert(Bucket {
            tokens: capacity(rate),
            at: now,
        });
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * rate;
        bucket.tokens = (bucket.tokens + refill).min(capacity(rate));
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(ApiError::Throttling(MESSAGE.into()))
        }
    }

    /// Whether `bucket` of `quota` has refilled to its capacity by `now`.
    fn full(&self, quota: &str, bucket: &Bucket, now: Instant) -> bool {
        let rate = self.config.rate(quota).unwrap_or(f64::INFINITY);
        bucket.tokens + now.saturating_duration_since(bucket.at).as_secs_f64() * rate
            >= capacity(rate)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn quotas(overrides: &[&str]) -> RequestQuotas {
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        RequestQuotas::new(QuotaConfig::aws_with(&overrides).unwrap())
    }

    #[test]
    fn every_served_operation_has_a_quota_and_the_crypto_ones_share_one() {
        for operation in super::super::OPERATIONS {
            let pair = operation.starts_with("GenerateDataKeyPair");
            let key_typed = [
                "Sign",
                "Verify",
                "DeriveSharedSecret",
                "Encapsulate",
                "Decapsulate",
            ]
            .contains(operation);
            assert_eq!(
                default_quota(operation).is_some(),
                !pair && !key_typed,
                "{operation}"
            );
        }
        for spec in DataKeyPairSpec::ALL {
            assert!(key_pair_quota(*spec).0.ends_with(spec.as_str()), "{spec:?}");
        }
        assert_eq!(default_quota("Encrypt"), default_quota("Decrypt"));
        assert_eq!(
            default_quota("GenerateMac"),
            Some((CRYPTOGRAPHIC, 10_000.0))
        );
        assert_eq!(default_quota("Sign"), None);
        assert_eq!(default_quota("CreateKey"), Some(("CreateKey", 5.0)));
        assert_eq!(default_quota("Frobnicate"), None);
    }

    #[test]
    fn a_burst_of_one_second_then_the_rate() {
        let q = quotas(&[]);
        let t0 = Instant::now();
        for _ in 0..5 {
            q.admit("team-a", "CreateKey", b"{}", t0).unwrap();
        }
        let refused = q.admit("team-a", "CreateKey", b"{}", t0).unwrap_err();
        assert_eq!(refused.aws_type(), "ThrottlingException");
        assert_eq!(refused.status(), 400);
        assert_eq!(refused.to_string(), MESSAGE);
        // 5 a second: one more every 200 ms, and no more than 5 saved up.
        q.admit(
            "team-a",
            "CreateKey",
            b"{}",
            t0 + Duration::from_millis(200),
        )
        .unwrap();
        assert!(
            q.admit(
                "team-a",
                "CreateKey",
                b"{}",
                t0 + Duration::from_millis(250)
            )
            .is_err()
        );
        let later = t0 + Duration::from_secs(60);
        for _ in 0..5 {
            q.admit("team-a", "CreateKey", b"{}", later).unwrap();
        }
        assert!(q.admit("team-a", "CreateKey", b"{}", later).is_err());
    }

    #[test]
    fn namespaces_and_quotas_are_counted_apart_and_shared_ones_together() {
        let q = quotas(&["cryptographic=3"]);
        let t0 = Instant::now();
        for _ in 0..5 {
            q.admit("team-a", "CreateKey", b"{}", t0).unwrap();
        }
        assert!(q.admit("team-a", "CreateKey", b"{}", t0).is_err());
        // Another namespace, another operation: untouched.
        q.admit("team-b", "CreateKey", b"{}", t0).unwrap();
        q.admit("team-a", "DescribeKey", b"{}", t0).unwrap();
        // Encrypt, Decrypt and GenerateDataKey draw on one quota.
        q.admit("team-a", "Encrypt", b"{}", t0).unwrap();
        q.admit("team-a", "Decrypt", b"{}", t0).unwrap();
        q.admit("team-a", "GenerateDataKey", b"{}", t0).unwrap();
        assert!(q.admit("team-a", "Encrypt", b"{}", t0).is_err());
        q.admit("team-a", "GetPublicKey", b"{}", t0).unwrap();
        // Targets that name no operation are not counted.
        for _ in 0..100 {
            q.admit("team-a", "Frobnicate", b"{}", t0).unwrap();
        }
    }

    #[test]
    fn asymmetric_keys_count_per_key_type_and_symmetric_ones_only_per_operation() {
        use crate::spec::KeySpec;
        let q = quotas(&["rsa=2", "ecc=1", "ml-dsa=3", "cryptographic=4"]);
        let t0 = Instant::now();
        let family = |name: &str| name.parse::<KeySpec>().unwrap().family();
        // RSA keys of every size share one quota, whatever the operation.
        q.admit_key_type("ns", family("RSA_2048"), t0).unwrap();
        q.admit_key_type("ns", family("RSA_4096"), t0).unwrap();
        let refused = q.admit_key_type("ns", family("RSA_3072"), t0).unwrap_err();
        assert_eq!(refused.aws_type(), "ThrottlingException");
        // NIST curves, secp256k1 and Ed25519 share another.
        q.admit_key_type("ns", family("ECC_NIST_P256"), t0).unwrap();
        for spec in ["ECC_NIST_P384", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"] {
            assert!(q.admit_key_type("ns", family(spec), t0).is_err(), "{spec}");
        }
        for _ in 0..3 {
            q.admit_key_type("ns", family("ML_DSA_65"), t0).unwrap();
        }
        assert!(q.admit_key_type("ns", family("ML_DSA_44"), t0).is_err());
        // Another namespace has its own.
        q.admit_key_type("other", family("RSA_2048"), t0).unwrap();
        // Symmetric and HMAC keys count only on arrival, per operation.
        for _ in 0..100 {
            q.admit_key_type("ns", family("SYMMETRIC_DEFAULT"), t0)
                .unwrap();
            q.admit_key_type("ns", family("HMAC_256"), t0).unwrap();
        }
        for _ in 0..4 {
            q.admit("ns", "Encrypt", b"{}", t0).unwrap();
        }
        assert!(q.admit("ns", "Encrypt", b"{}", t0).is_err());
        // Sign and Verify wait for their key.
        for _ in 0..100 {
            q.admit("ns", "Sign", b"{}", t0).unwrap();
        }
        // AWS's rates.
        assert_eq!(key_type_quota(family("RSA_2048")), Some((RSA, 1000.0)));
        assert_eq!(key_type_quota(family("ECC_NIST_P521")), Some((ECC, 1000.0)));
        assert_eq!(key_type_quota(family("ML_DSA_87")), Some((ML_DSA, 1000.0)));
        assert_eq!(key_type_quota(family("SYMMETRIC_DEFAULT")), None);
    }

    #[test]
    fn data_key_pairs_count_per_key_pair_spec_and_a_rate_below_one_still_admits_one() {
        let q = quotas(&["GenerateDataKeyPair/RSA_4096=0.1"]);
        let rsa = br#"{"KeyId": "k", "KeyPairSpec": "RSA_4096"}"#;
        let p256 = br#"{"KeyId": "k", "KeyPairSpec": "ECC_NIST_P256"}"#;
        let t0 = Instant::now();
        // RSA_4096: 0.1 a second, shared by both operations.
        q.admit("ns", "GenerateDataKeyPair", rsa, t0).unwrap();
        let later = t0 + Duration::from_secs(5);
        assert!(
            q.admit("ns", "GenerateDataKeyPairWithoutPlaintext", rsa, later)
                .is_err()
        );
        assert!(q.admit("ns", "GenerateDataKeyPair", rsa, later).is_err());
        q.admit(
            "ns",
            "GenerateDataKeyPair",
            rsa,
            t0 + Duration::from_secs(11),
        )
        .unwrap();
        // ECC_NIST_P256 has its own, AWS's 100 a second.
        for _ in 0..100 {
            q.admit("ns", "GenerateDataKeyPair", p256, later).unwrap();
        }
        assert!(q.admit("ns", "GenerateDataKeyPair", p256, later).is_err());
        // No spec, or not one: not counted (the operation refuses it).
        for body in [&b"{}"[..], br#"{"KeyPairSpec": "RSA_1024"}"#, b"not json"] {
            for _ in 0..30 {
                q.admit("ns", "GenerateDataKeyPair", body, later).unwrap();
            }
        }
        assert_eq!(
            quota_of("GenerateDataKeyPair", rsa),
            Some(("GenerateDataKeyPair/RSA_4096", 1.0))
        );
    }

    #[test]
    fn overrides_name_a_quota_and_a_positive_rate() {
        let config = QuotaConfig::aws_with(&[
            "CreateKey=50".into(),
            "ecc=2e3".into(),
            "GenerateDataKeyPair/RSA_4096=2".into(),
        ])
        .unwrap();
        assert_eq!(config.rate("GenerateDataKeyPair/RSA_4096"), Some(2.0));
        assert_eq!(config.rate("CreateKey"), Some(50.0));
        assert_eq!(config.rate(ECC), Some(2000.0));
        assert_eq!(config.rate(RSA), Some(1000.0));
        assert_eq!(config.rate(ML_DSA), Some(1000.0));
        assert_eq!(config.rate(CRYPTOGRAPHIC), Some(10_000.0));
        for bad in [
            "CreateKey",
            "Nope=1",
            "Encrypt=5",
            "GenerateDataKeyPair=5",
            "asymmetric=5",
            "Sign=5",
            "CreateKey=0",
            "CreateKey=-1",
            "CreateKey=inf",
            "CreateKey=x",
        ] {
            assert!(QuotaConfig::aws_with(&[bad.into()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn idle_buckets_are_forgotten_when_there_are_too_many() {
        let q = quotas(&[]);
        let t0 = Instant::now();
        for i in 0..MAX_NAMESPACES {
            q.admit(&format!("ns-{i}"), "CreateKey", b"{}", t0).unwrap();
        }
        // A second on, every bucket is full again: all forgotten for the new one.
        q.admit("newcomer", "CreateKey", b"{}", t0 + Duration::from_secs(1))
            .unwrap();
        assert_eq!(q.namespaces.lock().unwrap().len(), 1);
        // A namespace still short of tokens is remembered.
        for _ in 0..5 {
            q.admit("busy", "CreateKey", b"{}", t0 + Duration::from_secs(1))
                .unwrap();
        }
        assert!(
            q.admit("busy", "CreateKey", b"{}", t0 + Duration::from_secs(1))
                .is_err()
        );
    }
}
