use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinHandle;

use super::*;

const NO_WAIT: Duration = Duration::ZERO;

/// Lines of every length from 0 to 299 bytes, each naming its thread.
fn line(thread: usize, i: usize) -> Vec<u8> {
    let mut line = format!("{thread}:{i}:").into_bytes();
    line.resize(line.len() + i % 300, b'x');
    line
}

#[test]
fn lines_pushed_from_many_threads_arrive_whole_and_once() {
    let queue = Arc::new(Queue::new(usize::MAX));
    let pushers: Vec<_> = (0..4)
        .map(|thread| {
            let queue = queue.clone();
            std::thread::spawn(move || {
                for i in 0..2000 {
                    queue.push(&line(thread, i)).unwrap();
                }
            })
        })
        .collect();
    let mut seen = BTreeSet::new();
    let mut lines = Vec::new();
    let mut records = 0;
    while records < 8000 {
        let taken = queue.take(&mut lines, Duration::from_millis(10), NO_WAIT);
        records += taken.records;
        assert_eq!(
            lines.iter().filter(|&&b| b == b'\n').count() as u64,
            taken.records
        );
        for got in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            assert!(seen.insert(got.to_vec()), "taken twice");
        }
        lines.clear();
    }
    for pusher in pushers {
        pusher.join().unwrap();
    }
    let sent: BTreeSet<_> = (0..4)
        .flat_map(|t| (0..2000).map(move |i| line(t, i)))
        .collect();
    assert_eq!(seen, sent);
}

#[test]
fn a_full_queue_refuses_until_the_writer_takes() {
    let queue = Queue::new(2);
    queue.push(b"a").unwrap();
    queue.push(b"b").unwrap();
    assert_eq!(queue.push(b"c"), Err(Refused::Full));
    let mut lines = Vec::new();
    let taken = queue.take(&mut lines, NO_WAIT, NO_WAIT);
    assert_eq!((taken.records, lines.as_slice()), (2, &b"a\nb\n"[..]));
    queue.push(b"c").unwrap();
}

/// A queue of one holding `first`, and a caller waiting to push `second`.
fn full_with_a_caller_waiting() -> (Arc<Queue>, JoinHandle<Result<(), Refused>>) {
    let queue = Arc::new(Queue::new(1));
    queue.push(b"first").unwrap();
    let waiting = tokio::spawn({
        let queue = queue.clone();
        async move { queue.push_waiting(b"second").await }
    });
    (queue, waiting)
}

#[tokio::test]
async fn a_caller_waiting_for_room_goes_on_when_the_writer_takes() {
    let (queue, waiting) = full_with_a_caller_waiting();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiting.is_finished(), "no room yet");
    let mut lines = Vec::new();
    // From another thread, as the writer's own.
    let taken = std::thread::scope(|s| {
        s.spawn(|| queue.take(&mut lines, NO_WAIT, NO_WAIT))
            .join()
            .unwrap()
    });
    assert_eq!(taken.records, 1);
    assert_eq!(waiting.await.unwrap(), Ok(()));
    lines.clear();
    queue.take(&mut lines, NO_WAIT, NO_WAIT);
    assert_eq!(lines, b"second\n");
}

#[tokio::test]
async fn when_the_writer_stops_callers_are_refused_and_no_one_waits() {
    let (queue, waiting) = full_with_a_caller_waiting();
    let flushed = queue.flush().unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    queue.stop();
    assert_eq!(waiting.await.unwrap(), Err(Refused::Stopped));
    assert!(flushed.await.is_err(), "the flush is answered: never done");
    assert_eq!(queue.push(b"third"), Err(Refused::Stopped));
    assert!(queue.flush().is_none());
}

#[test]
fn the_writer_wakes_for_a_record_a_flush_or_the_close_and_lets_a_batch_gather() {
    let queue = Arc::new(Queue::new(usize::MAX));
    let mut lines = Vec::new();
    // Nothing comes: it waits out its time, and takes nothing.
    let started = Instant::now();
    let taken = queue.take(&mut lines, Duration::from_millis(30), NO_WAIT);
    assert!(started.elapsed() >= Duration::from_millis(30));
    assert_eq!(
        (taken.records, taken.flushes.len(), taken.closed),
        (0, 0, false)
    );
    // A record wakes it at once (not after its 20 s), and what comes
    // within the window joins the batch.
    let pusher = std::thread::spawn({
        let queue = queue.clone();
        move || {
            std::thread::sleep(Duration::from_millis(20));
            queue.push(b"one").unwrap();
            std::thread::sleep(Duration::from_millis(5));
            queue.push(b"two").unwrap();
        }
    });
    let started = Instant::now();
    let taken = queue.take(&mut lines, Duration::from_secs(20), Duration::from_secs(2));
    assert!(started.elapsed() < Duration::from_secs(10));
    pusher.join().unwrap();
    assert_eq!((taken.records, lines.as_slice()), (2, &b"one\ntwo\n"[..]));
    lines.clear();
    // A flush is taken without waiting out the window.
    let _flushed = queue.flush().unwrap();
    let started = Instant::now();
    let taken = queue.take(&mut lines, Duration::from_secs(20), Duration::from_secs(20));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!((taken.records, taken.flushes.len()), (0, 1));
    queue.close();
    let taken = queue.take(&mut lines, Duration::from_secs(20), Duration::from_secs(20));
    assert!(taken.closed);
}
