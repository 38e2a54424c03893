//! The crypto service as the controller and the endpoint reach it: a
//! root key that opens none of the cluster's material stops both, and an
//! endpoint without a crypto socket runs one in its own process.

use super::*;

#[tokio::test]
async fn a_controller_whose_crypto_service_has_another_root_key_refuses_to_lead() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let keys: Api<KmsKey> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let manifest = |name: &str| -> KmsKey {
        serde_json::from_value(json!({
            "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
            "metadata": {"name": name}, "spec": {},
        }))
        .unwrap()
    };
    let first = Controller::start(&cluster);
    ready_key(&keys, "first", json!({})).await;
    drop(first);

    // A new crypto service with a root key of its own (a wrong Secret
    // mounted), and a key waiting for material.
    keys.create(&PostParams::default(), &manifest("second"))
        .await
        .unwrap();
    let mut wrong = Controller::start_with(&cluster, "kube-kms-e2e-wrong");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = wrong.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the controller went on with another root key"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // What it logged before it exited (its reader may still be draining).
    let log = cluster::wait_for(
        "the controller's last words",
        Duration::from_secs(10),
        || {
            let text = wrong.log.text();
            async move { text.contains("does not open").then_some(text) }
        },
    )
    .await;
    assert!(!status.success(), "{log}");
    assert!(log.contains("does not open"), "{log}");
    assert!(
        secrets.get_opt("kmskey-second").await.unwrap().is_none(),
        "nothing sealed under the wrong root key"
    );
    assert!(secrets.get_opt("kmskey-first").await.unwrap().is_some());

    // Nor does the endpoint serve with it: every request would fail.
    let (mut api, log) = wrong.spawn_api(&cluster);
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = api.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the endpoint served with another root key:\n{}",
            log.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let log = cluster::wait_for("the endpoint's last words", Duration::from_secs(10), || {
        let text = log.text();
        async move { text.contains("does not open").then_some(text) }
    })
    .await;
    assert!(!status.success(), "{log}");
    assert!(!log.contains("serving keys from the cluster"), "{log}");
}

/// `kube-kms api` without `--crypto-socket` runs the crypto service in its
/// own process, with the root key file it is given (development only, and
/// it says so): keys the controller minted through its crypto service
/// encrypt and decrypt there.
#[tokio::test]
async fn an_endpoint_without_a_crypto_socket_runs_the_crypto_service_in_process() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let controller = Controller::start(&cluster);
    let (_api, log) = controller.spawn_api_in_process(&cluster);
    let endpoint = log.endpoint();
    assert!(
        log.text()
            .contains("running the crypto service in-process (development only)"),
        "{}",
        log.text()
    );
    let kms = clients::key_admin(&cluster, &endpoint, "AKIDINPROC").await;
    let key = kms.create_key().send().await.unwrap();
    let key = key.key_metadata.unwrap().key_id;
    let blob = multi_region::encrypt(&kms, &key, "in process").await;
    assert_eq!(multi_region::decrypt(&kms, blob).await, "in process");
}
