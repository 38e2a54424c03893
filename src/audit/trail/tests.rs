//! Rotation against real files.

use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::api::ArnConfig;
use crate::audit::chain::{Verified, verify};
use crate::audit::record::tests::call;
use crate::audit::{AuditLog, Call, Destination};

/// The trail's files, rotated ones first, read one after another.
fn whole_trail(path: &Path) -> (Vec<PathBuf>, Verified) {
    let mut files = rotated(path).unwrap();
    files.push(path.to_owned());
    let text: Vec<u8> = files
        .iter()
        .flat_map(|f| std::fs::read(f).unwrap())
        .collect();
    let verified = verify(text.as_slice())
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&text)));
    (files, verified)
}

/// Records `n` calls, each batch of `per_batch` written before the next.
async fn record(log: &AuditLog, n: usize, per_batch: usize) {
    for i in 0..n {
        log.record(call("Encrypt")).await;
        if (i + 1) % per_batch == 0 {
            log.flush().await;
        }
    }
    log.flush().await;
}

#[tokio::test]
async fn a_full_file_is_rotated_and_the_chain_goes_on_across_files_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    // A few records per file.
    let rotation = Rotation {
        max_bytes: 1500,
        keep: 0,
    };
    let destination = Destination::File(path.clone(), rotation);
    let log = AuditLog::open(&destination, ArnConfig::default()).unwrap();
    record(&log, 20, 2).await;
    drop(log);
    let (files, trail) = whole_trail(&path);
    assert!(files.len() >= 4, "rotated: {files:?}");
    assert_eq!(
        (
            trail.records,
            trail.chains,
            trail.first_sequence,
            trail.last_sequence
        ),
        (20, 1, 1, 20)
    );
    for file in &files[..files.len() - 1] {
        let size = std::fs::metadata(file).unwrap().len();
        assert!(size >= 1500, "{} rotated at {size} bytes", file.display());
        assert_eq!(
            std::fs::metadata(file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // No record split across files.
        assert!(std::fs::read(file).unwrap().ends_with(b"\n"));
    }

    // Just rotated, then stopped: the next start finds its file empty and
    // goes on from the newest rotated one, not from a new chain.
    let log = AuditLog::open(&destination, ArnConfig::default()).unwrap();
    record(&log, 3, 3).await;
    drop(log);
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        0,
        "rotated after the batch"
    );
    let log = AuditLog::open(&destination, ArnConfig::default()).unwrap();
    record(&log, 1, 1).await;
    drop(log);
    let (_, trail) = whole_trail(&path);
    assert_eq!(
        (trail.records, trail.chains, trail.last_sequence),
        (24, 1, 24)
    );
}

#[tokio::test]
async fn only_the_newest_rotated_files_are_kept_when_a_count_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    // Not a rotated file of this trail: never touched.
    let other = dir.path().join("audit.jsonl.bak");
    std::fs::write(&other, b"keep me\n").unwrap();
    let rotation = Rotation {
        max_bytes: 1500,
        keep: 2,
    };
    let log = AuditLog::open(
        &Destination::File(path.clone(), rotation),
        ArnConfig::default(),
    )
    .unwrap();
    record(&log, 30, 2).await;
    drop(log);
    let (files, trail) = whole_trail(&path);
    assert_eq!(files.len(), 3, "two rotated and the current: {files:?}");
    assert!(
        trail.first_sequence > 1,
        "the oldest records went with their files"
    );
    assert_eq!((trail.chains, trail.last_sequence), (1, 30));
    assert_eq!(std::fs::read(&other).unwrap(), b"keep me\n");
}

#[test]
fn rotated_names_sort_in_the_order_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let rotation = Rotation {
        max_bytes: 1,
        keep: 0,
    };
    let (mut trail, _) = TrailFile::open(&path, rotation).unwrap();
    let now = 1_800_000_000_123;
    let mut names = Vec::new();
    for i in 0..12 {
        trail.write_all(format!("{i}\n").as_bytes()).unwrap();
        // Eleven in the same millisecond, then one a second later.
        let at = if i == 11 { now + 1000 } else { now };
        trail.rotate_if_full(at).unwrap();
        names.push(format!("{i}\n"));
    }
    let files = rotated(&path).unwrap();
    assert_eq!(
        files[0].file_name().unwrap(),
        "audit.jsonl.20270115T080000123Z"
    );
    assert_eq!(
        files[10].file_name().unwrap(),
        "audit.jsonl.20270115T080000123Z-10"
    );
    let contents: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    assert_eq!(contents, names, "oldest first, -10 after -9");

    // The clock stepped back an hour: the next name still sorts last.
    trail.write_all(b"after the step\n").unwrap();
    trail.rotate_if_full(now - 3_600_000).unwrap();
    let files = rotated(&path).unwrap();
    assert_eq!(
        files.last().unwrap().file_name().unwrap(),
        "audit.jsonl.20270115T080001123Z-1"
    );
    assert_eq!(
        std::fs::read_to_string(files.last().unwrap()).unwrap(),
        "after the step\n"
    );
    assert_eq!(rotation_order("20270115T080000123Z.gz"), None);
    assert_eq!(rotation_order("bak"), None);
}

#[tokio::test]
async fn a_trail_is_continued_from_its_end_past_long_records_and_a_long_cut_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let destination = Destination::File(path.clone(), Rotation::NEVER);
    let log = AuditLog::open(&destination, ArnConfig::default()).unwrap();
    record(&log, 3, 3).await;
    // A record longer than the blocks the end is read in (a policy of
    // 200 KB is in its parameters), then a crash in the middle of another.
    let policy = "x".repeat(200 * 1024);
    let body = serde_json::to_vec(&serde_json::json!({"KeyId": "k", "Policy": policy})).unwrap();
    log.record(Call {
        parameters: crate::audit::RequestParameters::of_body(&body[..]),
        ..call("PutKeyPolicy")
    })
    .await;
    log.flush().await;
    drop(log);
    let whole = std::fs::metadata(&path).unwrap().len();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(&[b'{'; 150 * 1024]).unwrap();

    let log = AuditLog::open(&destination, ArnConfig::default()).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        whole,
        "the cut line removed"
    );
    record(&log, 1, 1).await;
    drop(log);
    let (_, trail) = whole_trail(&path);
    assert_eq!(
        (trail.records, trail.chains, trail.last_sequence),
        (5, 1, 5)
    );
}
