//! GetKeyLastUsage, and writing the uses recorded in memory to the store.

use serde::Deserialize;
use serde_json::{Value, json};

use super::access::Access;
use super::wire::{decode, timestamp};
use super::{Api, ApiError, Caller};
use crate::key_id::KeyId;
use crate::store::StoreError;
use crate::usage::{KeyUsage, UsedFor, later};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LastUsageInput {
    key_id: Option<String>,
}

impl Api {
    /// Records a successful cryptographic use of `key`, if the store keeps
    /// key usage.
    pub(super) fn used(&self, caller: &Caller, key: KeyId, operation: UsedFor) {
        if let Some(log) = &self.usage {
            log.record(
                key,
                KeyUsage {
                    operation,
                    at: self.now(),
                    request_id: caller.request_id,
                },
            );
        }
    }

    pub(super) async fn get_key_last_usage(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let input: LastUsageInput = decode(body)?;
        let (Some(log), Some(since)) = (&self.usage, self.store.usage_tracked_since()) else {
            return Err(ApiError::Unsupported(
                "GetKeyLastUsage is not served by this endpoint: its key store does not keep key usage yet.".into(),
            ));
        };
        // Key id or key ARN, as AWS: "Alias names are not supported."
        let key = self
            .managed_key(caller, input.key_id, Access::to("kms:GetKeyLastUsage"))
            .await?;
        let stored = self.store.key_usage(key.key_id).await?;
        let used = later(stored.last, log.latest(key.key_id));
        // Never a start after a use it reports, nor before the key existed.
        let tracked = stored.since.unwrap_or(since);
        let tracked = used.map_or(tracked, |u| tracked.min(u.at)).max(key.created);
        let last = match used {
            Some(used) => json!({
                "Operation": used.operation.as_str(),
                "Timestamp": timestamp(used.at),
                "KmsRequestId": used.request_id.as_str(),
            }),
            None => json!({}),
        };
        Ok(json!({
            "KeyId": key.key_id.to_string(),
            "KeyLastUsage": last,
            "TrackingStartDate": timestamp(tracked),
            "KeyCreationDate": timestamp(key.created),
        }))
    }

    /// Writes the uses recorded since the last call to the store; the ones
    /// a failed write did not keep go with the next call.
    pub async fn write_usage(&self) -> Result<(), StoreError> {
        let Some(log) = &self.usage else {
            return Ok(());
        };
        let batch = log.take_unwritten();
        if batch.is_empty() {
            return Ok(());
        }
        match self.store.record_usage(batch.clone()).await {
            Ok(gone) => {
                for id in gone {
                    log.forget(id);
                }
                Ok(())
            }
            Err(e) => {
                log.unwritten(&batch);
                Err(e)
            }
        }
    }

    /// Writes the uses recorded, and those the store kept back, at a
    /// clean stop; a kill before this loses them.
    pub async fn flush_usage(&self) {
        if self.usage.is_none() {
            return;
        }
        let written = self.write_usage().await;
        if let Err(e) = written.and(self.store.flush_usage().await) {
            tracing::warn!(error = %e, "the last key usage was not written");
        }
    }

    /// Writes recorded uses every `interval` while the runtime runs (or
    /// until the returned task is aborted); [`Api::write_usage`] once more
    /// at shutdown keeps the last ones.
    pub fn spawn_usage_writer(
        self: &std::sync::Arc<Self>,
        interval: std::time::Duration,
    ) -> Option<tokio::task::JoinHandle<()>> {
        self.usage.as_ref()?;
        Some(self.spawn_every(interval, |api| async move {
            if let Err(e) = api.write_usage().await {
                tracing::warn!(error = %e, "key usage not written; retrying with the next batch");
            }
        }))
    }

    /// Runs `task` every `interval` (a late tick waits; none is made up)
    /// while the runtime runs, or until the returned task is aborted.
    pub(super) fn spawn_every<T>(
        self: &std::sync::Arc<Self>,
        interval: std::time::Duration,
        task: impl Fn(std::sync::Arc<Api>) -> T + Send + 'static,
    ) -> tokio::task::JoinHandle<()>
    where
        T: std::future::Future<Output = ()> + Send,
    {
        let api = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                task(api.clone()).await;
            }
        })
    }
}
