//! Writing the audit trail: the request path writes each [`Call`]'s record
//! (all but its link) and queues it (`queue`); one thread chains the
//! records and appends them, a batch per write. When the writer falls
//! behind (a slow disk), callers wait for room in the queue asynchronously:
//! the request waits, the runtime's threads go on serving everything else.
//! A file is synced once a second and when the log is finished, so a crash
//! loses at most the last second's records, never a record's middle: a line
//! cut short by one is removed when the trail is opened again, and the
//! chain goes on from the last whole record (`trail`).

use std::cell::RefCell;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use prometheus::{IntCounter, Registry};

use super::chain::Link;
use super::queue::{Queue, Refused, Taken};
use super::record::{Call, write_unlinked};
use super::trail::{Rotation, TrailFile};
use crate::api::ArnConfig;
use crate::key::Millis;
use crate::operator::key_status::rfc3339;

/// Calls waiting to be written before the request path waits for the
/// writer (a disk that cannot keep up slows requests; none is dropped).
const QUEUE: usize = 16 * 1024;
const SYNC_EVERY: Duration = Duration::from_secs(1);
/// How long the writer lets calls gather after the first of a batch.
const BATCH_WINDOW: Duration = Duration::from_millis(2);

/// Where records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A file, created 0600, continued if it exists, rotated as told.
    File(PathBuf, Rotation),
    /// Standard output (in a cluster, the container log), a chain per
    /// process start.
    Stdout,
}

/// The handle the endpoint records calls with.
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

struct Inner {
    queue: Arc<Queue>,
    counters: Counters,
    arn: ArnConfig,
}

impl Drop for Inner {
    /// The last handle is gone: the writer writes what is queued and ends.
    fn drop(&mut self) {
        self.queue.close();
    }
}

/// What the writer did, for Prometheus: an alert on failures is how an
/// operator learns that records are not reaching the disk.
#[derive(Clone)]
struct Counters {
    records: IntCounter,
    failures: IntCounter,
    /// Whether a caller has found the writer stopped (said once).
    stopped: Arc<AtomicBool>,
}

impl Counters {
    fn new() -> Counters {
        Counters {
            records: IntCounter::new(
                "kubekms_audit_records_total",
                "Audit records written (a file's are synced within a second)",
            )
            .expect("valid metric"),
            failures: IntCounter::new(
                "kubekms_audit_write_failures_total",
                "Failed writes, syncs and rotations of the audit trail, and calls lost to a \
                 stopped writer; records may be lost",
            )
            .expect("valid metric"),
            stopped: Arc::default(),
        }
    }
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditLog")
    }
}

impl AuditLog {
    /// Opens the trail at `destination` and starts its writer thread.
    pub fn open(destination: &Destination, arn: ArnConfig) -> std::io::Result<AuditLog> {
        let (out, link) = match destination {
            Destination::Stdout => (Sink::Stream(Box::new(std::io::stdout())), Link::genesis()),
            Destination::File(path, rotation) => {
                let (trail, link) = TrailFile::open(path, *rotation)?;
                (Sink::Trail(trail), link)
            }
        };
        AuditLog::start(out, link, arn, QUEUE)
    }

    /// Starts the writer thread appending to `out` after `link`, with room
    /// for `queue` calls.
    fn start(out: Sink, link: Link, arn: ArnConfig, queue: usize) -> std::io::Result<AuditLog> {
        let queue = Arc::new(Queue::new(queue));
        let counters = Counters::new();
        let (taking, counted) = (queue.clone(), counters.clone());
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || write_records(&taking, out, link, counted))?;
        Ok(AuditLog {
            inner: Arc::new(Inner {
                queue,
                counters,
                arn,
            }),
        })
    }

    /// Adds the writer's counters to `registry`.
    pub fn register(&self, registry: &Registry) {
        let counters = &self.inner.counters;
        let _ = registry.register(Box::new(counters.records.clone()));
        let _ = registry.register(Box::new(counters.failures.clone()));
    }

    /// Queues the record of `call` for the trail; waits only while the
    /// queue is full. The record is written here, on the caller's thread,
    /// all but its link, which only the writer knows.
    pub async fn record(&self, call: Call<'_>) {
        thread_local! {
            static LINE: RefCell<(EventTime, Vec<u8>)> = RefCell::default();
        }
        let inner = &*self.inner;
        let queued = LINE.with_borrow_mut(|(time, line)| {
            line.clear();
            write_unlinked(&call, &inner.arn, time.at(call.time), line);
            let queued = inner.queue.push(line).map_err(|refused| match refused {
                Refused::Full => Some(line.clone()),
                Refused::Stopped => None,
            });
            // A record with a 32 KiB policy in it does not keep its room.
            line.shrink_to(64 * 1024);
            queued
        });
        let stopped = match queued {
            Ok(()) => false,
            Err(Some(line)) => inner.queue.push_waiting(&line).await.is_err(),
            Err(None) => true,
        };
        // Only a writer that died (a panic) stops the queue: each record
        // lost to it is a failure, so an alert sees it.
        if stopped {
            if !inner.counters.stopped.swap(true, Ordering::Relaxed) {
                tracing::error!("the audit writer has stopped; calls are no longer recorded");
            }
            inner.counters.failures.inc();
        }
    }

    /// Returns once every call recorded before it is written and synced.
    pub async fn flush(&self) {
        if let Some(done) = self.inner.queue.flush() {
            let _ = done.await;
        }
    }
}

/// The event time of records made in one second, formatted once.
#[derive(Default)]
struct EventTime {
    second: Option<i64>,
    text: String,
}

impl EventTime {
    fn at(&mut self, millis: Millis) -> &str {
        let second = millis.div_euclid(1000);
        if self.second != Some(second) {
            self.second = Some(second);
            self.text = rfc3339(second * 1000);
        }
        &self.text
    }
}

/// Where the writer appends batches of lines.
enum Sink {
    /// Standard output, or a test's writer: never synced or rotated.
    Stream(Box<dyn Write + Send>),
    Trail(TrailFile),
}

impl Sink {
    fn append(&mut self, lines: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Stream(out) => out.write_all(lines).and_then(|()| out.flush()),
            Sink::Trail(trail) => trail.write_all(lines),
        }
    }

    fn sync(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Stream(out) => out.flush(),
            Sink::Trail(trail) => trail.sync(),
        }
    }

    fn rotate_if_full(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Stream(_) => Ok(()),
            Sink::Trail(trail) => trail.rotate_if_full(crate::key::now_millis()),
        }
    }
}

/// Stops the queue when the writer ends, by a panic too.
struct Stopping<'a>(&'a Queue);

impl Drop for Stopping<'_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

fn write_records(queue: &Queue, out: Sink, link: Link, counters: Counters) {
    let _stopping = Stopping(queue);
    let mut writer = Writer {
        out,
        link,
        counters,
        batch: Vec::with_capacity(256 * 1024),
        synced: Instant::now(),
        unsynced: false,
    };
    let mut taken = Vec::with_capacity(256 * 1024);
    loop {
        let Taken {
            flushes, closed, ..
        } = queue.take(&mut taken, SYNC_EVERY, BATCH_WINDOW);
        let wrote = writer.append(&taken);
        taken.clear();
        // What a stalled disk let pile up is not kept for good.
        taken.shrink_to(KEPT_CAPACITY);
        writer.sync_if_due(wrote, !flushes.is_empty());
        for done in flushes {
            let _ = done.send(());
        }
        if closed {
            break;
        }
    }
    let _ = writer.out.sync();
}

/// Bytes written at once, at most (and a record): the trail is rotated
/// between writes, so it outgrows its size by no more than this.
const WRITE_SIZE: usize = 1024 * 1024;
/// Capacity the taken batch keeps after a larger one (the chained batch
/// never outgrows a write: it is written at [`WRITE_SIZE`]).
const KEPT_CAPACITY: usize = 4 * 1024 * 1024;

/// The writer thread's state between batches.
struct Writer {
    out: Sink,
    link: Link,
    counters: Counters,
    /// Chained records not yet written.
    batch: Vec<u8>,
    synced: Instant,
    /// Written since the last sync: an idle trail is not synced again.
    unsynced: bool,
}

impl Writer {
    /// Chains `lines` (records without their links, each ended by a
    /// newline) and appends them; whether every write succeeded.
    fn append(&mut self, lines: &[u8]) -> bool {
        let mut wrote = true;
        let (mut from, mut batched) = (0, 0);
        // A vector at a time: a byte-at-a-time split cost more than the
        // rest of the loop.
        for end in memchr::memchr_iter(b'\n', lines) {
            let start = self.batch.len();
            self.batch.extend_from_slice(&lines[from..end]);
            from = end + 1;
            super::record::link(self.link.fields(), &mut self.batch);
            self.link.advance(&self.batch[start..]);
            self.batch.push(b'\n');
            batched += 1;
            if self.batch.len() >= WRITE_SIZE {
                wrote &= self.write(batched);
                batched = 0;
            }
        }
        // Even with nothing to write: a stream is flushed, a full trail
        // whose rotation failed is tried again.
        self.write(batched) && wrote
    }

    /// Writes the batch of `records`, then rotates the trail if it is full.
    fn write(&mut self, records: u64) -> bool {
        let wrote = self.out.append(&self.batch);
        match &wrote {
            Ok(()) => self.counters.records.inc_by(records),
            Err(e) => {
                self.counters.failures.inc();
                // Refusing calls we cannot account for would be safer
                // still, but would take the endpoint down with a disk;
                // say so loudly.
                tracing::error!(error = %e, "audit records could not be written");
            }
        }
        self.unsynced |= !self.batch.is_empty();
        self.batch.clear();
        if let Err(e) = self.out.rotate_if_full() {
            self.counters.failures.inc();
            tracing::error!(error = %e, "the audit trail could not be rotated; records go on into the full file");
        }
        wrote.is_ok()
    }

    /// Syncs what was written, once a second or when a caller asks; not
    /// after a failed write.
    fn sync_if_due(&mut self, wrote: bool, asked: bool) {
        if !self.unsynced || !asked && self.synced.elapsed() < SYNC_EVERY {
            return;
        }
        if wrote && let Err(e) = self.out.sync() {
            self.counters.failures.inc();
            tracing::error!(error = %e, "audit records could not be synced");
        }
        self.synced = Instant::now();
        self.unsynced = false;
    }
}

#[cfg(test)]
mod tests;
