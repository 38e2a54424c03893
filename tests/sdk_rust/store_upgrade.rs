//! A store written by an older kube-kms opens in this one, every key in it
//! works as it did there, and it takes new writes. Each fixture is a store
//! an older build wrote, with what it answered (made by the make.py beside
//! it, which says how): tests/vectors/store-a303ec2 the first `serve`'s,
//! tests/vectors/store-ff12328 one with what later versions keep (policies,
//! grants, imported material, multi-Region and post-quantum keys, usage).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    EncryptionAlgorithmSpec, KeyState, MacAlgorithmSpec, RotationType, SigningAlgorithmSpec,
};
use serde_json::Value;

use super::support::{SECRET_KEY, Server};

const FIRST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/store-a303ec2");
const LATER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/store-ff12328");

fn expected(fixture: &str) -> Value {
    let text = std::fs::read_to_string(Path::new(fixture).join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("a string: {v}"))
}

fn bytes(v: &Value) -> Vec<u8> {
    kube_kms::b64::decode(text(v)).unwrap()
}

fn blob(v: &Value) -> Blob {
    Blob::new(bytes(v))
}

/// A data directory (`data/` in it, as `Server` takes it) holding the
/// fixture's store and root key, as that version left them.
fn old_data_dir(fixture: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let store = Command::new("gzip")
        .arg("-dc")
        .arg(Path::new(fixture).join("kube-kms.redb.gz"))
        .output()
        .expect("run gzip");
    assert!(store.status.success(), "gzip -dc: {store:?}");
    for (name, content) in [
        ("kube-kms.redb", store.stdout),
        (
            "root.key",
            std::fs::read(Path::new(fixture).join("root.key")).unwrap(),
        ),
    ] {
        let path = data.join(name);
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    dir
}

/// What DescribeKey says of `key` is what the old version said.
async fn described_as_before(kms: &aws_sdk_kms::Client, key: &Value) {
    let id = text(&key["KeyId"]);
    let described = kms.describe_key().key_id(id).send().await.unwrap();
    let meta = described.key_metadata().unwrap();
    assert_eq!(meta.description(), key["Description"].as_str(), "{id}");
    assert_eq!(
        meta.key_spec().map(|s| s.as_str()),
        key["KeySpec"].as_str(),
        "{id}"
    );
    assert_eq!(
        meta.key_usage().map(|u| u.as_str()),
        key["KeyUsage"].as_str(),
        "{id}"
    );
    assert_eq!(
        meta.key_state().map(|s| s.as_str()),
        key["KeyState"].as_str(),
        "{id}"
    );
    assert_eq!(
        meta.creation_date().map(|d| d.secs()),
        key["CreationDate"].as_i64(),
        "{id}"
    );
}

async fn decrypts(kms: &aws_sdk_kms::Client, ciphertext: &Value, context: &Value) -> Vec<u8> {
    let mut call = kms.decrypt().ciphertext_blob(blob(ciphertext));
    for (k, v) in context.as_object().into_iter().flatten() {
        call = call.encryption_context(k, text(v));
    }
    let decrypted = call.send().await.unwrap();
    decrypted.plaintext().unwrap().as_ref().to_vec()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The symmetric key's rotations: `on_demand` of them, and the automatic
/// ones its 180-day period has brought since (none before the first is
/// due, some after; a day either side of it is not judged).
async fn rotated(kms: &aws_sdk_kms::Client, key: &Value, on_demand: usize) {
    let listed = kms
        .list_key_rotations()
        .key_id(text(&key["KeyId"]))
        .send()
        .await
        .unwrap();
    let count = |kind: RotationType| {
        listed
            .rotations()
            .iter()
            .filter(|r| r.rotation_type() == Some(&kind))
            .count()
    };
    assert_eq!(count(RotationType::OnDemand), on_demand, "{listed:?}");
    let day = 24 * 3600;
    let first_due =
        key["CreationDate"].as_i64().unwrap() + key["RotationPeriodInDays"].as_i64().unwrap() * day;
    let automatic = count(RotationType::Automatic);
    if now() < first_due - day {
        assert_eq!(automatic, 0, "{listed:?}");
    } else if now() > first_due + day {
        assert!(automatic >= 1, "{listed:?}");
    }
}

/// The key's public key is the one recorded, and the signature recorded
/// with it (if any) verifies.
async fn public_half_as_before(kms: &aws_sdk_kms::Client, key: &Value, name: &str) {
    let id = text(&key["KeyId"]);
    let public = kms.get_public_key().key_id(id).send().await.unwrap();
    assert_eq!(
        public.public_key().unwrap().as_ref(),
        bytes(&key["PublicKey"]),
        "{name}"
    );
    if key.get("Signature").is_none() {
        return;
    }
    let verified = kms
        .verify()
        .key_id(id)
        .message(blob(&key["Message"]))
        .signature(blob(&key["Signature"]))
        .signing_algorithm(SigningAlgorithmSpec::from(text(&key["SigningAlgorithm"])))
        .send()
        .await
        .unwrap();
    assert!(verified.signature_valid(), "{name}");
}

/// Every key of the fixture, used as its old version allowed.
async fn every_key_works_as_before(kms: &aws_sdk_kms::Client, expected: &Value) {
    let sym = &expected["symmetric"];
    let sym_id = text(&sym["KeyId"]);
    described_as_before(kms, sym).await;
    for ciphertext in sym["Ciphertexts"].as_array().unwrap() {
        assert_eq!(
            decrypts(kms, &ciphertext["Ciphertext"], &sym["Context"]).await,
            text(&ciphertext["Plaintext"]).as_bytes()
        );
    }
    let data_key = &sym["DataKey"];
    assert_eq!(
        decrypts(kms, &data_key["Ciphertext"], &Value::Null).await,
        bytes(&data_key["Plaintext"])
    );
    let pair = &sym["DataKeyPair"];
    assert_eq!(
        decrypts(kms, &pair["PrivateKeyCiphertext"], &Value::Null).await,
        bytes(&pair["PrivateKeyPlaintext"])
    );
    let aliases = kms.list_aliases().key_id(sym_id).send().await.unwrap();
    let names: Vec<_> = aliases
        .aliases()
        .iter()
        .filter_map(|a| a.alias_name())
        .collect();
    assert_eq!(names, [text(&sym["Alias"])]);
    let tags = kms
        .list_resource_tags()
        .key_id(sym_id)
        .send()
        .await
        .unwrap();
    let tags: Vec<_> = tags
        .tags()
        .iter()
        .map(|t| (t.tag_key(), t.tag_value()))
        .collect();
    assert_eq!(tags, [("team", text(&sym["Tags"]["team"]))]);
    let rotation = kms
        .get_key_rotation_status()
        .key_id(sym_id)
        .send()
        .await
        .unwrap();
    assert!(rotation.key_rotation_enabled());
    assert_eq!(
        rotation.rotation_period_in_days().map(i64::from),
        sym["RotationPeriodInDays"].as_i64()
    );
    rotated(kms, sym, 1).await;

    for name in ["rsa_sign", "ecc_sign", "secg_sign"] {
        described_as_before(kms, &expected[name]).await;
        public_half_as_before(kms, &expected[name], name).await;
    }

    let hmac = &expected["hmac"];
    described_as_before(kms, hmac).await;
    let mac = kms
        .generate_mac()
        .key_id(text(&hmac["KeyId"]))
        .message(blob(&hmac["Message"]))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap();
    assert_eq!(
        mac.mac().unwrap().as_ref(),
        bytes(&hmac["Mac"]),
        "the same key"
    );

    let rsa = &expected["rsa_encrypt"];
    described_as_before(kms, rsa).await;
    let decrypted = kms
        .decrypt()
        .key_id(text(&rsa["KeyId"]))
        .ciphertext_blob(blob(&rsa["Ciphertext"]))
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await
        .unwrap();
    assert_eq!(
        decrypted.plaintext().unwrap().as_ref(),
        text(&rsa["Plaintext"]).as_bytes()
    );

    let disabled = &expected["disabled"];
    described_as_before(kms, disabled).await;
    let refused = kms
        .decrypt()
        .ciphertext_blob(blob(&disabled["Ciphertext"]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("DisabledException"), "{refused:?}");
}

/// The key scheduled for deletion waits out its 30 days, then is gone, its
/// material destroyed (the lifecycle's first run at start).
async fn pending_deletion_as_its_date_says(kms: &aws_sdk_kms::Client, key: &Value) {
    let id = text(&key["KeyId"]);
    let date = key["DeletionDate"].as_i64().unwrap();
    if now() < date {
        described_as_before(kms, key).await;
        let described = kms.describe_key().key_id(id).send().await.unwrap();
        let meta = described.key_metadata().unwrap();
        assert_eq!(meta.deletion_date().map(|d| d.secs()), Some(date));
        let refused = kms
            .decrypt()
            .ciphertext_blob(blob(&key["Ciphertext"]))
            .send()
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Some("KMSInvalidStateException"));
        return;
    }
    for _ in 0..100 {
        match kms.describe_key().key_id(id).send().await {
            Err(e) if e.code() == Some("NotFoundException") => return,
            Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("{e:?}"),
        }
    }
    panic!("{id} was due for deletion on {date} and is still there");
}

#[tokio::test]
async fn a_store_written_by_the_first_serve_opens_and_every_key_works_as_before() {
    let expected = expected(FIRST);
    let server = Server::start_in(old_data_dir(FIRST));
    let kms = super::client(&server, SECRET_KEY);
    every_key_works_as_before(&kms, &expected).await;
    pending_deletion_as_its_date_says(&kms, &expected["pending_deletion"]).await;

    // New writes into the old store: a new version of an old key, and a
    // new key, each with a ciphertext; all of it still there after a restart.
    let sym = &expected["symmetric"];
    let sym_id = text(&sym["KeyId"]);
    kms.rotate_key_on_demand()
        .key_id(sym_id)
        .send()
        .await
        .unwrap();
    let after_rotation = kms
        .encrypt()
        .key_id(text(&sym["Alias"]))
        .plaintext(Blob::new(b"after a new version".to_vec()))
        .send()
        .await
        .unwrap();
    let new_key = kms.create_key().send().await.unwrap();
    let new_id = new_key.key_metadata().unwrap().key_id().to_owned();
    let under_new = kms
        .encrypt()
        .key_id(&new_id)
        .plaintext(Blob::new(b"a new key".to_vec()))
        .send()
        .await
        .unwrap();
    let disabled_id = text(&expected["disabled"]["KeyId"]);
    kms.enable_key().key_id(disabled_id).send().await.unwrap();

    let server = Server::start_in(server.stop());
    let kms = super::client(&server, SECRET_KEY);
    for (ciphertext, plaintext) in [
        (&after_rotation, &b"after a new version"[..]),
        (&under_new, &b"a new key"[..]),
    ] {
        let decrypted = kms
            .decrypt()
            .ciphertext_blob(ciphertext.ciphertext_blob().unwrap().clone())
            .send()
            .await
            .unwrap();
        assert_eq!(decrypted.plaintext().unwrap().as_ref(), plaintext);
    }
    rotated(&kms, sym, 2).await;
    let disabled = &expected["disabled"];
    assert_eq!(
        decrypts(&kms, &disabled["Ciphertext"], &Value::Null).await,
        text(&disabled["Plaintext"]).as_bytes()
    );
    let described = kms.describe_key().key_id(disabled_id).send().await.unwrap();
    assert_eq!(
        described.key_metadata().unwrap().key_state(),
        Some(&KeyState::Enabled)
    );
    // And what was there before is as it was.
    let mut unchanged = expected.clone();
    unchanged["disabled"]["KeyState"] = "Enabled".into();
    let (sym, disabled) = (&unchanged["symmetric"], &unchanged["disabled"]);
    described_as_before(&kms, sym).await;
    described_as_before(&kms, disabled).await;
    for ciphertext in sym["Ciphertexts"].as_array().unwrap() {
        assert_eq!(
            decrypts(&kms, &ciphertext["Ciphertext"], &sym["Context"]).await,
            text(&ciphertext["Plaintext"]).as_bytes()
        );
    }
}

#[tokio::test]
async fn a_store_with_what_later_versions_keep_opens_and_every_key_works_as_before() {
    let expected = expected(LATER);
    let server = Server::start_in(old_data_dir(LATER));
    let kms = super::client(&server, SECRET_KEY);

    // The key policy as written, enforced; the grant; the last use.
    let governed = &expected["governed"];
    let id = text(&governed["KeyId"]);
    let policy = kms.get_key_policy().key_id(id).send().await.unwrap();
    assert_eq!(policy.policy(), governed["Policy"].as_str());
    let usage = kms.get_key_last_usage().key_id(id).send().await.unwrap();
    assert_eq!(
        usage
            .key_last_usage()
            .and_then(|u| u.operation())
            .map(|o| o.as_str()),
        governed["LastUsedOperation"].as_str()
    );
    assert_eq!(
        decrypts(&kms, &governed["Ciphertext"], &governed["Context"]).await,
        text(&governed["Plaintext"]).as_bytes()
    );
    // Its Deny: a decrypt under another context is refused by the policy.
    let other = kms
        .encrypt()
        .key_id(id)
        .plaintext(Blob::new(b"not an order".to_vec()))
        .encryption_context("app", "billing")
        .send()
        .await
        .unwrap();
    let refused = kms
        .decrypt()
        .ciphertext_blob(other.ciphertext_blob().unwrap().clone())
        .encryption_context("app", "billing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("AccessDeniedException"), "{refused:?}");
    let grants = kms.list_grants().key_id(id).send().await.unwrap();
    let grant = &grants.grants()[0];
    assert_eq!(grants.grants().len(), 1);
    assert_eq!(grant.grant_id(), governed["GrantId"].as_str());
    assert_eq!(grant.name(), governed["GrantName"].as_str());
    let subset = grant
        .constraints()
        .unwrap()
        .encryption_context_subset()
        .unwrap();
    assert_eq!(subset.get("app").map(String::as_str), Some("orders"));

    // Imported material, multi-Region: as they were, and still decrypting.
    let imported = &expected["imported"];
    let described = kms
        .describe_key()
        .key_id(text(&imported["KeyId"]))
        .send()
        .await
        .unwrap();
    let meta = described.key_metadata().unwrap();
    assert_eq!(meta.origin().map(|o| o.as_str()), Some("EXTERNAL"));
    assert_eq!(meta.key_state(), Some(&KeyState::Enabled));
    assert_eq!(
        meta.current_key_material_id(),
        imported["KeyMaterialId"].as_str()
    );
    let multi = &expected["multi_region"];
    let described = kms
        .describe_key()
        .key_id(text(&multi["KeyId"]))
        .send()
        .await
        .unwrap();
    assert_eq!(described.key_metadata().unwrap().multi_region(), Some(true));
    for key in [imported, multi] {
        assert_eq!(
            decrypts(&kms, &key["Ciphertext"], &Value::Null).await,
            text(&key["Plaintext"]).as_bytes()
        );
    }

    // Edwards, ML-DSA and ML-KEM keys: the same public keys, signatures
    // that verify.
    for name in ["ed25519", "ml_dsa", "ml_kem"] {
        public_half_as_before(&kms, &expected[name], name).await;
    }

    // A new grant on the old key, kept across a restart beside the old one.
    kms.create_grant()
        .key_id(id)
        .grantee_principal("arn:aws:iam::111122223333:role/default/writer")
        .operations(aws_sdk_kms::types::GrantOperation::Encrypt)
        .send()
        .await
        .unwrap();
    let server = Server::start_in(server.stop());
    let kms = super::client(&server, SECRET_KEY);
    let grants = kms.list_grants().key_id(id).send().await.unwrap();
    assert_eq!(grants.grants().len(), 2, "{grants:?}");
}

/// The ciphertext format `serve` writes: format 2, or with
/// `--ciphertext-format 1` format 1, which the first serve wrote (as the
/// fixture's ciphertexts are), for a multi-Region peer or other reader
/// still on a version that reads nothing newer. Either decrypts here,
/// with or without the flag, across restarts.
#[tokio::test]
async fn serve_writes_the_ciphertext_format_asked_and_reads_both() {
    let expected = expected(FIRST);
    let sym = &expected["symmetric"];
    let kept = &sym["Ciphertexts"][0]["Ciphertext"];
    assert_eq!(bytes(kept)[0], 1, "the first serve wrote format 1");
    let encrypt = |kms: aws_sdk_kms::Client| async move {
        let out = kms
            .encrypt()
            .key_id(text(&sym["Alias"]))
            .plaintext(Blob::new(b"which format".to_vec()))
            .send()
            .await
            .unwrap();
        out.ciphertext_blob().unwrap().as_ref().to_vec()
    };
    let flag = ["--ciphertext-format".into(), "1".into()];
    let server = Server::start_with(old_data_dir(FIRST), &flag);
    let format_1 = encrypt(super::client(&server, SECRET_KEY)).await;
    assert_eq!(format_1[0], 1);
    let server = Server::start_in(server.stop());
    let format_2 = encrypt(super::client(&server, SECRET_KEY)).await;
    assert_eq!(format_2[0], 2);
    let server = Server::start_with(server.stop(), &flag);
    let kms_1 = super::client(&server, SECRET_KEY);
    for blob in [&format_1, &format_2] {
        let plain = kms_1
            .decrypt()
            .ciphertext_blob(Blob::new(blob.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(plain.plaintext().unwrap().as_ref(), b"which format");
    }
    assert_eq!(
        decrypts(&kms_1, kept, &sym["Context"]).await,
        text(&sym["Ciphertexts"][0]["Plaintext"]).as_bytes()
    );
}
