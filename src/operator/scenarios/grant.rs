//! KmsGrant scenarios: the key read, the status written.

use super::*;
use crate::operator::grant_controller;
use crate::resource::KmsGrant;

const GRANTS: &str = "/apis/kubekms.io/v1alpha1/namespaces/team-a/kmsgrants";

fn grant() -> KmsGrant {
    serde_json::from_value(json!({
        "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsGrant",
        "metadata": {"name": "web", "namespace": "team-a", "uid": "uid-g", "generation": 1},
        "spec": {"keyRef": {"name": "app"}, "granteePrincipal": "arn:aws:iam::111122223333:role/team-b/web",
                 "operations": ["Decrypt"]},
    }))
    .unwrap()
}

#[tokio::test]
async fn a_grant_reports_its_id_and_its_key_in_status() {
    let (ctx, mut server) = context();
    let mut ready_key = key(json!({}));
    ready_key.status = Some(crate::operator::key_status::reconciled(
        &ready_key,
        &stored_record(),
        &ArnConfig::default(),
        None,
        NOW,
    ));
    let task = {
        let ctx = ctx.clone();
        tokio::spawn(async move { grant_controller::reconcile(Arc::new(grant()), ctx).await })
    };
    server
        .expect(
            "GET",
            &format!("{KEYS}/app"),
            200,
            serde_json::to_value(&ready_key).unwrap(),
        )
        .await;
    let reply = serde_json::to_value(grant()).unwrap();
    let seen = server
        .expect("PATCH", &format!("{GRANTS}/web/status"), 200, reply)
        .await;
    assert!(
        seen.query.contains("fieldManager=kube-kms-controller"),
        "{}",
        seen.query
    );
    let key_id = stored_record().key_id.to_string();
    assert_eq!(
        seen.body,
        json!({
            "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsGrant",
            "status": {
                "grantId": crate::cluster::grants::grant_id("uid-g"),
                "keyId": key_id,
                "observedGeneration": 1,
                "conditions": [{
                    "type": "Ready", "status": "True", "reason": "Granted",
                    "message": format!("arn:aws:iam::111122223333:role/team-b/web may Decrypt with key {key_id}"),
                    "lastTransitionTime": crate::operator::key_status::rfc3339(NOW),
                    "observedGeneration": 1,
                }],
            },
        })
    );
    assert_eq!(
        task.await.unwrap().unwrap(),
        Action::requeue(crate::operator::RESYNC)
    );

    // Its key gone: KeyNotFound, looked at again in five minutes.
    let task = {
        let ctx = ctx.clone();
        tokio::spawn(async move { grant_controller::reconcile(Arc::new(grant()), ctx).await })
    };
    server
        .expect("GET", &format!("{KEYS}/app"), 404, not_found())
        .await;
    let seen = server
        .expect(
            "PATCH",
            &format!("{GRANTS}/web/status"),
            200,
            serde_json::to_value(grant()).unwrap(),
        )
        .await;
    assert_eq!(
        seen.body["status"]["conditions"][0]["reason"],
        "KeyNotFound"
    );
    assert!(seen.body["status"].get("keyId").is_none());
    assert_eq!(
        task.await.unwrap().unwrap(),
        Action::requeue(crate::operator::REFUSED_RETRY)
    );
}
