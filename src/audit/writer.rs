//! Writing the audit trail: the request path hands each [`Call`] to a
//! queue and goes on; one thread turns calls into chained records and
//! appends them, a batch per write. When the writer falls behind (a slow
//! disk), callers wait for room in the queue asynchronously: the request
//! waits, the runtime's threads go on serving everything else. The file is synced once a second and
//! when the log is finished, so a crash loses at most the last second's
//! records, never a record's middle: a line cut short by one is removed
//! when the trail is opened again, and the chain goes on from the last
//! whole record.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::chain::Link;
use super::record::{Call, write};
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
    /// A file, created 0600, continued if it exists.
    File(PathBuf),
    /// Standard output (in a cluster, the container log), a chain per
    /// process start.
    Stdout,
}

enum Message {
    Call(Box<Call>),
    /// Write and sync what is queued, then say so.
    Flush(oneshot::Sender<()>),
}

/// The handle the endpoint records calls with.
#[derive(Clone)]
pub struct AuditLog {
    queue: mpsc::Sender<Message>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditLog")
    }
}

impl AuditLog {
    /// Opens the trail at `destination` and starts its writer thread.
    pub fn open(destination: &Destination, arn: ArnConfig) -> std::io::Result<AuditLog> {
        let (out, file, link): (Box<dyn Write + Send>, _, _) = match destination {
            Destination::Stdout => (Box::new(std::io::stdout()), None, Link::genesis()),
            Destination::File(path) => {
                let (file, link) = open_trail(path)?;
                let synced = file.try_clone()?;
                (Box::new(file), Some(synced), link)
            }
        };
        AuditLog::start(out, file, link, arn, QUEUE)
    }

    /// Starts the writer thread appending to `out` (and syncing `file`)
    /// after `link`, with room for `queue` calls.
    fn start(
        out: Box<dyn Write + Send>,
        file: Option<File>,
        link: Link,
        arn: ArnConfig,
        queue: usize,
    ) -> std::io::Result<AuditLog> {
        let (queue, calls) = mpsc::channel(queue);
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || write_records(calls, out, file, link, arn))?;
        Ok(AuditLog { queue })
    }

    /// Queues `call` for the trail; waits only while the queue is full.
    pub async fn record(&self, call: Call) {
        // Only a writer that died (its error is logged) closes the queue.
        let _ = self.queue.send(Message::Call(Box::new(call))).await;
    }

    /// Returns once every call recorded before it is written and synced.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

/// Opens `path` for appending, after removing a last line a crash cut
/// short; returns the chain's state after its last record.
fn open_trail(path: &Path) -> std::io::Result<(File, Link)> {
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    let mut text = Vec::new();
    file.read_to_end(&mut text)?;
    let whole = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if whole < text.len() {
        tracing::warn!(
            path = %path.display(),
            bytes = text.len() - whole,
            "the audit trail's last line was cut short (a crash while writing it); removing it"
        );
        file.set_len(whole as u64)?;
        file.seek(SeekFrom::End(0))?;
        file.sync_data()?;
    }
    let last = text[..whole.saturating_sub(1)]
        .rsplit(|b| *b == b'\n')
        .next()
        .filter(|l| !l.is_empty());
    let link = match last {
        None => Link::genesis(),
        Some(line) => Link::following(line).ok_or_else(|| {
            std::io::Error::other(format!(
                "{}: its last line is not a chained audit record; move the file aside to start a new trail",
                path.display()
            ))
        })?,
    };
    Ok((file, link))
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

fn write_records(
    mut calls: mpsc::Receiver<Message>,
    mut out: Box<dyn Write + Send>,
    file: Option<File>,
    mut link: Link,
    arn: ArnConfig,
) {
    let mut synced = Instant::now();
    // Written since the last sync: an idle trail is not synced again.
    let mut unsynced = false;
    let mut batch = Vec::with_capacity(256 * 1024);
    let mut flushed = Vec::new();
    let mut time = EventTime::default();
    // Only to wait for the queue with a timeout; the writing is blocking.
    let waiting = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "the audit writer could not start; no records are written");
            return;
        }
    };
    loop {
        let next = waiting.block_on(async { tokio::time::timeout(SYNC_EVERY, calls.recv()).await });
        let first = match next {
            Ok(Some(Message::Call(call))) => {
                // Let a batch gather: one wake-up and one write for many
                // calls, rather than one each.
                std::thread::sleep(BATCH_WINDOW);
                Some(Message::Call(call))
            }
            Ok(Some(flush)) => Some(flush),
            Err(_elapsed) => None,
            Ok(None) => break,
        };
        for message in first
            .into_iter()
            .chain(std::iter::from_fn(|| calls.try_recv().ok()))
        {
            match message {
                Message::Call(call) => {
                    let start = batch.len();
                    write(&call, &arn, time.at(call.time), link.fields(), &mut batch);
                    link.advance(&batch[start..]);
                    batch.push(b'\n');
                }
                Message::Flush(done) => flushed.push(done),
            }
            if batch.len() >= 1024 * 1024 {
                break;
            }
        }
        let wrote = out.write_all(&batch).and_then(|()| out.flush());
        unsynced |= !batch.is_empty();
        batch.clear();
        let due = unsynced && (!flushed.is_empty() || synced.elapsed() >= SYNC_EVERY);
        let synced_now = match (&wrote, &file) {
            (Ok(()), Some(file)) if due => file.sync_data(),
            _ => Ok(()),
        };
        if let Err(e) = wrote.and(synced_now) {
            // Refusing calls we cannot account for would be safer still,
            // but would take the endpoint down with a disk; say so loudly.
            tracing::error!(error = %e, "audit records could not be written");
        }
        if due {
            synced = Instant::now();
            unsynced = false;
        }
        for done in flushed.drain(..) {
            let _ = done.send(());
        }
    }
    let _ = out.flush();
    if let Some(file) = &file {
        let _ = file.sync_data();
    }
}

#[cfg(test)]
mod tests;
