//! Where a key's policy allows the account (the default policy does),
//! Kubernetes RBAC decides: verbs on the `KmsKey`, asked of the real API
//! server by SubjectAccessReview, for access keys and ServiceAccounts.

use std::io::{Read, Write};

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use serde_json::Value;

use super::*;
use crate::clients::{caller, kms_client};

/// Refused verdicts are kept 10 s; a new binding shows within that.
const REBOUND: Duration = Duration::from_secs(40);

/// `operation` with `body` at `endpoint` as the holder of a bearer
/// `token`: (HTTP status, JSON body).
fn bearer_call(endpoint: &str, token: &str, operation: &str, body: &Value) -> (u16, Value) {
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let body = body.to_string();
    write!(
        stream,
        "POST / HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\
         x-amz-target: TrentService.{operation}\r\ncontent-type: application/x-amz-json-1.1\r\n\
         authorization: Bearer {token}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let (_, json) = response.split_once("\r\n\r\n").unwrap();
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

#[tokio::test]
async fn rbac_decides_where_a_key_policy_allows_the_account() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let mut controller = Controller::start(&cluster);
    let endpoint = controller.start_api(&cluster);
    let ns = cluster.namespace.clone();
    let keys: Api<KmsKey> = Api::namespaced(cluster.client.clone(), &ns);
    let app = ready_key(&keys, "app", json!({"description": "rbac"})).await;
    let app = app.status.unwrap().key_id.unwrap();
    let other = ready_key(&keys, "other", json!({"description": "rbac"})).await;
    let other = other.status.unwrap().key_id.unwrap();
    let arn = |id: &str| format!("arn:aws:kms:us-east-1:111122223333:key/{id}");

    // An access key nobody has bound: refused, in AWS's words for IAM.
    let (access_key_id, secret_key) = caller(&cluster, &endpoint, "AKIDLIMITED").await;
    let kms = kms_client(&endpoint, &access_key_id, &secret_key);
    let user = format!("arn:aws:iam::111122223333:user/{ns}/akidlimited");
    let encrypt = |id: &str| {
        kms.encrypt()
            .key_id(id)
            .plaintext(Blob::new(&b"tenant data"[..]))
            .send()
    };
    let refused = encrypt(&app).await.unwrap_err();
    assert_eq!(refused.code(), Some("AccessDeniedException"));
    assert_eq!(
        refused.message(),
        Some(
            format!(
                "User: {user} is not authorized to perform: kms:Encrypt on resource: {} because no identity-based policy allows the kms:Encrypt action",
                arn(&app)
            )
            .as_str()
        )
    );
    let refused = kms.list_keys().send().await.unwrap_err();
    assert_eq!(
        refused.message(),
        Some(format!("User: {user} is not authorized to perform: kms:ListKeys on resource: * because no identity-based policy allows the kms:ListKeys action").as_str())
    );

    // A Role naming one KmsKey and two verbs lets it do exactly that.
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "app-only"},
        "rules": [{"apiGroups": ["kubekms.io"], "resources": ["kmskeys"],
            "resourceNames": ["app"], "verbs": ["encrypt", "decrypt"]}],
    });
    cluster::manifests::create(&cluster, vec![role], &ns, false).await;
    cluster::callers::bind(
        &cluster,
        "akidlimited",
        "app-only",
        cluster::callers::access_key_user(&cluster, "akidlimited"),
    )
    .await;
    let blob = wait_for("the binding to let the caller in", REBOUND, || async {
        encrypt(&app).await.ok()?.ciphertext_blob
    })
    .await;
    let plain = kms.decrypt().ciphertext_blob(blob).send().await.unwrap();
    assert_eq!(plain.plaintext.unwrap().as_ref(), b"tenant data");
    let refused = encrypt(&other).await.unwrap_err();
    assert_eq!(refused.code(), Some("AccessDeniedException"));
    let refused = kms
        .generate_data_key()
        .key_id(&app)
        .number_of_bytes(32)
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("AccessDeniedException"));

    // A key whose policy names the caller decides alone: no RBAC asked.
    let policy = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*",
        "Principal": {"AWS": user},
    }]});
    let named = ready_key(
        &keys,
        "named",
        json!({"description": "names its caller", "policy": policy.to_string()}),
    )
    .await;
    encrypt(&named.status.unwrap().key_id.unwrap())
        .await
        .unwrap();

    // A ServiceAccount, as the API server knows it: refused, then bound.
    let token = cluster::callers::service_account_token(&cluster, "reader").await;
    let describe = json!({"KeyId": app});
    let (status, refused) = bearer_call(&endpoint, &token, "DescribeKey", &describe);
    assert_eq!(
        (status, &refused["__type"]),
        (400, &json!("AccessDeniedException")),
        "{refused}"
    );
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("User: arn:aws:iam::111122223333:role/{ns}/reader is not authorized to perform: kms:DescribeKey")),
        "{refused}"
    );
    cluster::callers::key_roles(&cluster).await;
    cluster::callers::bind(
        &cluster,
        "reader",
        "key-user",
        json!({"kind": "ServiceAccount", "name": "reader", "namespace": ns}),
    )
    .await;
    let described = wait_for(
        "the binding to let the ServiceAccount in",
        REBOUND,
        || async {
            let (status, body) = bearer_call(&endpoint, &token, "DescribeKey", &describe);
            (status == 200).then_some(body)
        },
    )
    .await;
    assert_eq!(described["KeyMetadata"]["KeyId"], app);
    // key-user is not key-admin.
    let (status, refused) = bearer_call(&endpoint, &token, "DisableKey", &describe);
    assert_eq!(
        (status, &refused["__type"]),
        (400, &json!("AccessDeniedException")),
        "{refused}"
    );
}
