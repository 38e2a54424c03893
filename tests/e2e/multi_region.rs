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
    cluster_peers: std::path::PathBuf,
    pub(super) east: support::Server,
    east_listen: String,
    east_args: Vec<std::ffi::OsString>,
    pub(super) east_kms: aws_sdk_kms::Client,
    pub(super) west_kms: aws_sdk_kms::Client,
}

pub(super) async fn peered(cluster: &cluster::Cluster) -> Peered {
    let ns = cluster.namespace.clone();
    let (cluster_dir, east_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_, cluster_identity) = support::root_key_in(&cluster_dir);
    let (east_root, east_identity) = support::root_key_in(&east_dir);
    // us-east-1 calls the cluster with the access key of the Secret
    // `primary` in the test's namespace: known here by that principal's ARN.
    // The cluster calls us-east-1 (once it is the primary) with the test
    // access key there, where that Region listens.
    let east_listen = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().to_string()
    };
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
    let mut controller =
        Controller::start_peered(cluster, cluster_dir, &cluster_peers, "eu-west-1");
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
    let key_id = east_kms
        .create_key()
        .multi_region(true)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
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
fn primary_policy(replicate: bool) -> String {
    let deny = r#",{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/default/tester"},"Action":"kms:ReplicateKey","Resource":"*"}"#;
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:root"}},"Action":"kms:*","Resource":"*"}}{}]}}"#,
        if replicate { "" } else { deny }
    )
}

/// A client of `serve`'s other test principal (`other`, namespace `other`)
/// where `kms` points.
fn other_principal(kms: &aws_sdk_kms::Client) -> aws_sdk_kms::Client {
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
async fn declared_replica(
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
async fn awaiting_replication(keys: &Api<KmsKey>, name: &str) -> Option<()> {
    let object = keys.get(name).await.unwrap();
    let reason = ready_reason(&object.status?.conditions)?.to_owned();
    (reason == "AwaitingReplication").then_some(())
}

/// A replica declared in the cluster (its `KmsKey` in the namespace the
/// primary's Region delivers to) whose primary in `serve` does not list
/// it: the cluster asks us-east-1 at each sync, refused while the
/// primary's policy denies it, replicated once it allows.
#[tokio::test]
async fn a_replica_declared_in_the_cluster_is_asked_of_its_primary() {
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
    let keys: Api<KmsKey> = Api::namespaced(cluster.client.clone(), &ns);
    let key_id = declared_replica(&east_kms, &keys, "pulled", "declared in eu-west-1").await;
    // Several syncs (one a second), each refused by the primary's policy.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        awaiting_replication(&keys, "pulled").await.is_some(),
        "still awaiting"
    );
    // The object says why: the primary's answer, in its Ready condition.
    let object = keys.get("pulled").await.unwrap();
    let status = object.status.unwrap();
    let message = &Condition::ready_in(&status.conditions).unwrap().message;
    assert!(
        message.contains("asked, refused since")
            && message.contains("is not authorized to perform: kms:ReplicateKey"),
        "{message}"
    );
    assert!(status.replication_refusal.is_some());
    let missing = west_kms
        .describe_key()
        .key_id(&key_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some("NotFoundException"));
    let primary = east_kms
        .describe_key()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    let config = primary
        .key_metadata
        .unwrap()
        .multi_region_configuration
        .unwrap();
    assert!(config.replica_keys().is_empty());

    // Allowed: the next sync asks, us-east-1 delivers to the declared object.
    east_kms
        .put_key_policy()
        .key_id(&key_id)
        .policy(primary_policy(true))
        .send()
        .await
        .unwrap();
    let object = wait_for("the declared replica Ready", READY, || async {
        keys.get_opt("pulled").await.unwrap().filter(ready)
    })
    .await;
    assert_eq!(
        object.status.unwrap().key_id.as_deref(),
        Some(key_id.as_str())
    );
    assert_eq!(object.spec.description, "declared in eu-west-1");
    wait_for("the refusal taken from its status", READY, || async {
        let status = keys.get("pulled").await.unwrap().status?;
        status.replication_refusal.is_none().then_some(())
    })
    .await;
    let described = west_kms
        .describe_key()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    let metadata = described.key_metadata.unwrap();
    assert_eq!(metadata.description(), Some("declared in eu-west-1"));
    let config = metadata.multi_region_configuration.unwrap();
    assert_eq!(
        config.multi_region_key_type(),
        Some(&MultiRegionKeyType::Replica)
    );
    assert_eq!(config.primary_key().unwrap().region(), Some("us-east-1"));
    let sealed = encrypt(&east_kms, &key_id, "asked for from eu-west-1").await;
    assert_eq!(decrypt(&west_kms, sealed).await, "asked for from eu-west-1");
    let sealed = encrypt(&west_kms, &key_id, "and back").await;
    assert_eq!(decrypt(&east_kms, sealed).await, "and back");
    assert!(
        keys.get_opt(&key_id).await.unwrap().is_none(),
        "no second object"
    );
    drop(controller);
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
    let key_id = west_kms
        .create_key()
        .multi_region(true)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    west_kms
        .replicate_key()
        .key_id(&key_id)
        .replica_region("us-east-1")
        .send()
        .await
        .unwrap();
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

/// A primary declared in Git with `replicaRegions`: the controller records
/// the list, and the endpoint's sync makes the replica in us-east-1
/// without any ReplicateKey call.
#[tokio::test]
async fn a_kmskey_declaring_replica_regions_is_replicated_there() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let Peered {
        controller,
        east: _east,
        east_kms,
        west_kms,
        ..
    } = peered(&cluster).await;
    let keys: Api<KmsKey> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let declared = ready_key(
        &keys,
        "declared-primary",
        json!({"multiRegion": true, "replicaRegions": ["eu-west-1", "us-east-1"]}),
    )
    .await;
    let key_id = declared.status.unwrap().key_id.unwrap();
    let replica = wait_for("the replica in us-east-1", READY, || async {
        let described = east_kms.describe_key().key_id(&key_id).send().await.ok()?;
        described.key_metadata
    })
    .await;
    let config = replica.multi_region_configuration().unwrap();
    assert_eq!(
        config.multi_region_key_type(),
        Some(&MultiRegionKeyType::Replica)
    );
    assert_eq!(config.primary_key().unwrap().region(), Some("eu-west-1"));
    let listed = wait_for("the replica listed", READY, || async {
        let described = west_kms.describe_key().key_id(&key_id).send().await.ok()?;
        let config = described.key_metadata?.multi_region_configuration?;
        let regions: Vec<String> = config
            .replica_keys()
            .iter()
            .filter_map(|r| r.region().map(str::to_owned))
            .collect();
        (!regions.is_empty()).then_some(regions)
    })
    .await;
    assert_eq!(listed, ["us-east-1"]);
    let sealed = encrypt(&west_kms, &key_id, "declared in Git").await;
    assert_eq!(decrypt(&east_kms, sealed).await, "declared in Git");
    // The endpoint ran the sync holding the Lease, in the namespace it was
    // told (--lease-namespace), for three turns of --replica-sync-seconds.
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let lease = leases.get("kube-kms-replica-sync").await.unwrap();
    let spec = lease.spec.unwrap();
    assert!(spec.holder_identity.is_some());
    assert_eq!(
        spec.lease_duration_seconds,
        Some(15),
        "three 1 s turns, at least 15 s"
    );
    drop(controller);
}

/// A replica in the cluster whose Secret is lost (its finalizer taken off
/// by hand, or a restore without it) comes back by itself: the endpoint
/// asks us-east-1 for it again, which finds it gone from the cluster and
/// delivers every version to its KmsKey once more.
#[tokio::test]
async fn a_replica_whose_secret_is_lost_is_asked_for_again() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let Peered {
        controller,
        east: _east,
        east_kms,
        west_kms,
        ..
    } = peered(&cluster).await;
    let key_id = east_kms
        .create_key()
        .multi_region(true)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    east_kms
        .replicate_key()
        .key_id(&key_id)
        .replica_region("eu-west-1")
        .send()
        .await
        .unwrap();
    east_kms
        .rotate_key_on_demand()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    let keys: Api<KmsKey> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    wait_for("the replica at version 2", READY, || async {
        let object = keys.get_opt(&key_id).await.unwrap()?;
        (ready(&object) && object.status?.current_version == Some(2)).then_some(())
    })
    .await;
    let sealed = encrypt(&east_kms, &key_id, "before the loss").await;

    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let name = kube_kms::operator::key_secret::secret_name(&key_id);
    let lost = secrets.get(&name).await.unwrap().metadata.uid;
    secrets
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    secrets
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    wait_for("the replica's Secret delivered again", READY, || async {
        let secret = secrets.get_opt(&name).await.unwrap()?;
        (secret.metadata.uid != lost).then_some(())
    })
    .await;
    let object = wait_for("the replica Ready again", READY, || async {
        keys.get_opt(&key_id).await.unwrap().filter(ready)
    })
    .await;
    assert_eq!(object.status.unwrap().current_version, Some(2));
    assert_eq!(decrypt(&west_kms, sealed).await, "before the loss");
    // Listed again once us-east-1 records the delivery it made.
    wait_for("us-east-1 listing the replica again", READY, || async {
        let listed = east_kms.describe_key().key_id(&key_id).send().await.ok()?;
        let config = listed.key_metadata?.multi_region_configuration?;
        let regions: Vec<&str> = config
            .replica_keys()
            .iter()
            .filter_map(|r| r.region())
            .collect();
        (regions == ["eu-west-1"]).then_some(())
    })
    .await;
    drop(controller);
}

/// A replica declared in `serve` (us-east-1's manifests) of a primary in
/// the cluster: us-east-1 asks the cluster's endpoint with the access key
/// its peers file has there, which RBAC allows (`replicatekey`) and the
/// key's policy decides: refused while it denies that principal, made once
/// it does not, keeping what the manifest declares.
#[tokio::test]
async fn a_replica_declared_in_serve_is_asked_of_its_cluster_primary() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let ns = cluster.namespace.clone();
    let Peered {
        controller,
        east,
        east_listen,
        mut east_args,
        west_kms,
        ..
    } = peered(&cluster).await;
    // us-east-1's access key here is the Secret `primary`'s: a key admin.
    let user = cluster::callers::access_key_user(&cluster, "primary");
    cluster::callers::bind(&cluster, "primary-key-admin", "key-admin", user).await;
    let asker = format!("arn:aws:iam::111122223333:user/{ns}/primary");
    let policy = |denied: bool| {
        let deny = format!(
            r#",{{"Effect":"Deny","Principal":{{"AWS":"{asker}"}},"Action":"kms:ReplicateKey","Resource":"*"}}"#
        );
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:root"}},"Action":"kms:*","Resource":"*"}}{}]}}"#,
            if denied { deny.as_str() } else { "" }
        )
    };
    let keys: Api<KmsKey> = Api::namespaced(cluster.client.clone(), &ns);
    let primary = ready_key(
        &keys,
        "asked-primary",
        json!({"multiRegion": true, "policy": policy(true)}),
    )
    .await;
    let key_id = primary.status.unwrap().key_id.unwrap();

    // us-east-1 declares the replica and syncs each second.
    let dir = east.stop();
    std::fs::write(
        dir.path().join("manifests").join("replica.yaml"),
        format!(
            "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {{name: orders}}\nspec:\n  keyId: {key_id}\n  multiRegion: true\n  primaryRegion: eu-west-1\n  description: declared in us-east-1\n"
        ),
    )
    .unwrap();
    east_args.extend(["--lifecycle-interval-seconds".into(), "1".into()]);
    let east = support::Server::start_on(dir, &east_listen, &east_args);
    let east_kms = support::kms_client(&east.endpoint, support::SECRET_KEY);
    wait_for("the cluster's refusal", READY, || async {
        let log = east.log();
        (log.contains("declared replica not replicated by its primary's Region")
            && log.contains("kms:ReplicateKey"))
        .then_some(())
    })
    .await;
    let missing = east_kms
        .describe_key()
        .key_id(&key_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some("NotFoundException"));

    west_kms
        .put_key_policy()
        .key_id(&key_id)
        .policy(policy(false))
        .send()
        .await
        .unwrap();
    let replica = wait_for("the replica in us-east-1", READY, || async {
        east_kms
            .describe_key()
            .key_id(&key_id)
            .send()
            .await
            .ok()?
            .key_metadata
    })
    .await;
    assert_eq!(replica.description(), Some("declared in us-east-1"));
    let config = replica.multi_region_configuration().unwrap();
    assert_eq!(
        config.multi_region_key_type(),
        Some(&MultiRegionKeyType::Replica)
    );
    assert_eq!(config.primary_key().unwrap().region(), Some("eu-west-1"));
    let sealed = encrypt(&west_kms, &key_id, "asked for from us-east-1").await;
    assert_eq!(decrypt(&east_kms, sealed).await, "asked for from us-east-1");
    drop(controller);
}

/// The cluster's peers file is followed by its endpoint and its crypto
/// sidecar: us-east-1's identity replaced there, deliveries are refused by
/// the crypto service; the file put back, taken again, without a restart.
#[tokio::test]
async fn the_cluster_follows_its_peers_file() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let Peered {
        controller,
        cluster_peers,
        east: _east,
        east_kms,
        west_kms,
        ..
    } = peered(&cluster).await;
    let original = std::fs::read_to_string(&cluster_peers).unwrap();
    let identity = original
        .split('"')
        .nth(1)
        .expect("an identity in the peers file")
        .to_owned();
    // Another crypto service's identity in us-east-1's place.
    let stranger = tempfile::tempdir().unwrap();
    let (_, other) = support::root_key_in(&stranger);
    let replaced = original.replace(&identity, &other);
    std::fs::write(&cluster_peers, replaced).unwrap();
    // A new key each try: one replicated before the file was taken is no
    // evidence either way.
    let refused = || async {
        let key_id = east_kms
            .create_key()
            .multi_region(true)
            .send()
            .await
            .unwrap()
            .key_metadata
            .unwrap()
            .key_id;
        let e = east_kms
            .replicate_key()
            .key_id(&key_id)
            .replica_region("eu-west-1")
            .send()
            .await
            .err()?;
        Some((key_id, e.message().unwrap_or_default().to_owned()))
    };
    let (key_id, message) = wait_for(
        "the crypto sidecar no longer trusting us-east-1",
        READY,
        refused,
    )
    .await;
    assert!(message.contains("trust"), "{message}");
    let missing = west_kms.describe_key().key_id(&key_id).send().await;
    assert_eq!(missing.unwrap_err().code(), Some("NotFoundException"));

    std::fs::write(&cluster_peers, &original).unwrap();
    wait_for("us-east-1 trusted again", READY, || async {
        let replicated = east_kms
            .replicate_key()
            .key_id(&key_id)
            .replica_region("eu-west-1")
            .send()
            .await;
        replicated.ok().map(drop)
    })
    .await;
    let sealed = encrypt(&east_kms, &key_id, "after the peers file came back").await;
    assert_eq!(
        decrypt(&west_kms, sealed).await,
        "after the peers file came back"
    );
    drop(controller);
}
