//! Records on their way to the writer thread. Callers append each record,
//! already written but for its link, to one shared batch; the writer takes
//! the whole batch at once, swapping in an empty buffer. Per call that is a
//! copy under a lock held for nothing else: no message and no allocation,
//! and no call's memory is freed on another thread than allocated it (the
//! writer used to rebuild each record from the call on its own thread).

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};

/// Why a record was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// The writer is behind by the queue's capacity.
    Full,
    /// The writer is gone (a bug took it down).
    Stopped,
}

/// What the writer took.
pub(super) struct Taken {
    pub records: u64,
    /// Callers waiting to hear that these records are written and synced.
    pub flushes: Vec<oneshot::Sender<()>>,
    /// No caller is left: write what was taken, then stop.
    pub closed: bool,
}

pub(super) struct Queue {
    pending: Mutex<Pending>,
    /// Wakes the writer when there is something to take.
    work: Condvar,
    /// Wakes callers waiting for room.
    room: Notify,
    /// Records that may wait before callers wait for room.
    capacity: u64,
}

#[derive(Default)]
struct Pending {
    /// Records without their links, each ended by a newline.
    lines: Vec<u8>,
    records: u64,
    flushes: Vec<oneshot::Sender<()>>,
    closed: bool,
    stopped: bool,
}

impl Pending {
    fn is_idle(&self) -> bool {
        self.records == 0 && self.flushes.is_empty() && !self.closed
    }
}

impl Queue {
    pub fn new(capacity: usize) -> Queue {
        Queue {
            pending: Mutex::default(),
            work: Condvar::new(),
            room: Notify::new(),
            capacity: capacity as u64,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        // Nothing panics while holding it; a poisoned lock holds whole lines.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues one record (no newline in it), unless the queue is full or
    /// the writer gone.
    pub fn push(&self, line: &[u8]) -> Result<(), Refused> {
        debug_assert!(!line.contains(&b'\n'), "a record is one line");
        let mut pending = self.lock();
        if pending.stopped {
            return Err(Refused::Stopped);
        }
        if pending.records >= self.capacity {
            return Err(Refused::Full);
        }
        let wake = pending.is_idle();
        pending.lines.reserve(line.len() + 1);
        pending.lines.extend_from_slice(line);
        pending.lines.push(b'\n');
        pending.records += 1;
        drop(pending);
        // One wake-up per batch: only the writer waits, and only when idle.
        if wake {
            self.work.notify_one();
        }
        Ok(())
    }

    /// Queues one record, waiting (asynchronously) while the queue is full.
    pub async fn push_waiting(&self, line: &[u8]) -> Result<(), Refused> {
        loop {
            // Registered before looking, so room made in between is seen.
            let room = self.room.notified();
            let mut room = std::pin::pin!(room);
            room.as_mut().enable();
            match self.push(line) {
                Err(Refused::Full) => room.await,
                done => return done,
            }
        }
    }

    /// Asks the writer to say when everything queued so far is written and
    /// synced; `None` if it is gone.
    pub fn flush(&self) -> Option<oneshot::Receiver<()>> {
        let (done, wait) = oneshot::channel();
        let mut pending = self.lock();
        if pending.stopped {
            return None;
        }
        pending.flushes.push(done);
        drop(pending);
        self.work.notify_one();
        Some(wait)
    }

    /// No caller is left.
    pub fn close(&self) {
        self.lock().closed = true;
        self.work.notify_one();
    }

    /// The writer is gone: nothing more is queued, no one waits for it.
    pub fn stop(&self) {
        let mut pending = self.lock();
        pending.stopped = true;
        pending.flushes.clear();
        drop(pending);
        self.room.notify_waiters();
    }

    #[cfg(test)]
    pub fn is_stopped(&self) -> bool {
        self.lock().stopped
    }

    /// Waits up to `wait` for something to take; once a record comes, lets
    /// more gather for `window` (one wake-up and one write for many calls,
    /// rather than one each). Then takes everything queued: its lines are
    /// swapped into `lines`, which must be empty.
    pub fn take(&self, lines: &mut Vec<u8>, wait: Duration, window: Duration) -> Taken {
        debug_assert!(lines.is_empty());
        let pending = self.lock();
        let (mut pending, _) = self
            .work
            .wait_timeout_while(pending, wait, |p| p.is_idle())
            .unwrap_or_else(PoisonError::into_inner);
        if pending.records > 0 && pending.flushes.is_empty() && !pending.closed {
            drop(pending);
            std::thread::sleep(window);
            pending = self.lock();
        }
        std::mem::swap(&mut pending.lines, lines);
        let taken = Taken {
            records: std::mem::take(&mut pending.records),
            flushes: std::mem::take(&mut pending.flushes),
            closed: pending.closed,
        };
        drop(pending);
        if taken.records > 0 {
            self.room.notify_waiters();
        }
        taken
    }
}

#[cfg(test)]
mod tests;
