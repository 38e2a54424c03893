//! KmsAlias scenarios.

use super::*;

fn alias(name: &str, alias_name: &str, created: &str) -> KmsAlias {
    serde_json::from_value(json!({
        "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsAlias",
        "metadata": {"name": name, "namespace": "team-a", "uid": format!("uid-{name}"), "generation": 1, "creationTimestamp": created},
        "spec": {"aliasName": alias_name, "targetKeyRef": {"name": "app"}},
    }))
    .unwrap()
}

#[tokio::test]
async fn a_second_alias_of_the_same_name_gets_a_conflict_condition() {
    let (ctx, mut server) = context();
    let first = alias("first", "alias/app", "2026-01-01T00:00:00Z");
    let second = alias("second", "alias/app", "2026-02-01T00:00:00Z");
    let (reader, mut writer) = reflector::store::<KmsAlias>();
    for a in [&first, &second] {
        writer.apply_watcher_event(&watcher::Event::Apply(a.clone()));
    }
    let actx = Arc::new(AliasContext {
        shared: ctx,
        aliases: reader,
    });
    let mut ready_key = key(json!({}));
    ready_key.status = Some(crate::operator::key_status::reconciled(
        &ready_key,
        &stored_record(),
        &ArnConfig::default(),
        None,
        NOW,
    ));
    let task = {
        let (actx, second) = (actx.clone(), second.clone());
        tokio::spawn(async move { alias_controller::reconcile(Arc::new(second), actx).await })
    };
    server
        .expect(
            "GET",
            &format!("{KEYS}/app"),
            200,
            serde_json::to_value(&ready_key).unwrap(),
        )
        .await;
    server.expect_event("AliasNameConflict").await;
    let status = server
        .expect(
            "PATCH",
            "/apis/kubekms.io/v1alpha1/namespaces/team-a/kmsaliases/second/status",
            200,
            serde_json::to_value(&second).unwrap(),
        )
        .await;
    let ready = &status.body["status"]["conditions"][0];
    assert_eq!(ready["reason"], "AliasNameConflict");
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("KmsAlias first")
    );
    task.await.unwrap().unwrap();

    // The first one resolves to the key.
    let task =
        tokio::spawn(async move { alias_controller::reconcile(Arc::new(first), actx).await });
    server
        .expect(
            "GET",
            &format!("{KEYS}/app"),
            200,
            serde_json::to_value(&ready_key).unwrap(),
        )
        .await;
    let status = server
        .expect("PATCH", "/apis/kubekms.io/v1alpha1/namespaces/team-a/kmsaliases/first/status", 200, json!({"apiVersion": "kubekms.io/v1alpha1", "kind": "KmsAlias", "metadata": {"name": "first"}, "spec": {"aliasName": "alias/app", "targetKeyRef": {"name": "app"}}}))
        .await;
    assert_eq!(
        status.body["status"]["targetKeyId"],
        stored_record().key_id.to_string()
    );
    task.await.unwrap().unwrap();
    server.expect_nothing_more().await;
}
