//! Who may hold a TCP connection, and for how long before saying anything: an acceptor that
//! caps the connections one address (an IPv6 /64) holds open, and a stream wrapper that fails
//! the first read when nothing has arrived by a deadline.
//!
//! Hyper's header-read timeout covers a request once its first bytes are in, but hyper-util's
//! HTTP/1-or-2 detection (which axum-server always goes through) waits for those first bytes
//! with no limit, so a TCP connection that sends nothing would stay open for good. And the
//! WebSocket cap per address counts only connections that finished their upgrade.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use crate::limits::ConnectionCounts;

/// Admits a TCP connection when its address holds fewer than `cap`, and hands what `inner`
/// accepts on in [`FirstBytesWithin`]; one over the cap is closed at once.
#[derive(Clone, Debug)]
pub struct Admission<A> {
    inner: A,
    timeout: Duration,
    cap: usize,
    open: Arc<Mutex<ConnectionCounts>>,
}

impl<A> Admission<A> {
    pub fn new(inner: A, timeout: Duration, cap: usize) -> Self {
        Self {
            inner,
            timeout,
            cap,
            open: Arc::default(),
        }
    }
}

impl<S, A> Accept<TcpStream, S> for Admission<A>
where
    A: Accept<TcpStream, S>,
    A::Future: Send + 'static,
    A::Stream: Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = FirstBytesWithin<A::Stream>;
    type Service = A::Service;
    type Future =
        Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send + 'static>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let slot = match stream.peer_addr() {
            Ok(peer) => Slot::take(&self.open, peer.ip(), self.cap),
            Err(e) => Err(e),
        };
        let slot = match slot {
            Ok(slot) => slot,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        // Signals are small and each one is waited for: without this, a client's second
        // message in a row waits for the first one's delayed ACK (40 ms on Linux).
        if let Err(e) = stream.set_nodelay(true) {
            return Box::pin(std::future::ready(Err(e)));
        }
        let accepted = self.inner.accept(stream, service);
        let timeout = self.timeout;
        Box::pin(async move {
            let (stream, service) = accepted.await?;
            Ok((FirstBytesWithin::new(stream, timeout, Some(slot)), service))
        })
    }
}

/// One address's place, given back when the connection ends.
#[derive(Debug)]
pub struct Slot {
    open: Arc<Mutex<ConnectionCounts>>,
    ip: IpAddr,
}

impl Slot {
    fn take(open: &Arc<Mutex<ConnectionCounts>>, ip: IpAddr, cap: usize) -> io::Result<Self> {
        let admitted = open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .open(ip, cap);
        if !admitted {
            tracing::debug!(%ip, "too many TCP connections from one address");
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "too many connections from one address",
            ));
        }
        Ok(Self {
            open: Arc::clone(open),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .close(self.ip);
    }
}

/// A stream whose reads fail with `TimedOut` if its first bytes have not arrived within
/// the deadline; after that it is the stream itself.
pub struct FirstBytesWithin<S> {
    inner: S,
    /// Until the first bytes arrive.
    deadline: Option<Pin<Box<Sleep>>>,
    /// The address's place this connection holds, for as long as it lives.
    _slot: Option<Slot>,
}

impl<S> FirstBytesWithin<S> {
    pub fn new(inner: S, timeout: Duration, slot: Option<Slot>) -> Self {
        Self {
            inner,
            deadline: Some(Box::pin(tokio::time::sleep(timeout))),
            _slot: slot,
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
        let mut silent = FirstBytesWithin::new(server, Duration::from_millis(200), None);
        let mut buf = [0u8; 8];
        let err = silent.read(&mut buf).await.expect_err("nothing came");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        drop(client);

        let (mut client, server) = tokio::io::duplex(64);
        let mut talker = FirstBytesWithin::new(server, Duration::from_millis(200), None);
        client.write_all(b"GET").await.expect("write");
        assert_eq!(talker.read(&mut buf).await.expect("read"), 3);
        // Past the deadline, later silence is the HTTP layer's business, not this one's.
        tokio::time::sleep(Duration::from_millis(400)).await;
        client.write_all(b" /").await.expect("write");
        assert_eq!(talker.read(&mut buf).await.expect("read"), 2);
    }
}
