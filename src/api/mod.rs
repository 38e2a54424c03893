//! The AWS-KMS-compatible endpoint: operations over a [`KeyStore`] and a
//! [`CryptoService`], independent of HTTP (see `http`) and of where keys are
//! stored.

mod access;
mod agreement_ops;
mod alias_ops;
pub mod certificate;
mod crypto_ops;
mod custom_key_store_ops;
mod deadline;
pub mod delegation;
mod error;
mod grant_list_ops;
mod grant_ops;
pub mod http;
mod idle;
mod import_ops;
mod kem_ops;
mod key_ops;
pub mod listen;
pub mod metrics;
mod mint;
mod not_served;
mod page;
pub mod peer;
mod policy_ops;
mod primary_ops;
pub mod quota;
mod re_encrypt_ops;
pub mod readiness;
mod replica_metrics;
mod replica_ops;
mod replicate_declared;
mod replicate_ops;
mod replicate_pull;
pub mod reply;
mod resolve;
mod rotation_ops;
mod signing_ops;
mod usage_ops;
mod wire;

pub use access::caller_arn;
pub use alias_ops::validate_alias_name;
pub use mint::FirstMaterial;
pub use replicate_pull::DeclaredReplica;

pub use error::ApiError;
pub use wire::key_material_id;

use std::sync::Arc;

use serde_json::Value;

use crate::crypto::CryptoService;
use crate::key::{KeyRecord, Millis};
use crate::key_id::KeyId;
use crate::lifecycle::{self, Operation, Refusal};
use crate::request_id::RequestId;
use crate::store::{KeyStore, StoreError};
use crate::usage::UsageLog;

/// Where ARNs say keys live.
#[derive(Debug, Clone)]
pub struct ArnConfig {
    pub partition: String,
    pub region: String,
    pub account: String,
}

impl Default for ArnConfig {
    fn default() -> Self {
        ArnConfig {
            partition: "aws".into(),
            region: "us-east-1".into(),
            account: "111122223333".into(),
        }
    }
}

impl ArnConfig {
    // Built with push_str: key_arn runs on every request, and the fmt
    // machinery was a visible share of an Encrypt's CPU.
    pub fn key_arn(&self, id: KeyId) -> String {
        let mut arn = self.with_prefix(4 + KeyId::LEN);
        arn.push_str("key/");
        id.push_to(&mut arn);
        arn
    }

    /// A key's ARN in another Region of this partition and account (a
    /// multi-Region key's primary or replica).
    pub fn key_arn_in(&self, region: &str, id: KeyId) -> String {
        ArnConfig {
            region: region.to_owned(),
            ..self.clone()
        }
        .key_arn(id)
    }

    pub fn alias_arn(&self, name: &str) -> String {
        let mut arn = self.with_prefix(name.len());
        arn.push_str(name);
        arn
    }

    /// What follows `arn:<partition>:kms:<region>:<account>:` in `arn`, if
    /// it names this partition, region and account.
    pub fn strip_prefix<'a>(&self, arn: &'a str) -> Option<&'a str> {
        self.parts()
            .iter()
            .try_fold(arn, |rest, part| rest.strip_prefix(part))
    }

    fn parts(&self) -> [&str; 7] {
        [
            "arn:",
            &self.partition,
            ":kms:",
            &self.region,
            ":",
            &self.account,
            ":",
        ]
    }

    /// `arn:<partition>:kms:<region>:<account>:`, with room for `more`.
    fn with_prefix(&self, more: usize) -> String {
        let parts = self.parts();
        let mut arn = String::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + more);
        for part in parts {
            arn.push_str(part);
        }
        arn
    }
}

/// Who is calling: a principal in a namespace (its tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub namespace: String,
    pub principal: String,
    /// This request's id, as its reply's `x-amzn-RequestId` gives it.
    pub request_id: RequestId,
    /// The keys this request resolved, for its audit record.
    pub keys: Touched,
    /// Where the request came from, if it came over the network (key
    /// policies' `aws:SourceIp` and `aws:SecureTransport`).
    pub source: Option<http::Peer>,
    /// The grant tokens the request presented (`GrantTokens`).
    pub tokens: Presented,
}

/// What one request gathers as it runs, for later steps of the same
/// request. A clone is another request's: empty; and it is not part of
/// who is calling.
#[derive(Debug, Default)]
pub struct PerRequest<T>(std::sync::Mutex<T>);

impl<T> PerRequest<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T: Default> Clone for PerRequest<T> {
    fn clone(&self) -> Self {
        PerRequest::default()
    }
}

impl<T> PartialEq for PerRequest<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> Eq for PerRequest<T> {}

/// Keys one request resolved, in order.
pub type Touched = PerRequest<Vec<KeyId>>;

impl Touched {
    pub fn add(&self, id: KeyId) {
        let mut keys = self.lock();
        if !keys.contains(&id) {
            keys.push(id);
        }
    }

    pub fn take(&self) -> Vec<KeyId> {
        std::mem::take(&mut *self.lock())
    }
}

/// Grant tokens one request presented.
pub type Presented = PerRequest<Vec<crate::grant::TokenRef>>;

impl Presented {
    pub fn set(&self, tokens: Vec<crate::grant::TokenRef>) {
        *self.lock() = tokens;
    }

    pub fn get(&self) -> Vec<crate::grant::TokenRef> {
        self.lock().clone()
    }
}

impl Caller {
    /// `principal` in `namespace`, in a request of its own.
    pub fn new(namespace: impl Into<String>, principal: impl Into<String>) -> Self {
        Caller {
            namespace: namespace.into(),
            principal: principal.into(),
            request_id: RequestId::next(),
            keys: Touched::default(),
            source: None,
            tokens: Presented::default(),
        }
    }
}

/// The time source; tests move it.
pub type Clock = Arc<dyn Fn() -> Millis + Send + Sync>;

/// How often key uses recorded in memory go to the store
/// (GetKeyLastUsage answers from memory meanwhile).
pub const USAGE_WRITE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

pub fn system_clock() -> Clock {
    Arc::new(crate::key::now_millis)
}

pub struct Api {
    store: Arc<dyn KeyStore>,
    crypto: Arc<dyn CryptoService>,
    arn: ArnConfig,
    clock: Clock,
    /// Key type quotas, if enforced: counted once a request's key is known.
    quotas: Option<Arc<quota::RequestQuotas>>,
    /// Keys' last uses, if the store keeps them (GetKeyLastUsage).
    usage: Option<Arc<UsageLog>>,
    policies: access::PolicyCache,
    /// What decides where a key policy allows the account (RBAC in a
    /// cluster); none in `serve`, where every caller is the account's.
    account: Option<Arc<dyn delegation::AccountAccess>>,
    /// The other Regions of multi-Region keys, if configured (replaced
    /// when the peers file changes).
    peers: std::sync::RwLock<Option<Arc<peer::PeerClient>>>,
    /// Replicas `serve`'s manifests declare that have not arrived.
    declared: replicate_pull::Declared,
}

/// Every operation the endpoint serves, by its `X-Amz-Target` name.
pub const OPERATIONS: &[&str] = &[
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateRandom",
    "Sign",
    "Verify",
    "GetPublicKey",
    "DeriveSharedSecret",
    "Encapsulate",
    "Decapsulate",
    "GenerateMac",
    "VerifyMac",
    "CreateKey",
    "DescribeKey",
    "ListKeys",
    "EnableKey",
    "DisableKey",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "UpdateKeyDescription",
    "GetKeyLastUsage",
    "EnableKeyRotation",
    "DisableKeyRotation",
    "GetKeyRotationStatus",
    "RotateKeyOnDemand",
    "ListKeyRotations",
    "GetParametersForImport",
    "ImportKeyMaterial",
    "DeleteImportedKeyMaterial",
    "CreateAlias",
    "UpdateAlias",
    "DeleteAlias",
    "ListAliases",
    "TagResource",
    "UntagResource",
    "ListResourceTags",
    "GetKeyPolicy",
    "PutKeyPolicy",
    "ListKeyPolicies",
    "CreateGrant",
    "ListGrants",
    "ListRetirableGrants",
    "RetireGrant",
    "RevokeGrant",
    "DescribeCustomKeyStores",
    "ReplicateKey",
    "UpdatePrimaryRegion",
];

impl Api {
    pub fn new(
        store: Arc<dyn KeyStore>,
        crypto: Arc<dyn CryptoService>,
        arn: ArnConfig,
        clock: Clock,
    ) -> Self {
        let usage = store
            .usage_tracked_since()
            .map(|_| Arc::new(UsageLog::default()));
        Api {
            store,
            crypto,
            arn,
            clock,
            quotas: None,
            usage,
            policies: access::PolicyCache::default(),
            account: None,
            peers: Default::default(),
            declared: Default::default(),
        }
    }

    /// Replicates multi-Region keys to, and accepts replicas from, the
    /// Regions `peers` names.
    pub fn with_peers(mut self, peers: Option<peer::PeerClient>) -> Self {
        self.peers = std::sync::RwLock::new(peers.map(Arc::new));
        self
    }

    /// The peer Regions as the peers file has them now.
    fn peers(&self) -> Option<Arc<peer::PeerClient>> {
        self.peers.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Takes `file` (the peers file, changed) as this endpoint's peer
    /// Regions from now on; refused (the peers before stay) if a CA file it
    /// names does not load, or if this endpoint was started without peers.
    pub fn reload_peers(&self, file: crate::replica::peers_file::PeersFile) -> Result<(), String> {
        let mut peers = self.peers.write().unwrap_or_else(|e| e.into_inner());
        let Some(before) = peers.as_ref() else {
            return Err("this endpoint was started without --peers".into());
        };
        *peers = Some(Arc::new(before.reloaded(file)?));
        Ok(())
    }

    /// Follows the peers file at `path`: this endpoint's peer Regions and,
    /// with `in_process`, that crypto service's trusted identities change
    /// together; the peer client first, so a CA file that does not load
    /// changes neither. (A crypto sidecar follows its own mount.)
    pub async fn follow_peers(
        self: Arc<Self>,
        path: std::path::PathBuf,
        in_process: Option<Arc<crate::crypto::LocalCryptoService>>,
    ) {
        use crate::replica::peers_file::{CHECK_INTERVAL, PeersFile};
        PeersFile::follow(path, CHECK_INTERVAL, move |file| {
            let trusted = file.trust();
            self.reload_peers(file)?;
            if let Some(local) = &in_process {
                local.engine().trust(trusted);
            }
            Ok(())
        })
        .await
    }

    /// Hands the decisions a key policy leaves to the account to `account`.
    pub fn with_account_access(
        mut self,
        account: Option<Arc<dyn delegation::AccountAccess>>,
    ) -> Self {
        self.account = account;
        self
    }

    /// Counts cryptographic requests with asymmetric keys against their key
    /// type's quotas (the HTTP shell counts every request against its
    /// operation's with the same `quotas`).
    pub fn with_quotas(mut self, quotas: Option<Arc<quota::RequestQuotas>>) -> Self {
        self.quotas = quotas;
        self
    }

    pub fn arn_config(&self) -> &ArnConfig {
        &self.arn
    }

    pub fn store(&self) -> &Arc<dyn KeyStore> {
        &self.store
    }

    pub fn crypto(&self) -> &Arc<dyn CryptoService> {
        &self.crypto
    }

    pub fn now(&self) -> Millis {
        (self.clock)()
    }

    /// Runs `operation` with a JSON request body; returns the JSON response.
    pub async fn call(
        &self,
        caller: &Caller,
        operation: &str,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        self.respond(caller, operation, body)
            .await
            .map(reply::Reply::into_value)
    }

    /// Runs `operation` with a JSON request body; returns the reply ready
    /// to be written as the HTTP body.
    pub async fn respond(
        &self,
        caller: &Caller,
        operation: &str,
        body: &[u8],
    ) -> Result<reply::Reply, ApiError> {
        // Operations on the account ask its access control first (no key
        // policy is theirs).
        if self.account.is_some() {
            self.authorize_account(caller, operation).await?;
        }
        // The data plane writes its replies directly (see `reply`).
        let value = match operation {
            "Encrypt" => return self.encrypt(caller, body).await,
            "Decrypt" => return self.decrypt(caller, body).await,
            "GenerateDataKey" => return self.generate_data_key(caller, body, true).await,
            "GenerateDataKeyWithoutPlaintext" => {
                return self.generate_data_key(caller, body, false).await;
            }
            "ReEncrypt" => self.re_encrypt(caller, body).await,
            "GenerateDataKeyPair" => self.generate_data_key_pair(caller, body, true).await,
            "GenerateDataKeyPairWithoutPlaintext" => {
                self.generate_data_key_pair(caller, body, false).await
            }
            "GenerateRandom" => self.generate_random(body).await,
            "Sign" => self.sign(caller, body).await,
            "Verify" => self.verify(caller, body).await,
            "GetPublicKey" => self.get_public_key(caller, body).await,
            "DeriveSharedSecret" => self.derive_shared_secret(caller, body).await,
            "Encapsulate" => self.encapsulate(caller, body).await,
            "Decapsulate" => self.decapsulate(caller, body).await,
            "GenerateMac" => self.generate_mac(caller, body).await,
            "VerifyMac" => self.verify_mac(caller, body).await,
            "CreateKey" => self.create_key(caller, body).await,
            "DescribeKey" => self.describe_key(caller, body).await,
            "ListKeys" => self.list_keys(caller, body).await,
            "EnableKey" => self.set_enabled(caller, body, true).await,
            "DisableKey" => self.set_enabled(caller, body, false).await,
            "ScheduleKeyDeletion" => self.schedule_key_deletion(caller, body).await,
            "CancelKeyDeletion" => self.cancel_key_deletion(caller, body).await,
            "UpdateKeyDescription" => self.update_key_description(caller, body).await,
            "GetKeyLastUsage" => self.get_key_last_usage(caller, body).await,
            "EnableKeyRotation" => self.enable_key_rotation(caller, body).await,
            "DisableKeyRotation" => self.disable_key_rotation(caller, body).await,
            "GetKeyRotationStatus" => self.get_key_rotation_status(caller, body).await,
            "RotateKeyOnDemand" => self.rotate_key_on_demand(caller, body).await,
            "ListKeyRotations" => self.list_key_rotations(caller, body).await,
            "GetParametersForImport" => self.get_parameters_for_import(caller, body).await,
            "ImportKeyMaterial" => self.import_key_material(caller, body).await,
            "DeleteImportedKeyMaterial" => self.delete_imported_key_material(caller, body).await,
            "CreateAlias" => self.create_alias(caller, body).await,
            "UpdateAlias" => self.update_alias(caller, body).await,
            "DeleteAlias" => self.delete_alias(caller, body).await,
            "ListAliases" => self.list_aliases(caller, body).await,
            "TagResource" => self.tag_resource(caller, body).await,
            "UntagResource" => self.untag_resource(caller, body).await,
            "ListResourceTags" => self.list_resource_tags(caller, body).await,
            "GetKeyPolicy" => self.get_key_policy(caller, body).await,
            "PutKeyPolicy" => self.put_key_policy(caller, body).await,
            "ListKeyPolicies" => self.list_key_policies(caller, body).await,
            "CreateGrant" => self.create_grant(caller, body).await,
            "ListGrants" => self.list_grants(caller, body).await,
            "RetireGrant" => self.retire_grant(caller, body).await,
            "RevokeGrant" => self.revoke_grant(caller, body).await,
            "ListRetirableGrants" => self.list_retirable_grants(caller, body).await,
            "DescribeCustomKeyStores" => self.describe_custom_key_stores(body).await,
            // Boxed: they wait on other Regions' endpoints, and their
            // futures inline would make every request's future as large
            // (an Encrypt then spent 8 % more instructions moving it).
            "ReplicateKey" => Box::pin(self.replicate_key(caller, body)).await,
            "UpdatePrimaryRegion" => Box::pin(self.update_primary_region(caller, body)).await,
            "KubeKmsReplication.MovePrimary" => Box::pin(self.move_primary(caller, body)).await,
            "KubeKmsReplication.OfferReplica" => Box::pin(self.offer_replica(caller, body)).await,
            "KubeKmsReplication.DeliverReplica" => {
                Box::pin(self.deliver_replica(caller, body)).await
            }
            other => Err(match not_served::reason(other) {
                Some(why) => {
                    ApiError::Unsupported(format!("{other} is not served by this endpoint: {why}."))
                }
                None if other.starts_with(peer::TARGET_PREFIX) => {
                    ApiError::UnknownOperation(format!("Unknown operation {other}"))
                }
                None => {
                    ApiError::UnknownOperation(format!("Unknown operation TrentService.{other}"))
                }
            }),
        };
        value.map(reply::Reply::Value)
    }

    /// The AWS error for a key-state refusal.
    fn refusal(&self, key: &KeyRecord, refusal: Refusal) -> ApiError {
        let arn = self.arn.key_arn(key.key_id);
        match refusal {
            Refusal::Disabled => ApiError::Disabled(format!("{arn} is disabled.")),
            Refusal::PendingDeletion => {
                ApiError::InvalidState(format!("{arn} is pending deletion."))
            }
            Refusal::PendingReplicaDeletion => {
                ApiError::InvalidState(format!("{arn} is pending replica deletion."))
            }
            Refusal::NotPendingDeletion => {
                ApiError::InvalidState(format!("{arn} is not pending deletion."))
            }
            Refusal::PendingImport => ApiError::InvalidState(format!("{arn} is pending import.")),
        }
    }

    fn check_state(&self, key: &KeyRecord, operation: Operation) -> Result<(), ApiError> {
        lifecycle::check(operation, key.state()).map_err(|r| self.refusal(key, r))
    }

    /// The key with this id; `NotFoundException` as AWS words it if absent.
    pub(super) async fn get_key(&self, id: KeyId) -> Result<KeyRecord, ApiError> {
        self.store.get_key(id).await?.ok_or_else(|| {
            ApiError::NotFound(format!("Key '{}' does not exist", self.arn.key_arn(id)))
        })
    }

    /// Read-modify-write of one key: `change` sees the latest record and may
    /// refuse; a concurrent write makes it run again on the newer record.
    pub async fn update_key<T>(
        &self,
        id: KeyId,
        mut change: impl FnMut(&mut KeyRecord) -> Result<T, ApiError>,
    ) -> Result<(KeyRecord, T), ApiError> {
        for _ in 0..16 {
            let mut key = self.get_key(id).await?;
            let out = change(&mut key)?;
            match self.store.update_key(key).await {
                Ok(stored) => return Ok((stored, out)),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::Internal(
            "too many concurrent updates to one key; retry".into(),
        ))
    }
}

#[cfg(test)]
mod tests;
