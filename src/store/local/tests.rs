//! The local store against real files.

use super::*;
use redb::ReadableTable;

#[test]
fn a_damaged_file_is_an_error_that_names_it_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    drop(LocalStore::open(dir.path()).unwrap());
    let path = dir.path().join(LocalStore::FILE_NAME);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(4096)
        .unwrap();
    let error = LocalStore::open(dir.path()).expect_err("a truncated store");
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("restore it from a backup"), "{message}");
}

#[test]
fn a_new_store_is_private_and_an_existing_one_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("new/data");
    let store = LocalStore::open(&dir).unwrap();
    let path = dir.join(LocalStore::FILE_NAME);
    assert_eq!((mode(&dir), mode(&path)), (0o700, 0o600));
    // The file redb was handed empty is a working store.
    let key = KeyRecord::test(1_700_000_000_000);
    runtime().block_on(store.create_key(key.clone())).unwrap();
    drop(store);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let store = LocalStore::open(&dir).unwrap();
    assert!(
        runtime()
            .block_on(store.get_key(key.key_id))
            .unwrap()
            .is_some()
    );
    assert_eq!(mode(&path), 0o640);
    // An empty file left by a crash before redb wrote to it opens as a
    // new store.
    drop(store);
    std::fs::write(&path, b"").unwrap();
    let store = LocalStore::open(&dir).unwrap();
    assert!(runtime().block_on(store.all_keys()).unwrap().is_empty());
}

/// An alias as this version writes it, under the table names and keys it
/// uses (the key beside it is `KeyRecord::FORMAT_1`): a later version must
/// still read a store written now, so changing any of this needs a
/// migration, not an edit of this test.
const STORED_ALIAS: &str = r#"{"namespace":"team-a","name":"alias/app","key_id":"1234abcd-12ab-34cd-56ef-1234567890ab","created":1700000000000,"updated":1700086400000}"#;

#[test]
fn a_store_written_in_format_1_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join(LocalStore::FILE_NAME)).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(TableDefinition::<&str, &[u8]>::new("keys"))
        .unwrap()
        .insert(
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            KeyRecord::FORMAT_1.as_bytes(),
        )
        .unwrap();
    txn.open_table(TableDefinition::<&str, &[u8]>::new("aliases"))
        .unwrap()
        .insert("team-a\0alias/app", STORED_ALIAS.as_bytes())
        .unwrap();
    txn.commit().unwrap();
    drop(db);

    let store = LocalStore::open(dir.path()).unwrap();
    let id: KeyId = "1234abcd-12ab-34cd-56ef-1234567890ab".parse().unwrap();
    let key = runtime().block_on(store.get_key(id)).unwrap().unwrap();
    let expected = KeyRecord::format_1();
    assert_eq!(key, expected);
    // And this version writes what it reads.
    assert_eq!(
        String::from_utf8(encode(&expected).unwrap()).unwrap(),
        KeyRecord::FORMAT_1
    );
    let alias = runtime()
        .block_on(store.get_alias("team-a", "alias/app"))
        .unwrap()
        .unwrap();
    assert_eq!(
        alias,
        AliasRecord {
            namespace: "team-a".into(),
            name: "alias/app".into(),
            key_id: id,
            created: 1_700_000_000_000,
            updated: 1_700_086_400_000,
        }
    );
    assert_eq!(
        String::from_utf8(encode(&alias).unwrap()).unwrap(),
        STORED_ALIAS
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

#[test]
fn a_store_in_use_is_an_error_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let _open = LocalStore::open(dir.path()).unwrap();
    let message = LocalStore::open(dir.path())
        .expect_err("the file is locked")
        .to_string();
    assert!(
        message.contains("is in use by another process"),
        "{message}"
    );
}

#[test]
fn a_damaged_record_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(LocalStore::FILE_NAME);
    let (db, _) = open_database(&path, crate::key::now_millis()).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(KEYS)
        .unwrap()
        .insert("1234abcd-12ab-34cd-56ef-1234567890ab", b"{}".as_slice())
        .unwrap();
    txn.commit().unwrap();
    drop(db);
    let message = LocalStore::open(dir.path()).unwrap_err().to_string();
    assert!(
        message.contains("damaged record of key 1234abcd-12ab-34cd-56ef-1234567890ab"),
        "{message}"
    );
}

fn used(operation: crate::usage::UsedFor, at: Millis) -> KeyUsage {
    KeyUsage {
        operation,
        at,
        request_id: crate::request_id::RequestId::next(),
    }
}

#[test]
fn key_usage_is_kept_across_restarts_and_goes_with_its_key() {
    use crate::usage::UsedFor;
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let store = LocalStore::open(dir.path()).unwrap();
    let since = store
        .usage_tracked_since()
        .expect("the local store keeps usage");
    let key = rt
        .block_on(store.create_key(KeyRecord::test(1_700_000_000_000)))
        .unwrap();
    let gone = KeyId::random();
    let first = used(UsedFor::Encrypt, 2_000);
    let dropped = rt
        .block_on(store.record_usage(vec![(key.key_id, first), (gone, first)]))
        .unwrap();
    assert_eq!(dropped, vec![gone], "the use of a key that does not exist");
    // An earlier use, written late (another batch), does not replace it.
    rt.block_on(store.record_usage(vec![(key.key_id, used(UsedFor::Sign, 1_000))]))
        .unwrap();
    drop(store);

    let store = LocalStore::open(dir.path()).unwrap();
    assert_eq!(
        store.usage_tracked_since(),
        Some(since),
        "set once, when first opened"
    );
    assert_eq!(
        rt.block_on(store.key_usage(key.key_id)).unwrap().last,
        Some(first)
    );
    assert_eq!(
        rt.block_on(store.key_usage(gone)).unwrap().last,
        None,
        "no such key"
    );
    let later = used(UsedFor::Decrypt, 3_000);
    rt.block_on(store.record_usage(vec![(key.key_id, later)]))
        .unwrap();
    assert_eq!(
        rt.block_on(store.key_usage(key.key_id)).unwrap().last,
        Some(later)
    );

    rt.block_on(store.delete_key(key.key_id, key.revision))
        .unwrap();
    assert_eq!(rt.block_on(store.key_usage(key.key_id)).unwrap().last, None);
    drop(store);
    let db = Database::create(dir.path().join(LocalStore::FILE_NAME)).unwrap();
    let txn = db.begin_read().unwrap();
    let rows = txn.open_table(USAGE).unwrap().iter().unwrap().count();
    assert_eq!(rows, 0, "the deleted key's usage row went with it");
}

#[test]
fn a_store_from_before_usage_tracking_begins_it_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    // A store as versions without usage tracking left it: no meta table.
    let db = Database::create(dir.path().join(LocalStore::FILE_NAME)).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(KEYS).unwrap();
    txn.open_table(ALIASES).unwrap();
    txn.commit().unwrap();
    drop(db);
    let before = crate::key::now_millis();
    let store = LocalStore::open(dir.path()).unwrap();
    let since = store.usage_tracked_since().unwrap();
    assert!(
        since >= before && since < before + 60_000,
        "{since} vs {before}"
    );
}

/// A key's last use as this version stores it (under the key id in table
/// `key_usage`) and when tracking began (`usage_tracked_since` in `meta`):
/// a later version must read them, so changing either needs a migration.
const STORED_USAGE: &str = r#"{"operation":"GenerateDataKeyPairWithoutPlaintext","at":1700000000123,"request_id":"6f1b2c9e-4d3a-4b7c-9e2f-0a1b2c3d4e5f"}"#;

#[test]
fn key_usage_written_now_is_read_later() {
    let usage: KeyUsage = decode(STORED_USAGE.as_bytes(), "usage").unwrap();
    assert_eq!(
        usage.operation,
        crate::usage::UsedFor::GenerateDataKeyPairWithoutPlaintext
    );
    assert_eq!(usage.at, 1_700_000_000_123);
    assert_eq!(
        usage.request_id.as_str(),
        "6f1b2c9e-4d3a-4b7c-9e2f-0a1b2c3d4e5f"
    );
    assert_eq!(
        String::from_utf8(encode(&usage).unwrap()).unwrap(),
        STORED_USAGE
    );
    let since: Millis = decode(b"1700000000000", USAGE_SINCE).unwrap();
    assert_eq!(since, 1_700_000_000_000);
}

fn grant(key: KeyId, id: char, name: Option<&str>) -> GrantRecord {
    GrantRecord {
        grant_id: id.to_string().repeat(64),
        key_id: key,
        name: name.map(str::to_owned),
        grantee: "arn:aws:iam::111122223333:role/default/app".into(),
        retiring: None,
        operations: vec![crate::spec::GrantOperation::Decrypt],
        constraints: Default::default(),
        created: 1,
        issuer: "arn:aws:iam::111122223333:user/default/admin".into(),
    }
}

#[test]
fn grants_are_kept_across_restarts_once_each_and_go_with_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let store = LocalStore::open(dir.path()).unwrap();
    let key = rt.block_on(store.create_key(KeyRecord::test(1))).unwrap();
    let mut other = KeyRecord::test(1);
    other.key_id = KeyId::from_bytes([9; 16]);
    let other = rt.block_on(store.create_key(other)).unwrap();
    let a = rt
        .block_on(store.create_grant(grant(key.key_id, 'a', Some("app"))))
        .unwrap();
    // The same named request again: the grant made before.
    let again = rt
        .block_on(store.create_grant(grant(key.key_id, 'b', Some("app"))))
        .unwrap();
    assert_eq!(again, a);
    rt.block_on(store.create_grant(grant(key.key_id, 'c', None)))
        .unwrap();
    rt.block_on(store.create_grant(grant(other.key_id, 'd', None)))
        .unwrap();
    let gone = KeyId::from_bytes([0xee; 16]);
    assert!(matches!(
        rt.block_on(store.create_grant(grant(gone, 'e', None))),
        Err(StoreError::NotFound(_))
    ));
    drop(store);

    let store = LocalStore::open(dir.path()).unwrap();
    let ids = |grants: Vec<GrantRecord>| -> Vec<char> {
        grants
            .iter()
            .map(|g| g.grant_id.chars().next().unwrap())
            .collect()
    };
    assert_eq!(
        ids(rt.block_on(store.grants(key.key_id)).unwrap()),
        ['a', 'c']
    );
    assert_eq!(ids(rt.block_on(store.all_grants()).unwrap()).len(), 3);
    rt.block_on(store.delete_grant(key.key_id, &"a".repeat(64)))
        .unwrap();
    assert!(matches!(
        rt.block_on(store.delete_grant(key.key_id, &"a".repeat(64))),
        Err(StoreError::NotFound(_))
    ));
    assert!(
        matches!(
            rt.block_on(store.delete_grant(key.key_id, &"d".repeat(64))),
            Err(StoreError::NotFound(_))
        ),
        "another key's grant"
    );
    rt.block_on(store.delete_key(key.key_id, key.revision))
        .unwrap();
    drop(store);
    let store = LocalStore::open(dir.path()).unwrap();
    assert_eq!(rt.block_on(store.grants(key.key_id)).unwrap(), []);
    assert_eq!(ids(rt.block_on(store.all_grants()).unwrap()), ['d']);
}

/// A store this version wrote, then changed in `dir` by `change` as a
/// newer version might have; returns the file's bytes after the change.
fn store_changed_by(dir: &Path, change: impl FnOnce(&redb::WriteTransaction)) -> Vec<u8> {
    let store = LocalStore::open(dir).unwrap();
    runtime()
        .block_on(store.create_key(KeyRecord::test(1_700_000_000_000)))
        .unwrap();
    drop(store);
    let path = dir.join(LocalStore::FILE_NAME);
    let db = Database::create(&path).unwrap();
    let txn = db.begin_write().unwrap();
    change(&txn);
    txn.commit().unwrap();
    drop(db);
    std::fs::read(path).unwrap()
}

/// Opening the store in `dir` is refused with a message saying `what`, and
/// the file is left exactly as `before`.
fn refused_unchanged(dir: &Path, before: &[u8], what: &str) {
    let message = LocalStore::open(dir).unwrap_err().to_string();
    assert!(message.contains(what), "{message}");
    assert!(message.contains("a newer kube-kms wrote it"), "{message}");
    let path = dir.join(LocalStore::FILE_NAME);
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        std::fs::read(&path).unwrap() == before,
        "refusing the store wrote to it"
    );
}

#[test]
fn a_record_with_a_field_this_version_would_drop_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let id = KeyRecord::test(1_700_000_000_000).key_id;
    let before = store_changed_by(dir.path(), |txn| {
        let mut keys = txn.open_table(KEYS).unwrap();
        let stored = keys.get(id.to_string().as_str()).unwrap().unwrap();
        let mut record: serde_json::Value = serde_json::from_slice(stored.value()).unwrap();
        drop(stored);
        record["materials"][0]["hsm_slot"] = 7.into();
        let bytes = serde_json::to_vec(&record).unwrap();
        keys.insert(id.to_string().as_str(), bytes.as_slice())
            .unwrap();
    });
    refused_unchanged(
        dir.path(),
        &before,
        &format!("a field `materials.0.hsm_slot` in the record of key {id}"),
    );
}

#[test]
fn a_table_or_meta_entry_this_version_does_not_keep_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let before = store_changed_by(dir.path(), |txn| {
        txn.open_table(TableDefinition::<&str, &[u8]>::new("key_material_expiry"))
            .unwrap();
    });
    refused_unchanged(dir.path(), &before, "a table `key_material_expiry`");

    let dir = tempfile::tempdir().unwrap();
    let before = store_changed_by(dir.path(), |txn| {
        txn.open_table(META)
            .unwrap()
            .insert("root_key_check", b"{}".as_slice())
            .unwrap();
    });
    refused_unchanged(dir.path(), &before, "a meta entry `root_key_check`");
}

#[test]
fn a_store_of_a_later_format_is_refused_untouched_and_this_one_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let before = store_changed_by(dir.path(), |txn| {
        txn.open_table(META)
            .unwrap()
            .insert(compat::FORMAT, b"2".as_slice())
            .unwrap();
    });
    refused_unchanged(
        dir.path(),
        &before,
        "store format 2 (this version reads up to 1)",
    );

    // This version's own format opens, and opening a store that lacks
    // nothing writes nothing.
    let dir = tempfile::tempdir().unwrap();
    let before = store_changed_by(dir.path(), |_| {});
    let store = LocalStore::open(dir.path()).unwrap();
    assert_eq!(runtime().block_on(store.all_keys()).unwrap().len(), 1);
    drop(store);
    let path = dir.path().join(LocalStore::FILE_NAME);
    assert!(std::fs::read(path).unwrap() == before);
}

#[test]
fn a_store_from_before_the_format_was_kept_is_opened_as_format_1() {
    let dir = tempfile::tempdir().unwrap();
    store_changed_by(dir.path(), |txn| {
        txn.open_table(META)
            .unwrap()
            .remove(compat::FORMAT)
            .unwrap();
    });
    let store = LocalStore::open(dir.path()).unwrap();
    assert_eq!(runtime().block_on(store.all_keys()).unwrap().len(), 1);
    drop(store);
    let db = Database::create(dir.path().join(LocalStore::FILE_NAME)).unwrap();
    let txn = db.begin_read().unwrap();
    let meta = txn.open_table(META).unwrap();
    let format = meta.get(compat::FORMAT).unwrap().unwrap();
    assert_eq!(format.value(), b"1");
}
