//! Files `serve` follows while it runs: the credentials file (access keys
//! rotated and removed) and the manifests directory.

use aws_sdk_kms::primitives::Blob;

use super::client;
use super::support::{self, SECRET_KEY, Server};

#[tokio::test]
async fn access_keys_change_while_serving() {
    let server = Server::start();
    let path = server.credentials_path();
    let old = client(&server, SECRET_KEY);
    old.list_keys()
        .send()
        .await
        .expect("the first secret works");
    let code = |e: &aws_sdk_kms::error::SdkError<_>| {
        use aws_sdk_kms::error::ProvideErrorMetadata;
        e.code().unwrap_or_default().to_owned()
    };
    // Rotate the secret (written to a temporary file and renamed over, as
    // editors and Kubernetes volume updates do), and drop the other key.
    let rotated = "kube-kms-rotated-secret/0123456789";
    let next = path.with_extension("next");
    std::fs::write(
        &next,
        format!(
            "credentials:\n  - accessKeyId: {}\n    secretAccessKey: {rotated}\n    principal: tester\n",
            support::ACCESS_KEY
        ),
    )
    .unwrap();
    std::fs::rename(&next, &path).unwrap();
    let new = client(&server, rotated);
    until("the rotated secret to apply", async || {
        new.list_keys().send().await.ok()
    })
    .await;
    let refused = old.list_keys().send().await.unwrap_err();
    assert_eq!(code(&refused), "InvalidSignatureException");
    let other = support::other_kms_client_in(&server.endpoint, "us-east-1");
    let removed = other.list_keys().send().await.unwrap_err();
    assert_eq!(code(&removed), "UnrecognizedClientException");

    // A broken file, written in place: the rotated secret stays in force.
    std::fs::write(&path, "credentials: [{accessKeyId: AKIDHALF").unwrap();
    until("the refusal to be logged", async || {
        server
            .log()
            .contains("SigV4 credentials not reloaded")
            .then_some(())
    })
    .await;
    new.list_keys()
        .send()
        .await
        .expect("the keys in force stay");
    assert_eq!(
        code(&old.list_keys().send().await.unwrap_err()),
        "InvalidSignatureException"
    );
}

/// Waits for `check` to give a value: within a file check interval (2 s),
/// with room for a busy machine.
async fn until<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    use std::time::{Duration, Instant};
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(done) = check().await {
            return done;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `serve --manifests DIR` follows DIR: a new file's key and alias appear,
/// an edited key takes its new spec, a set with a bad manifest changes
/// nothing (not even the good files before it), and a key taken out of the
/// manifests stays, with a warning.
#[tokio::test]
async fn manifests_change_while_serving() {
    let server = Server::start();
    let dir = server.manifests_path();
    let kms = client(&server, SECRET_KEY);
    // Written aside and renamed in, as editors and volume updates do.
    let put = |name: &str, text: &str| {
        let aside = dir.join(format!(".{name}.tmp"));
        std::fs::write(&aside, text).unwrap();
        std::fs::rename(&aside, dir.join(name)).unwrap();
    };
    let app = |description: &str, enabled: bool| {
        format!(
            "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {{name: app}}\n\
             spec: {{description: {description}, enabled: {enabled}}}\n---\n\
             apiVersion: kubekms.io/v1alpha1\nkind: KmsAlias\nmetadata: {{name: app}}\n\
             spec: {{aliasName: alias/app, targetKeyRef: {{name: app}}}}\n"
        )
    };
    let described = async |what: &str, description: &str, state: &str| {
        until(what, async || {
            let key = kms.describe_key().key_id("alias/app").send().await.ok()?;
            let key = key.key_metadata()?;
            (key.description() == Some(description)
                && key.key_state().map(|s| s.as_str()) == Some(state))
            .then_some(())
        })
        .await
    };

    put("app.yaml", &app("first", true));
    described("the new key and alias", "first", "Enabled").await;
    let encrypted = kms
        .encrypt()
        .key_id("alias/app")
        .plaintext(Blob::new(b"kept".to_vec()))
        .send()
        .await
        .unwrap();

    put("app.yaml", &app("second", false));
    described("the edited key", "second", "Disabled").await;

    // An asymmetric key cannot rotate: the set is refused as a whole.
    let refusals = || {
        server
            .log()
            .matches("manifests changed but were not applied")
            .count()
    };
    put(
        "broken.yaml",
        "apiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {name: broken}\n\
         spec: {keySpec: RSA_2048, rotation: {enabled: true}}\n",
    );
    until("the broken set to be refused", async || {
        (refusals() == 1).then_some(())
    })
    .await;
    put("app.yaml", &app("third", true));
    until("the set to be refused again", async || {
        (refusals() == 2).then_some(())
    })
    .await;
    let key = kms.describe_key().key_id("alias/app").send().await.unwrap();
    assert_eq!(
        key.key_metadata().unwrap().description(),
        Some("second"),
        "app.yaml comes before broken.yaml, and nothing of the set was applied"
    );
    assert!(
        server.log().contains("KmsKey default/broken"),
        "{}",
        server.log()
    );
    std::fs::remove_file(dir.join("broken.yaml")).unwrap();
    described("the repaired set", "third", "Enabled").await;

    // What only the store refuses (another key spec for a key that exists)
    // is asked of every key before anything is written, too.
    let other = |spec: &str| {
        format!(
            "---\napiVersion: kubekms.io/v1alpha1\nkind: KmsKey\nmetadata: {{name: other}}\n\
             spec: {{keySpec: {spec}}}\n"
        )
    };
    put(
        "app.yaml",
        &(app("fourth", true) + &other("SYMMETRIC_DEFAULT")),
    );
    described("the set with another key", "fourth", "Enabled").await;
    put("app.yaml", &(app("fifth", true) + &other("RSA_2048")));
    until("the set to be refused by the store", async || {
        (refusals() == 3).then_some(())
    })
    .await;
    let key = kms.describe_key().key_id("alias/app").send().await.unwrap();
    assert_eq!(
        key.key_metadata().unwrap().description(),
        Some("fourth"),
        "the key before the refused one was not changed"
    );
    put("app.yaml", &app("third", true));
    described("the set without the other key", "third", "Enabled").await;
    until("the warning that names the key left out", async || {
        let log = server.log();
        log.lines()
            .any(|l| {
                l.contains("no longer in the manifests") && l.contains("KmsKey default/other (key ")
            })
            .then_some(())
    })
    .await;

    std::fs::remove_file(dir.join("app.yaml")).unwrap();
    until("the warning", async || {
        let log = server.log();
        log.lines()
            .any(|l| {
                l.contains("no longer in the manifests")
                    && l.contains("KmsAlias default/app (alias/app)")
            })
            .then_some(())
    })
    .await;
    let decrypted = kms
        .decrypt()
        .ciphertext_blob(encrypted.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .expect("the key stays when its manifest goes");
    assert_eq!(decrypted.plaintext().unwrap().as_ref(), b"kept");
    assert_eq!(
        decrypted.key_id(),
        kms.describe_key()
            .key_id("alias/app")
            .send()
            .await
            .unwrap()
            .key_metadata()
            .unwrap()
            .arn()
    );
}
