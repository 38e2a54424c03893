//! What goes wrong around the embedded store, through the real server:
//!
//! - a disk that refuses writes: writes fail with a clear error and store
//!   nothing, reads and cryptography go on, and writes resume once the disk
//!   takes them again, without a restart; nothing stored before is lost. The
//!   refusal is a file size limit of 0 set on the running server with
//!   `prlimit` (util-linux): every write to its files then fails with EFBIG,
//!   as with ENOSPC on a full disk (`serve` catches the SIGXFSZ that would
//!   otherwise kill it);
//! - a root key other than the store's: `serve` refuses to start, and
//!   nothing is sealed under the wrong key;
//! - a root key rotation: a new version takes over at the next start and
//!   the old one can then be removed.

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::primitives::Blob;
use support::{SECRET_KEY, Server};

fn client(endpoint: &str) -> aws_sdk_kms::Client {
    let config = support::sdk_config(endpoint, SECRET_KEY)
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

fn set_file_size_limit(pid: u32, limit: &str) {
    let out = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--fsize={limit}"))
        .output()
        .expect("prlimit (util-linux) runs");
    assert!(
        out.status.success(),
        "prlimit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn assert_decrypts(kms: &aws_sdk_kms::Client, ciphertext: &Blob) {
    let decrypted = kms
        .decrypt()
        .ciphertext_blob(ciphertext.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        decrypted.plaintext().unwrap().as_ref(),
        b"before the disk filled"
    );
}

async fn key_ids(kms: &aws_sdk_kms::Client) -> Vec<String> {
    let listed = kms.list_keys().send().await.expect("ListKeys");
    let mut ids: Vec<String> = listed
        .keys()
        .iter()
        .filter_map(|k| k.key_id().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn writes_refused_by_the_disk_fail_cleanly_and_resume_when_it_takes_them_again() {
    let server = Server::start();
    let pid = server.child.id();
    let kms = client(&server.endpoint);
    let key = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let ciphertext = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("before the disk filled"))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();
    let before = key_ids(&kms).await;

    set_file_size_limit(pid, "0:unlimited");
    for attempt in 0..3 {
        let refused = kms
            .create_key()
            .description(format!("refused {attempt}"))
            .send()
            .await;
        let error = refused.expect_err("CreateKey while the disk refuses writes");
        assert_eq!(
            error.into_service_error().meta().code(),
            Some("KMSInternalException")
        );
    }
    let refused = kms
        .create_alias()
        .alias_name("alias/refused")
        .target_key_id(&key)
        .send()
        .await;
    assert_eq!(
        refused
            .expect_err("CreateAlias")
            .into_service_error()
            .meta()
            .code(),
        Some("KMSInternalException")
    );
    // Reads and cryptography need no writes.
    assert_eq!(key_ids(&kms).await, before, "nothing was stored");
    assert_decrypts(&kms, &ciphertext).await;
    kms.encrypt()
        .key_id(&key)
        .plaintext(Blob::new("still"))
        .send()
        .await
        .unwrap();

    // The disk takes writes again: so does the store, without a restart.
    set_file_size_limit(pid, "unlimited:unlimited");
    let after = kms
        .create_key()
        .description("after")
        .send()
        .await
        .expect("CreateKey once the disk has room");
    let after = after.key_metadata().unwrap().key_id().to_owned();
    kms.create_alias()
        .alias_name("alias/after")
        .target_key_id(&after)
        .send()
        .await
        .unwrap();
    let mut expected = before.clone();
    expected.push(after.clone());
    expected.sort();
    assert_eq!(key_ids(&kms).await, expected);

    // And all of it is on disk: a restart finds every key and the alias,
    // and the first ciphertext still decrypts.
    let server = Server::start_in(server.kill());
    let kms = client(&server.endpoint);
    assert_eq!(key_ids(&kms).await, expected);
    let described = kms
        .describe_key()
        .key_id("alias/after")
        .send()
        .await
        .unwrap();
    assert_eq!(described.key_metadata().unwrap().key_id(), after);
    assert_decrypts(&kms, &ciphertext).await;
}

#[tokio::test]
async fn serve_refuses_to_start_with_a_root_key_that_does_not_open_its_store() {
    let server = Server::start();
    let kms = client(&server.endpoint);
    kms.create_key().send().await.unwrap();
    let before = key_ids(&kms).await;
    let dir = server.kill();
    let data = dir.path().join("data");
    let right = std::fs::read(data.join("root.key")).unwrap();

    // Another root key in its place, as a wrong Secret or file would be.
    let mut wrong = right.clone();
    wrong.iter_mut().for_each(|b| *b = !*b);
    std::fs::write(data.join("root.key"), &wrong).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kube-kms"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--insecure-no-auth",
            "--data-dir",
        ])
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A serve that starts anyway runs until stopped; give it time to refuse.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        status.is_some_and(|s| !s.success()),
        "serve started with the wrong root key: {stderr}"
    );
    assert!(
        stderr.contains("the root key does not open this store's key material"),
        "{stderr}"
    );

    // With its own root key back, it serves every key, fixtures included,
    // and nothing was added meanwhile.
    std::fs::write(data.join("root.key"), &right).unwrap();
    let server = Server::start_in(dir);
    let kms = client(&server.endpoint);
    assert_eq!(key_ids(&kms).await, before);
    kms.encrypt()
        .key_id("alias/fixture")
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap();
}

/// Rotating the root key: a version added while `serve` is stopped takes
/// over at the next start, which seals every key's material under it, so
/// the old version can then be removed and nothing stops working.
#[tokio::test]
async fn a_new_root_key_version_takes_over_and_the_old_one_can_go() {
    use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
    let outside = tempfile::tempdir().unwrap();
    let root = outside.path().join("root");
    let create = |version: &str| {
        let status = Command::new(env!("CARGO_BIN_EXE_kube-kms"))
            .args(["root-key", "create-file"])
            .arg(root.join(version))
            .status()
            .unwrap();
        assert!(status.success());
    };
    std::fs::create_dir(&root).unwrap();
    create("v1");
    let args = ["--root-key".into(), root.clone().into_os_string()];

    let server = Server::start_with(tempfile::tempdir().unwrap(), &args);
    let kms = client(&server.endpoint);
    let key = kms.create_key().send().await.unwrap();
    let key = key.key_metadata().unwrap().key_id().to_owned();
    let encrypt = async |text: &'static str| {
        kms.encrypt()
            .key_id(&key)
            .plaintext(Blob::new(text))
            .send()
            .await
            .unwrap()
            .ciphertext_blob()
            .unwrap()
            .clone()
    };
    let before_rotation = encrypt("material version 1").await;
    kms.rotate_key_on_demand()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    let after_rotation = encrypt("material version 2").await;
    let signer = kms
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap();
    let signer = signer.key_metadata().unwrap().key_id().to_owned();
    let signature = kms
        .sign()
        .key_id(&signer)
        .message(Blob::new("signed under root v1"))
        .message_type(MessageType::Raw)
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .unwrap()
        .signature()
        .unwrap()
        .clone();
    let keys = key_ids(&kms).await;
    let dir = server.kill();

    create("v2");
    let server = Server::start_with(dir, &args);
    let log = server.log();
    // The two material versions of `key`, the signer's and the fixtures'.
    assert!(
        log.contains("key material resealed under the newest root key version")
            && log.contains("root_key_version=2"),
        "{log}"
    );
    let dir = server.kill();

    std::fs::remove_file(root.join("v1")).unwrap();
    let server = Server::start_with(dir, &args);
    assert!(!server.log().contains("resealed"), "nothing left to move");
    let kms = client(&server.endpoint);
    assert_eq!(key_ids(&kms).await, keys);
    for (ciphertext, text) in [
        (&before_rotation, "material version 1"),
        (&after_rotation, "material version 2"),
    ] {
        let plain = kms
            .decrypt()
            .ciphertext_blob(ciphertext.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(plain.plaintext().unwrap().as_ref(), text.as_bytes());
    }
    let verified = kms
        .verify()
        .key_id(&signer)
        .message(Blob::new("signed under root v1"))
        .message_type(MessageType::Raw)
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .signature(signature)
        .send()
        .await
        .unwrap();
    assert!(verified.signature_valid());
    kms.encrypt()
        .key_id("alias/fixture")
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap();
}
