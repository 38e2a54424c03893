//! Multi-Region keys as primaries: their ids, metadata and condition keys
//! (docs/multi-region.md).

use super::access::{ACCOUNT, policy, refused};
use super::*;

#[tokio::test]
async fn a_multi_region_key_is_a_primary_with_an_mrk_id() {
    let h = harness();
    let made = h
        .ok("CreateKey", json!({ "MultiRegion": true, "KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC" }))
        .await["KeyMetadata"]
        .clone();
    let id = made["KeyId"].as_str().unwrap().to_owned();
    assert!(id.starts_with("mrk-") && id.len() == 36, "{id}");
    assert!(id.parse::<KeyId>().unwrap().is_multi_region());
    assert_eq!(made["Arn"], arn(&id));
    assert_eq!(made["MultiRegion"], true);
    assert_eq!(
        made["MultiRegionConfiguration"],
        json!({
            "MultiRegionKeyType": "PRIMARY",
            "PrimaryKey": { "Arn": arn(&id), "Region": "us-east-1" },
            "ReplicaKeys": [],
        })
    );
    let described = h.ok("DescribeKey", json!({ "KeyId": arn(&id) })).await;
    assert_eq!(described["KeyMetadata"], made);
    let mac = json!({ "KeyId": id, "Message": b64(b"m"), "MacAlgorithm": "HMAC_SHA_256" });
    h.ok("GenerateMac", mac).await;

    // Symmetric: Decrypt finds it from the ciphertext alone.
    let sym = h.key(json!({ "MultiRegion": true })).await;
    assert!(sym.starts_with("mrk-"));
    let blob = h
        .ok("Encrypt", json!({ "KeyId": sym, "Plaintext": b64(b"x") }))
        .await["CiphertextBlob"]
        .clone();
    let back = h.ok("Decrypt", json!({ "CiphertextBlob": blob })).await;
    assert_eq!(back["KeyId"], arn(&sym));
    assert_eq!(back["Plaintext"], b64(b"x"));

    let single = h.key(json!({ "MultiRegion": false })).await;
    let meta = &h.ok("DescribeKey", json!({ "KeyId": single })).await["KeyMetadata"];
    assert_eq!(meta["MultiRegion"], false);
    assert!(meta.get("MultiRegionConfiguration").is_none());
}

#[tokio::test]
async fn ids_of_the_other_kind_or_without_the_marker_name_no_key() {
    let h = harness();
    let id = h.key(json!({ "MultiRegion": true })).await;
    let bytes = *id.parse::<KeyId>().unwrap().as_bytes();
    let hyphenated = uuid::Uuid::from_bytes(bytes).hyphenated().to_string();
    let unmarked = format!("mrk-{}", &id[4..20]) + "5" + &id[21..];
    for other in [hyphenated, unmarked, id.to_uppercase()] {
        let (kind, message) = h.err("DescribeKey", json!({ "KeyId": other })).await;
        assert_eq!(kind, "NotFoundException", "{other}: {message}");
    }
    // Upper-case hex digits after the prefix name the same key.
    let upper = format!("mrk-{}", id[4..].to_uppercase());
    h.ok("DescribeKey", json!({ "KeyId": upper })).await;
}

/// ReplicateKey and UpdatePrimaryRegion tell a key's policy the Region
/// asked for (`kms:ReplicaRegion`, `kms:PrimaryRegion`).
#[tokio::test]
async fn policies_see_the_region_a_replica_or_the_primary_goes_to() {
    let h = harness();
    let mrk = h.key(json!({ "MultiRegion": true })).await;
    let deny = |action: &str, key: &str| {
        format!(
            r#"{{"Effect":"Deny","Principal":"*","Action":"{action}","Resource":"*","Condition":{{"StringEquals":{{"{key}":"eu-west-1"}}}}}}"#
        )
    };
    let replica = deny("kms:ReplicateKey", "kms:ReplicaRegion");
    let primary = deny("kms:UpdatePrimaryRegion", "kms:PrimaryRegion");
    h.set_policy(&mrk, &policy(&[ACCOUNT, &replica, &primary]))
        .await;
    let call = async |op: &str, member: &str, region: &str| {
        h.call_by("tester", op, json!({ "KeyId": mrk, member: region }))
            .await
    };
    refused(call("ReplicateKey", "ReplicaRegion", "eu-west-1").await);
    refused(call("UpdatePrimaryRegion", "PrimaryRegion", "eu-west-1").await);
    // Another Region passes the policy (and fails after it: no peers to
    // replicate to here, no replica to make the primary).
    let other = call("ReplicateKey", "ReplicaRegion", "ap-south-1").await;
    assert!(matches!(other, Err(ApiError::Unsupported(_))), "{other:?}");
    let other = call("UpdatePrimaryRegion", "PrimaryRegion", "ap-south-1").await;
    assert!(matches!(other, Err(ApiError::NotFound(_))), "{other:?}");
}

#[tokio::test]
async fn policies_see_kms_multi_region() {
    let h = harness();
    // Encrypting is refused with multi-Region keys alone.
    let no_mrk = policy(&[
        ACCOUNT,
        r#"{"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*",
            "Condition":{"Bool":{"kms:MultiRegion":"true"}}}"#,
    ]);
    let primaries_only = policy(&[
        ACCOUNT,
        r#"{"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*",
            "Condition":{"StringNotEquals":{"kms:MultiRegionKeyType":"PRIMARY"}}}"#,
    ]);
    let mrk = h.key(json!({ "MultiRegion": true })).await;
    let single = h.key(json!({})).await;
    let encrypt = |id: &str| json!({ "KeyId": id, "Plaintext": b64(b"x") });
    h.set_policy(&mrk, &no_mrk).await;
    h.set_policy(&single, &no_mrk).await;
    refused(h.call("Encrypt", encrypt(&mrk)).await);
    h.ok("Encrypt", encrypt(&single)).await;
    h.set_policy(&mrk, &primaries_only).await;
    h.set_policy(&single, &primaries_only).await;
    h.ok("Encrypt", encrypt(&mrk)).await;
    // A single-Region key has no kms:MultiRegionKeyType: StringNotEquals
    // on an absent key matches, as IAM's does.
    refused(h.call("Encrypt", encrypt(&single)).await);
}

#[tokio::test]
async fn replication_needs_peers_and_answers_only_them() {
    let h = harness();
    let mrk = h.key(json!({ "MultiRegion": true })).await;
    // No peers file: nowhere to replicate to, and nobody to answer.
    let (kind, message) = h
        .err(
            "ReplicateKey",
            json!({ "KeyId": mrk, "ReplicaRegion": "eu-west-1" }),
        )
        .await;
    assert_eq!(kind, "UnsupportedOperationException", "{message}");
    assert!(message.contains("no peer Regions"), "{message}");
    for operation in ["OfferReplica", "DeliverReplica"] {
        let (kind, message) = h
            .err(
                &format!("KubeKmsReplication.{operation}"),
                json!({ "KeyId": mrk }),
            )
            .await;
        assert_eq!(kind, "AccessDeniedException", "{operation}: {message}");
        assert!(
            message.contains("not the principal of any peer Region"),
            "{message}"
        );
    }
    assert_eq!(
        h.err("KubeKmsReplication.Frobnicate", json!({})).await,
        (
            "UnknownOperationException".into(),
            "Unknown operation KubeKmsReplication.Frobnicate".into()
        )
    );
    // Checked before any peer is asked: the Region's name, the key's kind.
    let (kind, _) = h
        .err(
            "ReplicateKey",
            json!({ "KeyId": mrk, "ReplicaRegion": "Europe" }),
        )
        .await;
    assert_eq!(kind, "ValidationException");
    let single = h.key(json!({})).await;
    let (kind, message) = h
        .err(
            "ReplicateKey",
            json!({ "KeyId": single, "ReplicaRegion": "eu-west-1" }),
        )
        .await;
    assert_eq!(kind, "UnsupportedOperationException");
    assert!(message.ends_with("is not a multi-Region key."), "{message}");
}

#[tokio::test]
async fn update_primary_region_is_the_primary_s_and_names_a_replica() {
    let h = harness();
    let mrk = h.key(json!({ "MultiRegion": true })).await;
    let single = h.key(json!({})).await;
    for (body, kind, says) in [
        (
            json!({ "KeyId": single, "PrimaryRegion": "eu-west-1" }),
            "UnsupportedOperationException",
            "is not a multi-Region key.",
        ),
        (
            json!({ "KeyId": mrk, "PrimaryRegion": "us-east-1" }),
            "ValidationException",
            "is already the primary key",
        ),
        (
            json!({ "KeyId": mrk, "PrimaryRegion": "eu-west-1" }),
            "NotFoundException",
            "does not exist",
        ),
        (
            json!({ "KeyId": mrk, "PrimaryRegion": "Europe" }),
            "ValidationException",
            "regular expression",
        ),
    ] {
        let (got, message) = h.err("UpdatePrimaryRegion", body.clone()).await;
        assert_eq!(got, kind, "{body}: {message}");
        assert!(message.contains(says), "{body}: {message}");
    }
    // Only a key's primary moves it.
    let (kind, message) = h
        .err(
            "KubeKmsReplication.MovePrimary",
            json!({ "KeyId": mrk, "PrimaryRegion": "eu-west-1" }),
        )
        .await;
    assert_eq!(kind, "AccessDeniedException", "{message}");
}

/// Operations that wait on other Regions are boxed in `Api::respond`: inline,
/// their futures made every request's as large, and an Encrypt spent 8 %
/// more instructions (callgrind, the endpoint bench) moving it about.
#[test]
fn a_request_s_future_stays_small() {
    let h = harness();
    let caller = caller("default");
    let future = h.api.respond(&caller, "Encrypt", b"{}");
    let size = std::mem::size_of_val(&future);
    println!("Api::respond's future: {size} bytes");
    assert!(size <= 4096, "Api::respond's future is {size} bytes");
}

/// A Region that cannot be reached: its replicas count as behind after a
/// full sync, each attempt as a failed delivery; a Region with nothing to
/// deliver counts none.
#[tokio::test]
async fn replicas_not_reached_count_as_behind() {
    // Bound but not listening: connections are refused, and no other
    // test's bind(0) can be given the port while this one holds it.
    let closed = tokio::net::TcpSocket::new_v4().unwrap();
    closed.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let address = closed.local_addr().unwrap();
    // RFC 8032's test public keys.
    let text = format!(
        "peers:\n  - region: eu-west-1\n    identities: [d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a]\n    endpoint: http://{address}\n    accessKeyId: AK\n    secretAccessKey: SK\n\
         \x20 - region: us-west-2\n    identities: [3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c]\n    endpoint: http://{address}\n    accessKeyId: AK\n    secretAccessKey: SK\n"
    );
    let registry = prometheus::Registry::new();
    let peers = crate::api::peer::PeerClient::new(
        crate::replica::peers_file::PeersFile::parse(&text).unwrap(),
    )
    .unwrap()
    .metered(Some(&registry));
    let h = harness_built(|api| api.with_peers(Some(peers)));
    let mrk: KeyId = h.key(json!({ "MultiRegion": true })).await.parse().unwrap();
    h.api
        .update_key(mrk, |key| {
            key.regions = Some(crate::key::Regions {
                primary: "us-east-1".into(),
                replica: false,
                replicas: crate::api::replicate_ops::unsynced(["eu-west-1".to_owned()]),
                pending: None,
            });
            Ok(())
        })
        .await
        .unwrap();
    h.api.sync_replicas().await;
    h.api.sync_replicas().await;
    let scraped = |name: &str, labels: &[(&str, &str)]| {
        registry
            .gather()
            .iter()
            .filter(|f| f.name() == name)
            .flat_map(|f| f.get_metric().iter())
            .find(|m| {
                labels.iter().all(|(k, v)| {
                    m.get_label()
                        .iter()
                        .any(|l| l.name() == *k && l.value() == *v)
                })
            })
            .map(|m| match m.get_gauge().get_value() {
                0.0 => m.get_counter().get_value(),
                gauge => gauge,
            })
    };
    let behind = "kubekms_replicas_behind";
    assert_eq!(scraped(behind, &[("region", "eu-west-1")]), Some(1.0));
    assert_eq!(scraped(behind, &[("region", "us-west-2")]), Some(0.0));
    let deliveries = "kubekms_replica_deliveries_total";
    let failed = [("region", "eu-west-1"), ("outcome", "failed")];
    assert_eq!(scraped(deliveries, &failed), Some(2.0));

    // A Region declared that is no peer is behind too (it never will be
    // reached), for as long as a key declares it.
    let declare = async |regions: &[&str]| {
        let regions: Vec<String> = regions.iter().map(|r| (*r).to_owned()).collect();
        h.api
            .update_key(mrk, |key| {
                key.replica_regions = regions.clone();
                Ok(())
            })
            .await
            .unwrap();
        h.api.sync_replicas().await;
    };
    declare(&["ap-south-1"]).await;
    assert_eq!(scraped(behind, &[("region", "ap-south-1")]), Some(1.0));
    declare(&[]).await;
    assert_eq!(scraped(behind, &[("region", "ap-south-1")]), None);
    assert_eq!(scraped(behind, &[("region", "eu-west-1")]), Some(1.0));

    // A Region taken out of the peers file (reloaded) loses its series; the
    // counting goes on in the same registry.
    let eu_only = text
        .split("  - region: us-west-2")
        .next()
        .unwrap()
        .to_owned();
    h.api
        .reload_peers(crate::replica::peers_file::PeersFile::parse(&eu_only).unwrap())
        .unwrap();
    h.api.sync_replicas().await;
    assert_eq!(scraped(behind, &[("region", "us-west-2")]), None);
    assert_eq!(scraped(behind, &[("region", "eu-west-1")]), Some(1.0));
    assert_eq!(
        scraped(deliveries, &failed),
        Some(5.0),
        "one failed delivery a sync"
    );
}
