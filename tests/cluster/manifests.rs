//! Manifests sent to the cluster as they are: the chart as helm renders
//! it, and objects of any kind created (or dry-run created) through
//! discovery.

use std::path::Path;
use std::process::Command;

use kube::api::{DynamicObject, GroupVersionKind, PostParams};
use kube::discovery::{Discovery, Scope};
use serde::Deserialize;
use serde_json::Value;

use super::Cluster;

pub const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/kube-kms");

/// The chart as `helm template` renders it for `release` in `namespace`
/// with `sets` (`--set` values), one JSON value per object.
pub fn render(helm: &Path, release: &str, namespace: &str, sets: &[&str]) -> Vec<Value> {
    let mut cmd = Command::new(helm);
    cmd.args(["template", release, CHART, "--namespace", namespace]);
    for set in sets {
        cmd.args(["--set", set]);
    }
    printed_objects(cmd, &format!("helm template {sets:?}"))
}

/// The objects `cmd` (`what`, in a failure's message) prints as YAML; it
/// must succeed.
pub fn printed_objects(mut cmd: Command, what: &str) -> Vec<Value> {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    yaml_objects(&String::from_utf8(out.stdout).unwrap())
}

/// Every object of a multi-document YAML text.
pub fn yaml_objects(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|doc| serde_json::to_value(serde_yaml::Value::deserialize(doc).unwrap()).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// Creates each of `objects` (in `namespace` if namespaced) as it is, or
/// only as a server-side dry run: the API server's own validation, with
/// nothing stored.
pub async fn create(cluster: &Cluster, objects: Vec<Value>, namespace: &str, dry_run: bool) {
    let discovery = Discovery::new(cluster.client.clone()).run().await.unwrap();
    for object in objects {
        let kind = object["kind"].as_str().unwrap();
        let api_version = object["apiVersion"].as_str().unwrap();
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, caps) = discovery
            .resolve_gvk(&gvk)
            .unwrap_or_else(|| panic!("{gvk:?} not served"));
        let api: kube::Api<DynamicObject> = if caps.scope == Scope::Namespaced {
            kube::Api::namespaced_with(cluster.client.clone(), namespace, &resource)
        } else {
            kube::Api::all_with(cluster.client.clone(), &resource)
        };
        let mut obj: DynamicObject = serde_json::from_value(object.clone()).unwrap();
        obj.metadata.namespace = None;
        let params = PostParams {
            dry_run,
            ..PostParams::default()
        };
        match api.create(&params, &obj).await {
            Ok(_) => {}
            // A dry run of cluster-scoped objects an earlier run created.
            Err(kube::Error::Api(s)) if dry_run && s.code == 409 => {}
            Err(e) => panic!(
                "the API server refused {kind} {}: {e}",
                obj.metadata.name.unwrap_or_default()
            ),
        }
    }
}
