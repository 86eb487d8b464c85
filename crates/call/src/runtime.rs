//! webrtc-rs's tokio runtime, with UDP sockets that can take a burst.
//!
//! A socket's receive buffer is 208 KiB by default on Linux (`net.core.rmem_default`): a
//! keyframe or a data channel's window (up to 1 MiB in flight, `crate::files`) arriving
//! while the connection's task is busy overflows it, the kernel drops the rest, and SCTP
//! reads that as congestion. On loopback a 200 MB file went at 8–20 MB/s with thousands of
//! such drops, and at well over 100 MB/s with none once the buffers were 4 MiB
//! (BENCHMARKS.md, "File transfer"). So every socket asks for [`SOCKET_BUFFER_BYTES`] each
//! way; the kernel grants at most `net.core.rmem_max` / `wmem_max` (docs/calls.md, "Files").
//!
//! Where the network stack lacks a socket option webrtc-rs's own UDP socket sets up (Wine's
//! Winsock), the socket is a plain one instead ([`plain_udp`]).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod plain_udp;

use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, Runtime,
    TokioRuntime,
};

/// What each UDP socket asks for, receiving and sending.
const SOCKET_BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// The runtime every peer connection of the engine runs on.
pub(crate) fn shared() -> Arc<dyn Runtime> {
    Arc::new(Buffered(TokioRuntime))
}

/// [`TokioRuntime`] with bigger socket buffers; everything else is its own.
#[derive(Debug)]
struct Buffered(TokioRuntime);

impl Runtime for Buffered {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.0.spawn(future)
    }

    fn spawn_reactor(
        &self,
        reactor_pool_size: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        self.0.spawn_reactor(reactor_pool_size, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        let sock = socket2::SockRef::from(&socket);
        // Best effort: a smaller buffer than asked for (or none) still works, as before.
        for (what, set) in [
            ("receive", sock.set_recv_buffer_size(SOCKET_BUFFER_BYTES)),
            ("send", sock.set_send_buffer_size(SOCKET_BUFFER_BYTES)),
        ] {
            if let Err(e) = set {
                tracing::debug!(error = %e, "could not enlarge a UDP socket's {what} buffer");
            }
        }
        // quinn-udp (webrtc-rs's socket) sets options some network stacks lack, and closes
        // the socket when one fails: it gets a second handle to the same socket.
        let spare = socket.try_clone()?;
        match self.0.wrap_udp_socket(socket) {
            Err(e) if plain_udp::lacks_an_option(&e) => {
                tracing::info!(error = %e, "UDP without batching: the network stack lacks an option");
                Ok(Arc::new(plain_udp::PlainUdp::new(spare)?))
            }
            wrapped => wrapped,
        }
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.0.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Arc<dyn AsyncTcpStream>>> + Send + 'a>> {
        self.0.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        self.0.resolve_host(host)
    }

    fn now(&self) -> Instant {
        self.0.now()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.0.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.0.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.0.block_on(future)
    }

    fn yield_now(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.0.yield_now()
    }

    fn name(&self) -> &'static str {
        self.0.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_get_a_bigger_receive_buffer_than_the_default() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let plain = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let default = socket2::SockRef::from(&plain).recv_buffer_size().unwrap();
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let probe = socket.try_clone().unwrap();
            let _wrapped = shared().wrap_udp_socket(socket).unwrap();
            let now = socket2::SockRef::from(&probe).recv_buffer_size().unwrap();
            // The kernel caps it at net.core.rmem_max; what matters is that it grew.
            let cap = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok());
            if cap.is_some_and(|cap| cap * 2 > default) {
                assert!(now > default, "{now} bytes, the default is {default}");
            }
        });
    }
}
