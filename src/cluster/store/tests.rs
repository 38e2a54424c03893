use super::*;
use crate::cluster::mock_api::{self, Handle as MockHandle};
use crate::key::Deletion;
use serde_json::Value;

fn record() -> KeyRecord {
    let mut record = KeyRecord::test(0);
    record.tags.insert("old".into(), "1".into());
    record
}

#[test]
fn api_changes_become_spec_patches() {
    let current = record();
    assert_eq!(key_change(&current, &current), KeyChange::Patch(None));
    let mut new = current.clone();
    new.enabled = false;
    new.description = "d".into();
    new.tags.remove("old");
    new.tags.insert("new".into(), "2".into());
    new.rotation.enabled = true;
    new.rotation.period_days = 90;
    new.policy = Some("{}".into());
    let KeyChange::Patch(Some(patch)) = key_change(&current, &new) else {
        panic!()
    };
    assert_eq!(
        patch,
        json!({"spec": {"enabled": false, "description": "d", "tags": {"old": null, "new": "2"},
            "rotation": {"enabled": true, "periodDays": 90}, "policy": "{}"}})
    );
}

#[test]
fn scheduling_and_cancelling_deletion_are_object_deletion_and_recreation() {
    let current = record();
    let mut scheduled = current.clone();
    scheduled.deletion = Some(Deletion {
        window_days: 9,
        deletion_date: 1,
    });
    assert_eq!(
        key_change(&current, &scheduled),
        KeyChange::Schedule { window_days: 9 }
    );
    assert_eq!(key_change(&scheduled, &current), KeyChange::Cancel);
    let manifest = key_manifest("app", &current);
    assert!(
        manifest["spec"]["policy"].is_null(),
        "the default policy is not written"
    );
    let with_policy = KeyRecord {
        policy: Some("{\"Statement\": []}".into()),
        ..current.clone()
    };
    assert_eq!(
        key_manifest("app", &with_policy)["spec"]["policy"],
        "{\"Statement\": []}"
    );
    assert_eq!(manifest["spec"]["keyId"], current.key_id.to_string());
    assert_eq!(manifest["spec"]["keySpec"], "SYMMETRIC_DEFAULT");
    assert!(manifest["spec"]["multiRegion"].is_null());
    // A multi-Region key's object says so, as its pinned id requires.
    let multi_region = KeyRecord {
        key_id: KeyId::random_multi_region(),
        ..current.clone()
    };
    let manifest = key_manifest(&multi_region.key_id.to_string(), &multi_region);
    assert_eq!(manifest["spec"]["multiRegion"], true);
    let object: KmsKey = serde_json::from_value(manifest).unwrap();
    assert_eq!(crate::declared::validate(&object.spec), Ok(()));
}

#[test]
fn a_replica_is_declared_with_its_primary_and_its_delivered_material() {
    use crate::key::Regions;
    use crate::resource::{MATERIAL_ANNOTATION, MaterialChange, MaterialRequest};
    let mut replica = KeyRecord {
        key_id: KeyId::random_multi_region(),
        namespace: "team-a".into(),
        ..record()
    };
    replica.regions = Some(Regions::test_replica("us-east-1", &["eu-west-1"]));
    let name = replica.key_id.to_string();
    let manifest = key_manifest(&name, &replica);
    assert_eq!(manifest["spec"]["primaryRegion"], "us-east-1");
    let object: KmsKey = serde_json::from_value(manifest).unwrap();
    assert_eq!(crate::declared::validate(&object.spec), Ok(()));
    let annotation = &object.metadata.annotations.as_ref().unwrap()[MATERIAL_ANNOTATION];
    let request = MaterialRequest::from_annotation(annotation).unwrap();
    assert_eq!(
        request.change,
        MaterialChange::Replicate {
            imported: Vec::new(),
            regions: replica.regions.clone().unwrap(),
            sealed: vec![crate::b64::encode(replica.materials[0].sealed.as_bytes())],
        }
    );
    // A primary is declared without either.
    let mut primary = replica.clone();
    primary.regions.as_mut().unwrap().replica = false;
    let manifest = key_manifest(&name, &primary);
    assert!(manifest["spec"]["primaryRegion"].is_null());
    assert!(manifest["metadata"]["annotations"].is_null());

    // UpdatePrimaryRegion: the replica's primary moves, or it becomes one.
    let mut moved = replica.clone();
    moved.regions.as_mut().unwrap().primary = "ap-south-1".into();
    assert_eq!(
        key_change(&replica, &moved),
        KeyChange::Patch(Some(json!({"spec": {"primaryRegion": "ap-south-1"}})))
    );
    assert_eq!(
        key_change(&replica, &primary),
        KeyChange::Patch(Some(json!({"spec": {"primaryRegion": null}})))
    );
    assert_eq!(
        key_change(&primary, &replica),
        KeyChange::Patch(Some(json!({"spec": {"primaryRegion": "us-east-1"}})))
    );
    // The replica list alone is not declared (the Secret holds it).
    let mut listed = replica.clone();
    listed.regions.as_mut().unwrap().replicas.clear();
    assert_eq!(key_change(&replica, &listed), KeyChange::Patch(None));
}

#[test]
fn alias_object_names_are_valid_and_distinct() {
    let a = alias_object_name("alias/Team_A/app");
    let b = alias_object_name("alias/team-a/app");
    assert_ne!(
        a, b,
        "names differing only in case or punctuation stay distinct"
    );
    for name in [&a, &b] {
        assert!(name.len() <= 253);
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{name}"
        );
    }
}

mod withdrawal;

/// The ResourceQuota admission plugin's refusal, as kube-apiserver words it.
fn quota_refusal(resource: &str, name: &str) -> kube::Error {
    kube::Error::Api(Box::new(kube::core::Status {
        status: Some(kube::core::response::StatusSummary::Failure),
        code: 403,
        reason: "Forbidden".into(),
        message: format!(
            "{resource} \"{name}\" is forbidden: exceeded quota: kms, requested: \
             count/{resource}=1, used: count/{resource}=2, limited: count/{resource}=2"
        ),
        ..Default::default()
    }))
}

#[test]
fn a_namespace_quota_used_up_is_limit_exceeded_and_other_refusals_are_not() {
    let error = kube_error(quota_refusal("kmskeys.kubekms.io", "k"), "KmsKey k");
    assert!(matches!(error, StoreError::LimitExceeded(_)), "{error:?}");
    assert_eq!(
        error.to_string(),
        "KmsKey k would exceed the namespace's ResourceQuota (kms, requested: \
         count/kmskeys.kubekms.io=1, used: count/kmskeys.kubekms.io=2, limited: \
         count/kmskeys.kubekms.io=2)"
    );
    let api = crate::api::ApiError::from(error);
    assert_eq!(api.aws_type(), "LimitExceededException");
    // RBAC's refusal (the endpoint's ServiceAccount may not create here) is
    // the install's fault, not the caller's: an internal error, logged.
    let rbac = kube::Error::Api(Box::new(kube::core::Status {
        code: 403,
        reason: "Forbidden".into(),
        message: "kmskeys.kubekms.io is forbidden: User \"system:serviceaccount:kms:api\" \
                  cannot create resource \"kmskeys\""
            .into(),
        ..Default::default()
    }));
    let error = kube_error(rbac, "KmsKey k");
    assert!(matches!(error, StoreError::Backend(_)), "{error:?}");
}

/// A refusal as kube-apiserver sends it.
fn refusal(code: u16, reason: &str, message: &str) -> kube::Error {
    kube::Error::Api(Box::new(kube::core::Status {
        status: Some(kube::core::response::StatusSummary::Failure),
        code,
        reason: reason.into(),
        message: message.into(),
        ..Default::default()
    }))
}

#[test]
fn admission_refusals_reach_the_caller_as_aws_errors_with_the_policy_message() {
    use crate::api::ApiError;
    let cases = [
        // A ValidatingAdmissionPolicy whose validation's reason is Forbidden.
        (
            refusal(
                403,
                "Forbidden",
                "kmskeys.kubekms.io \"k\" is forbidden: ValidatingAdmissionPolicy \
                 'kms-keys' with binding 'kms-keys' denied request: no RSA keys here",
            ),
            "AccessDeniedException",
        ),
        // An admission webhook.
        (
            refusal(
                403,
                "Forbidden",
                "admission webhook \"validate.kyverno.svc\" denied the request: \
                 no RSA keys here",
            ),
            "AccessDeniedException",
        ),
        // A policy without a reason (Invalid), or the CRD's own rules.
        (
            refusal(
                422,
                "Invalid",
                "KmsKey.kubekms.io \"k\" is invalid: spec.description: Invalid value: \
                 \"string\": no RSA keys here",
            ),
            "ValidationException",
        ),
    ];
    for (error, aws_type) in cases {
        let error = ApiError::from(kube_error(error, "KmsKey k"));
        assert_eq!(error.aws_type(), aws_type, "{error}");
        assert_eq!(error.status(), 400);
        let message = error.to_string();
        assert!(
            message.starts_with("KmsKey k refused by the cluster: ")
                && message.ends_with("no RSA keys here"),
            "{message}"
        );
    }
    // A server error stays internal.
    let error = ApiError::from(kube_error(
        refusal(500, "InternalError", "etcd down"),
        "KmsKey k",
    ));
    assert_eq!(error.aws_type(), "KMSInternalException");
}

#[tokio::test]
async fn nothing_declared_changes_on_a_key_pending_deletion_whose_object_is_gone() {
    let mut pending = record();
    pending.deletion = Some(Deletion {
        window_days: 7,
        deletion_date: 1,
    });
    let (store, _, mut handle) = store_holding(&pending);
    let stored = store.get_key(pending.key_id).await.unwrap().unwrap();
    let mut changed = stored.clone();
    changed.policy = Some("{}".into());
    let refused = store.update_key(changed).await.unwrap_err();
    assert!(matches!(refused, StoreError::ReadOnly(_)), "{refused:?}");
    assert!(
        refused.to_string().contains("pending deletion"),
        "{refused}"
    );
    let asked = tokio::time::timeout(std::time::Duration::from_millis(100), handle.next_request());
    assert!(asked.await.is_err(), "no request to the API server");
}

/// The key Secret the controller writes for `record` (object `app`).
fn key_secret(record: &KeyRecord) -> k8s_openapi::api::core::v1::Secret {
    use crate::operator::key_secret::{KeySecret, build};
    build("app", "uid", &KeySecret::of(record.clone()))
}

/// The key Secret's watch event for `record` reaches `index`.
fn watch_brings(index: &RwLock<ClusterIndex>, record: &KeyRecord) {
    index
        .write()
        .unwrap()
        .key_secret_event(&kube::runtime::watcher::Event::Apply(key_secret(record)));
}

/// Takes the next request, which must be `method` on `path`, answers it
/// with `reply` and returns its body (`null` without one).
async fn answer(handle: &mut MockHandle, (method, path): (&str, &str), reply: Value) -> Value {
    mock_api::next_within(handle, method, path, Duration::from_secs(5))
        .await
        .answer(200, &reply)
}

/// A store on a mock API server whose watch has brought `live`'s Secret:
/// the store, its index (for the watch's next events) and the server.
fn store_holding(live: &KeyRecord) -> (KubeStore, Arc<RwLock<ClusterIndex>>, MockHandle) {
    let (client, handle) = mock_api::client("default");
    let index = Arc::new(RwLock::new(ClusterIndex::default()));
    watch_brings(&index, live);
    let store = KubeStore::new(index.clone(), client);
    (store, index, handle)
}

/// A change to what a key declares returns once reads show it, so the
/// caller reads its own write; if the controller does not carry it out
/// soon, the call returns anyway (the change is recorded in the KmsKey).
#[tokio::test(start_paused = true)]
async fn a_declared_change_returns_once_reads_show_it() {
    use std::time::Duration;
    let live = record();
    let (store, index, mut handle) = store_holding(&live);
    let store = Arc::new(store);
    let path = "/apis/kubekms.io/v1alpha1/namespaces/default/kmskeys/app";
    let object = json!({"apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
                        "metadata": {"name": "app", "namespace": "default"}, "spec": {}});
    let update = |description: &str| {
        let store = store.clone();
        let mut changed = live.clone();
        changed.description = description.into();
        tokio::spawn(async move { store.update_key(changed).await })
    };
    let mut answer_patch = async || {
        mock_api::next(&mut handle, "PATCH", path)
            .await
            .answer(200, &object);
    };

    let task = update("new");
    answer_patch().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!task.is_finished(), "it waits for the change to show");
    // The controller writes the record; the watch brings it.
    let mut written = live.clone();
    written.description = "new".into();
    watch_brings(&index, &written);
    let done = tokio::time::timeout(Duration::from_millis(200), task)
        .await
        .expect("returns once the change shows");
    assert_eq!(done.unwrap().unwrap().description, "new");

    // The controller is down: the call returns after the wait, successful.
    let started = Instant::now();
    let task = update("newer");
    answer_patch().await;
    assert_eq!(task.await.unwrap().unwrap().description, "newer");
    assert!(started.elapsed() >= DECLARED_VISIBLE_WAIT);
    assert_eq!(
        store
            .get_key(live.key_id)
            .await
            .unwrap()
            .unwrap()
            .description,
        "new"
    );
}

/// ScheduleKeyDeletion through a cluster: a PATCH of the window and a
/// DELETE of the `KmsKey`, then the call returns the deletion the
/// controller recorded (its clock, not the caller's), which DescribeKey
/// shows from then on.
#[tokio::test]
async fn a_scheduled_deletion_returns_the_date_the_controller_recorded() {
    use std::time::Duration;
    let live = record();
    let (store, index, mut handle) = store_holding(&live);
    let mut asked = live.clone();
    asked.deletion = Some(Deletion {
        window_days: 7,
        deletion_date: 1_000,
    });
    let task = tokio::spawn(async move { store.update_key(asked).await });

    let path = "/apis/kubekms.io/v1alpha1/namespaces/default/kmskeys/app";
    let object = json!({"apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
                        "metadata": {"name": "app", "namespace": "default"}, "spec": {}});
    for (method, answer) in [
        ("PATCH", object),
        (
            "DELETE",
            json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
        ),
    ] {
        let asked = mock_api::next(&mut handle, method, path).await;
        if method == "PATCH" {
            assert_eq!(asked.body, json!({"spec": {"pendingWindowDays": 7}}));
        }
        asked.answer(200, &answer);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!task.is_finished(), "it waits for the controller's record");
    // The controller records the schedule a moment later, by its clock.
    let mut recorded = live.clone();
    recorded.deletion = Some(Deletion {
        window_days: 7,
        deletion_date: 1_017,
    });
    watch_brings(&index, &recorded);
    let returned = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("returns once the schedule shows")
        .unwrap()
        .unwrap();
    assert_eq!(returned.deletion, recorded.deletion);
}

mod replica;
mod usage;

/// ImportKeyMaterial and DeleteImportedKeyMaterial through a cluster: a
/// `kubekms.io/material` request on the KmsKey, made only if none is in
/// progress and from the version read, and the call returns once the
/// controller's Secret shows it carried out.
#[tokio::test]
async fn imported_material_is_asked_of_the_controller_and_waited_for() {
    use crate::key::{ImportedMaterial, Origin};
    use crate::resource::{MATERIAL_ANNOTATION, MaterialChange, MaterialRequest};
    use std::time::Duration;
    let mut live = record();
    live.origin = Origin::External;
    live.materials.clear();
    let (store, index, mut handle) = store_holding(&live);
    let store = Arc::new(store);
    let path = "/apis/kubekms.io/v1alpha1/namespaces/default/kmskeys/app";
    let object = |annotation: Option<&str>| {
        let mut object = json!({"apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
            "metadata": {"name": "app", "namespace": "default", "resourceVersion": "12"},
            "spec": {"origin": "EXTERNAL"}});
        if let Some(value) = annotation {
            object["metadata"]["annotations"] = json!({ MATERIAL_ANNOTATION: value });
        }
        object
    };
    let mut answer =
        async |method: &str, reply: Value| answer(&mut handle, (method, path), reply).await;
    let mut imported = live.clone();
    imported.materials = record().materials;
    imported.imported = vec![ImportedMaterial {
        material_id: "ab".repeat(32),
        valid_to: None,
        description: "d".into(),
        imported: 5,
        version: 1,
        since: 5,
    }];
    let task = {
        let (store, imported) = (store.clone(), imported.clone());
        tokio::spawn(async move { store.update_key(imported).await })
    };
    answer("GET", object(None)).await;
    let patch = answer("PATCH", object(None)).await;
    assert_eq!(patch["metadata"]["resourceVersion"], "12");
    let request = MaterialRequest::from_annotation(
        patch["metadata"]["annotations"][MATERIAL_ANNOTATION]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let MaterialChange::Import {
        sealed,
        material_id,
        valid_to,
        description,
        version: 1,
        pending: false,
    } = &request.change
    else {
        panic!("{request:?}")
    };
    assert_eq!(
        (
            sealed.as_str(),
            material_id.as_str(),
            *valid_to,
            description.as_str()
        ),
        (
            crate::b64::encode(imported.materials[0].sealed.as_bytes()).as_str(),
            "ab".repeat(32).as_str(),
            None,
            "d"
        )
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!task.is_finished(), "it waits for the controller");
    // The controller carries it out (its own clock for `imported`).
    let mut written = imported.clone();
    written.imported[0].imported = 9;
    watch_brings(&index, &written);
    let done = tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("returns once the Secret shows it");
    assert_eq!(done.unwrap().unwrap().imported[0].imported, 9);

    // Another request while one is in progress is refused, nothing patched.
    let mut deleted = written.clone();
    deleted.materials.clear();
    let task = {
        let store = store.clone();
        tokio::spawn(async move { store.update_key(deleted).await })
    };
    let pending = MaterialRequest::new(
        MaterialChange::Delete { material_id: None },
        1_800_000_000_000,
    );
    answer("GET", object(Some(&pending.to_annotation()))).await;
    let refused = task.await.unwrap().unwrap_err();
    assert!(
        matches!(&refused, StoreError::InProgress(m) if m.contains("in progress")),
        "{refused:?}"
    );
    let asked = tokio::time::timeout(Duration::from_millis(100), handle.next_request());
    assert!(asked.await.is_err(), "no patch");

    // Material of a generated key is never the endpoint's to change.
    let generated = record();
    let (store, _, _handle) = store_holding(&generated);
    let mut changed = generated.clone();
    changed.materials.clear();
    let refused = store.update_key(changed).await.unwrap_err();
    assert!(matches!(refused, StoreError::ReadOnly(_)), "{refused:?}");
}

/// An endpoint serving some namespaces makes no key beyond them (its
/// controller would never mint it): refused without a request.
#[tokio::test]
async fn no_key_is_made_beyond_the_watched_namespaces() {
    for (scope, message) in [
        ("team-a", "serves namespace team-a only"),
        ("team-c,team-a", "serves namespaces team-a, team-c only"),
    ] {
        let (store, _index, mut handle) = store_holding(&record());
        let store = store.scoped(Scope::parse(Some(scope)).unwrap());
        let mut key = record();
        key.key_id = KeyId::random();
        key.namespace = "team-b".into();
        let refused =
            tokio::time::timeout(std::time::Duration::from_secs(5), store.create_key(key))
                .await
                .expect("refused without a request")
                .unwrap_err();
        assert!(
            matches!(&refused, StoreError::Forbidden(m) if m.contains(message)),
            "{refused:?}"
        );
        drop(store);
        assert!(handle.next_request().await.is_none(), "no request");
    }
}
