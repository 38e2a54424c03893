//! Before the controller writes anything: does the crypto service's root
//! key open the key material already in its scope?
//!
//! The controller is the one writer of key material. With a crypto service
//! holding another root key (a wrong Secret mounted in the sidecar, an old
//! backup restored), it would seal every new key and every rotation under
//! that root key while the endpoint fails to open the old ones: material
//! split between two root keys. So it checks first, as `serve` does, and
//! refuses to lead with a root key that opens none of what is stored.

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::ListParams;

use super::key_secret;
use crate::crypto::CryptoService;
use crate::key::KeyRecord;
use crate::root_check::{Failure, RootKeyCheck, check_root_key, until_made};

/// Secrets asked for per list request: a full page of key Secrets is a few
/// MiB at most.
const PAGE: u32 = 250;

/// Checks the root key against the key material in the scope of
/// `secrets` (one `Api` per namespace watched, or one over all), waiting
/// while the check cannot be made; an error only when the root key does
/// not open the material (see `root_check`).
pub async fn ensure(
    secrets: &[Api<Secret>],
    crypto: &dyn CryptoService,
) -> Result<RootKeyCheck, String> {
    until_made(|| check(secrets, crypto)).await
}

/// Reads every key Secret `secrets` reach (a page at a time) and probes
/// their material with `crypto`. Secrets that are not ours to read are
/// left to the reconciler, which reports them.
async fn check(
    secrets: &[Api<Secret>],
    crypto: &dyn CryptoService,
) -> Result<RootKeyCheck, Failure> {
    let mut records = Vec::new();
    for secrets in secrets {
        read_records(secrets, &mut records).await?;
    }
    Ok(check_root_key(&records, crypto).await?)
}

async fn read_records(secrets: &Api<Secret>, records: &mut Vec<KeyRecord>) -> Result<(), Failure> {
    let mut params = ListParams::default()
        .labels(&key_secret::selector())
        .limit(PAGE);
    loop {
        let page = secrets
            .list(&params)
            .await
            .map_err(|e| Failure::Unchecked(format!("listing key Secrets: {e}")))?;
        for secret in &page.items {
            match key_secret::view(secret) {
                Ok(read) => records.push(read.record),
                Err(e) => tracing::warn!(error = %e, "not checked against the root key"),
            }
        }
        match page.metadata.continue_.filter(|token| !token.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    Ok(())
}
