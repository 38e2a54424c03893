//! Where a replica lands in its Region: in the namespace of the same name
//! as its primary's, where that Region's peers file keeps it
//! (`replicaNamespaces`), else in the namespace of the principal the
//! primary's Region calls as.

use super::multi_region::TwoRegions;
use super::support::{self, SECRET_KEY};

const KEPT: &str = "mrk-0123456789abcdefe1234567890000a1";
const UNLISTED: &str = "mrk-0123456789abcdefe1234567890000b2";

async fn listed(kms: &aws_sdk_kms::Client) -> Vec<String> {
    let keys = kms.list_keys().send().await.unwrap();
    keys.keys()
        .iter()
        .filter_map(|k| k.key_id().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_replica_keeps_its_primary_s_namespace_where_its_region_says_so() {
    // us-east-1's primaries, declared with their replicas in eu-west-1:
    // one in namespace `other`, which eu-west-1 keeps, one in `team-d`.
    let primary = |name: &str, namespace: &str, id: &str| {
        format!(
            "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec:\n  keyId: {id}\n  multiRegion: true\n  replicaRegions: [eu-west-1]\n"
        )
    };
    let manifest = format!(
        "{}---\n{}",
        primary("kept", "other", KEPT),
        primary("unlisted", "team-d", UNLISTED)
    );
    let TwoRegions { east, west, .. } = TwoRegions::start_with_west_peer(
        &["--lifecycle-interval-seconds", "1"],
        Some(&manifest),
        "    replicaNamespaces: [other]\n",
    );
    let east_kms = support::kms_client(&east.endpoint, SECRET_KEY);
    let west_kms = support::kms_client_in(&west.endpoint, SECRET_KEY, "eu-west-1");
    let west_other = support::other_kms_client_in(&west.endpoint, "eu-west-1");
    let started = std::time::Instant::now();
    for key in [KEPT, UNLISTED] {
        while west_kms.describe_key().key_id(key).send().await.is_err() {
            assert!(
                started.elapsed().as_secs() < 20,
                "no replica of {key} in eu-west-1"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    // us-east-1 calls as `tester`, of namespace `default` here: the
    // replica of a key of a namespace not kept is there, the other in
    // `other`, as its primary is.
    let default_keys = listed(&west_kms).await;
    assert!(
        default_keys.iter().any(|k| k == UNLISTED),
        "{default_keys:?}"
    );
    assert!(!default_keys.iter().any(|k| k == KEPT), "{default_keys:?}");
    let other_keys = listed(&west_other).await;
    assert!(other_keys.iter().any(|k| k == KEPT), "{other_keys:?}");
    assert!(!other_keys.iter().any(|k| k == UNLISTED), "{other_keys:?}");

    // `other`'s own key there: its alias names it, and it opens what the
    // primary sealed.
    west_other
        .create_alias()
        .alias_name("alias/kept")
        .target_key_id(KEPT)
        .send()
        .await
        .unwrap();
    let sealed = east_kms
        .encrypt()
        .key_id(KEPT)
        .plaintext(aws_sdk_kms::primitives::Blob::new("in its namespace"))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let opened = west_other
        .decrypt()
        .ciphertext_blob(sealed)
        .key_id("alias/kept")
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext.unwrap().into_inner(), b"in its namespace");
}
