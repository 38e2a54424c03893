//! Replicas declared in this Region before their primary lists it
//! (`replicate_pull`): what a delivery takes from the declaration, and
//! which declared replicas this Region may ask its primary's Region for.

use super::*;
use crate::api::DeclaredReplica;
use crate::api::peer::PeerClient;
use crate::key::{KeyRecord, Origin, Regions};
use crate::replica::peers_file::PeersFile;
use crate::resource::KmsKeySpec;
use crate::store::AwaitedReplica;

const MRK: &str = "mrk-0123456789abcdeff0123456789abcde";

fn declaration(namespace: &str, primary: &str) -> DeclaredReplica {
    let spec: KmsKeySpec = serde_json::from_value(json!({
        "keyId": MRK,
        "multiRegion": true,
        "primaryRegion": primary,
        "description": "declared",
        "tags": {"team": "orders"},
        "enabled": false,
    }))
    .unwrap();
    DeclaredReplica {
        namespace: namespace.into(),
        name: "orders".into(),
        spec,
        grants: Vec::new(),
    }
}

/// A replica of `MRK` as a delivery from `primary` makes it.
fn delivered(primary: &str) -> KeyRecord {
    let mut key = KeyRecord::test(T0);
    key.key_id = MRK.parse().unwrap();
    key.namespace = "replicator".into();
    key.description = "the primary's".into();
    key.regions = Some(Regions::test_replica(primary, &[]));
    key
}

#[tokio::test]
async fn a_delivery_takes_its_declaration_or_is_refused_as_another_key() {
    let h = harness();
    let mut key = delivered("eu-west-1");
    h.api.declared_settings(&mut key, T0).unwrap();
    assert_eq!(key.namespace, "replicator", "no declaration, nothing taken");

    h.api
        .declare_replica(declaration("team", "eu-west-1"))
        .unwrap();
    h.api.declared_settings(&mut key, T0).unwrap();
    assert_eq!(
        (
            key.namespace.as_str(),
            key.description.as_str(),
            key.enabled
        ),
        ("team", "declared", false)
    );
    assert_eq!(key.tags.get("team").map(String::as_str), Some("orders"));

    let mut other_primary = delivered("ap-south-1");
    let refused = h.api.declared_settings(&mut other_primary, T0).unwrap_err();
    assert!(
        matches!(&refused, ApiError::AlreadyExists(m)
        if m.contains("declared here by KmsKey team/orders, not as a replica of the key in ap-south-1")),
        "{refused:?}"
    );

    let mut other_spec = delivered("eu-west-1");
    other_spec.spec = crate::spec::KeySpec::Hmac256;
    other_spec.usage = crate::spec::KeyUsage::GenerateVerifyMac;
    let refused = h.api.declared_settings(&mut other_spec, T0).unwrap_err();
    assert!(
        matches!(&refused, ApiError::Validation(m) if m.contains("but its primary is HMAC_256")),
        "{refused:?}"
    );

    let mut imported = delivered("eu-west-1");
    imported.origin = Origin::External;
    let refused = h.api.declared_settings(&mut imported, T0).unwrap_err();
    assert!(
        matches!(&refused, ApiError::Validation(m) if m.contains("of origin AWS_KMS, but its primary's material is of origin EXTERNAL")),
        "{refused:?}"
    );
    assert_eq!(
        imported.namespace, "replicator",
        "nothing taken when refused"
    );
}

fn peers(yaml: &str, arns_only: bool) -> PeerClient {
    let client = PeerClient::new(PeersFile::parse(yaml).unwrap()).unwrap();
    if arns_only {
        client.arns_only()
    } else {
        client
    }
}

fn awaited(namespace: &str, primary: &str) -> AwaitedReplica {
    AwaitedReplica {
        key_id: MRK.parse().unwrap(),
        primary_region: primary.into(),
        namespace: namespace.into(),
        name: "orders".into(),
    }
}

/// A peer entry's identity (each Region's is its own) and where it is.
fn reachable(n: char) -> String {
    format!(
        "    identities: [\"{}\"]\n    endpoint: http://127.0.0.1:1\n    accessKeyId: AKID\n    secretAccessKey: secret\n",
        n.to_string().repeat(64)
    )
}

#[tokio::test]
async fn only_replicas_declared_where_their_primary_delivers_are_asked_for() {
    let h = harness();
    // A cluster: the primary's Region delivers as a principal of namespace
    // kube-kms; a replica declared in another tenant's namespace would have
    // this Region's principal fetch a key into it.
    let cluster = peers(
        &format!(
            "peers:\n  - region: eu-west-1\n{}    principal: arn:aws:iam::111122223333:user/kube-kms/replicator\n  - region: ap-south-1\n    identities: [\"{}\"]\n    principal: arn:aws:iam::111122223333:user/kube-kms/replicator\n  - region: sa-east-1\n{}",
            reachable('a'),
            "b".repeat(64),
            reachable('c')
        ),
        true,
    );
    assert!(
        h.api
            .may_pull(&cluster, &awaited("kube-kms", "eu-west-1"))
            .is_ok()
    );
    let refused = h.api.may_pull(&cluster, &awaited("team", "eu-west-1"));
    assert!(
        matches!(&refused, Err(ApiError::AccessDenied(m))
        if m.contains("arrive in namespace kube-kms") && m.contains("not in team")),
        "{refused:?}"
    );
    let unreachable = h.api.may_pull(&cluster, &awaited("kube-kms", "ap-south-1"));
    assert!(
        matches!(&unreachable, Err(ApiError::Unsupported(m)) if m.contains("no endpoint and credentials")),
        "{unreachable:?}"
    );
    let stranger = h
        .api
        .may_pull(&cluster, &awaited("kube-kms", "eu-central-1"));
    assert!(
        matches!(stranger, Err(ApiError::Unsupported(_))),
        "{stranger:?}"
    );
    let mute = h.api.may_pull(&cluster, &awaited("kube-kms", "sa-east-1"));
    assert!(
        matches!(&mute, Err(ApiError::Unsupported(m)) if m.contains("may not deliver replicas here")),
        "{mute:?}"
    );
    let itself = h.api.may_pull(&cluster, &awaited("kube-kms", "us-east-1"));
    assert!(matches!(itself, Err(ApiError::Validation(_))), "{itself:?}");

    // eu-west-1's replicas of team's keys kept in team here: one declared
    // there is asked for (it arrives there only if its primary is in team).
    let keeping = peers(
        &format!(
            "peers:\n  - region: eu-west-1\n{}    principal: arn:aws:iam::111122223333:user/kube-kms/replicator\n    replicaNamespaces: [team]\n",
            reachable('a')
        ),
        true,
    );
    assert!(
        h.api
            .may_pull(&keeping, &awaited("team", "eu-west-1"))
            .is_ok()
    );
    let refused = h.api.may_pull(&keeping, &awaited("team-b", "eu-west-1"));
    assert!(
        matches!(&refused, Err(ApiError::AccessDenied(m)) if m.contains("replicaNamespaces") && m.contains("not in team-b")),
        "{refused:?}"
    );

    // `serve`: a bare principal name; the manifests say the namespace.
    let serve = peers(
        &format!(
            "peers:\n  - region: eu-west-1\n{}    principal: replicator\n",
            reachable('a')
        ),
        false,
    );
    assert!(
        h.api
            .may_pull(&serve, &awaited("team", "eu-west-1"))
            .is_ok()
    );
}

/// `serve` reaching eu-west-1 (where nothing answers), a replica of a key
/// there declared.
fn declared_in_serve() -> Harness {
    let h = harness_built(|api| {
        let yaml = format!(
            "peers:\n  - region: eu-west-1\n{}    principal: replicator\n",
            reachable('a')
        );
        api.with_peers(Some(peers(&yaml, false)))
    });
    h.api
        .declare_replica(declaration("team", "eu-west-1"))
        .unwrap();
    h
}

#[tokio::test]
async fn a_declared_replica_not_reached_is_counted_as_awaited_until_it_arrives() {
    let h = declared_in_serve();
    let (waiting, failures) = h.api.pull_declared().await;
    assert_eq!(waiting.get("eu-west-1"), Some(&1));
    assert!(
        matches!(failures.as_slice(), [(region, ApiError::DependencyTimeout(_))] if region == "eu-west-1"),
        "{failures:?}"
    );

    // Arrived (here made directly): no longer asked for or counted.
    let mut key = delivered("eu-west-1");
    h.api.declared_settings(&mut key, T0).unwrap();
    h.api.store.create_key(key).await.unwrap();
    let (waiting, failures) = h.api.pull_declared().await;
    assert!(
        waiting.is_empty() && failures.is_empty(),
        "{waiting:?} {failures:?}"
    );
}

#[tokio::test]
async fn a_declaration_withdrawn_before_its_replica_arrives_is_no_longer_asked_for() {
    let h = declared_in_serve();
    h.api.retain_declared_replicas(|id| id.to_string() == MRK);
    assert_eq!(h.api.pull_declared().await.0.get("eu-west-1"), Some(&1));
    h.api.retain_declared_replicas(|_| false);
    let (waiting, failures) = h.api.pull_declared().await;
    assert!(waiting.is_empty() && failures.is_empty());
    assert!(h.api.declared_replica(MRK.parse().unwrap()).is_none());
}
