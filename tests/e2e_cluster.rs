//! End to end against a real cluster (`KUBE_KMS_E2E_KUBECONFIG`), with the
//! controller running out of cluster. Skips, saying why, without one.

#[path = "e2e/account.rs"]
mod account;
#[path = "e2e/clients.rs"]
mod clients;
mod cluster;
#[path = "e2e/crypto_service.rs"]
mod crypto_service;
#[path = "e2e/deletion.rs"]
mod deletion;
#[path = "e2e/grants.rs"]
mod grants;
#[path = "e2e/import.rs"]
mod import;
#[path = "e2e/multi_region.rs"]
mod multi_region;
#[path = "e2e/multi_region_declared.rs"]
mod multi_region_declared;
#[path = "e2e/multi_region_import.rs"]
mod multi_region_import;
#[path = "e2e/multi_region_namespaces.rs"]
mod multi_region_namespaces;
#[path = "e2e/newer_version.rs"]
mod newer_version;
mod plugin;
#[path = "e2e/rbac.rs"]
mod rbac;
#[path = "e2e/rotation.rs"]
mod rotation;
mod skip;
mod support;
mod tf;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Namespace, ResourceQuota, Secret, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use kube_kms::resource::{Condition, KmsAlias, KmsKey};
use serde_json::json;

use cluster::admission::{QUOTA, deny_key_descriptions, limit_kms_keys};
use cluster::{Controller, wait_for};

const READY: Duration = Duration::from_secs(30);

/// The reason of the Ready condition among a key's or an alias's
/// `conditions`, once it has one.
fn ready_reason(conditions: &[Condition]) -> Option<&str> {
    Condition::ready_in(conditions).map(|c| c.reason.as_str())
}

/// Applies the KmsKey `name` with `spec` and waits until it is Ready.
async fn ready_key(keys: &Api<KmsKey>, name: &str, spec: serde_json::Value) -> KmsKey {
    let manifest: KmsKey = serde_json::from_value(json!({
        "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
        "metadata": {"name": name}, "spec": spec,
    }))
    .unwrap();
    keys.create(&PostParams::default(), &manifest)
        .await
        .unwrap();
    wait_for("KmsKey Ready", READY, || async {
        keys.get(name).await.ok().filter(ready)
    })
    .await
}

fn ready(key: &KmsKey) -> bool {
    key.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

#[tokio::test]
async fn keys_and_aliases_through_their_whole_lifecycle() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let mut controller = Controller::start(&cluster);
    let endpoint = controller.start_api(&cluster);
    cluster::callers::let_namespace_in(&cluster).await;
    let ns = cluster.namespace.as_str();
    let keys: Api<KmsKey> = Api::namespaced(cluster.client.clone(), ns);
    let aliases: Api<KmsAlias> = Api::namespaced(cluster.client.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), ns);

    let alias: KmsAlias = serde_json::from_value(json!({
        "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsAlias",
        "metadata": {"name": "app"},
        "spec": {"aliasName": "alias/app", "targetKeyRef": {"name": "app"}},
    }))
    .unwrap();
    aliases
        .create(&PostParams::default(), &alias)
        .await
        .unwrap();
    // The alias first, refused; then its key, which the alias learns of
    // from the KmsKey watch (its own retry is minutes away).
    wait_for("KmsAlias KeyNotFound", READY, || async {
        let a = aliases.get("app").await.ok()?;
        (ready_reason(&a.status?.conditions)? == "KeyNotFound").then_some(())
    })
    .await;
    let spec = json!({"description": "e2e", "pendingWindowDays": 7, "rotation": {"enabled": true, "periodDays": 90}});
    let key = ready_key(&keys, "app", spec.clone()).await;
    let status = key.status.clone().unwrap();
    let key_id = status.key_id.clone().unwrap();
    assert_eq!(
        (status.key_state.as_deref(), status.current_version),
        (Some("Enabled"), Some(1))
    );
    assert!(status.next_rotation_date.is_some());
    let alias = wait_for("KmsAlias resolved", READY, || async {
        let a = aliases.get("app").await.ok()?;
        (a.status.as_ref()?.target_key_id.as_deref() == Some(key_id.as_str())).then_some(a)
    })
    .await;
    assert!(
        alias
            .status
            .unwrap()
            .alias_arn
            .unwrap()
            .ends_with(":alias/app")
    );
    let secret = secrets.get("kmskey-app").await.unwrap();
    assert!(secret.metadata.owner_references.is_none());
    assert_eq!(secret.labels()["kubekms.io/key-id"], key_id);

    // A caller's access key, as a labelled Secret in the namespace (unique
    // per run: an access key id defined twice authenticates no one).
    let access_key_id = format!("AKIDE2E{}", &ns[ns.len() - 8..].to_uppercase());
    let access: Secret = serde_json::from_value(json!({
        "metadata": {"name": "e2e-caller", "labels": {"kubekms.io/credentials": "true"}},
        "type": "Opaque",
    }))
    .unwrap();
    let access = Secret {
        data: Some(BTreeMap::from([
            (
                "accessKeyId".to_owned(),
                ByteString(access_key_id.as_bytes().to_vec()),
            ),
            (
                "secretAccessKey".to_owned(),
                ByteString(b"e2e-cluster-secret".to_vec()),
            ),
        ])),
        ..access
    };
    secrets
        .create(&PostParams::default(), &access)
        .await
        .unwrap();
    let boto3 = |args: &[&str]| {
        let mut cmd = Command::new(support::python());
        cmd.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/cluster_boto3.py"
        ))
        .args(args)
        .env("AWS_ACCESS_KEY_ID", &access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", "e2e-cluster-secret")
        .env_remove("AWS_PROFILE");
        let out = support::run(cmd, "cluster_boto3.py");
        let field = |name: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
                .unwrap_or_default()
        };
        (field("CIPHERTEXT"), field("KEYID"), out)
    };
    // The endpoint learns of the access key and the alias from its watches.
    let mut encrypted = None;
    for _ in 0..50 {
        let mut cmd = Command::new(support::python());
        cmd.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/cluster_boto3.py"
        ))
        .args(["encrypt", &endpoint])
        .env("AWS_ACCESS_KEY_ID", &access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", "e2e-cluster-secret");
        if cmd.output().unwrap().status.success() {
            encrypted = Some(boto3(&["encrypt", &endpoint]));
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (ciphertext, described_id, _) = encrypted.expect("boto3 encrypt through kube-kms api");
    assert_eq!(described_id, key_id);
    boto3(&["decrypt", &endpoint, &ciphertext]);
    // GetKeyLastUsage: this replica answers from memory at once; its first
    // write of the key reaches the KmsKey's status within a batch (10 s),
    // and another replica answers from there.
    let (_, _, used) = boto3(&["usage", &endpoint, &key_id]);
    assert!(used.contains("USAGE Decrypt "), "{used}");
    let written = wait_for("KmsKey status lastUsage", READY, || async {
        keys.get("app").await.ok()?.status?.last_usage
    })
    .await;
    let tracked = keys.get("app").await.unwrap().status.unwrap();
    assert!(tracked.usage_tracked_since.is_some(), "{tracked:?}");
    let (mut replica, other) = controller.another_api(&cluster);
    let (_, _, seen) = boto3(&["usage", &other, &key_id]);
    let _ = replica.kill();
    let _ = replica.wait();
    assert!(
        seen.contains(&format!(
            "USAGE {} {}",
            written.operation, written.request_id
        )),
        "{seen} vs {written:?}"
    );
    let (_, _, sops) = boto3(&["sops", &endpoint]);
    assert!(sops.contains("SOPS arn:aws:kms:"), "{sops}");
    // A ServiceAccount token works too (TokenReview), in its namespace.
    let token = cluster::callers::service_account_token(&cluster, "caller").await;
    // A key whose policy names that ServiceAccount alone, as a policy
    // names one (role/<namespace>/<name>): it may describe the key, the
    // access key's principal (user/<namespace>/e2e-caller) may not.
    let policy = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*",
        "Principal": {"AWS": format!("arn:aws:iam::111122223333:role/{ns}/caller")},
    }]});
    let guarded = ready_key(
        &keys,
        "sa-only",
        json!({"description": "the caller ServiceAccount's", "policy": policy.to_string()}),
    )
    .await;
    let guarded_id = guarded.status.unwrap().key_id.unwrap();
    let (_, _, bearer) = boto3(&["bearer", &endpoint, &token, &guarded_id]);
    assert!(bearer.contains("BEARER"), "{bearer}");
    assert!(
        bearer.contains(&format!(
            "REFUSED User: arn:aws:iam::111122223333:user/{ns}/e2e-caller is not authorized to perform: kms:DescribeKey"
        )),
        "{bearer}"
    );

    let (_, _, managed) = boto3(&["manage", &endpoint]);
    assert!(managed.contains("MANAGED"), "{managed}");
    // ...and the KmsKey CreateKey made for its multi-Region key says so.
    let made = managed.split("MRK ").nth(1).unwrap().trim().to_owned();
    let object = keys.get(&made).await.unwrap();
    assert!(object.spec.multi_region && object.spec.key_id.unwrap().to_string() == made);

    // A multi-Region key declared as a KmsKey: the controller mints an
    // mrk- id; a pinned id of the other kind is refused by the CRD.
    let declared = ready_key(&keys, "multi-region", json!({"multiRegion": true})).await;
    let declared_id = declared.status.unwrap().key_id.unwrap();
    assert!(declared_id.starts_with("mrk-"), "{declared_id}");
    let mismatched: KmsKey = serde_json::from_value(json!({
        "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
        "metadata": {"name": "mismatched"},
        "spec": {"keyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "multiRegion": true},
    }))
    .unwrap();
    let refused = keys
        .create(&PostParams::default(), &mismatched)
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("mrk- id exactly when multiRegion"),
        "{refused}"
    );

    // A ResourceQuota on KmsKeys bounds CreateKey in the namespace.
    let held = keys.list(&Default::default()).await.unwrap().items.len();
    limit_kms_keys(&cluster.client, ns, held).await;
    let (_, _, refused) = boto3(&["quota", &endpoint]);
    assert!(
        refused.contains("QUOTA LimitExceededException"),
        "{refused}"
    );
    assert_eq!(
        keys.list(&Default::default()).await.unwrap().items.len(),
        held,
        "no KmsKey beyond the quota"
    );
    Api::<ResourceQuota>::namespaced(cluster.client.clone(), ns)
        .delete(QUOTA, &DeleteParams::default())
        .await
        .unwrap();

    // The cluster's admission policies bound what callers may declare; a
    // refusal reaches them as AWS would send it, with the policy's message.
    let policy = deny_key_descriptions(&cluster.client, ns).await;
    let (_, _, refused) = boto3(&["admission", &endpoint]);
    assert!(
        refused.contains("ADMISSION AccessDeniedException")
            && refused.contains("ADMISSION ValidationException"),
        "{refused}"
    );
    assert_eq!(
        keys.list(&Default::default()).await.unwrap().items.len(),
        held,
        "no KmsKey the policy refused"
    );
    policy.remove(&cluster.client).await;

    // The API server enforces the CRD's rules.
    let err = keys
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"keySpec": "RSA_2048"}})),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("keySpec is immutable"), "{err}");
    let err = keys
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"pendingWindowDays": 3}})),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("between 7 and 30"), "{err}");

    // Rotate on demand: a new version, the key id unchanged.
    keys.patch(
        "app",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"kubekms.io/rotate": "1"}}})),
    )
    .await
    .unwrap();
    let rotated = wait_for("version 2", READY, || async {
        keys.get("app")
            .await
            .ok()
            .filter(|k| k.status.as_ref().and_then(|s| s.current_version) == Some(2))
    })
    .await;
    let status = rotated.status.unwrap();
    assert_eq!(status.key_id.as_deref(), Some(key_id.as_str()));
    // Old ciphertext still decrypts after the rotation; new ones use v2.
    boto3(&["decrypt", &endpoint, &ciphertext]);
    let (after, _, _) = boto3(&["encrypt", &endpoint]);
    assert_ne!(after, ciphertext);
    boto3(&["decrypt", &endpoint, &after]);
    // The endpoint counted them.
    let metrics = cluster::scrape(controller.api_metrics.unwrap()).expect("the endpoint's metrics");
    // Listening on the KMS port means its caches have listed: ready.
    let readyz = cluster::get(controller.api_metrics.unwrap(), "/readyz").unwrap();
    assert!(readyz.starts_with("HTTP/1.1 200"), "{readyz}");
    let series =
        "kubekms_api_request_duration_seconds_count{operation=\"Decrypt\",outcome=\"ok\"} ";
    let decrypts: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(series))
        .unwrap_or_else(|| panic!("no {series}in {metrics}"))
        .parse()
        .unwrap();
    assert!(decrypts >= 3.0, "{metrics}");
    assert!(
        metrics.contains(
            "kubekms_crypto_call_duration_seconds_count{operation=\"Decrypt\",outcome=\"ok\"}"
        ),
        "the crypto sidecar's calls too: {metrics}"
    );
    assert_eq!(
        status
            .versions
            .iter()
            .map(|v| v.rotation_type.as_str())
            .collect::<Vec<_>>(),
        ["Initial", "OnDemand"]
    );

    // The KMS v2 plugin's key file, exported from the cluster (by KmsKey
    // name and by key id), serves the rotated key outside the cluster.
    let kek = tempfile::tempdir().unwrap();
    for (key, file) in [("app", "by-name.json"), (key_id.as_str(), "by-id.json")] {
        let mut export = Command::new(env!("CARGO_BIN_EXE_kube-kms"));
        export
            .args([
                "export-kek",
                "--key",
                key,
                "-n",
                &cluster.namespace,
                "--kubeconfig",
            ])
            .arg(&cluster.kubeconfig)
            .arg("--out")
            .arg(kek.path().join(file));
        let printed = support::run(export, "export-kek from the cluster");
        assert!(
            printed.contains("versions 1, 2 (wraps with 2)"),
            "{printed}"
        );
    }
    let read = |file: &str| {
        let bytes = std::fs::read(kek.path().join(file)).unwrap();
        kube_kms::plugin::key_file::KeyFile::parse(&bytes).unwrap()
    };
    let (by_name, by_id) = (read("by-name.json"), read("by-id.json"));
    assert_eq!(by_name.key_id.to_string(), key_id);
    assert_eq!(by_name.versions, by_id.versions);
    let root = controller.root_key();
    let plugin = plugin::start(
        &kek.path().join("kms.sock"),
        &kek.path().join("by-name.json"),
        &["--root-key".as_ref(), root.as_os_str()],
    );
    let mut apiserver = plugin::apiserver::ApiserverClient::connect(&plugin.socket);
    let kek_id = apiserver.status().await.unwrap();
    assert!(
        kek_id.starts_with(&format!("kube-kms:{key_id}:v2:")),
        "{kek_id}"
    );
    let wrapped = apiserver.wrap(&[3; 32]).await.unwrap();
    assert_eq!(apiserver.unwrap(&wrapped).await.unwrap(), [3; 32]);
    drop(plugin);

    // Disable, then enable again.
    keys.patch(
        "app",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"enabled": false}})),
    )
    .await
    .unwrap();
    wait_for("Disabled", READY, || async {
        (keys.get("app").await.ok()?.status?.key_state.as_deref() == Some("Disabled")).then_some(())
    })
    .await;
    keys.patch(
        "app",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"enabled": true}})),
    )
    .await
    .unwrap();

    // Delete: the object goes, the material stays, pending deletion.
    let pending_keys = || async {
        let text = cluster::scrape(controller.metrics)?;
        cluster::sample(&text, "kubekms_keys{state=\"PendingDeletion\"}")
    };
    let pending_before = pending_keys().await.expect("the controller counts keys");
    keys.delete("app", &DeleteParams::default()).await.unwrap();
    wait_for("KmsKey gone", READY, || async {
        keys.get_opt("app").await.ok()?.is_none().then_some(())
    })
    .await;
    let pending = secrets.get("kmskey-app").await.unwrap();
    let date: i64 = pending.annotations()["kubekms.io/deletion-date"]
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let window = (date - now) as f64 / 86_400_000.0;
    assert!((6.99..=7.0).contains(&window), "deletion in {window} days");
    wait_for("counted as pending deletion", READY, || async {
        (pending_keys().await? == pending_before + 1.0).then_some(())
    })
    .await;
    // Its alias says so, naming the key it still resolves to.
    wait_for("KmsAlias KeyPendingDeletion", READY, || async {
        let status = aliases.get("app").await.ok()?.status?;
        let reason = ready_reason(&status.conditions)?;
        (reason == "KeyPendingDeletion" && status.target_key_id.as_deref() == Some(&key_id))
            .then_some(())
    })
    .await;
    // Through the endpoint: pending deletion, still named by its alias.
    let (_, _, out) = boto3(&["pending", &endpoint]);
    assert!(out.contains(&format!("PENDING {key_id}")), "{out}");

    // Re-apply within the window: same key, same material, deletion cancelled.
    let back = ready_key(&keys, "app", spec).await;
    let status = back.status.unwrap();
    assert_eq!(status.key_id.as_deref(), Some(key_id.as_str()));
    assert_eq!(
        (status.key_state.as_deref(), status.current_version),
        (Some("Enabled"), Some(2))
    );
    assert!(status.deletion_date.is_none());
    wait_for("no longer counted as pending deletion", READY, || async {
        (pending_keys().await? == pending_before).then_some(())
    })
    .await;
    let kept = secrets.get("kmskey-app").await.unwrap();
    assert!(!kept.annotations().contains_key("kubekms.io/deletion-date"));
}

/// A controller that stops cleanly (SIGTERM, as in a rolling update) gives
/// the leader Lease up once its reconciles have finished, so the replica
/// waiting for it leads within one retry (5 s) instead of after the Lease's
/// 15 s, and goes on reconciling.
#[tokio::test]
async fn a_controller_that_stops_cleanly_hands_the_lease_over_at_once() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    const LEASE: &str = "kube-kms-e2e-handover";
    let keys: Api<KmsKey> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let mut first = Controller::start_with(&cluster, LEASE);
    let leads = |controller: &Controller| {
        let text = controller.log.text();
        async move { text.contains("became leader").then_some(()) }
    };
    wait_for("the first controller to lead", READY, || leads(&first)).await;
    let second = Controller::start_with(&cluster, LEASE);
    // The follower has tried once and found the Lease held.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!second.log.text().contains("became leader"));

    let stopped = std::time::Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &first.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = first.child.wait().unwrap();
    wait_for("the second controller to lead", READY, || leads(&second)).await;
    let handover = stopped.elapsed();
    let log = first.log.text();
    assert!(status.success(), "{log}");
    assert!(log.contains("leader Lease released"), "{log}");
    assert!(
        handover < Duration::from_secs(12),
        "took {handover:?}: the Lease was left to expire"
    );
    println!("handed over in {handover:?}");

    let key: KmsKey = serde_json::from_value(json!({
        "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
        "metadata": {"name": "after-handover"}, "spec": {},
    }))
    .unwrap();
    keys.create(&PostParams::default(), &key).await.unwrap();
    wait_for("KmsKey Ready under the new leader", READY, || async {
        keys.get("after-handover").await.ok().filter(ready)
    })
    .await;
}
