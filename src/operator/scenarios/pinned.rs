//! A `KmsKey` pinning its key id: before minting, the controller looks for
//! a key Secret holding that id wherever it may look, and refuses the key
//! if one does.

use super::*;

const PINNED: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

/// Takes the list of key Secrets holding the pinned id at `path`,
/// answered with `items`.
async fn expect_id_lookup(server: &mut ApiServer, path: &str, items: Value) {
    let list = server
        .expect(
            "GET",
            path,
            200,
            json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items}),
        )
        .await;
    assert!(
        list.query
            .contains(&format!("kubekms.io%2Fkey-id%3D{PINNED}")),
        "{}",
        list.query
    );
}

/// A controller watching every namespace looks in every namespace, and
/// mints when the id is free.
#[tokio::test]
async fn a_pinned_id_is_looked_for_in_every_namespace_then_minted() {
    let (ctx, mut server) = context();
    let key = key(json!({"keyId": PINNED}));
    let task = reconcile_key(key.clone(), &ctx).await;
    server
        .expect("GET", &format!("{SECRETS}/kmskey-app"), 404, not_found())
        .await;
    expect_id_lookup(&mut server, "/api/v1/secrets", json!([])).await;
    let created = server.expect("POST", SECRETS, 201, json!({})).await;
    assert_eq!(record_in(&created.body)["key_id"], PINNED);
    server.expect_event("Created").await;
    server.expect_status(&key).await;
    finish(task).await;
    server.expect_nothing_more().await;
}

/// A controller scoped to one namespace (`--watch-namespace`, a Role, not
/// a ClusterRole) looks there only: a list of every namespace's Secrets
/// is forbidden to it, and every pinned key (every key made through the
/// AWS API) failed to mint.
#[tokio::test]
async fn a_scoped_controller_looks_for_a_pinned_id_in_its_namespace_only() {
    let (ctx, mut server) = context_scoped(&[1], None, Some("team-a"));
    let key = key(json!({"keyId": PINNED}));
    let task = reconcile_key(key.clone(), &ctx).await;
    server
        .expect("GET", &format!("{SECRETS}/kmskey-app"), 404, not_found())
        .await;
    let mut holder = secret_json(stored_record(), "uid-9");
    holder["metadata"]["name"] = json!("kmskey-other");
    expect_id_lookup(&mut server, SECRETS, json!([holder])).await;
    server.expect_event("KeyIdInUse").await;
    let status = server.expect_status(&key).await;
    let ready = &status.body["status"]["conditions"][0];
    assert_eq!(
        (&ready["status"], &ready["reason"]),
        (&json!("False"), &json!("KeyIdInUse"))
    );
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("Secret team-a/kmskey-other"),
        "{ready}"
    );
    finish(task).await;
}

/// A controller watching several namespaces looks in each of them (one
/// list per namespace, in the order of their names): the id held in the
/// second is found.
#[tokio::test]
async fn a_controller_of_several_namespaces_looks_for_a_pinned_id_in_each() {
    let (ctx, mut server) = context_scoped(&[1], None, Some("team-b,team-a"));
    let key = key(json!({"keyId": PINNED}));
    let task = reconcile_key(key.clone(), &ctx).await;
    server
        .expect("GET", &format!("{SECRETS}/kmskey-app"), 404, not_found())
        .await;
    expect_id_lookup(&mut server, SECRETS, json!([])).await;
    let mut holder = secret_json(stored_record(), "uid-9");
    holder["metadata"]["name"] = json!("kmskey-other");
    holder["metadata"]["namespace"] = json!("team-b");
    expect_id_lookup(
        &mut server,
        "/api/v1/namespaces/team-b/secrets",
        json!([holder]),
    )
    .await;
    server.expect_event("KeyIdInUse").await;
    let status = server.expect_status(&key).await;
    let ready = &status.body["status"]["conditions"][0];
    assert_eq!(ready["reason"], json!("KeyIdInUse"));
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("Secret team-b/kmskey-other"),
        "{ready}"
    );
    finish(task).await;
}
