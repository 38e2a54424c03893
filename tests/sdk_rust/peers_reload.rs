//! The peers file is followed while `serve` runs: a Region added to it is
//! taken by the endpoint (whose requests it answers) and the crypto service
//! (whose identity it trusts) without a restart, and a file that does not
//! load leaves the peers before in force.

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;

use super::multi_region::serve_args;
use super::support::{self, ACCESS_KEY, SECRET_KEY, Server, root_key_in};

async fn encrypt(kms: &aws_sdk_kms::Client, key: &str, text: &str) -> Blob {
    kms.encrypt()
        .key_id(key)
        .plaintext(Blob::new(text))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap()
}

#[tokio::test]
async fn a_region_added_to_the_peers_file_is_taken_without_a_restart() {
    let (east_dir, west_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ((east_root, east_id), (west_root, west_id)) =
        (root_key_in(&east_dir), root_key_in(&west_dir));
    let west_listen = support::free_address();
    // eu-west-1 starts with no peer: it takes replicas from nobody.
    let west_peers = west_dir.path().join("peers.yaml");
    std::fs::write(&west_peers, "peers: []\n").unwrap();
    let east_peers = east_dir.path().join("peers.yaml");
    std::fs::write(
        &east_peers,
        format!(
            "peers:\n  - region: eu-west-1\n    identities: [\"{west_id}\"]\n    endpoint: http://{west_listen}\n    accessKeyId: {ACCESS_KEY}\n    secretAccessKey: {SECRET_KEY}\n"
        ),
    )
    .unwrap();
    let west = Server::start_on(
        west_dir,
        &west_listen,
        &serve_args("eu-west-1", &west_root, &west_peers),
    );
    let east = Server::start_with(east_dir, &serve_args("us-east-1", &east_root, &east_peers));
    let east_kms = support::kms_client(&east.endpoint, SECRET_KEY);
    let west_kms = support::kms_client_in(&west.endpoint, SECRET_KEY, "eu-west-1");
    let key = east_kms
        .create_key()
        .multi_region(true)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let replicate = || async {
        east_kms
            .replicate_key()
            .key_id(&key)
            .replica_region("eu-west-1")
            .send()
            .await
    };
    let refused = replicate().await.unwrap_err();
    assert_eq!(refused.code(), Some("AccessDeniedException"), "{refused:?}");

    // us-east-1 added to eu-west-1's peers file: its principal and identity.
    std::fs::write(
        &west_peers,
        format!("peers:\n  - region: us-east-1\n    identities: [\"{east_id}\"]\n    principal: tester\n"),
    )
    .unwrap();
    let started = std::time::Instant::now();
    while let Err(e) = replicate().await {
        assert!(
            started.elapsed().as_secs() < 20,
            "not taken: {e:?}\n{}",
            west.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert!(west.log().contains("peers file reloaded"), "{}", west.log());
    let sealed = encrypt(&east_kms, &key, "after the reload").await;
    let opened = west_kms
        .decrypt()
        .ciphertext_blob(sealed)
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext.unwrap().into_inner(), b"after the reload");

    // A file that does not load: the peers before stay in force, so a new
    // version still reaches eu-west-1 (the delivery needs its principal
    // and its crypto service's trust).
    std::fs::write(&west_peers, "peers: [unclosed\n").unwrap();
    let started = std::time::Instant::now();
    while !west.log().contains("peers file not reloaded") {
        assert!(started.elapsed().as_secs() < 20, "{}", west.log());
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    east_kms
        .rotate_key_on_demand()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    let sealed = encrypt(&east_kms, &key, "version 2").await;
    let opened = west_kms
        .decrypt()
        .ciphertext_blob(sealed)
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext.unwrap().into_inner(), b"version 2");
}
