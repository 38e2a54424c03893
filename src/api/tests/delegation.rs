//! Where a key policy allows the account (the default policy does), the
//! account's access control decides, as IAM does on AWS; it alone decides
//! the operations on the account.

use std::sync::Mutex;

use super::access::key_operations;
use super::*;
use crate::api::delegation::{AccountAccess, Ask, account_action};
use crate::key_id::KeyId;

const TESTER: &str = "arn:aws:iam::111122223333:user/default/tester";

/// An account access that refuses what it is told to and keeps what it
/// was asked: (action, key, principal).
#[derive(Default)]
pub(super) struct Account {
    /// (action or `*`, key or `None` for the account).
    refused: Mutex<Vec<(String, Option<KeyId>)>>,
    asked: Mutex<Vec<(String, Option<KeyId>, String)>>,
}

impl Account {
    pub(super) fn refuse(&self, action: &str, key: Option<&str>) {
        let key = key.map(|k| k.parse().unwrap());
        *self.refused.lock().unwrap() = vec![(action.to_owned(), key)];
    }

    fn asked(&self) -> Vec<(String, Option<KeyId>, String)> {
        std::mem::take(&mut *self.asked.lock().unwrap())
    }
}

#[async_trait::async_trait]
impl AccountAccess for Account {
    async fn allows(&self, ask: Ask<'_>) -> Result<bool, ApiError> {
        let key = ask.key.map(|k| k.key_id);
        self.asked
            .lock()
            .unwrap()
            .push((ask.action.to_owned(), key, ask.caller.principal.clone()));
        let refused = self.refused.lock().unwrap();
        Ok(!refused
            .iter()
            .any(|(action, k)| (action == "*" || action == ask.action) && *k == key))
    }
}

pub(super) fn with_account() -> (Harness, Arc<Account>) {
    let account = Arc::new(Account::default());
    (harness_with(Some(account.clone())), account)
}

fn identity_refusal(action: &str, resource: &str) -> String {
    format!(
        "User: {TESTER} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action"
    )
}

async fn refusal(h: &Harness, principal: &str, op: &str, body: Value) -> String {
    match h
        .api
        .call(
            &Caller::new("default", principal),
            op,
            body.to_string().as_bytes(),
        )
        .await
    {
        Err(ApiError::AccessDenied(message)) => message,
        other => panic!("{op}: expected AccessDeniedException, got {other:?}"),
    }
}

#[tokio::test]
async fn every_operation_on_a_key_with_the_default_policy_asks_the_account() {
    let (h, account) = with_account();
    for (operation, body, key, action) in key_operations(&h).await {
        account.refuse(&action, Some(&key));
        account.asked();
        let message = refusal(&h, "tester", operation, body).await;
        assert_eq!(
            message,
            identity_refusal(&action, &arn(&key)),
            "{operation}"
        );
        assert!(
            account.asked().contains(&(
                action.clone(),
                Some(key.parse().unwrap()),
                "tester".into()
            )),
            "{operation}"
        );
    }
}

#[tokio::test]
async fn operations_on_the_account_ask_it_alone() {
    let (h, account) = with_account();
    let operations: Vec<_> = OPERATIONS
        .iter()
        .filter_map(|op| Some((*op, account_action(op)?)))
        .collect();
    assert_eq!(operations.len(), 6);
    for (operation, action) in operations {
        assert_eq!(action, format!("kms:{operation}"));
        account.refuse(action, None);
        account.asked();
        let message = refusal(&h, "tester", operation, json!({})).await;
        assert_eq!(message, identity_refusal(action, "*"), "{operation}");
        assert_eq!(
            account.asked(),
            [(action.to_owned(), None, "tester".to_owned())],
            "{operation}"
        );
    }
    // Nothing was made by the refused CreateKey.
    account.refuse("none", None);
    assert_eq!(h.ok("ListKeys", json!({})).await["Keys"], json!([]));
    h.key(json!({})).await;
    assert_eq!(
        h.ok("ListKeys", json!({})).await["Keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_policy_naming_the_caller_or_denying_it_decides_without_the_account() {
    let (h, account) = with_account();
    let key = h.key(json!({})).await;
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"{TESTER}"}},"Action":"kms:*","Resource":"*"}},
            {{"Effect":"Allow","Principal":{{"AWS":"111122223333"}},"Action":"kms:*","Resource":"*",
              "Condition":{{"StringEquals":{{"kms:EncryptionContext:app":"web"}}}}}},
            {{"Effect":"Deny","Principal":{{"AWS":"arn:aws:iam::111122223333:user/default/mallory"}},"Action":"kms:Encrypt","Resource":"*"}}]}}"#
    );
    h.ok(
        "PutKeyPolicy",
        json!({ "KeyId": key, "Policy": policy, "PolicyName": "default" }),
    )
    .await;
    account.refuse("*", Some(&key));
    account.asked();
    // Named by the policy: the account is not asked.
    h.ok("Encrypt", json!({ "KeyId": key, "Plaintext": b64(b"x") }))
        .await;
    assert_eq!(account.asked(), []);
    let in_context =
        json!({ "KeyId": key, "Plaintext": b64(b"x"), "EncryptionContext": {"app": "web"} });
    // The account's statement holds: the account decides (and refuses).
    let bob = "arn:aws:iam::111122223333:user/default/bob";
    assert_eq!(
        refusal(&h, "bob", "Encrypt", in_context.clone()).await,
        identity_refusal("kms:Encrypt", &arn(&key)).replace(TESTER, bob)
    );
    assert_eq!(account.asked().len(), 1);
    // It does not hold, or a statement denies: the policy refuses alone.
    assert!(
        refusal(
            &h,
            "bob",
            "Encrypt",
            json!({ "KeyId": key, "Plaintext": b64(b"x") })
        )
        .await
        .ends_with("because no resource-based policy allows the kms:Encrypt action")
    );
    assert!(
        refusal(&h, "mallory", "Encrypt", in_context.clone())
            .await
            .ends_with("with an explicit deny in a resource-based policy")
    );
    assert_eq!(account.asked(), []);
    // The account allowing it lets bob in.
    account.refuse("none", None);
    h.api
        .call(
            &Caller::new("default", "bob"),
            "Encrypt",
            in_context.to_string().as_bytes(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn without_an_account_access_every_caller_the_account_allows_is_in() {
    // `serve`: the credentials file is the account's access control.
    let h = harness();
    let key = h.key(json!({})).await;
    h.call_as(
        "team-b",
        "Encrypt",
        json!({ "KeyId": arn(&key), "Plaintext": b64(b"x") }),
    )
    .await
    .unwrap();
}
