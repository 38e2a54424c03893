//! Key policies that decide by the caller, the request and the key's tags
//! (`${aws:username}`, `aws:ResourceTag`, `aws:TagKeys`, `aws:RequestTag`).

use aws_sdk_kms::primitives::Blob;

use super::client;
use super::support::{SECRET_KEY, Server};

/// A key policy of Version 2012-10-17 fills in `${aws:username}`: each
/// caller may encrypt only under an encryption context naming itself. An
/// earlier Version compares the text itself.
#[tokio::test]
async fn a_key_policy_binds_each_caller_to_an_encryption_context_naming_it() {
    use aws_sdk_kms::error::ProvideErrorMetadata;
    let server = Server::start();
    let kms = client(&server, SECRET_KEY);
    let key = kms.create_key().send().await.unwrap();
    let key = key.key_metadata.unwrap().key_id;
    let policy = |version: &str| {
        format!(
            r#"{{"Version":"{version}","Statement":[{{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}},{{"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*","Condition":{{"StringNotEquals":{{"kms:EncryptionContext:user":"${{aws:username}}"}}}}}}]}}"#
        )
    };
    let encrypt_as = async |user: &str| {
        kms.encrypt()
            .key_id(&key)
            .plaintext(Blob::new("bound"))
            .encryption_context("user", user)
            .send()
            .await
            .map(drop)
            .map_err(|e| e.code().unwrap_or_default().to_owned())
    };
    for (version, tester, other) in [
        (
            "2012-10-17",
            Ok(()),
            Err("AccessDeniedException".to_owned()),
        ),
        (
            "2008-10-17",
            Err("AccessDeniedException".to_owned()),
            Err("AccessDeniedException".to_owned()),
        ),
    ] {
        kms.put_key_policy()
            .key_id(&key)
            .policy(policy(version))
            .send()
            .await
            .unwrap();
        assert_eq!(encrypt_as("tester").await, tester, "{version}");
        assert_eq!(encrypt_as("other").await, other, "{version}");
    }
}

/// Attribute-based access control with tags: a key usable only by the
/// caller its `owner` tag names (`aws:ResourceTag/owner` against
/// `${aws:username}`), whose `owner` tag no one may change (`aws:TagKeys`),
/// while other tags may be set (`aws:RequestTag/<key>` seen by the policy).
#[tokio::test]
async fn a_key_s_tags_decide_who_may_use_it() {
    use aws_sdk_kms::error::ProvideErrorMetadata;
    use aws_sdk_kms::types::Tag;
    let server = Server::start();
    let kms = client(&server, SECRET_KEY);
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},
        {"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*","Condition":{"StringNotEquals":{"aws:ResourceTag/owner":"${aws:username}"}}},
        {"Effect":"Deny","Principal":"*","Action":["kms:TagResource","kms:UntagResource"],"Resource":"*","Condition":{"ForAnyValue:StringEquals":{"aws:TagKeys":"owner"}}},
        {"Effect":"Deny","Principal":"*","Action":"kms:TagResource","Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/stage":"prod"}}}]}"#;
    let tag = |k: &str, v: &str| Tag::builder().tag_key(k).tag_value(v).build().unwrap();
    let created = |owner: &str| {
        kms.create_key()
            .policy(policy)
            .tags(tag("owner", owner))
            .send()
    };
    let mine = created("tester")
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let theirs = created("other").await.unwrap().key_metadata.unwrap().key_id;
    let encrypt = async |key: &str| {
        kms.encrypt()
            .key_id(key)
            .plaintext(Blob::new("tagged"))
            .send()
            .await
            .map(drop)
            .map_err(|e| e.code().unwrap_or_default().to_owned())
    };
    let denied = Err("AccessDeniedException".to_owned());
    assert_eq!(encrypt(&mine).await, Ok(()));
    assert_eq!(encrypt(&theirs).await, denied);
    let retag = |k: &str, v: &str| kms.tag_resource().key_id(&mine).tags(tag(k, v)).send();
    assert_eq!(
        retag("owner", "other").await.unwrap_err().code(),
        Some("AccessDeniedException")
    );
    assert_eq!(
        retag("stage", "prod").await.unwrap_err().code(),
        Some("AccessDeniedException")
    );
    retag("stage", "test").await.unwrap();
    let untag = kms
        .untag_resource()
        .key_id(&mine)
        .tag_keys("owner")
        .send()
        .await;
    assert_eq!(untag.unwrap_err().code(), Some("AccessDeniedException"));
    kms.untag_resource()
        .key_id(&mine)
        .tag_keys("stage")
        .send()
        .await
        .unwrap();
    assert_eq!(encrypt(&mine).await, Ok(()), "still its owner's");
}
