//! Grants in a cluster are `KmsGrant` objects: CreateGrant makes one and
//! RevokeGrant deletes it, Git may declare one, and a grantee that RBAC
//! does not let in uses the key within its grant.

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{GrantConstraints, GrantOperation};
use kube_kms::resource::KmsGrant;

use super::*;
use crate::clients::{caller, key_admin, kms_client};

#[tokio::test]
async fn grants_are_kmsgrant_objects_that_let_their_grantee_in() {
    let Some(cluster) = cluster::cluster().await else {
        return;
    };
    let mut controller = Controller::start(&cluster);
    let endpoint = controller.start_api(&cluster);
    let ns = cluster.namespace.clone();
    let keys: Api<KmsKey> = Api::namespaced(cluster.client.clone(), &ns);
    let grants: Api<KmsGrant> = Api::namespaced(cluster.client.clone(), &ns);
    let app = ready_key(&keys, "app", json!({"description": "granted"})).await;
    let app = app.status.unwrap().key_id.unwrap();

    // The key's administrator, bound to the key roles; the grantee, bound
    // to nothing.
    let admin = key_admin(&cluster, &endpoint, "AKIDADMIN").await;
    let (id, secret) = caller(&cluster, &endpoint, "AKIDGRANTEE").await;
    let grantee = kms_client(&endpoint, &id, &secret);
    let grantee_arn = format!("arn:aws:iam::111122223333:user/{ns}/akidgrantee");
    let encrypt = |context: Option<&str>| {
        let request = grantee
            .encrypt()
            .key_id(&app)
            .plaintext(Blob::new(&b"granted"[..]));
        match context {
            Some(app) => request.encryption_context("app", app),
            None => request,
        }
        .send()
    };
    let refused = encrypt(Some("web")).await.unwrap_err();
    assert_eq!(refused.code(), Some("AccessDeniedException"));

    // CreateGrant: a KmsGrant, in force when the call returns.
    let create_grant = || {
        admin
            .create_grant()
            .key_id(&app)
            .grantee_principal(&grantee_arn)
            .operations(GrantOperation::Encrypt)
            .operations(GrantOperation::Decrypt)
            .constraints(
                GrantConstraints::builder()
                    .encryption_context_subset("app", "web")
                    .build(),
            )
            .name("web")
            .send()
    };
    let made = create_grant().await.unwrap();
    let grant_id = made.grant_id.unwrap();
    // Its token names the KmsGrant, for a replica that has not seen it.
    let token = made.grant_token.unwrap();
    let named = kube_kms::grant::parse_token(&token).unwrap();
    assert_eq!(named.grant_id, grant_id);
    let objects = grants.list(&Default::default()).await.unwrap().items;
    assert_eq!(objects.len(), 1);
    let object = &objects[0];
    assert_eq!(named.object.as_deref(), Some(object.name_any().as_str()));
    assert_eq!(
        kube_kms::cluster::grants::grant_id(object.metadata.uid.as_deref().unwrap()),
        grant_id
    );
    assert_eq!(object.spec.key_ref.name, "app");
    assert_eq!(object.spec.grantee_principal, grantee_arn);
    let blob = encrypt(Some("web")).await.unwrap().ciphertext_blob.unwrap();
    grantee
        .encrypt()
        .key_id(&app)
        .plaintext(Blob::new(&b"granted"[..]))
        .encryption_context("app", "web")
        .grant_tokens(&token)
        .send()
        .await
        .unwrap();
    let plain = grantee
        .decrypt()
        .ciphertext_blob(blob)
        .encryption_context("app", "web")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.plaintext.unwrap().as_ref(), b"granted");
    let refused = encrypt(Some("db")).await.unwrap_err();
    assert_eq!(refused.code(), Some("AccessDeniedException"));
    // The same named request: the same grant, no second object.
    let again = create_grant().await.unwrap();
    assert_eq!(again.grant_id.as_deref(), Some(grant_id.as_str()));
    assert_eq!(
        grants.list(&Default::default()).await.unwrap().items.len(),
        1
    );

    // A grant declared in Git: the watch brings it.
    let declared: KmsGrant = serde_json::from_value(json!({
        "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsGrant",
        "metadata": {"name": "data-keys"},
        "spec": {"keyRef": {"name": "app"}, "granteePrincipal": grantee_arn,
                 "operations": ["GenerateDataKey"]},
    }))
    .unwrap();
    grants
        .create(&PostParams::default(), &declared)
        .await
        .unwrap();
    wait_for(
        "the declared grant to let the grantee in",
        READY,
        || async {
            grantee
                .generate_data_key()
                .key_id(&app)
                .number_of_bytes(32)
                .send()
                .await
                .ok()
        },
    )
    .await;
    let listed = admin.list_grants().key_id(&app).send().await.unwrap();
    assert_eq!(listed.grants.unwrap().len(), 2);
    // The controller reports the grant: its id, its key, Ready.
    let status = wait_for("the declared grant's status", READY, || async {
        let grant = grants.get("data-keys").await.ok()?;
        let status = grant.status.clone()?;
        let ready = Condition::ready_in(&status.conditions)?;
        (ready.status == "True").then_some((grant, status))
    })
    .await;
    let (declared, status) = status;
    assert_eq!(
        status.grant_id,
        declared
            .metadata
            .uid
            .as_deref()
            .map(kube_kms::cluster::grants::grant_id)
    );
    assert_eq!(status.key_id.as_deref(), Some(app.as_str()));

    // RevokeGrant deletes the object; the grant allows nothing after.
    admin
        .revoke_grant()
        .key_id(&app)
        .grant_id(&grant_id)
        .send()
        .await
        .unwrap();
    let left: Vec<String> = grants
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|g| g.name_any())
        .collect();
    assert_eq!(left, ["data-keys"]);
    let refused = encrypt(Some("web")).await.unwrap_err();
    assert_eq!(refused.code(), Some("AccessDeniedException"));
}
