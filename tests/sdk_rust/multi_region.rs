//! Multi-Region keys between two `kube-kms serve` Regions, with the AWS SDK
//! for Rust: a replica pending deletion stays on its primary's list (and
//! refuses deliveries), a replica gone from its Region leaves the list, and
//! ReplicateKey then makes it again.

use aws_sdk_kms::error::ProvideErrorMetadata;

use super::support::{self, ACCESS_KEY, SECRET_KEY, Server, root_key_in};

pub(super) fn serve_args(
    region: &str,
    root: &std::path::Path,
    peers: &std::path::Path,
) -> Vec<std::ffi::OsString> {
    [
        "--region".into(),
        region.into(),
        "--root-key".into(),
        root.into(),
        "--peers".into(),
        peers.into(),
    ]
    .to_vec()
}

async fn replica_regions(kms: &aws_sdk_kms::Client, key: &str) -> Vec<String> {
    let described = kms.describe_key().key_id(key).send().await.unwrap();
    let config = described
        .key_metadata
        .unwrap()
        .multi_region_configuration
        .unwrap();
    config
        .replica_keys()
        .iter()
        .map(|r| r.region().unwrap().to_owned())
        .collect()
}

/// Two `serve` Regions: us-east-1 (with /metrics) pushes to eu-west-1,
/// which can be restarted on the same address.
pub(super) struct TwoRegions {
    pub(super) east: Server,
    pub(super) west: Server,
    west_listen: String,
    west_args: Vec<std::ffi::OsString>,
}

impl TwoRegions {
    /// `east_extra`: more of us-east-1's `serve` arguments;
    /// `east_manifest`: a manifest it applies besides the test fixtures.
    pub(super) fn start(east_extra: &[&str], east_manifest: Option<&str>) -> TwoRegions {
        Self::start_with_west_peer(east_extra, east_manifest, "")
    }

    /// As [`TwoRegions::start`], with `west_peer` more lines of us-east-1's
    /// entry in eu-west-1's peers file.
    pub(super) fn start_with_west_peer(
        east_extra: &[&str],
        east_manifest: Option<&str>,
        west_peer: &str,
    ) -> TwoRegions {
        let (east_dir, west_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        if let Some(manifest) = east_manifest {
            let manifests = east_dir.path().join("manifests");
            std::fs::create_dir_all(&manifests).unwrap();
            std::fs::write(manifests.join("declared.yaml"), manifest).unwrap();
        }
        let ((east_root, east_id), (west_root, west_id)) =
            (root_key_in(&east_dir), root_key_in(&west_dir));
        // eu-west-1 restarts on the same address with an empty store.
        let west_listen = support::free_address();
        let west_peers = west_dir.path().join("peers.yaml");
        std::fs::write(
            &west_peers,
            format!("peers:\n  - region: us-east-1\n    identities: [\"{east_id}\"]\n    principal: tester\n{west_peer}"),
        )
        .unwrap();
        let east_peers = east_dir.path().join("peers.yaml");
        std::fs::write(
            &east_peers,
            format!(
                "peers:\n  - region: eu-west-1\n    identities: [\"{west_id}\"]\n    endpoint: http://{west_listen}\n    accessKeyId: {ACCESS_KEY}\n    secretAccessKey: {SECRET_KEY}\n"
            ),
        )
        .unwrap();
        let west_args = serve_args("eu-west-1", &west_root, &west_peers);
        let west = Server::start_on(west_dir, &west_listen, &west_args);
        let mut east_args = serve_args("us-east-1", &east_root, &east_peers);
        east_args.extend(["--metrics-listen".into(), "127.0.0.1:0".into()]);
        east_args.extend(east_extra.iter().map(std::ffi::OsString::from));
        let east = Server::start_with(east_dir, &east_args);
        TwoRegions {
            east,
            west,
            west_listen,
            west_args,
        }
    }
}

/// A multi-Region key made in us-east-1 and replicated to eu-west-1.
async fn replicated_key(east_kms: &aws_sdk_kms::Client) -> String {
    let key = east_kms
        .create_key()
        .multi_region(true)
        .send()
        .await
        .unwrap();
    let key = key.key_metadata.unwrap().key_id;
    east_kms
        .replicate_key()
        .key_id(&key)
        .replica_region("eu-west-1")
        .send()
        .await
        .unwrap();
    key
}

#[tokio::test]
async fn a_replica_gone_from_its_region_leaves_its_primary_s_list() {
    let TwoRegions {
        east,
        west,
        west_listen,
        west_args,
    } = TwoRegions::start(&[], None);
    let east_kms = support::kms_client(&east.endpoint, SECRET_KEY);
    let west_kms = support::kms_client_in(&west.endpoint, SECRET_KEY, "eu-west-1");
    let key = replicated_key(&east_kms).await;
    let replicate = async || {
        east_kms
            .replicate_key()
            .key_id(&key)
            .replica_region("eu-west-1")
            .send()
            .await
    };
    assert_eq!(replica_regions(&east_kms, &key).await, ["eu-west-1"]);

    // Pending deletion there: still a replica, which refuses new versions;
    // the primary keeps it and tries again.
    west_kms
        .schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    east_kms
        .rotate_key_on_demand()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(replica_regions(&east_kms, &key).await, ["eu-west-1"]);
    assert!(
        east.log().contains("KMSInvalidStateException") || east.log().contains("pending deletion"),
        "the refusal is logged"
    );

    // Gone (eu-west-1's store lost): the next delivery's NotFound takes it
    // off the list, and ReplicateKey makes it again.
    let west = restarted_empty(west, &west_listen, &west_args);
    east_kms
        .rotate_key_on_demand()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(replica_regions(&east_kms, &key).await, Vec::<String>::new());
    let again = replicate().await.unwrap();
    assert_eq!(again.replica_key_metadata.unwrap().key_id, key);
    assert_eq!(replica_regions(&east_kms, &key).await, ["eu-west-1"]);
    let west_kms = support::kms_client_in(&west.endpoint, SECRET_KEY, "eu-west-1");
    let rotations = west_kms
        .list_key_rotations()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(rotations.rotations().len(), 2, "every version went again");
    let refused = west_kms
        .rotate_key_on_demand()
        .key_id(&key)
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("UnsupportedOperationException"));

    // ReplicateKey of a listed Region: refused while the replica is there,
    // made again when it is gone there (no delivery needed to notice).
    let listed = replicate().await.unwrap_err();
    assert_eq!(listed.code(), Some("AlreadyExistsException"));
    let west = restarted_empty(west, &west_listen, &west_args);
    let again = replicate().await.unwrap();
    assert_eq!(again.replica_key_metadata.unwrap().key_id, key);
    assert_eq!(replica_regions(&east_kms, &key).await, ["eu-west-1"]);
    let west_kms = support::kms_client_in(&west.endpoint, SECRET_KEY, "eu-west-1");
    let described = west_kms.describe_key().key_id(&key).send().await.unwrap();
    assert!(
        described
            .key_metadata
            .unwrap()
            .multi_region_configuration
            .is_some()
    );

    // Each delivery counted by its outcome.
    let metrics = scrape(east.metrics.as_deref().unwrap());
    let deliveries = |outcome: &str| {
        let series = format!(
            "kubekms_replica_deliveries_total{{outcome=\"{outcome}\",region=\"eu-west-1\"}} "
        );
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&series))
            .map(|value| value.parse::<u64>().unwrap())
    };
    assert_eq!(
        (deliveries("failed"), deliveries("gone")),
        (Some(1), Some(2)),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_primary_scheduled_for_deletion_waits_for_its_replicas() {
    // us-east-1 runs its lifecycle (and with it the probes) every second.
    let TwoRegions {
        east,
        west,
        west_listen,
        west_args,
    } = TwoRegions::start(&["--lifecycle-interval-seconds", "1"], None);
    let east_kms = support::kms_client(&east.endpoint, SECRET_KEY);
    let west_kms = support::kms_client_in(&west.endpoint, SECRET_KEY, "eu-west-1");
    let key = replicated_key(&east_kms).await;
    let schedule = async || {
        east_kms
            .schedule_key_deletion()
            .key_id(&key)
            .pending_window_in_days(7)
            .send()
            .await
            .unwrap()
    };
    let scheduled = schedule().await;
    assert_eq!(
        scheduled.key_state().map(|s| s.as_str()),
        Some("PendingReplicaDeletion")
    );
    assert_eq!(
        scheduled.deletion_date(),
        None,
        "no date while replicas exist"
    );
    assert_eq!(scheduled.pending_window_in_days(), Some(7));
    let described = async || {
        east_kms
            .describe_key()
            .key_id(&key)
            .send()
            .await
            .unwrap()
            .key_metadata
            .unwrap()
    };
    let waiting = described().await;
    assert_eq!(
        waiting.key_state().map(|s| s.as_str()),
        Some("PendingReplicaDeletion")
    );
    assert_eq!(waiting.deletion_date(), None);
    assert_eq!(waiting.pending_deletion_window_in_days(), Some(7));

    // Not usable, not replicated further; the replica still works.
    let refused = east_kms
        .encrypt()
        .key_id(&key)
        .plaintext(aws_sdk_kms::primitives::Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("KMSInvalidStateException"));
    assert!(
        refused
            .message()
            .unwrap()
            .ends_with("is pending replica deletion."),
        "{:?}",
        refused.message()
    );
    let refused = east_kms
        .replicate_key()
        .key_id(&key)
        .replica_region("eu-west-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("KMSInvalidStateException"));
    west_kms
        .encrypt()
        .key_id(&key)
        .plaintext(aws_sdk_kms::primitives::Blob::new("x"))
        .send()
        .await
        .unwrap();

    // Cancelled: Disabled, as from PendingDeletion.
    east_kms
        .cancel_key_deletion()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described().await.key_state().map(|s| s.as_str()),
        Some("Disabled")
    );
    schedule().await;

    // The replica pending deletion in its Region is still there: the
    // primary keeps waiting through several lifecycle runs.
    west_kms
        .schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(
        described().await.key_state().map(|s| s.as_str()),
        Some("PendingReplicaDeletion")
    );
    assert_eq!(replica_regions(&east_kms, &key).await, ["eu-west-1"]);

    // Gone there: the next probe takes it off the list and the window
    // starts then, seven days from that moment.
    let _west = restarted_empty(west, &west_listen, &west_args);
    let gone = std::time::SystemTime::now();
    let pending = loop {
        let metadata = described().await;
        if metadata.key_state().map(|s| s.as_str()) == Some("PendingDeletion") {
            break metadata;
        }
        assert!(gone.elapsed().unwrap().as_secs() < 20, "still {metadata:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(replica_regions(&east_kms, &key).await, Vec::<String>::new());
    let date = pending.deletion_date().expect("a deletion date now").secs();
    let from_gone = gone
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 7 * 86_400;
    assert!(
        (from_gone - 1..=from_gone + 21).contains(&date),
        "{date} is seven days from the replica's removal ({from_gone})"
    );
    assert!(east.log().contains("replica deleted"), "{}", east.log());
}

#[tokio::test]
async fn a_primary_declared_with_replica_regions_is_replicated_there() {
    // us-east-1's manifest declares the primary and where its replicas
    // are (its own Region included, as every Region's copy may list it).
    let key = "mrk-0123456789abcdefe123456789abcdef";
    let manifest = format!(
        "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {{name: orders}}\nspec:\n  keyId: {key}\n  multiRegion: true\n  description: orders\n  replicaRegions: [us-east-1, eu-west-1]\n"
    );
    let TwoRegions { east, west, .. } =
        TwoRegions::start(&["--lifecycle-interval-seconds", "1"], Some(&manifest));
    let east_kms = support::kms_client(&east.endpoint, SECRET_KEY);
    let west_kms = support::kms_client_in(&west.endpoint, SECRET_KEY, "eu-west-1");
    let started = std::time::Instant::now();
    let replica = loop {
        if let Ok(described) = west_kms.describe_key().key_id(key).send().await {
            break described.key_metadata.unwrap();
        }
        assert!(started.elapsed().as_secs() < 20, "no replica in eu-west-1");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let config = replica.multi_region_configuration().unwrap();
    assert_eq!(
        config.multi_region_key_type().map(|t| t.as_str()),
        Some("REPLICA")
    );
    assert_eq!(config.primary_key().unwrap().region(), Some("us-east-1"));
    // A replica's own settings are ReplicateKey's defaults.
    assert_eq!(replica.description(), Some(""));
    assert_eq!(replica_regions(&east_kms, key).await, ["eu-west-1"]);

    // One key in both Regions.
    let sealed = east_kms
        .encrypt()
        .key_id(key)
        .plaintext(aws_sdk_kms::primitives::Blob::new("declared"))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let opened = west_kms
        .decrypt()
        .ciphertext_blob(sealed)
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext.unwrap().into_inner(), b"declared");
    // Made once: later syncs find it listed.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(replica_regions(&east_kms, key).await, ["eu-west-1"]);
    assert_eq!(
        east.log()
            .matches("replicated as its replicaRegions declare")
            .count(),
        1
    );
}

/// The text `url`'s /metrics answers.
pub(super) fn scrape(url: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(url.strip_prefix("http://").unwrap()).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nhost: metrics\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

/// `region` stopped, its store lost, started again on the same address with
/// the same root key.
fn restarted_empty(region: Server, listen: &str, args: &[std::ffi::OsString]) -> Server {
    let dir = region.stop();
    std::fs::remove_dir_all(dir.path().join("data")).unwrap();
    Server::start_on(dir, listen, args)
}
