//! KmsAlias scenarios.

use kube::ResourceExt;

use super::*;

fn alias(name: &str, alias_name: &str, created: &str) -> KmsAlias {
    serde_json::from_value(json!({
        "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsAlias",
        "metadata": {"name": name, "namespace": "team-a", "uid": format!("uid-{name}"), "generation": 1, "creationTimestamp": created},
        "spec": {"aliasName": alias_name, "targetKeyRef": {"name": "app"}},
    }))
    .unwrap()
}

/// Answers the status patch of `alias` and returns the status sent.
async fn expect_status_of(server: &mut ApiServer, alias: &KmsAlias) -> Value {
    let path = format!(
        "/apis/kubekms.io/v1alpha1/namespaces/team-a/kmsaliases/{}/status",
        alias.name_any()
    );
    let reply = serde_json::to_value(alias).unwrap();
    server.expect("PATCH", &path, 200, reply).await.body["status"].clone()
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
    let status = expect_status_of(&mut server, &second).await;
    let ready = &status["conditions"][0];
    assert_eq!(ready["reason"], "AliasNameConflict");
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("KmsAlias first")
    );
    // Soon again: the first one's going away is not watched from here.
    assert_eq!(
        task.await.unwrap().unwrap(),
        Action::requeue(Duration::from_secs(10))
    );

    // The first one resolves to the key.
    let task = {
        let first = first.clone();
        tokio::spawn(async move { alias_controller::reconcile(Arc::new(first), actx).await })
    };
    server
        .expect(
            "GET",
            &format!("{KEYS}/app"),
            200,
            serde_json::to_value(&ready_key).unwrap(),
        )
        .await;
    let status = expect_status_of(&mut server, &first).await;
    assert_eq!(status["targetKeyId"], stored_record().key_id.to_string());
    task.await.unwrap().unwrap();
    server.expect_nothing_more().await;
}

/// Its KmsKey deleted, the alias still names the key pending deletion (as
/// the endpoint resolves it), says so, and looks again when the window
/// ends; once the Secret is gone too, it names nothing.
#[tokio::test]
async fn an_alias_of_a_deleted_key_names_the_key_pending_deletion_until_its_window_ends() {
    let (ctx, mut server) = context();
    let app = alias("app", "alias/app", "2026-01-01T00:00:00Z");
    let (reader, mut writer) = reflector::store::<KmsAlias>();
    writer.apply_watcher_event(&watcher::Event::Apply(app.clone()));
    let actx = Arc::new(AliasContext {
        shared: ctx,
        aliases: reader,
    });
    let reconcile = |alias: &KmsAlias| {
        let (actx, alias) = (actx.clone(), alias.clone());
        tokio::spawn(async move { alias_controller::reconcile(Arc::new(alias), actx).await })
    };
    let ends = NOW + 3 * DAY_MS;
    let pending = scheduled_for(ends);

    let task = reconcile(&app);
    server
        .expect_orphan(secret_json(pending.clone(), "uid-1"))
        .await;
    let event = server.expect_event("KeyPendingDeletion").await;
    assert_eq!(event["type"], "Warning");
    let status = &expect_status_of(&mut server, &app).await;
    let ready = &status["conditions"][0];
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("False"), Some("KeyPendingDeletion"))
    );
    let message = ready["message"].as_str().unwrap();
    assert!(
        message.contains(&pending.key_id.to_string())
            && message.contains(&crate::operator::key_status::rfc3339(ends)),
        "{message}"
    );
    assert_eq!(status["targetKeyId"], pending.key_id.to_string());
    assert_eq!(
        status["targetKeyArn"],
        ArnConfig::default().key_arn(pending.key_id)
    );
    assert_eq!(
        task.await.unwrap().unwrap(),
        Action::requeue(Duration::from_millis((3 * DAY_MS) as u64).min(super::super::RESYNC))
    );
    server.expect_nothing_more().await;

    // The window over, the sweeper deleted the Secret: the alias names
    // nothing, and waits for a KmsKey of that name, which the KmsKey watch
    // brings at once (the requeue is only a backstop).
    let mut shown = app.clone();
    shown.status = serde_json::from_value(status.clone()).unwrap();
    let task = reconcile(&shown);
    server
        .expect("GET", &format!("{KEYS}/app"), 404, not_found())
        .await;
    server
        .expect("GET", &format!("{SECRETS}/kmskey-app"), 404, not_found())
        .await;
    server.expect_event("KeyNotFound").await;
    let status = &expect_status_of(&mut server, &app).await;
    assert_eq!(status["conditions"][0]["reason"], "KeyNotFound");
    assert!(
        status["targetKeyId"].is_null() && status["targetKeyArn"].is_null(),
        "names no key: {status}"
    );
    assert_eq!(
        task.await.unwrap().unwrap(),
        Action::requeue(super::super::REFUSED_RETRY)
    );
    server.expect_nothing_more().await;
}
