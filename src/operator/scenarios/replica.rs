//! Replicas of multi-Region keys: a `KmsKey` with `primaryRegion` is never
//! minted; its Secret is created from the material the endpoint delivered
//! (a `kubekms.io/material` Replicate request), and the request removed.

use std::collections::BTreeMap;

use super::*;
use crate::key::Regions;
use crate::resource::{MATERIAL_ANNOTATION, MaterialChange, MaterialRequest};
use crate::spec::KeySpec;

const MRK: &str = "mrk-1234abcd12ab34cdf6ef1234567890ab";

fn replica_key(request: Option<&MaterialRequest>) -> KmsKey {
    let mut key = key(json!({"keyId": MRK, "multiRegion": true, "primaryRegion": "us-east-1"}));
    key.metadata.annotations =
        request.map(|r| BTreeMap::from([(MATERIAL_ANNOTATION.to_owned(), r.to_annotation())]));
    key
}

#[tokio::test]
async fn a_replica_waits_for_its_material_without_minting() {
    let (ctx, mut server) = context();
    let key = replica_key(None);
    let task = reconcile_key(key.clone(), &ctx).await;
    server
        .expect("GET", &format!("{SECRETS}/kmskey-app"), 404, not_found())
        .await;
    server.expect_event("AwaitingReplication").await;
    let status = server.expect_status(&key).await;
    let ready = &status.body["status"]["conditions"][0];
    assert_eq!(
        (&ready["status"], &ready["reason"]),
        (&json!("False"), &json!("AwaitingReplication"))
    );
    finish(task).await;
    server.expect_nothing_more().await;
}

#[tokio::test]
async fn a_delivered_replica_is_written_as_delivered_and_its_request_removed() {
    let (ctx, mut server) = context();
    let key_id = MRK.parse().unwrap();
    let sealed = |version| {
        let sealed = crate::seal::test_sealed(key_id, version, KeySpec::SymmetricDefault);
        crate::b64::encode(sealed.as_bytes())
    };
    let (v1, v2) = (sealed(1), sealed(2));
    let regions = Regions::test_replica("us-east-1", &["eu-west-1"]);
    let request = MaterialRequest::new(
        MaterialChange::Replicate {
            imported: Vec::new(),
            regions,
            sealed: vec![v1.clone(), v2.clone()],
        },
        NOW,
    );
    let key = replica_key(Some(&request));
    let task = reconcile_key(key.clone(), &ctx).await;
    server
        .expect("GET", &format!("{SECRETS}/kmskey-app"), 404, not_found())
        .await;
    // The id is looked for first, as for any pinned key.
    let list = json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": []});
    let lookup = server.expect("GET", "/api/v1/secrets", 200, list).await;
    assert!(
        lookup
            .query
            .contains(&format!("kubekms.io%2Fkey-id%3D{MRK}"))
    );
    let created = server.expect("POST", SECRETS, 201, json!({})).await;
    let record = record_in(&created.body);
    assert_eq!(record["key_id"], MRK);
    assert_eq!(
        record["materials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (
                m["version"].as_u64().unwrap(),
                m["sealed"].as_str().unwrap()
            ))
            .collect::<Vec<_>>(),
        [(1, v1.as_str()), (2, v2.as_str())]
    );
    assert_eq!(
        record["regions"],
        json!({"primary": "us-east-1", "replica": true, "replicas": [{"region": "eu-west-1"}]})
    );
    assert_eq!(
        created.body["metadata"]["annotations"][key_secret::MATERIAL_HANDLED_ANNOTATION],
        request.request.as_str()
    );
    server.expect_event("Replicated").await;
    let cleared = server
        .expect(
            "PATCH",
            &format!("{KEYS}/app"),
            200,
            serde_json::to_value(&key).unwrap(),
        )
        .await;
    assert_eq!(
        cleared.body,
        json!({"metadata": {"resourceVersion": "10", "annotations": {MATERIAL_ANNOTATION: null}}})
    );
    let status = server.expect_status(&key).await.body["status"].clone();
    assert_eq!(
        (status["keyId"].as_str(), status["currentVersion"].as_u64()),
        (Some(MRK), Some(2))
    );
    finish(task).await;
    server.expect_nothing_more().await;
}
