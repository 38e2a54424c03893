//! Whether an endpoint replica can answer as it should, for `/readyz`: its
//! watch caches have listed (before that it would answer NotFound for keys
//! that exist), and its crypto service answers (without it every
//! cryptographic request fails). A replica that is not ready is taken out
//! of its Service until it is.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::crypto::CryptoService;
use crate::telemetry::Probe;

/// How long the crypto service has to answer a probe.
const CRYPTO_TIMEOUT: Duration = Duration::from_secs(2);

pub struct EndpointReadiness {
    /// `true` once the watch caches have listed; `None` where there are none.
    pub synced: Option<watch::Receiver<bool>>,
    pub crypto: Arc<dyn CryptoService>,
}

#[async_trait::async_trait]
impl Probe for EndpointReadiness {
    async fn ready(&self) -> Result<&'static str, String> {
        if let Some(synced) = &self.synced
            && !*synced.borrow()
        {
            return Err("watch caches have not listed yet".into());
        }
        match tokio::time::timeout(CRYPTO_TIMEOUT, self.crypto.root_key_info()).await {
            Ok(Ok(_)) => Ok("ok"),
            Ok(Err(e)) => Err(format!("crypto service: {e}")),
            Err(_) => Err(format!(
                "crypto service: no answer within {CRYPTO_TIMEOUT:?}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::grpc::GrpcCryptoClient;
    use crate::crypto::{CacheConfig, LocalCryptoService};
    use crate::root::FileRootKey;
    use crate::secret::SecretBytes;

    fn local() -> Arc<dyn CryptoService> {
        let root = FileRootKey::from_keys([(1, SecretBytes::new(vec![1; 32]))]).unwrap();
        Arc::new(LocalCryptoService::new(
            Arc::new(root),
            CacheConfig::default(),
        ))
    }

    #[tokio::test]
    async fn ready_once_the_caches_have_listed_and_the_crypto_service_answers() {
        let (synced_tx, synced) = watch::channel(false);
        let readiness = EndpointReadiness {
            synced: Some(synced),
            crypto: local(),
        };
        let not_yet = readiness.ready().await.unwrap_err();
        assert!(not_yet.contains("watch caches"), "{not_yet}");
        synced_tx.send(true).unwrap();
        readiness.ready().await.unwrap();
        // Without caches (serve), only the crypto service matters.
        EndpointReadiness {
            synced: None,
            crypto: local(),
        }
        .ready()
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn a_crypto_service_that_does_not_answer_is_not_ready() {
        let dir = tempfile::tempdir().unwrap();
        let absent = GrpcCryptoClient::connect_lazy(&dir.path().join("crypto.sock")).unwrap();
        let readiness = EndpointReadiness {
            synced: None,
            crypto: Arc::new(absent),
        };
        let why = readiness.ready().await.unwrap_err();
        assert!(why.starts_with("crypto service:"), "{why}");
    }
}
