//! Cluster-side rules a test puts in a namespace: a ResourceQuota on
//! KmsKeys, and a ValidatingAdmissionPolicy refusing some of them.

use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::core::v1::ResourceQuota;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube_kms::resource::KmsKey;
use serde_json::json;

use super::wait_for;

/// The ResourceQuota `limit_kms_keys` makes.
pub const QUOTA: &str = "kms-keys";

/// A ResourceQuota (`QUOTA`) allowing `count` KmsKeys in `ns`, in force
/// when this returns. kube-controller-manager fills in a quota's status,
/// which admission needs; where none runs (a bare API server), the test
/// writes the status it would have written.
pub async fn limit_kms_keys(client: &kube::Client, ns: &str, count: usize) {
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), ns);
    let hard = json!({"count/kmskeys.kubekms.io": count.to_string()});
    let quota: ResourceQuota = serde_json::from_value(json!({
        "metadata": {"name": QUOTA},
        "spec": {"hard": hard},
    }))
    .unwrap();
    quotas.create(&PostParams::default(), &quota).await.unwrap();
    for _ in 0..50 {
        let status = quotas.get_status(QUOTA).await.unwrap().status;
        if status.and_then(|s| s.hard).is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status =
        json!({"status": {"hard": hard, "used": {"count/kmskeys.kubekms.io": count.to_string()}}});
    quotas
        .patch_status(QUOTA, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

/// A ValidatingAdmissionPolicy and its binding, cluster-scoped objects.
pub struct AdmissionPolicy(String);

impl AdmissionPolicy {
    pub async fn remove(self, client: &kube::Client) {
        let params = DeleteParams::default();
        Api::<ValidatingAdmissionPolicyBinding>::all(client.clone())
            .delete(&self.0, &params)
            .await
            .unwrap();
        Api::<ValidatingAdmissionPolicy>::all(client.clone())
            .delete(&self.0, &params)
            .await
            .unwrap();
    }
}

/// An admission policy refusing new KmsKeys in `ns` whose description
/// starts with `denied:` (reason Forbidden) or `invalid:` (the default
/// reason, Invalid), in force when this returns.
pub async fn deny_key_descriptions(client: &kube::Client, ns: &str) -> AdmissionPolicy {
    let name = format!("kms-key-descriptions-{ns}");
    let rule = |prefix: &str| {
        format!("!has(object.spec.description) || !object.spec.description.startsWith('{prefix}')")
    };
    let policy: ValidatingAdmissionPolicy = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": ["kubekms.io"], "apiVersions": ["*"],
                "operations": ["CREATE"], "resources": ["kmskeys"],
            }]},
            "validations": [
                {"expression": rule("denied:"), "reason": "Forbidden",
                 "message": "descriptions starting with 'denied:' are not allowed"},
                {"expression": rule("invalid:"),
                 "message": "descriptions starting with 'invalid:' are not allowed"},
            ],
        },
    }))
    .unwrap();
    let binding: ValidatingAdmissionPolicyBinding = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}},
        },
    }))
    .unwrap();
    let params = PostParams::default();
    Api::<ValidatingAdmissionPolicy>::all(client.clone())
        .create(&params, &policy)
        .await
        .unwrap();
    Api::<ValidatingAdmissionPolicyBinding>::all(client.clone())
        .create(&params, &binding)
        .await
        .unwrap();
    // The API server takes up new policies from a watch: in force once a
    // dry run of a refused key is refused.
    let keys: Api<KmsKey> = Api::namespaced(client.clone(), ns);
    let probe: KmsKey = serde_json::from_value(json!({
        "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
        "metadata": {"name": "admission-probe"},
        "spec": {"description": "denied: probe"},
    }))
    .unwrap();
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    wait_for(
        "admission policy in force",
        Duration::from_secs(30),
        || async { keys.create(&dry_run, &probe).await.is_err().then_some(()) },
    )
    .await;
    AdmissionPolicy(name)
}
