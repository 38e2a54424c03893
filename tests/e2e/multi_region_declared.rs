//! Multi-Region replicas declared in their own Region, with a cluster as
//! one Region and `kube-kms serve` as the other: each Region's sync asks
//! the primary's Region for a declared replica without material (refused
//! or allowed by the primary's key policy and RBAC), a cluster replica
//! whose Secret is lost comes back the same way, and the peers file is
//! followed by the endpoint and its crypto sidecar. A primary declared
//! with `replicaRegions` is replicated there without a ReplicateKey call.

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::types::MultiRegionKeyType;

use super::*;
use crate::multi_region::{
    Peered, awaiting_replication, declared_replica, decrypt, encrypt, peered, primary_policy,
    replicated_key, replication_refused,
};

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
    let key_id = replicated_key(&east_kms, "eu-west-1").await;
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
    let (key_id, _, message) = wait_for(
        "the crypto sidecar no longer trusting us-east-1",
        READY,
        || replication_refused(&east_kms),
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
