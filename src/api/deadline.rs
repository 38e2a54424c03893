//! A request body that must arrive within a time limit.
//!
//! hyper bounds how long a client may take over a request's headers, not
//! its body: a client that sends headers and then trickles the body (or
//! stops) would hold its connection, and a task, for as long as it likes.
//! Bodies here are at most 256 KiB, so a generous limit costs honest
//! clients nothing.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// The error a body yields when its time is up.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimedOut(pub Duration);

/// `body`, failing with [`BodyTimedOut`] once `limit` has passed since the
/// request arrived.
pub struct Deadline<B> {
    body: B,
    limit: Duration,
    deadline: Instant,
    /// Armed only when the body makes us wait: a body that is already in
    /// the read buffer (the usual case) never touches the timer.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<B> Deadline<B> {
    pub fn new(body: B, limit: Duration) -> Self {
        Deadline {
            body,
            limit,
            deadline: Instant::now() + limit,
            timer: None,
        }
    }
}

impl<B> Body for Deadline<B>
where
    B: Body + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => {
                let deadline = this.deadline;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimedOut(this.limit).into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full, StreamBody};

    #[tokio::test]
    async fn a_body_that_is_there_passes_untouched() {
        let body = Deadline::new(Full::new(Bytes::from_static(b"{}")), Duration::ZERO);
        let collected = body.collect().await.unwrap().to_bytes();
        assert_eq!(&collected[..], b"{}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stalls_fails_at_the_limit_and_not_before() {
        // One frame now, then nothing: a client that stopped sending.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
        tx.send(Ok(Frame::data(Bytes::from_static(b"{\"KeyId\""))))
            .await
            .unwrap();
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
        let started = Instant::now();
        let body = Deadline::new(StreamBody::new(stream), Duration::from_secs(30));
        let error = body.collect().await.expect_err("a stalled body fails");
        assert!(error.downcast_ref::<BodyTimedOut>().is_some(), "{error}");
        assert_eq!(started.elapsed(), Duration::from_secs(30));
        drop(tx);
    }
}
