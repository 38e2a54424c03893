//! Scale benchmark for the controller: applies N `KmsKey`s (default 1000,
//! `KUBE_KMS_SCALE_KEYS`) to the cluster in `KUBE_KMS_E2E_KUBECONFIG` and
//! reports the seconds until every one is Ready and the controller's peak
//! RSS. Targets: ≤ 30 s and ≤ 150 MiB for 1000 keys. Skips, saying why,
//! without a cluster.

#[path = "../tests/cluster/mod.rs"]
mod cluster;
#[path = "../tests/skip/mod.rs"]
mod skip;

use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::Api;
use kube::api::PostParams;
use kube_kms::resource::KmsKey;
use serde_json::json;

fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let count: usize = std::env::var("KUBE_KMS_SCALE_KEYS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let controller = cluster::Controller::start(&cluster);
    let keys: Api<KmsKey> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let started = Instant::now();
    futures::stream::iter(0..count)
        .for_each_concurrent(32, |i| {
            let keys = keys.clone();
            async move {
                let key: KmsKey = serde_json::from_value(json!({
                    "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
                    "metadata": {"name": format!("key-{i:05}")},
                    "spec": {"description": "scale"},
                }))
                .unwrap();
                keys.create(&PostParams::default(), &key)
                    .await
                    .expect("create KmsKey");
            }
        })
        .await;
    let applied = started.elapsed();
    let ready = cluster::wait_for("every key Ready", Duration::from_secs(600), || async {
        let list = keys.list(&Default::default()).await.ok()?;
        let ready = list
            .items
            .iter()
            .filter(|k| {
                k.status.as_ref().is_some_and(|s| {
                    s.conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
                })
            })
            .count();
        (ready == count).then_some(started.elapsed())
    })
    .await;
    let rss = peak_rss_mib(controller.child.id());
    println!(
        "operator scale: {count} KmsKeys applied in {:.1} s, all Ready after {:.1} s (target ≤ 30 s)",
        applied.as_secs_f64(),
        ready.as_secs_f64()
    );
    println!("operator scale: controller peak RSS {rss:.1} MiB (target ≤ 150 MiB)");
}
