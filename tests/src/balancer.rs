//! A load balancer as a test needs one: TCP on a loopback port, each new connection passed
//! to the first of its servers that takes it. When that server dies, clients that reconnect
//! land on the next, as behind HAProxy or nginx with a health check.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

/// Forwards until dropped.
pub struct Balancer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Balancer {
    /// Listens on a free loopback port, preferring `backends` in order.
    pub async fn start(backends: Vec<SocketAddr>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let addr = listener.local_addr().expect("its address");
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let backends = backends.clone();
                tokio::spawn(async move {
                    for backend in backends {
                        if let Ok(mut server) = TcpStream::connect(backend).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            return;
                        }
                    }
                });
            }
        });
        Self { addr, task }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
