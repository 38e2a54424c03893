//! A replica declared in its own Region (a `serve` manifest with
//! `primaryRegion`) whose primary does not list that Region: the replica
//! Region's sync asks the primary's for it with ReplicateKey, which the
//! primary's key policy decides; the replica keeps what its manifest
//! declares (description, tags, alias, grant), its rotation is its
//! primary's, across a restart too.

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;

use super::multi_region::{scrape, serve_args};
use super::support::{self, ACCESS_KEY, SECRET_KEY, Server, root_key_in};

const KEY: &str = "mrk-0123456789abcdeff0123456789abcde";

/// A peers-file entry for `region`: whom it is, and how to reach it.
fn peer(region: &str, identity: &str, listen: &str) -> String {
    format!(
        "  - region: {region}\n    identities: [\"{identity}\"]\n    principal: tester\n    endpoint: http://{listen}\n    accessKeyId: {ACCESS_KEY}\n    secretAccessKey: {SECRET_KEY}\n"
    )
}

/// eu-west-1's manifest: the replica, an alias of it and a grant on it.
fn west_manifest() -> String {
    format!(
        "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {{name: orders}}\nspec:\n  keyId: {KEY}\n  multiRegion: true\n  primaryRegion: us-east-1\n  description: orders, in Ireland\n  tags: {{team: orders}}\n\
         ---\napiVersion: kubekms.io/v1alpha1\nkind: KmsAlias\nmetadata: {{name: orders}}\nspec:\n  aliasName: alias/orders-ie\n  targetKeyRef: {{name: orders}}\n\
         ---\napiVersion: kubekms.io/v1alpha1\nkind: KmsGrant\nmetadata: {{name: reporting}}\nspec:\n  keyRef: {{name: orders}}\n  granteePrincipal: arn:aws:iam::111122223333:user/default/reporting\n  operations: [Decrypt]\n"
    )
}

/// The primary's policy: the account may do everything but replicate it.
fn policy(replicate: bool) -> String {
    let deny =
        r#",{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"kms:ReplicateKey","Resource":"*"}"#;
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:root"}},"Action":"kms:*","Resource":"*"}}{}]}}"#,
        if replicate { "" } else { deny }
    )
}

async fn wait_for<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while !done().await {
        assert!(started.elapsed().as_secs() < 20, "{what}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

fn awaited(metrics: &str) -> Option<String> {
    let text = scrape(metrics);
    text.lines()
        .find(|l| l.starts_with("kubekms_replicas_awaited{primary_region=\"us-east-1\"}"))
        .map(|l| l.rsplit(' ').next().unwrap().to_owned())
}

#[tokio::test]
async fn a_replica_declared_in_its_region_is_asked_of_its_primary_as_its_policy_allows() {
    let (east_dir, west_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ((east_root, east_id), (west_root, west_id)) =
        (root_key_in(&east_dir), root_key_in(&west_dir));
    let (east_listen, west_listen) = (support::free_address(), support::free_address());
    let east_peers = east_dir.path().join("peers.yaml");
    std::fs::write(
        &east_peers,
        format!("peers:\n{}", peer("eu-west-1", &west_id, &west_listen)),
    )
    .unwrap();
    let west_peers = west_dir.path().join("peers.yaml");
    std::fs::write(
        &west_peers,
        format!("peers:\n{}", peer("us-east-1", &east_id, &east_listen)),
    )
    .unwrap();
    let west_manifests = west_dir.path().join("manifests");
    std::fs::create_dir_all(&west_manifests).unwrap();
    std::fs::write(west_manifests.join("replica.yaml"), west_manifest()).unwrap();

    // The primary, of the id the replica pins, its policy refusing
    // ReplicateKey.
    let east_manifests = east_dir.path().join("manifests");
    std::fs::create_dir_all(&east_manifests).unwrap();
    std::fs::write(
        east_manifests.join("primary.yaml"),
        format!(
            "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {{name: orders}}\nspec:\n  keyId: {KEY}\n  multiRegion: true\n  policy: '{}'\n",
            policy(false)
        ),
    )
    .unwrap();
    let mut east_args = serve_args("us-east-1", &east_root, &east_peers);
    east_args.extend(["--lifecycle-interval-seconds", "1"].map(std::ffi::OsString::from));
    let east = Server::start_on(east_dir, &east_listen, &east_args);
    let east_kms = support::kms_client(&east.endpoint, SECRET_KEY);

    let mut west_args = serve_args("eu-west-1", &west_root, &west_peers);
    west_args.extend(
        [
            "--lifecycle-interval-seconds",
            "1",
            "--metrics-listen",
            "127.0.0.1:0",
        ]
        .map(std::ffi::OsString::from),
    );
    let west = Server::start_on(west_dir, &west_listen, &west_args);
    let west_kms = support::kms_client_in(&west.endpoint, SECRET_KEY, "eu-west-1");
    let west_metrics = west.metrics.clone().expect("--metrics-listen");

    // The primary's policy refuses: asked at each sync, refused each time,
    // counted as awaited.
    wait_for("the primary's refusal logged", || async {
        west.log()
            .contains("declared replica not replicated by its primary's Region")
    })
    .await;
    assert!(west.log().contains("AccessDenied") || west.log().contains("not authorized"));
    let missing = west_kms
        .describe_key()
        .key_id(KEY)
        .send()
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some("NotFoundException"));
    wait_for("kubekms_replicas_awaited at 1", || async {
        awaited(&west_metrics).as_deref() == Some("1")
    })
    .await;

    // The primary's owner allows it: the next sync makes the replica.
    east_kms
        .put_key_policy()
        .key_id(KEY)
        .policy(policy(true))
        .send()
        .await
        .unwrap();
    wait_for("a replica in eu-west-1", || async {
        west_kms.describe_key().key_id(KEY).send().await.is_ok()
    })
    .await;
    let replica = west_kms
        .describe_key()
        .key_id(KEY)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let config = replica.multi_region_configuration().unwrap();
    assert_eq!(config.primary_key().unwrap().region(), Some("us-east-1"));
    assert_eq!(
        config.multi_region_key_type().map(|t| t.as_str()),
        Some("REPLICA")
    );
    // Its own settings are its manifest's.
    assert_eq!(replica.description(), Some("orders, in Ireland"));
    let tags = west_kms
        .list_resource_tags()
        .key_id(KEY)
        .send()
        .await
        .unwrap();
    let tags: Vec<(&str, &str)> = tags
        .tags()
        .iter()
        .map(|t| (t.tag_key(), t.tag_value()))
        .collect();
    assert_eq!(tags, [("team", "orders")]);
    let grants = west_kms.list_grants().key_id(KEY).send().await.unwrap();
    let grantees: Vec<&str> = grants
        .grants()
        .iter()
        .filter_map(|g| g.grantee_principal())
        .collect();
    assert_eq!(
        grantees,
        ["arn:aws:iam::111122223333:user/default/reporting"]
    );
    let listed = east_kms.describe_key().key_id(KEY).send().await.unwrap();
    let replicas: Vec<String> = listed
        .key_metadata
        .unwrap()
        .multi_region_configuration
        .unwrap()
        .replica_keys()
        .iter()
        .map(|r| r.region().unwrap().to_owned())
        .collect();
    assert_eq!(replicas, ["eu-west-1"]);

    // One key in both Regions, the replica's alias naming it there.
    let sealed = west_kms
        .encrypt()
        .key_id("alias/orders-ie")
        .plaintext(Blob::new("declared where it is used"))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let opened = east_kms
        .decrypt()
        .ciphertext_blob(sealed)
        .send()
        .await
        .unwrap();
    assert_eq!(
        opened.plaintext.unwrap().into_inner(),
        b"declared where it is used"
    );
    wait_for("kubekms_replicas_awaited at 0", || async {
        awaited(&west_metrics).as_deref() == Some("0")
    })
    .await;

    // Its rotation is its primary's: set there, shared here, and kept when
    // the manifest (which declares none) is applied again at a restart.
    east_kms
        .enable_key_rotation()
        .key_id(KEY)
        .rotation_period_in_days(120)
        .send()
        .await
        .unwrap();
    let rotating = || async {
        let status = west_kms
            .get_key_rotation_status()
            .key_id(KEY)
            .send()
            .await
            .unwrap();
        status.key_rotation_enabled && status.rotation_period_in_days == Some(120)
    };
    wait_for("the rotation shared with eu-west-1", rotating).await;
    let west_dir = west.stop();
    let west = Server::start_on(west_dir, &west_listen, &west_args);
    let west_kms = support::kms_client_in(&west.endpoint, SECRET_KEY, "eu-west-1");
    let status = west_kms
        .get_key_rotation_status()
        .key_id(KEY)
        .send()
        .await
        .unwrap();
    assert!(status.key_rotation_enabled);
    assert_eq!(status.rotation_period_in_days, Some(120));
    let replica = west_kms.describe_key().key_id(KEY).send().await.unwrap();
    assert_eq!(
        replica.key_metadata.unwrap().description(),
        Some("orders, in Ireland")
    );
}
