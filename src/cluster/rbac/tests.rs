use kube::runtime::watcher::Event;
use serde_json::{Value, json};

use super::*;
use crate::cluster::mock_api::{self, Handle};
use crate::key::KeyRecord;
use crate::key_id::KeyId;
use crate::operator::key_secret::{KeySecret, build};

const REVIEWS: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";

const KEY: [u8; 16] = [7; 16];

/// The reviews, over an index holding key `KEY` as the `KmsKey` `app` of
/// team-b.
fn reviews() -> (Arc<SubjectAccessReviews>, Handle, KeyRecord) {
    let (client, handle) = mock_api::client("default");
    let mut record = KeyRecord::test(0);
    record.key_id = KeyId::from_bytes(KEY);
    record.namespace = "team-b".into();
    let secret = build("app", "uid", &KeySecret::of(record.clone()));
    let mut index = ClusterIndex::default();
    index.key_secret_event(&Event::Apply(secret));
    let reviews = SubjectAccessReviews::new(client, Arc::new(RwLock::new(index)));
    (Arc::new(reviews), handle, record)
}

/// The reviews of `reviews()`, counted in a registry of their own.
fn metered() -> (Arc<SubjectAccessReviews>, Handle, KeyRecord, Registry) {
    let (reviews, handle, record) = reviews();
    let registry = Registry::new();
    let reviews = Arc::into_inner(reviews).unwrap().metered(&registry);
    (Arc::new(reviews), handle, record, registry)
}

/// The reviews counted with `verdict`.
fn counted(registry: &Registry, verdict: &str) -> u64 {
    let families = registry.gather();
    let family = families
        .iter()
        .find(|f| f.name() == "kubekms_access_reviews_total")
        .unwrap();
    family
        .get_metric()
        .iter()
        .find(|m| m.get_label()[0].value() == verdict)
        .map_or(0, |m| m.get_counter().get_value() as u64)
}

/// Answers the next request, a SubjectAccessReview, with `allowed`; returns
/// the review's spec.
async fn answer(handle: &mut Handle, allowed: bool) -> Value {
    let asked = mock_api::next_within(handle, "POST", REVIEWS, Duration::from_secs(2)).await;
    assert_eq!(asked.body["apiVersion"], "authorization.k8s.io/v1");
    assert_eq!(asked.body["kind"], "SubjectAccessReview");
    let reply = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": asked.body["spec"], "status": {"allowed": allowed, "reason": "test"}});
    asked.answer(201, &reply)["spec"].take()
}

async fn nothing_asked(handle: &mut Handle) {
    let next = tokio::time::timeout(Duration::from_millis(100), handle.next_request()).await;
    assert!(next.is_err(), "no SubjectAccessReview expected");
}

fn ask<'a>(caller: &'a Caller, action: &'static str, key: Option<&'a KeyRecord>) -> Ask<'a> {
    Ask {
        caller,
        action,
        key,
    }
}

/// Runs `allows` beside the mock API server's answer.
async fn allows(
    reviews: &Arc<SubjectAccessReviews>,
    handle: &mut Handle,
    caller: Caller,
    action: &'static str,
    key: Option<KeyRecord>,
    allowed: bool,
) -> (Result<bool, ApiError>, Value) {
    let task = tokio::spawn({
        let reviews = reviews.clone();
        async move { reviews.allows(ask(&caller, action, key.as_ref())).await }
    });
    let spec = answer(handle, allowed).await;
    (task.await.unwrap(), spec)
}

#[test]
fn callers_are_users_and_groups_rbac_can_bind() {
    assert_eq!(
        subject(&Caller::new("team-a", "system:serviceaccount:team-a:app")),
        (
            "system:serviceaccount:team-a:app".to_owned(),
            vec![
                "system:serviceaccounts".to_owned(),
                "system:serviceaccounts:team-a".to_owned(),
                "system:authenticated".to_owned()
            ]
        )
    );
    assert_eq!(
        subject(&Caller::new("team-a", "ci")),
        (
            "kubekms:user:team-a:ci".to_owned(),
            vec![
                "kubekms:users".to_owned(),
                "kubekms:users:team-a".to_owned(),
                "system:authenticated".to_owned()
            ]
        )
    );
    assert_eq!(
        verb("kms:GenerateDataKeyWithoutPlaintext"),
        "generatedatakeywithoutplaintext"
    );
    assert_eq!(verb("kms:ReEncryptFrom"), "reencryptfrom");
}

#[tokio::test]
async fn a_key_is_asked_about_as_its_kmskey_in_its_namespace_and_the_verdict_reused() {
    let (reviews, mut handle, key, registry) = metered();
    let caller = Caller::new("team-a", "system:serviceaccount:team-a:app");
    let (allowed, spec) = allows(
        &reviews,
        &mut handle,
        caller.clone(),
        "kms:Encrypt",
        Some(key.clone()),
        true,
    )
    .await;
    assert!(allowed.unwrap());
    assert_eq!(
        spec,
        json!({
            "user": "system:serviceaccount:team-a:app",
            "groups": ["system:serviceaccounts", "system:serviceaccounts:team-a", "system:authenticated"],
            "resourceAttributes": {"group": "kubekms.io", "resource": "kmskeys",
                "namespace": "team-b", "name": "app", "verb": "encrypt"},
        })
    );
    // Asked again: answered from the cache.
    assert!(
        reviews
            .allows(ask(&caller, "kms:Encrypt", Some(&key)))
            .await
            .unwrap()
    );
    nothing_asked(&mut handle).await;
    // Another verb, or another caller, is another question.
    let (allowed, spec) = allows(
        &reviews,
        &mut handle,
        caller,
        "kms:Decrypt",
        Some(key.clone()),
        false,
    )
    .await;
    assert!(!allowed.unwrap());
    assert_eq!(spec["resourceAttributes"]["verb"], "decrypt");
    let (_, spec) = allows(
        &reviews,
        &mut handle,
        Caller::new("team-a", "ci"),
        "kms:Encrypt",
        Some(key),
        true,
    )
    .await;
    assert_eq!(spec["user"], "kubekms:user:team-a:ci");
    // Reviews asked, not answers given.
    assert_eq!(
        (counted(&registry, "allowed"), counted(&registry, "refused")),
        (2, 1)
    );
}

#[tokio::test]
async fn an_operation_on_the_account_is_asked_about_kmskeys_in_the_callers_namespace() {
    let (reviews, mut handle, _) = reviews();
    let (allowed, spec) = allows(
        &reviews,
        &mut handle,
        Caller::new("team-a", "ci"),
        "kms:CreateKey",
        None,
        true,
    )
    .await;
    assert!(allowed.unwrap());
    assert_eq!(
        spec["resourceAttributes"],
        json!({"group": "kubekms.io", "resource": "kmskeys", "namespace": "team-a", "verb": "createkey"})
    );
}

#[tokio::test]
async fn verdicts_expire() {
    let (reviews, mut handle, key) = reviews();
    let reviews = Arc::new(
        Arc::into_inner(reviews)
            .unwrap()
            .with_ttl(Duration::ZERO, Duration::from_secs(60)),
    );
    let caller = Caller::new("team-a", "ci");
    for _ in 0..2 {
        let (allowed, _) = allows(
            &reviews,
            &mut handle,
            caller.clone(),
            "kms:Encrypt",
            Some(key.clone()),
            true,
        )
        .await;
        assert!(allowed.unwrap(), "an expired allow is asked again");
    }
    let (allowed, _) = allows(
        &reviews,
        &mut handle,
        caller.clone(),
        "kms:Decrypt",
        Some(key.clone()),
        false,
    )
    .await;
    assert!(!allowed.unwrap());
    assert!(
        !reviews
            .allows(ask(&caller, "kms:Decrypt", Some(&key)))
            .await
            .unwrap()
    );
    nothing_asked(&mut handle).await;
}

#[tokio::test]
async fn the_api_server_failing_is_retryable_and_the_endpoint_refused_its_own_fault() {
    let (reviews, mut handle, key, registry) = metered();
    for (status, expected) in [
        (503, "DependencyTimeoutException"),
        (403, "KMSInternalException"),
    ] {
        let task = tokio::spawn({
            let reviews = reviews.clone();
            let key = key.clone();
            async move {
                reviews
                    .allows(ask(&Caller::new("team-a", "ci"), "kms:Encrypt", Some(&key)))
                    .await
            }
        });
        let status_body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "message": "no", "reason": "Forbidden", "code": status});
        mock_api::next(&mut handle, "POST", REVIEWS)
            .await
            .answer(status, &status_body);
        let error = task.await.unwrap().expect_err("no verdict");
        assert_eq!(error.aws_type(), expected);
    }
    // Failures are not remembered.
    let (allowed, _) = allows(
        &reviews,
        &mut handle,
        Caller::new("team-a", "ci"),
        "kms:Encrypt",
        Some(key),
        true,
    )
    .await;
    assert!(allowed.unwrap());
    assert_eq!(
        (counted(&registry, "failed"), counted(&registry, "allowed")),
        (2, 1)
    );
}
