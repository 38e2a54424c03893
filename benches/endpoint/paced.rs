//! The same request at a fixed offered rate (an open loop): each connection
//! sends on its own schedule whether or not the server keeps up, as
//! independent clients do, so the latency is the server's at that load and
//! not the closed loop's queue (64 connections over the throughput).
//!
//! A request whose connection was still waiting for the previous answer at
//! its scheduled time is timed from that time (the wait is the server's
//! doing: otherwise a slow server would look fast by being asked less
//! often); one sent on a free connection is timed from when it was sent, so
//! the load generator's timer does not count against the server. tokio's
//! timer ticks every millisecond, so the requests due within one tick go
//! out together: small bursts that make every server's tail a little worse,
//! alike.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::{Result_, exchange};

/// What one server did at one offered rate.
pub struct Paced {
    pub result: Result_,
    /// Requests whose connection was still busy at their scheduled time.
    pub late: usize,
}

/// Sends `request` to `addr` at `rate` requests a second in all over
/// `connections` connections for `duration`.
pub async fn load(
    addr: SocketAddr,
    request: Arc<Vec<u8>>,
    connections: usize,
    rate: f64,
    duration: Duration,
) -> Paced {
    let interval = Duration::from_secs_f64(connections as f64 / rate);
    // All connections open before the clock starts.
    let mut streams = Vec::with_capacity(connections);
    for _ in 0..connections {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let _ = stream.set_nodelay(true);
        streams.push(stream);
    }
    let start = Instant::now() + Duration::from_millis(20);
    let end = start + duration;
    let tasks: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(i, mut stream)| {
            let request = request.clone();
            // Connections take turns through each interval.
            let phase = interval.mul_f64(i as f64 / connections as f64);
            tokio::spawn(async move {
                let (mut latencies, mut errors, mut late) = (Vec::new(), 0, 0);
                let mut buffer = Vec::new();
                let mut scheduled = start + phase;
                while scheduled < end {
                    // Here right after the last answer: past the schedule
                    // means the connection was busy when this one was due.
                    let from = if Instant::now() > scheduled {
                        late += 1;
                        scheduled
                    } else {
                        tokio::time::sleep_until(scheduled.into()).await;
                        Instant::now()
                    };
                    match exchange(&mut stream, &request, &mut buffer).await {
                        Ok((200, _)) => latencies.push(from.elapsed()),
                        Ok(_) => errors += 1,
                        Err(_) => {
                            errors += 1;
                            break;
                        }
                    }
                    scheduled += interval;
                }
                (latencies, errors, late)
            })
        })
        .collect();
    let (mut all, mut errors, mut late) = (Vec::new(), 0, 0);
    for task in tasks {
        let (l, e, n) = task.await.unwrap();
        all.extend(l);
        errors += e;
        late += n;
    }
    let seconds = start.elapsed().as_secs_f64().min(duration.as_secs_f64());
    Paced {
        result: Result_::from_latencies(all, errors, seconds),
        late,
    }
}

/// The offered rates, as fractions of serve's closed-loop throughput
/// (KUBE_KMS_BENCH_PACED, comma-separated; default 0.25, 0.5 and 0.75).
pub fn fractions() -> Vec<f64> {
    std::env::var("KUBE_KMS_BENCH_PACED")
        .ok()
        .map(|s| s.split(',').filter_map(|f| f.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![0.25, 0.5, 0.75])
}
