//! Multi-Region keys between two `kube-kms serve` Regions, with the AWS SDK
//! for Rust: a replica pending deletion stays on its primary's list (and
//! refuses deliveries), a replica gone from its Region leaves the list, and
//! ReplicateKey then makes it again.

use aws_sdk_kms::error::ProvideErrorMetadata;

use super::support::{self, ACCESS_KEY, SECRET_KEY, Server, root_key_in};

fn serve_args(
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

#[tokio::test]
async fn a_replica_gone_from_its_region_leaves_its_primary_s_list() {
    let (east_dir, west_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ((east_root, east_id), (west_root, west_id)) =
        (root_key_in(&east_dir), root_key_in(&west_dir));
    // eu-west-1 restarts on the same address with an empty store.
    let west_listen = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().to_string()
    };
    let west_peers = west_dir.path().join("peers.yaml");
    std::fs::write(
        &west_peers,
        format!("peers:\n  - region: us-east-1\n    identities: [\"{east_id}\"]\n    principal: tester\n"),
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
    let east = Server::start_with(east_dir, &east_args);
    let east_kms = support::kms_client(&east.endpoint, SECRET_KEY);
    let west_kms = support::kms_client_in(&west.endpoint, SECRET_KEY, "eu-west-1");
    let key = east_kms
        .create_key()
        .multi_region(true)
        .send()
        .await
        .unwrap();
    let key = key.key_metadata.unwrap().key_id;
    let replicate = async || {
        east_kms
            .replicate_key()
            .key_id(&key)
            .replica_region("eu-west-1")
            .send()
            .await
    };
    replicate().await.unwrap();
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

/// The text `url`'s /metrics answers.
fn scrape(url: &str) -> String {
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
