//! Connections that never start their request: a stream wrapper that fails the first read
//! when nothing has arrived by a deadline, and the acceptor that applies it.
//!
//! Hyper's header-read timeout covers a request once its first bytes are in, but hyper-util's
//! HTTP/1-or-2 detection (which axum-server always goes through) waits for those first bytes
//! with no limit, so a TCP connection that sends nothing would stay open for good.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Wraps what `inner` accepts in [`FirstBytesWithin`].
#[derive(Clone, Debug)]
pub struct DeadlineAcceptor<A> {
    inner: A,
    timeout: Duration,
}

impl<A> DeadlineAcceptor<A> {
    pub fn new(inner: A, timeout: Duration) -> Self {
        Self { inner, timeout }
    }
}

impl<I, S, A> Accept<I, S> for DeadlineAcceptor<A>
where
    A: Accept<I, S>,
    A::Future: Send + 'static,
    A::Stream: Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = FirstBytesWithin<A::Stream>;
    type Service = A::Service;
    type Future =
        Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send + 'static>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let accepted = self.inner.accept(stream, service);
        let timeout = self.timeout;
        Box::pin(async move {
            let (stream, service) = accepted.await?;
            Ok((FirstBytesWithin::new(stream, timeout), service))
        })
    }
}

/// A stream whose reads fail with `TimedOut` if its first bytes have not arrived within
/// the deadline; after that it is the stream itself.
pub struct FirstBytesWithin<S> {
    inner: S,
    /// Until the first bytes arrive.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<S> FirstBytesWithin<S> {
    pub fn new(inner: S, timeout: Duration) -> Self {
        Self {
            inner,
            deadline: Some(Box::pin(tokio::time::sleep(timeout))),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FirstBytesWithin<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        match (&read, self.deadline.as_mut()) {
            (Poll::Ready(Ok(())), Some(_)) if buf.filled().len() > before => {
                self.deadline = None;
                read
            }
            (Poll::Pending, Some(deadline)) => match deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no request within the header timeout",
                ))),
                Poll::Pending => Poll::Pending,
            },
            _ => read,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FirstBytesWithin<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::FirstBytesWithin;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn silence_past_the_deadline_fails_the_read_and_bytes_in_time_lift_it() {
        let (client, server) = tokio::io::duplex(64);
        let mut silent = FirstBytesWithin::new(server, Duration::from_millis(200));
        let mut buf = [0u8; 8];
        let err = silent.read(&mut buf).await.expect_err("nothing came");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        drop(client);

        let (mut client, server) = tokio::io::duplex(64);
        let mut talker = FirstBytesWithin::new(server, Duration::from_millis(200));
        client.write_all(b"GET").await.expect("write");
        assert_eq!(talker.read(&mut buf).await.expect("read"), 3);
        // Past the deadline, later silence is the HTTP layer's business, not this one's.
        tokio::time::sleep(Duration::from_millis(400)).await;
        client.write_all(b" /").await.expect("write");
        assert_eq!(talker.read(&mut buf).await.expect("read"), 2);
    }
}
