//! Where a replica lands in a cluster: a key of a namespace the cluster's
//! peers file keeps (`replicaNamespaces`) goes to the namespace of the
//! same name if the cluster serves it, and is refused if it does not; a
//! key of any other namespace goes to the principal's, as before.

use aws_sdk_kms::error::ProvideErrorMetadata;

use super::*;
use crate::clients::key_admin_in;
use crate::multi_region::{
    Peered, decrypt, encrypt, other_principal, peered, peered_keeping, replicated_key,
    replication_refused,
};

#[tokio::test]
async fn a_replica_kept_in_its_primary_s_namespace_stays_within_what_the_cluster_serves() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let ns = cluster.namespace.clone();
    let Peered {
        controller,
        cluster_peers,
        east_kms,
        west_kms,
        east: _east,
        ..
    } = peered(&cluster).await;
    // us-east-1's keys of namespace `other` kept in `other` here.
    let original = std::fs::read_to_string(&cluster_peers).unwrap();
    std::fs::write(
        &cluster_peers,
        format!("{original}    replicaNamespaces: [other]\n"),
    )
    .unwrap();
    // `other`'s caller in us-east-1 (its namespace there).
    let other = other_principal(&east_kms);
    // Refused once the endpoint has taken the file (it follows it every 2 s).
    let (key, code, message) = wait_for("the cluster keeping namespace other", READY, || {
        replication_refused(&other)
    })
    .await;
    assert_eq!(code.as_deref(), Some("AccessDeniedException"), "{message}");
    assert!(
        message.contains(&format!(
            "cannot be made in namespace other: this endpoint serves namespace {ns} only"
        )),
        "{message}"
    );
    let missing = west_kms.describe_key().key_id(&key).send().await;
    assert_eq!(missing.unwrap_err().code(), Some("NotFoundException"));

    // A key of `default` there (not kept): in the principal's namespace.
    let kept_out = replicated_key(&east_kms, "eu-west-1").await;
    let sealed = encrypt(&east_kms, &kept_out, "in the principal's namespace").await;
    assert_eq!(
        decrypt(&west_kms, sealed).await,
        "in the principal's namespace"
    );
    drop(controller);
}

/// A cluster serving two namespaces (`--watch-namespace a,b`) that keeps
/// us-east-1's keys of the second: the replica of such a key is made
/// there, not in the namespace of the principal us-east-1 calls as, and
/// that namespace's callers use it.
#[tokio::test]
async fn a_cluster_serving_several_namespaces_keeps_a_replica_in_its_primary_s() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let ns = cluster.namespace.clone();
    let kept = cluster::namespace_beside(&cluster).await;
    let Peered {
        controller,
        east,
        east_kms,
        endpoint,
        ..
    } = peered_keeping(&cluster, Some(&kept)).await;
    // us-east-1's primary in namespace `kept`, from its manifests.
    let hex = uuid::Uuid::new_v4().simple().to_string();
    let key_id = format!("mrk-{}f{}", &hex[..16], &hex[17..]);
    std::fs::write(
        east.manifests_path().join("kept.yaml"),
        format!(
            "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {{name: kept, namespace: {kept}}}\nspec:\n  keyId: {key_id}\n  multiRegion: true\n"
        ),
    )
    .unwrap();
    wait_for("the manifest's key in us-east-1", READY, || async {
        east_kms.describe_key().key_id(&key_id).send().await.ok()
    })
    .await;
    east_kms
        .replicate_key()
        .key_id(&key_id)
        .replica_region("eu-west-1")
        .send()
        .await
        .unwrap();

    // Its replica is a KmsKey of `kept`; the test's namespace has none.
    let kept_keys: Api<KmsKey> = Api::namespaced(cluster.client.clone(), &kept);
    let object = wait_for("the replica Ready in the kept namespace", READY, || async {
        kept_keys.get_opt(&key_id).await.unwrap().filter(ready)
    })
    .await;
    assert_eq!(object.spec.primary_region.as_deref(), Some("us-east-1"));
    let own: Api<KmsKey> = Api::namespaced(cluster.client.clone(), &ns);
    assert!(own.get_opt(&key_id).await.unwrap().is_none());

    // A caller of `kept` lists it and opens what us-east-1 sealed.
    let kept_cluster = cluster.viewed_as(cluster.kubeconfig.clone(), &kept);
    let kept_kms = key_admin_in(&kept_cluster, &endpoint, "KEPT", "eu-west-1").await;
    let listed = kept_kms.list_keys().send().await.unwrap();
    assert!(
        listed
            .keys()
            .iter()
            .any(|k| k.key_id() == Some(key_id.as_str())),
        "{listed:?}"
    );
    let sealed = encrypt(&east_kms, &key_id, "kept in its namespace").await;
    assert_eq!(decrypt(&kept_kms, sealed).await, "kept in its namespace");
    drop(controller);
}
