//! A UDP socket for a network stack that lacks the options webrtc-rs's own socket needs.
//!
//! webrtc-rs wraps each UDP socket in quinn-udp, which sets it up for batched I/O first:
//! don't-fragment, the destination address of each datagram (`IP_PKTINFO`), ECN, and on
//! Windows it asks whether an IPv4 socket is IPv6-only. Every Windows Tincan supports answers
//! all of these; Wine 8's Winsock does not know `IPV6_V6ONLY` on an IPv4 socket and says
//! "operation not supported", and then no call could start at all. [`PlainUdp`] sends and
//! receives one datagram at a time with nothing of that, which is all ICE, DTLS and SRTP need;
//! webrtc-rs then does without batching and ECN marks on that socket.

use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::task::{Context, Poll};

use tokio::io::ReadBuf;
use webrtc::runtime::{AsyncUdpSocket, RecvMeta, Transmit};

/// Whether `error`, from setting a socket up, says the network stack lacks an option (rather
/// than that the socket is broken): Winsock's `WSAEOPNOTSUPP` and `WSAENOPROTOOPT`, or an
/// error of kind `Unsupported`.
pub fn lacks_an_option(error: &io::Error) -> bool {
    const WINSOCK_LACKS: [i32; 2] = [10045, 10042];
    error.kind() == io::ErrorKind::Unsupported
        || (cfg!(windows)
            && error
                .raw_os_error()
                .is_some_and(|c| WINSOCK_LACKS.contains(&c)))
}

/// One datagram per call, no socket options.
pub struct PlainUdp {
    io: tokio::net::UdpSocket,
}

impl PlainUdp {
    pub fn new(socket: std::net::UdpSocket) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        Ok(Self {
            io: tokio::net::UdpSocket::from_std(socket)?,
        })
    }
}

impl fmt::Debug for PlainUdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainUdp").field("io", &self.io).finish()
    }
}

impl AsyncUdpSocket for PlainUdp {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }

    /// One datagram: [`max_gso_segments`](AsyncUdpSocket::max_gso_segments) is 1, so no
    /// caller hands it more than one segment.
    fn poll_send(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        self.io
            .poll_send_to(cx, transmit.contents, transmit.destination)
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let (Some(buf), Some(slot)) = (bufs.first_mut(), meta.first_mut()) else {
            return Poll::Ready(Ok(0));
        };
        let mut read = ReadBuf::new(buf);
        let from = match self.io.poll_recv_from(cx, &mut read) {
            Poll::Ready(Ok(from)) => from,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        let len = read.filled().len();
        let mut got = RecvMeta::default();
        got.addr = from;
        got.len = len;
        // Never 0: a reader splits the buffer into datagrams of this size.
        got.stride = len.max(1);
        *slot = got;
        Poll::Ready(Ok(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;

    #[tokio::test]
    async fn sends_and_receives_one_datagram_at_a_time() {
        let a = PlainUdp::new(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        let b = PlainUdp::new(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        let to = b.local_addr().unwrap();
        for word in [&b"hello"[..], b"", b"again"] {
            let transmit = Transmit {
                destination: to,
                ecn: None,
                contents: word,
                segment_size: None,
                src_ip: None,
            };
            let sent = poll_fn(|cx| a.poll_send(cx, &transmit)).await.unwrap();
            assert_eq!(sent, word.len());
            let mut buf = [0u8; 64];
            let mut meta = [RecvMeta::default()];
            let n = poll_fn(|cx| b.poll_recv(cx, &mut [IoSliceMut::new(&mut buf)], &mut meta))
                .await
                .unwrap();
            assert_eq!(n, 1);
            assert_eq!(meta[0].addr, a.local_addr().unwrap());
            assert_eq!(&buf[..meta[0].len], word);
            assert!(meta[0].stride >= 1);
        }
    }

    #[test]
    fn an_option_the_stack_lacks_is_told_from_a_broken_socket() {
        assert!(lacks_an_option(&io::Error::from(
            io::ErrorKind::Unsupported
        )));
        assert_eq!(
            lacks_an_option(&io::Error::from_raw_os_error(10045)),
            cfg!(windows)
        );
        assert!(!lacks_an_option(&io::Error::from(io::ErrorKind::AddrInUse)));
    }
}
