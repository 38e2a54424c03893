use super::*;

#[test]
fn endpoints_name_an_address_and_the_certificate_name() {
    for (endpoint, address, name, host) in [
        (
            "http://127.0.0.1:4600",
            "127.0.0.1:4600",
            None,
            "127.0.0.1:4600",
        ),
        ("http://kms.example/", "kms.example:80", None, "kms.example"),
        (
            "https://kms.example:8443",
            "kms.example:8443",
            Some("kms.example"),
            "kms.example:8443",
        ),
        (
            "https://kms.example",
            "kms.example:443",
            Some("kms.example"),
            "kms.example",
        ),
        (
            "https://[::1]:4600",
            "[::1]:4600",
            Some("::1"),
            "[::1]:4600",
        ),
    ] {
        let t = target(endpoint).unwrap();
        assert_eq!(
            (t.address.as_str(), t.tls_name, t.host),
            (address, name, host)
        );
    }
    assert!(target("ftp://x").is_none());
    assert!(target("kms.example").is_none());
}

#[test]
fn another_region_s_errors_keep_their_type_and_name_it() {
    let reply = serde_json::json!({"__type": "AlreadyExistsException", "message": "taken"});
    let error = refusal("eu-west-1", &reply);
    assert_eq!(error.aws_type(), "AlreadyExistsException");
    assert_eq!(error.to_string(), "Region eu-west-1 refused: taken");
    let odd = serde_json::json!({"__type": "com.amazonaws#Weird"});
    assert_eq!(
        refusal("eu-west-1", &odd).aws_type(),
        "KMSInternalException"
    );
}

#[test]
fn a_peer_is_its_principal_s_arn_and_in_a_cluster_only_that() {
    // RFC 8032's test public keys.
    let id = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    let id2 = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
    let text = format!(
        "peers:\n  - region: eu-west-1\n    identities: [\"{id}\"]\n    principal: replicator\n\
         \x20 - region: us-west-2\n    identities: [\"{id2}\"]\n    principal: arn:aws:iam::111122223333:user/team-a/west\n"
    );
    let peers = PeerClient::new(PeersFile::parse(&text).unwrap()).unwrap();
    let west = "arn:aws:iam::111122223333:user/team-a/west";
    assert_eq!(peers.region_of(west, "west"), Some("us-west-2"));
    // The same name in another namespace is another principal.
    assert_eq!(
        peers.region_of("arn:aws:iam::111122223333:user/team-b/west", "west"),
        None
    );
    assert_eq!(
        peers.region_of("arn:aws:iam::111122223333:user/x/replicator", "replicator"),
        Some("eu-west-1")
    );
    let cluster = peers.arns_only();
    assert_eq!(cluster.region_of(west, "west"), Some("us-west-2"));
    assert_eq!(
        cluster.region_of("arn:aws:iam::111122223333:user/x/replicator", "replicator"),
        None,
        "a bare name is any namespace's"
    );
}

/// A peer answering `delay` after a request (on the test's paused
/// clock, which moves on whenever everything waits), and a client of it.
async fn slow_peer(delay: Duration) -> PeerClient {
    slow_peer_counted(delay, Default::default()).await
}

/// As `slow_peer`, counting the requests it was sent in `asked`.
async fn slow_peer_counted(
    delay: Duration,
    asked: Arc<std::sync::atomic::AtomicUsize>,
) -> PeerClient {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut request = vec![0; 64 * 1024];
                let _ = stream.read(&mut request).await;
                tokio::time::sleep(delay).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                    .await;
            });
        }
    });
    let id = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    let text = format!(
        "peers:\n  - region: eu-west-1\n    identities: [\"{id}\"]\n    endpoint: http://{address}\n\
         \x20   accessKeyId: AKIDEXAMPLE\n    secretAccessKey: secret\n"
    );
    PeerClient::new(PeersFile::parse(&text).unwrap()).unwrap()
}

/// A delivery into a cluster waits up to `LONGEST_WRITE` for its
/// controller: the Region delivering waits longer than that for the
/// reply, and an ask (whose work includes such a delivery) longer still.
#[tokio::test(start_paused = true)]
async fn a_peer_is_waited_for_as_long_as_its_work_may_take() {
    let write = crate::store::LONGEST_WRITE;
    let peers = slow_peer(write + Duration::from_secs(5)).await;
    let body = serde_json::json!({});
    assert_eq!(
        peers
            .call("eu-west-1", "DeliverReplica", &body)
            .await
            .unwrap(),
        body
    );
    let peers = slow_peer(2 * write + Duration::from_secs(5)).await;
    assert_eq!(
        peers.ask("eu-west-1", "ReplicateKey", &body).await.unwrap(),
        body
    );
    // But not forever.
    let peers = slow_peer(Duration::from_secs(3600)).await;
    let started = tokio::time::Instant::now();
    let error = peers
        .call("eu-west-1", "DeliverReplica", &body)
        .await
        .unwrap_err();
    assert_eq!(error.aws_type(), "DependencyTimeoutException");
    assert!(error.to_string().contains("no reply in"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(120));
}

/// A Region that gave no answer in time is not asked again for a
/// while: the calls meanwhile fail at once, saying so; then it is.
#[tokio::test(start_paused = true)]
async fn a_region_that_gave_no_answer_is_not_asked_again_for_a_while() {
    use std::sync::atomic::Ordering;
    let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let peers = slow_peer_counted(Duration::from_secs(3600), asked.clone()).await;
    let body = serde_json::json!({});
    let first = peers
        .call("eu-west-1", "DeliverReplica", &body)
        .await
        .unwrap_err();
    assert!(first.to_string().contains("no reply in"), "{first}");
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    let started = tokio::time::Instant::now();
    let again = peers
        .ask("eu-west-1", "ReplicateKey", &body)
        .await
        .unwrap_err();
    assert_eq!(again.aws_type(), "DependencyTimeoutException");
    assert!(
        again.to_string().contains("not asked again for 30s"),
        "{again}"
    );
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(asked.load(Ordering::SeqCst), 1, "not sent");
    tokio::time::sleep(STALLED_FOR).await;
    let _ = peers.call("eu-west-1", "DeliverReplica", &body).await;
    assert_eq!(
        asked.load(Ordering::SeqCst),
        2,
        "asked again once the while is over"
    );
}
