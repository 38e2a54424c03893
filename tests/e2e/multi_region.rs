//! Multi-Region keys with a cluster as a Region: a `kube-kms serve`
//! primary in us-east-1 replicates a key into the cluster (eu-west-1),
//! where the endpoint declares the replica as a `KmsKey` with
//! `primaryRegion` and the controller writes the delivered material into
//! its Secret; later versions follow the same way.

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyState, MultiRegionKeyType};
use kube_kms::resource::MATERIAL_ANNOTATION;

use super::*;
use crate::clients::{caller_in, key_admin_in};

pub(super) async fn encrypt(kms: &aws_sdk_kms::Client, key: &str, text: &str) -> Blob {
    kms.encrypt()
        .key_id(key)
        .plaintext(Blob::new(text.as_bytes()))
        .encryption_context("app", "orders")
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap()
}

pub(super) async fn decrypt(kms: &aws_sdk_kms::Client, blob: Blob) -> String {
    let plain = kms
        .decrypt()
        .ciphertext_blob(blob)
        .encryption_context("app", "orders")
        .send()
        .await
        .unwrap()
        .plaintext
        .unwrap();
    String::from_utf8(plain.into_inner()).unwrap()
}

/// The cluster as eu-west-1 (controller and endpoint with peers) and a
/// `serve` us-east-1 on an address it can be restarted on.
pub(super) struct Peered {
    pub(super) controller: Controller,
    /// The cluster's peers file (its endpoint's and crypto service's).
    pub(super) cluster_peers: std::path::PathBuf,
    pub(super) east: support::Server,
    pub(super) east_listen: String,
    pub(super) east_args: Vec<std::ffi::OsString>,
    pub(super) east_kms: aws_sdk_kms::Client,
    pub(super) west_kms: aws_sdk_kms::Client,
    /// The cluster's endpoint (eu-west-1).
    pub(super) endpoint: String,
}

pub(super) async fn peered(cluster: &cluster::Cluster) -> Peered {
    peered_keeping(cluster, None).await
}

/// As [`peered`], the cluster also serving namespace `kept` (beside the
/// test's) and keeping us-east-1's keys of that namespace there
/// (`replicaNamespaces`).
pub(super) async fn peered_keeping(cluster: &cluster::Cluster, kept: Option<&str>) -> Peered {
    let ns = cluster.namespace.clone();
    let (cluster_dir, east_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_, cluster_identity) = support::root_key_in(&cluster_dir);
    let (east_root, east_identity) = support::root_key_in(&east_dir);
    // us-east-1 calls the cluster with the access key of the Secret
    // `primary` in the test's namespace: known here by that principal's ARN.
    // The cluster calls us-east-1 (once it is the primary) with the test
    // access key there, where that Region listens.
    let east_listen = support::free_address();
    let cluster_peers = cluster_dir.path().join("peers.yaml");
    std::fs::write(
        &cluster_peers,
        format!(
            "peers:\n  - region: us-east-1\n    identities: [\"{east_identity}\"]\n    principal: arn:aws:iam::111122223333:user/{ns}/primary\n    endpoint: http://{east_listen}\n    accessKeyId: {}\n    secretAccessKey: {}\n",
            support::ACCESS_KEY,
            support::SECRET_KEY
        ),
    )
    .unwrap();
    let scope = match kept {
        Some(kept) => {
            let mut peers = std::fs::read_to_string(&cluster_peers).unwrap();
            peers.push_str(&format!("    replicaNamespaces: [{kept}]\n"));
            std::fs::write(&cluster_peers, peers).unwrap();
            format!("{ns},{kept}")
        }
        None => ns.clone(),
    };
    let mut controller =
        Controller::start_peered(cluster, cluster_dir, &cluster_peers, "eu-west-1", &scope);
    let endpoint = controller.start_api(cluster);
    let (access_key_id, secret_key) = caller_in(cluster, &endpoint, "PRIMARY", "eu-west-1").await;
    let east_peers = east_dir.path().join("peers.yaml");
    std::fs::write(
        &east_peers,
        format!(
            "peers:\n  - region: eu-west-1\n    identities: [\"{cluster_identity}\"]\n    endpoint: {endpoint}\n    accessKeyId: {access_key_id}\n    secretAccessKey: {secret_key}\n    principal: tester\n"
        ),
    )
    .unwrap();
    let east_args: Vec<std::ffi::OsString> = vec![
        "--region".into(),
        "us-east-1".into(),
        "--root-key".into(),
        east_root.into(),
        "--peers".into(),
        east_peers.into(),
    ];
    let east = support::Server::start_on(east_dir, &east_listen, &east_args);
    let east_kms = support::kms_client(&east.endpoint, support::SECRET_KEY);
    let west_kms = key_admin_in(cluster, &endpoint, "ADMIN", "eu-west-1").await;
    Peered {
        controller,
        cluster_peers,
        east,
        east_listen,
        east_args,
        east_kms,
        west_kms,
        endpoint,
    }
}

#[tokio::test]
async fn a_serve_primary_replicates_into_the_cluster_and_its_rotations_follow() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let ns = cluster.namespace.clone();
    let Peered {
        controller,
        east: _east,
        east_kms,
        west_kms,
        ..
    } = peered(&cluster).await;
    let key_id = new_multi_region_key(&east_kms).await;
    let before = encrypt(&east_kms, &key_id, "written in us-east-1").await;
    let replicated = east_kms
        .replicate_key()
        .key_id(&key_id)
        .replica_region("eu-west-1")
        .description("orders, eu-west-1")
        .send()
        .await
        .unwrap();
    let replica = replicated.replica_key_metadata.unwrap();
    assert_eq!(replica.key_id, key_id);
    assert!(
        replica.arn().unwrap().contains(":eu-west-1:"),
        "{replica:?}"
    );
    assert_eq!(replica.key_state(), Some(&KeyState::Enabled));

    // Declared in the cluster as a replica, in the caller's namespace, with
    // the delivery carried out and gone from the object.
    let keys: Api<KmsKey> = Api::namespaced(cluster.client.clone(), &ns);
    let object = wait_for("the replica Ready", READY, || async {
        keys.get_opt(&key_id).await.unwrap().filter(ready)
    })
    .await;
    assert_eq!(object.spec.primary_region.as_deref(), Some("us-east-1"));
    assert!(object.spec.multi_region);
    assert_eq!(object.spec.description, "orders, eu-west-1");
    assert!(!object.annotations().contains_key(MATERIAL_ANNOTATION));
    let status = object.status.unwrap();
    assert_eq!(status.current_version, Some(1));
    let described = west_kms
        .describe_key()
        .key_id(&key_id)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let config = described.multi_region_configuration.unwrap();
    assert_eq!(
        config.multi_region_key_type(),
        Some(&MultiRegionKeyType::Replica)
    );
    assert_eq!(config.primary_key().unwrap().region(), Some("us-east-1"));

    // One key: what either Region encrypts, the other decrypts.
    assert_eq!(decrypt(&west_kms, before).await, "written in us-east-1");
    let from_west = encrypt(&west_kms, &key_id, "written in eu-west-1").await;
    assert_eq!(decrypt(&east_kms, from_west).await, "written in eu-west-1");
    let primary = east_kms
        .describe_key()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    let replicas = primary
        .key_metadata
        .unwrap()
        .multi_region_configuration
        .unwrap();
    assert_eq!(replicas.replica_keys()[0].region(), Some("eu-west-1"));

    // The primary's rotation reaches the replica through the controller.
    east_kms
        .rotate_key_on_demand()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    wait_for("version 2 in the cluster", READY, || async {
        let object = keys.get(&key_id).await.unwrap();
        (object.status?.current_version == Some(2)).then_some(())
    })
    .await;
    let after = encrypt(&east_kms, &key_id, "after the rotation").await;
    assert_eq!(decrypt(&west_kms, after).await, "after the rotation");

    // A replica neither rotates nor replicates on its own.
    let refused = west_kms
        .rotate_key_on_demand()
        .key_id(&key_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("UnsupportedOperationException"));
    assert!(
        refused.message().unwrap().contains("us-east-1"),
        "{refused:?}"
    );
    let refused = west_kms
        .replicate_key()
        .key_id(&key_id)
        .replica_region("ap-south-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("UnsupportedOperationException"));

    // UpdatePrimaryRegion: the cluster's key becomes the primary, and its
    // controller's rotation reaches us-east-1 (the endpoint's next sync).
    east_kms
        .update_primary_region()
        .key_id(&key_id)
        .primary_region("eu-west-1")
        .send()
        .await
        .unwrap();
    let object = wait_for("the cluster's key a primary", READY, || async {
        let object = keys.get(&key_id).await.unwrap();
        object.spec.primary_region.is_none().then_some(object)
    })
    .await;
    assert!(object.spec.multi_region);
    let key_type = |kms: aws_sdk_kms::Client, key_id: String| async move {
        let described = kms.describe_key().key_id(key_id).send().await.unwrap();
        let config = described
            .key_metadata
            .unwrap()
            .multi_region_configuration
            .unwrap();
        let primary = config.primary_key().unwrap().region().unwrap().to_owned();
        (config.multi_region_key_type().unwrap().clone(), primary)
    };
    assert_eq!(
        key_type(west_kms.clone(), key_id.clone()).await,
        (MultiRegionKeyType::Primary, "eu-west-1".to_owned())
    );
    assert_eq!(
        key_type(east_kms.clone(), key_id.clone()).await,
        (MultiRegionKeyType::Replica, "eu-west-1".to_owned())
    );
    west_kms
        .rotate_key_on_demand()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    wait_for("version 3 in the cluster", READY, || async {
        let object = keys.get(&key_id).await.unwrap();
        (object.status?.current_version == Some(3)).then_some(())
    })
    .await;
    let rotated = encrypt(&west_kms, &key_id, "rotated in eu-west-1").await;
    let reached = wait_for("version 3 in us-east-1", READY, || async {
        let plain = east_kms
            .decrypt()
            .ciphertext_blob(rotated.clone())
            .encryption_context("app", "orders")
            .send()
            .await
            .ok()?;
        Some(plain.plaintext.unwrap().into_inner())
    })
    .await;
    assert_eq!(reached, b"rotated in eu-west-1");

    // And back: called on the cluster, now the primary's Region.
    west_kms
        .update_primary_region()
        .key_id(&key_id)
        .primary_region("us-east-1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        key_type(east_kms.clone(), key_id.clone()).await,
        (MultiRegionKeyType::Primary, "us-east-1".to_owned())
    );
    wait_for("the cluster's key a replica again", READY, || async {
        let object = keys.get(&key_id).await.unwrap();
        (object.spec.primary_region.as_deref() == Some("us-east-1")).then_some(())
    })
    .await;
    assert_eq!(
        key_type(west_kms.clone(), key_id.clone()).await,
        (MultiRegionKeyType::Replica, "us-east-1".to_owned())
    );

    // A replica declared (from Git) before its primary replicates it waits,
    // then takes the delivery and keeps what it declares. (The cluster asks
    // for it at each sync as the test access key's principal, whose
    // ReplicateKey this primary's policy denies; another principal's is the
    // push.)
    let declared_id =
        declared_replica(&east_kms, &keys, "declared-replica", "declared in Git").await;
    let replicated = other_principal(&east_kms)
        .replicate_key()
        .key_id(format!(
            "arn:aws:kms:us-east-1:111122223333:key/{declared_id}"
        ))
        .replica_region("eu-west-1")
        .description("not the declared one")
        .send()
        .await
        .unwrap();
    let metadata = replicated.replica_key_metadata.unwrap();
    assert_eq!(metadata.description(), Some("declared in Git"));
    let object = wait_for("the declared replica Ready", READY, || async {
        keys.get_opt("declared-replica")
            .await
            .unwrap()
            .filter(ready)
    })
    .await;
    assert_eq!(
        object.status.unwrap().key_id.as_deref(),
        Some(declared_id.as_str())
    );
    assert!(
        keys.get_opt(&declared_id).await.unwrap().is_none(),
        "no second object"
    );
    let sealed = encrypt(&east_kms, &declared_id, "to a declared replica").await;
    assert_eq!(decrypt(&west_kms, sealed).await, "to a declared replica");
    drop(controller);
}

/// A `serve` primary's policy: the account may do everything, but the test
/// access key's principal (as which the cluster asks for the replicas
/// declared there) may replicate it only if `replicate`.
pub(super) fn primary_policy(replicate: bool) -> String {
    let deny = r#",{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/default/tester"},"Action":"kms:ReplicateKey","Resource":"*"}"#;
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:root"}},"Action":"kms:*","Resource":"*"}}{}]}}"#,
        if replicate { "" } else { deny }
    )
}

/// A new multi-Region key made by `kms`.
pub(super) async fn new_multi_region_key(kms: &aws_sdk_kms::Client) -> String {
    kms.create_key()
        .multi_region(true)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id
}

/// A new multi-Region key made by `kms` and replicated into `region`.
pub(super) async fn replicated_key(kms: &aws_sdk_kms::Client, region: &str) -> String {
    let key = new_multi_region_key(kms).await;
    kms.replicate_key()
        .key_id(&key)
        .replica_region(region)
        .send()
        .await
        .unwrap();
    key
}

/// A new multi-Region key made by `kms` and replicated into eu-west-1:
/// the key, the refusal's code and message, or `None` if replicated. A new
/// key each try, since one replicated before a change was taken is no
/// evidence either way.
pub(super) async fn replication_refused(
    kms: &aws_sdk_kms::Client,
) -> Option<(String, Option<String>, String)> {
    let key = new_multi_region_key(kms).await;
    let e = kms
        .replicate_key()
        .key_id(&key)
        .replica_region("eu-west-1")
        .send()
        .await
        .err()?;
    let message = e.message().unwrap_or_default().to_owned();
    Some((key, e.code().map(str::to_owned), message))
}

/// A client of `serve`'s other test principal (`other`, namespace `other`)
/// where `kms` points.
pub(super) fn other_principal(kms: &aws_sdk_kms::Client) -> aws_sdk_kms::Client {
    let credentials = aws_sdk_kms::config::Credentials::new(
        support::OTHER_ACCESS_KEY,
        support::OTHER_SECRET_KEY,
        None,
        None,
        "test",
    );
    let config = kms.config().to_builder().credentials_provider(credentials);
    aws_sdk_kms::Client::from_conf(config.build())
}

/// A primary made in us-east-1 whose policy denies the cluster's asking
/// for its replicas, and its replica declared in the cluster as the
/// KmsKey `name` (in `keys`' namespace, where us-east-1 delivers) with
/// `description`, awaiting its material: the key id.
pub(super) async fn declared_replica(
    east_kms: &aws_sdk_kms::Client,
    keys: &Api<KmsKey>,
    name: &str,
    description: &str,
) -> String {
    let key_id = east_kms
        .create_key()
        .multi_region(true)
        .policy(primary_policy(false))
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let declared: KmsKey = serde_json::from_value(json!({
        "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
        "metadata": {"name": name},
        "spec": {"keyId": key_id, "multiRegion": true, "primaryRegion": "us-east-1",
                 "description": description},
    }))
    .unwrap();
    keys.create(&PostParams::default(), &declared)
        .await
        .unwrap();
    wait_for("the declared replica awaiting its material", READY, || {
        awaiting_replication(keys, name)
    })
    .await;
    key_id
}

/// Whether the KmsKey `name` waits for its material.
pub(super) async fn awaiting_replication(keys: &Api<KmsKey>, name: &str) -> Option<()> {
    let object = keys.get(name).await.unwrap();
    let reason = ready_reason(&object.status?.conditions)?.to_owned();
    (reason == "AwaitingReplication").then_some(())
}

/// A primary in the cluster, deleted while its replica in us-east-1
/// exists: `PendingReplicaDeletion`, its KmsKey held Terminating; a cancel
/// declares it again; scheduled again, the window starts once the
/// replica is gone (us-east-1's store lost) and the object goes.
#[tokio::test]
async fn a_cluster_primary_deleted_waits_for_its_replica() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let Peered {
        controller,
        east,
        east_listen,
        east_args,
        east_kms,
        west_kms,
        ..
    } = peered(&cluster).await;
    let keys: Api<KmsKey> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let key_id = replicated_key(&west_kms, "us-east-1").await;
    let sealed = encrypt(&west_kms, &key_id, "kept by the replica").await;
    assert_eq!(decrypt(&east_kms, sealed).await, "kept by the replica");

    let schedule = async || {
        let scheduled = west_kms
            .schedule_key_deletion()
            .key_id(&key_id)
            .pending_window_in_days(7)
            .send()
            .await
            .unwrap();
        assert_eq!(
            scheduled.key_state(),
            Some(&KeyState::PendingReplicaDeletion)
        );
        assert_eq!(scheduled.deletion_date(), None);
    };
    schedule().await;
    // The controller writes the status just after the Secret the
    // endpoint's reply waited for.
    let held = wait_for("the held object's status", READY, || async {
        let object = keys.get(&key_id).await.unwrap();
        let state = object.status.as_ref()?.key_state.clone();
        (state.as_deref() == Some("PendingReplicaDeletion")).then_some(object)
    })
    .await;
    assert!(held.metadata.deletion_timestamp.is_some(), "Terminating");
    assert_eq!(held.status.unwrap().deletion_date, None);
    let described = west_kms
        .describe_key()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    let metadata = described.key_metadata.unwrap();
    assert_eq!(metadata.pending_deletion_window_in_days(), Some(7));
    let refused = west_kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("KMSInvalidStateException"));

    // Cancelled: the held object lets go and the key is declared again.
    west_kms
        .cancel_key_deletion()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    let again = wait_for("the key declared again", READY, || async {
        let object = keys.get_opt(&key_id).await.unwrap()?;
        let state = object.status.as_ref()?.key_state.clone();
        (object.metadata.deletion_timestamp.is_none() && state.as_deref() == Some("Disabled"))
            .then_some(object)
    })
    .await;
    assert!(!again.spec.enabled);
    west_kms.enable_key().key_id(&key_id).send().await.unwrap();
    let sealed = encrypt(&west_kms, &key_id, "after the cancel").await;
    assert_eq!(decrypt(&east_kms, sealed).await, "after the cancel");

    // Scheduled again, and the replica's Region loses it: the endpoint's
    // next probe finds it gone, the window starts, the object goes.
    schedule().await;
    let dir = east.stop();
    std::fs::remove_dir_all(dir.path().join("data")).unwrap();
    let _east = support::Server::start_on(dir, &east_listen, &east_args);
    let gone = std::time::SystemTime::now();
    wait_for("the KmsKey to go", READY, || async {
        keys.get_opt(&key_id).await.unwrap().is_none().then_some(())
    })
    .await;
    let metadata = wait_for("PendingDeletion", READY, || async {
        let described = west_kms.describe_key().key_id(&key_id).send().await.ok()?;
        let metadata = described.key_metadata?;
        (metadata.key_state() == Some(&KeyState::PendingDeletion)).then_some(metadata)
    })
    .await;
    let date = metadata.deletion_date().unwrap().secs();
    let from_gone = gone
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 7 * 86_400;
    assert!(
        (from_gone - 1..=from_gone + 40).contains(&date),
        "{date}: seven days from the replica's removal ({from_gone})"
    );
    drop(controller);
}
