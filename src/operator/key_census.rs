//! `kubekms_keys{state}`: the keys the controller watches, by AWS key
//! state, counted from its watch caches when scraped (no request to the
//! API server, nothing to keep in step). Keys pending deletion have no
//! `KmsKey` object any more; their Secrets say so.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::api::PartialObjectMeta;
use kube::runtime::reflector::Store;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntGaugeVec, Opts};

use super::key_secret::DELETION_DATE_ANNOTATION;
use crate::key::{Deletion, Millis};
use crate::resource::KmsKey;

/// Every state reported, so each series exists from the first scrape.
const STATES: [&str; 6] = [
    "Creating",
    "Enabled",
    "Disabled",
    "PendingDeletion",
    "PendingReplicaDeletion",
    "PendingImport",
];

/// Counts keys by state. A `KmsKey` without a state yet is `Creating`; one
/// being deleted is counted by its Secret, once that records the deletion.
pub fn census<'a>(
    keys: impl IntoIterator<Item = &'a KmsKey>,
    secrets: impl IntoIterator<Item = &'a PartialObjectMeta<Secret>>,
) -> BTreeMap<&'static str, i64> {
    let mut counts: BTreeMap<&'static str, i64> = STATES.iter().map(|s| (*s, 0)).collect();
    for key in keys {
        if key.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let state = key.status.as_ref().and_then(|s| s.key_state.as_deref());
        let state = match state {
            None => "Creating",
            Some("Enabled") => "Enabled",
            Some("Disabled") => "Disabled",
            Some("PendingImport") => "PendingImport",
            // Declared again while pending: its Secret still says so until
            // the controller cancels the deletion.
            Some(_) => continue,
        };
        *counts.entry(state).or_default() += 1;
    }
    for secret in secrets {
        let date = secret
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(DELETION_DATE_ANNOTATION));
        let state = match date.map(|d| d.parse::<Millis>()) {
            None => continue,
            // A primary whose window waits for its replicas.
            Some(Ok(Deletion::AFTER_REPLICAS)) => "PendingReplicaDeletion",
            Some(_) => "PendingDeletion",
        };
        *counts.entry(state).or_default() += 1;
    }
    counts
}

/// The gauge, computed from the caches on every scrape: one of each kind
/// per namespace watched, or one over all of them.
pub struct KeyCensus {
    keys: Vec<Store<KmsKey>>,
    secrets: Vec<Store<PartialObjectMeta<Secret>>>,
    gauge: IntGaugeVec,
}

impl KeyCensus {
    pub fn new(keys: Vec<Store<KmsKey>>, secrets: Vec<Store<PartialObjectMeta<Secret>>>) -> Self {
        let gauge = IntGaugeVec::new(
            Opts::new(
                "kubekms_keys",
                "Keys this controller watches, by key state (Creating, Enabled, Disabled, \
                 PendingDeletion, PendingReplicaDeletion, PendingImport)",
            ),
            &["state"],
        )
        .expect("valid metric");
        KeyCensus {
            keys,
            secrets,
            gauge,
        }
    }
}

impl Collector for KeyCensus {
    fn desc(&self) -> Vec<&Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let keys: Vec<_> = self.keys.iter().flat_map(Store::state).collect();
        let secrets: Vec<_> = self.secrets.iter().flat_map(Store::state).collect();
        let counts = census(
            keys.iter().map(AsRef::as_ref),
            secrets.iter().map(AsRef::as_ref),
        );
        for (state, count) in counts {
            self.gauge.with_label_values(&[state]).set(count);
        }
        self.gauge.collect()
    }
}

#[cfg(test)]
mod tests {
    use kube::runtime::{reflector, watcher};
    use serde_json::json;

    use super::*;

    fn key(name: &str, state: Option<&str>, deleting: bool) -> KmsKey {
        let mut key: KmsKey = serde_json::from_value(json!({
            "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
            "metadata": {"name": name, "namespace": "team-a"},
            "spec": {},
        }))
        .unwrap();
        if let Some(state) = state {
            key.status = Some(serde_json::from_value(json!({"keyState": state})).unwrap());
        }
        if deleting {
            key.metadata.deletion_timestamp =
                Some(serde_json::from_value(json!("2026-11-24T00:00:00Z")).unwrap());
        }
        key
    }

    fn secret(name: &str, pending: bool) -> PartialObjectMeta<Secret> {
        secret_dated(name, pending.then_some("1764000000000"))
    }

    fn secret_dated(name: &str, date: Option<&str>) -> PartialObjectMeta<Secret> {
        let annotations = match date {
            Some(date) => json!({ DELETION_DATE_ANNOTATION: date }),
            None => json!({}),
        };
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "team-a", "annotations": annotations},
        }))
        .unwrap()
    }

    #[test]
    fn keys_are_counted_once_by_state() {
        let keys = [
            key("a", Some("Enabled"), false),
            key("b", Some("Enabled"), false),
            key("c", Some("Disabled"), false),
            key("d", None, false),
            // Being deleted: its Secret counts it once the window starts.
            key("e", Some("Enabled"), true),
            // Declared again while pending: counted by its Secret until then.
            key("f", Some("PendingDeletion"), false),
            // Of imported material, none imported yet.
            key("g", Some("PendingImport"), false),
        ];
        let secrets = [
            secret("kmskey-a", false),
            secret("kmskey-e", true),
            secret("kmskey-f", true),
            secret("kmskey-gone", true),
            // A primary waiting for its replicas (its KmsKey Terminating).
            secret_dated("kmskey-primary", Some(&i64::MAX.to_string())),
        ];
        let counts = census(&keys, &secrets);
        assert_eq!(
            counts.into_iter().collect::<Vec<_>>(),
            [
                ("Creating", 1),
                ("Disabled", 1),
                ("Enabled", 2),
                ("PendingDeletion", 3),
                ("PendingImport", 1),
                ("PendingReplicaDeletion", 1)
            ]
        );
        // Nothing watched yet: every state, at zero.
        assert_eq!(census([], []).values().sum::<i64>(), 0);
        assert_eq!(census([], []).len(), 6);
    }

    #[test]
    fn a_scrape_reads_the_caches_as_they_are_then() {
        let (keys, mut key_writer) = reflector::store::<KmsKey>();
        let (secrets, mut secret_writer) = reflector::store::<PartialObjectMeta<Secret>>();
        let registry = prometheus::Registry::new();
        registry
            .register(Box::new(KeyCensus::new(vec![keys], vec![secrets])))
            .unwrap();
        let gauge = |registry: &prometheus::Registry, state: &str| {
            registry
                .gather()
                .iter()
                .filter(|f| f.name() == "kubekms_keys")
                .flat_map(|f| f.get_metric())
                .find(|m| m.get_label()[0].value() == state)
                .map(|m| m.get_gauge().get_value())
        };
        assert_eq!(gauge(&registry, "Enabled"), Some(0.0));
        key_writer.apply_watcher_event(&watcher::Event::Apply(key("a", Some("Enabled"), false)));
        secret_writer.apply_watcher_event(&watcher::Event::Apply(secret("kmskey-old", true)));
        assert_eq!(gauge(&registry, "Enabled"), Some(1.0));
        assert_eq!(gauge(&registry, "PendingDeletion"), Some(1.0));
        secret_writer.apply_watcher_event(&watcher::Event::Delete(secret("kmskey-old", true)));
        assert_eq!(gauge(&registry, "PendingDeletion"), Some(0.0));
    }
}
