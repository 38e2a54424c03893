//! The writer against real files.

use std::os::unix::fs::PermissionsExt;

use bytes::Bytes;

use super::*;
use crate::audit::chain::verify;
use crate::request_id::RequestId;

fn call(operation: &str) -> Call {
    Call {
        event_source: crate::audit::record::ENDPOINT,
        time: 1_800_000_000_000,
        operation: operation.into(),
        request_id: RequestId::next(),
        caller: Some(("default".into(), "tester".into())),
        source: None,
        user_agent: None,
        body: Bytes::from_static(br#"{"KeyId":"alias/app","Plaintext":"c2VjcmV0"}"#),
        keys: Vec::new(),
        error: None,
    }
}

fn written(path: &Path) -> crate::audit::chain::Verified {
    let text = std::fs::read(path).unwrap();
    verify(text.as_slice()).unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&text)))
}

#[test]
fn records_are_chained_across_restarts_and_a_cut_line_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let destination = Destination::File(path.clone());
    let log = AuditLog::open(&destination, ArnConfig::default()).unwrap();
    for op in ["CreateKey", "Encrypt", "Decrypt"] {
        log.record(call(op));
    }
    log.flush();
    let first = written(&path);
    assert_eq!((first.records, first.last_sequence), (3, 3));
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("c2VjcmV0"), "no plaintext in the trail");
    drop(log);

    // A crash in the middle of a line; the next start removes it and goes on.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"{\"eventName\":\"Enc")
        .unwrap();
    let log = AuditLog::open(&destination, ArnConfig::default()).unwrap();
    log.record(call("GenerateDataKey"));
    log.flush();
    let second = written(&path);
    assert_eq!(
        (second.records, second.first_sequence, second.last_sequence),
        (4, 1, 4)
    );
}

#[test]
fn a_trail_whose_last_line_is_not_ours_is_not_continued() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    std::fs::write(&path, b"some other log\n").unwrap();
    let error = AuditLog::open(&Destination::File(path.clone()), ArnConfig::default())
        .expect_err("not a trail");
    assert!(error.to_string().contains("move the file aside"), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), b"some other log\n");
}
