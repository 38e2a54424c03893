//! Closing connections that carry no request for a while, whatever their
//! protocol: a new one before its first request, a keep-alive one between
//! requests, one whose request head is still arriving. (hyper's header read
//! timeout covers those for HTTP/1 only, with a boxed timer per request; an
//! HTTP/2 connection with no stream open would otherwise stay for ever.)

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// What one connection is doing: requests in flight, and when the last one
/// began or ended.
pub struct Activity {
    origin: Instant,
    in_flight: AtomicUsize,
    /// When the last request ended, in milliseconds after `origin`.
    last: AtomicU64,
}

/// A request in flight on a connection, until dropped.
pub struct InFlight(Arc<Activity>);

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Activity {
            origin: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let now = self.origin.elapsed().as_millis() as u64;
        self.last.store(now, Ordering::Relaxed);
    }

    /// A request begins; it counts until the returned guard is dropped
    /// (idleness is measured from the end of the last request, so only the
    /// end reads the clock).
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// How long the connection has had no request in flight, if it has none.
    fn idle_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        Some(self.origin.elapsed().saturating_sub(last))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Drives `connection` to its end, or drops it (closing it) once it has had
/// no request in flight for `limit`: `None` then.
pub async fn serve_until_idle<F: Future>(
    connection: F,
    activity: &Activity,
    limit: Duration,
) -> Option<F::Output> {
    tokio::pin!(connection);
    loop {
        let wait = match activity.idle_for() {
            Some(idle) if idle >= limit => return None,
            Some(idle) => limit - idle,
            None => limit,
        };
        tokio::select! {
            out = &mut connection => return Some(out),
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_connection_is_dropped_after_the_limit_without_requests_and_not_during_one() {
        let limit = Duration::from_secs(30);
        let activity = Activity::new();
        let started = Instant::now();
        let never = std::future::pending::<()>();
        assert_eq!(serve_until_idle(never, &activity, limit).await, None);
        assert_eq!(started.elapsed(), limit);

        // A request that takes three limits keeps the connection; after it
        // ends, the limit counts from its end.
        let activity = Activity::new();
        let request = activity.begin();
        let ends = tokio::spawn(async move {
            tokio::time::sleep(limit * 3).await;
            drop(request);
        });
        let started = Instant::now();
        let never = std::future::pending::<()>();
        assert_eq!(serve_until_idle(never, &activity, limit).await, None);
        assert_eq!(started.elapsed(), limit * 4);
        ends.await.unwrap();

        // A connection that ends by itself is not cut short.
        let activity = Activity::new();
        let ends = tokio::time::sleep(limit / 2);
        assert_eq!(serve_until_idle(ends, &activity, limit).await, Some(()));
    }
}
