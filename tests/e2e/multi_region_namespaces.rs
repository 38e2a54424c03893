//! Where a replica lands in a cluster: a key of a namespace the cluster's
//! peers file keeps (`replicaNamespaces`) would go to the namespace of the
//! same name, which a cluster endpoint serving one namespace refuses; a key
//! of any other namespace goes to the principal's, as before.

use aws_sdk_kms::error::ProvideErrorMetadata;

use super::*;
use crate::multi_region::{
    Peered, decrypt, encrypt, other_principal, peered, replicated_key, replication_refused,
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
