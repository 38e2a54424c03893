//! What callers of the endpoint need in a cluster where RBAC decides for
//! the account (`kube-kms api --account-access rbac`, the default):
//! RoleBindings to the key roles.

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};

use super::Cluster;
use super::manifests::{create, yaml_objects};

const KEY_ROLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/config/kustomize/key-roles.yaml"
);

/// The plain manifests' key-user and key-admin ClusterRoles as Roles of
/// the test's namespace, named `key-user` and `key-admin`.
pub async fn key_roles(cluster: &Cluster) {
    let roles: Vec<Value> = yaml_objects(&std::fs::read_to_string(KEY_ROLES).unwrap())
        .into_iter()
        .map(|mut role| {
            assert_eq!(role["kind"], "ClusterRole");
            role["kind"] = json!("Role");
            let name = role["metadata"]["name"].as_str().unwrap().to_owned();
            role["metadata"]["name"] = json!(name.trim_start_matches("kube-kms-"));
            role
        })
        .collect();
    create(cluster, roles, &cluster.namespace, false).await;
}

/// Binds `subject` (an RBAC subject) to the Role `role` of the test's
/// namespace, as the binding `name`.
pub async fn bind(cluster: &Cluster, name: &str, role: &str, subject: Value) {
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
        "subjects": [subject],
    });
    create(cluster, vec![binding], &cluster.namespace, false).await;
}

/// Lets every caller of the test's namespace (its access keys and its
/// ServiceAccounts) use and administer its keys: the key roles, bound to
/// the groups the endpoint asks RBAC about them in.
pub async fn let_namespace_in(cluster: &Cluster) {
    key_roles(cluster).await;
    let ns = &cluster.namespace;
    for role in ["key-user", "key-admin"] {
        for (binding, group) in [
            ("users", format!("kubekms:users:{ns}")),
            ("serviceaccounts", format!("system:serviceaccounts:{ns}")),
        ] {
            let subject =
                json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": group});
            bind(cluster, &format!("{binding}-{role}"), role, subject).await;
        }
    }
}

/// The RBAC subject of an access key's principal in the test's namespace.
pub fn access_key_user(cluster: &Cluster, principal: &str) -> Value {
    json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io",
        "name": format!("kubekms:user:{}:{principal}", cluster.namespace)})
}

/// A new ServiceAccount `name` of the test's namespace, and a token of it.
pub async fn service_account_token(cluster: &Cluster, name: &str) -> String {
    let accounts: Api<ServiceAccount> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let account: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    accounts
        .create(&PostParams::default(), &account)
        .await
        .unwrap();
    let request: TokenRequest = serde_json::from_value(json!({"spec": {"audiences": []}})).unwrap();
    accounts
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .unwrap()
        .status
        .unwrap()
        .token
        .expect("a token")
}
