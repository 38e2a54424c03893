use super::*;
use crate::request_id::RequestId;

const T0: Millis = 1_700_000_000_000;

fn key(n: u8) -> KeyId {
    format!("00000000-0000-4000-8000-0000000000{n:02}")
        .parse()
        .unwrap()
}

fn use_at(at: Millis) -> KeyUsage {
    KeyUsage {
        operation: UsedFor::Encrypt,
        at,
        request_id: RequestId::next(),
    }
}

#[test]
fn a_key_is_written_at_once_then_at_most_once_an_hour() {
    let mut throttle = Throttle::default();
    let first = use_at(T0);
    assert_eq!(
        throttle.due(vec![(key(1), first)], T0, false),
        [(key(1), first)]
    );
    throttle.written(key(1), T0);

    // Within the hour: kept, the latest of them, and not written.
    let (a, b) = (use_at(T0 + 1_000), use_at(T0 + 2_000));
    assert_eq!(throttle.due(vec![(key(1), b)], T0 + 10_000, false), []);
    assert_eq!(throttle.due(vec![(key(1), a)], T0 + 20_000, false), []);
    // Another key is not held back by the first one's hour.
    let other = use_at(T0 + 3_000);
    assert_eq!(
        throttle.due(vec![(key(2), other)], T0 + 30_000, false),
        [(key(2), other)]
    );
    // An hour after the write, the latest waiting use goes, with no new use.
    assert_eq!(throttle.due(vec![], T0 + WRITE_EVERY - 1, false), []);
    assert_eq!(throttle.due(vec![], T0 + WRITE_EVERY, false), [(key(1), b)]);
    assert_eq!(throttle.due(vec![], T0 + WRITE_EVERY, false), []);
}

#[test]
fn a_clean_stop_writes_every_waiting_use_and_a_failed_write_waits() {
    let mut throttle = Throttle::default();
    throttle.written(key(1), T0);
    let waiting = use_at(T0 + 5);
    assert_eq!(throttle.due(vec![(key(1), waiting)], T0 + 10, false), []);
    assert_eq!(throttle.due(vec![], T0 + 20, true), [(key(1), waiting)]);

    // A failed write is retried with the next call, unless a later use
    // came meanwhile, which replaces it.
    throttle.forget(key(1));
    let failed = use_at(T0 + 30);
    throttle.retry(key(1), failed);
    let newer = use_at(T0 + 40);
    assert_eq!(
        throttle.due(vec![(key(1), newer)], T0 + 50, false),
        [(key(1), newer)]
    );
    throttle.retry(key(1), failed);
    assert_eq!(throttle.due(vec![], T0 + 60, false), [(key(1), failed)]);
}

#[test]
fn a_use_reads_back_from_the_status_it_is_written_to() {
    let used = KeyUsage {
        operation: UsedFor::GenerateDataKeyPairWithoutPlaintext,
        at: T0 + 123,
        request_id: RequestId::next(),
    };
    let patch = status_patch(&used);
    assert_eq!(
        patch["status"]["lastUsage"]["timestamp"],
        "2023-11-14T22:13:20.123Z"
    );
    assert_eq!(patch["kind"], "KmsKey");
    let mut key: KmsKey = serde_json::from_value(json!({
        "apiVersion": "kubekms.io/v1alpha1", "kind": "KmsKey",
        "metadata": {"name": "app", "namespace": "team-a"},
        "spec": {"keySpec": "SYMMETRIC_DEFAULT", "keyUsage": "ENCRYPT_DECRYPT"},
        "status": {"usageTrackedSince": "2023-11-14T00:00:00Z"},
    }))
    .unwrap();
    key.status.as_mut().unwrap().last_usage =
        serde_json::from_value(patch["status"]["lastUsage"].clone()).unwrap();
    let read = stored(&key);
    assert_eq!(read.last, Some(used));
    assert_eq!(read.since, Some(1_699_920_000_000));

    // Every operation's name reads back as that operation.
    for op in UsedFor::ALL {
        assert_eq!(UsedFor::named(op.as_str()), Some(op));
    }
    // What cannot be read is absent, not an error.
    key.status
        .as_mut()
        .unwrap()
        .last_usage
        .as_mut()
        .unwrap()
        .operation = "Frobnicate".into();
    key.status.as_mut().unwrap().usage_tracked_since = Some("yesterday".into());
    assert_eq!(stored(&key), StoredUsage::default());
}

#[test]
fn a_read_answers_for_a_minute() {
    let mut cache = ReadCache::default();
    let stored = StoredUsage {
        since: Some(T0),
        last: Some(use_at(T0 + 1)),
    };
    assert_eq!(cache.get(key(1), T0), None);
    cache.put(key(1), T0, stored);
    assert_eq!(cache.get(key(1), T0 + READ_FRESH - 1), Some(stored));
    assert_eq!(cache.get(key(1), T0 + READ_FRESH), None);
    assert_eq!(cache.get(key(2), T0), None);
    // A stale entry goes when another key's read is kept.
    cache.put(key(2), T0 + READ_FRESH, StoredUsage::default());
    assert_eq!(cache.read.len(), 1);
}
