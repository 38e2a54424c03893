//! The writer against real files.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use super::*;
use crate::audit::chain::verify;
use crate::audit::record::tests::call;

fn written(path: &Path) -> crate::audit::chain::Verified {
    let text = std::fs::read(path).unwrap();
    verify(text.as_slice()).unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&text)))
}

#[tokio::test]
async fn records_are_chained_across_restarts_and_a_cut_line_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let destination = Destination::File(path.clone(), Rotation::NEVER);
    let log = AuditLog::open(&destination, ArnConfig::default()).unwrap();
    for op in ["CreateKey", "Encrypt", "Decrypt"] {
        log.record(call(op)).await;
    }
    log.flush().await;
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
    log.record(call("GenerateDataKey")).await;
    log.flush().await;
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
    let error = AuditLog::open(
        &Destination::File(path.clone(), Rotation::NEVER),
        ArnConfig::default(),
    )
    .expect_err("not a trail");
    assert!(error.to_string().contains("move the file aside"), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), b"some other log\n");
}

/// Output that takes nothing until it is opened, like a disk that stalls.
#[derive(Clone)]
struct Stalled {
    open: Arc<(Mutex<bool>, Condvar)>,
    /// Set once the writer waits in it.
    stalled: Arc<AtomicBool>,
    written: Arc<Mutex<Vec<u8>>>,
}

impl Write for Stalled {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.stalled.store(true, Ordering::SeqCst);
        let (open, opened) = &*self.open;
        let _open = opened
            .wait_while(open.lock().unwrap(), |open| !*open)
            .unwrap();
        self.written.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn callers_wait_for_a_stalled_writer_without_holding_the_runtime() {
    let out = Stalled {
        open: Arc::default(),
        stalled: Arc::default(),
        written: Arc::default(),
    };
    let log = AuditLog::start(
        Sink::Stream(Box::new(out.clone())),
        Link::genesis(),
        ArnConfig::default(),
        1,
    )
    .unwrap();
    let (said, heard) = std::sync::mpsc::channel();
    // One thread runs everything, so a caller that blocked it would stop
    // the timer below as well; the test thread only listens.
    let runtime = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            log.record(call("CreateKey")).await;
            while !out.stalled.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            // The writer holds the first call and takes no more: one more
            // fits the queue, the next waits.
            let callers = tokio::spawn({
                let log = log.clone();
                async move {
                    for _ in 0..3 {
                        log.record(call("Encrypt")).await;
                    }
                }
            });
            tokio::time::sleep(Duration::from_millis(100)).await;
            said.send(callers.is_finished()).unwrap();
            let (open, opened) = &*out.open;
            *open.lock().unwrap() = true;
            opened.notify_all();
            callers.await.unwrap();
            log.flush().await;
        });
    });
    let finished = heard
        .recv_timeout(Duration::from_secs(10))
        .expect("the runtime went on while the writer was stalled");
    assert!(
        !finished,
        "three calls cannot fit a queue of one while nothing is written"
    );
    runtime.join().unwrap();
    let written = out.written.lock().unwrap().clone();
    let trail = verify(written.as_slice()).unwrap();
    assert_eq!((trail.records, trail.last_sequence), (4, 4));
}

/// A disk that refuses every write.
struct Refusing;

impl Write for Refusing {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("no space left on device"))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The writer's counters as Prometheus shows them, after `calls` calls.
async fn counted(out: Sink, calls: usize) -> String {
    let log = AuditLog::start(out, Link::genesis(), ArnConfig::default(), 16).unwrap();
    let registry = prometheus::Registry::new();
    log.register(&registry);
    for _ in 0..calls {
        log.record(call("Encrypt")).await;
    }
    log.flush().await;
    prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap()
}

#[tokio::test]
async fn the_writer_counts_records_written_and_failures() {
    let text = counted(Sink::Stream(Box::new(std::io::sink())), 3).await;
    assert!(text.contains("kubekms_audit_records_total 3\n"), "{text}");
    assert!(
        text.contains("kubekms_audit_write_failures_total 0\n"),
        "{text}"
    );
    let text = counted(Sink::Stream(Box::new(Refusing)), 3).await;
    assert!(text.contains("kubekms_audit_records_total 0\n"), "{text}");
    let failures: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("kubekms_audit_write_failures_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(failures >= 1, "{text}");
}

/// A writer that fails as a bug would.
struct Panicking;

impl Write for Panicking {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        panic!("a bug in the writer");
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn records_lost_to_a_dead_writer_are_failures() {
    let log = AuditLog::start(
        Sink::Stream(Box::new(Panicking)),
        Link::genesis(),
        ArnConfig::default(),
        16,
    )
    .unwrap();
    // The first call takes the writer down; the next find the queue stopped.
    log.record(call("Encrypt")).await;
    while !log.inner.queue.is_stopped() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    log.record(call("Encrypt")).await;
    log.record(call("Decrypt")).await;
    assert_eq!(log.inner.counters.failures.get(), 2);
}

/// What piled up while the disk stalled is taken as one batch, but still
/// written about a mebibyte at a time, the trail rotated between writes:
/// a file outgrows its limit by at most one write.
#[test]
fn a_large_batch_is_written_a_mebibyte_at_a_time_rotating_between() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let rotation = Rotation {
        max_bytes: 1,
        keep: 0,
    };
    let (trail, link) = TrailFile::open(&path, rotation).unwrap();
    let mut writer = Writer {
        out: Sink::Trail(trail),
        link,
        counters: Counters::new(),
        batch: Vec::new(),
        synced: Instant::now(),
        unsynced: false,
    };
    let mut one = Vec::new();
    let arn = ArnConfig::default();
    write_unlinked(&call("Encrypt"), &arn, "2027-01-15T08:00:00Z", &mut one);
    let n = 3 * WRITE_SIZE / one.len() + 1;
    let mut lines = Vec::new();
    for _ in 0..n {
        lines.extend_from_slice(&one);
        lines.push(b'\n');
    }
    assert!(writer.append(&lines));
    writer.sync_if_due(true, true);
    assert_eq!(writer.counters.records.get(), n as u64);
    let mut files = crate::audit::trail::rotated(&path).unwrap();
    files.push(path.clone());
    assert!(files.len() >= 4, "{files:?}");
    let mut text = Vec::new();
    for file in &files {
        let size = std::fs::metadata(file).unwrap().len() as usize;
        // A write ends with the record that took it past WRITE_SIZE, and
        // each record carries its link (under 200 bytes).
        assert!(size < WRITE_SIZE + one.len() + 200, "{file:?}: {size}");
        text.extend(std::fs::read(file).unwrap());
    }
    let trail = verify(text.as_slice()).unwrap();
    assert_eq!((trail.records, trail.chains), (n as u64, 1));
}
