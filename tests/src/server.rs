//! A `tincan-server` process on a free loopback port.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// A running `tincan-server`, killed when dropped.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    /// Where its metrics are served.
    pub metrics_addr: Option<SocketAddr>,
}

impl ServerProcess {
    /// Starts the server on `127.0.0.1:0` with extra flags, and waits until it listens.
    pub async fn start(flags: &[&str]) -> Self {
        Self::start_on("127.0.0.1:0", flags).await
    }

    /// Starts the server listening on `listen` with extra flags, and waits until it listens.
    pub async fn start_on(listen: &str, flags: &[&str]) -> Self {
        // Its room key in a scratch file of this test process, not in the user's state
        // directory; a test that restarts a server passes the same one itself.
        let key = std::env::temp_dir().join(format!("tincan-test-key-{}", std::process::id()));
        let mut key_flag: Vec<String> = if flags.contains(&"--key-file") {
            Vec::new()
        } else {
            vec!["--key-file".into(), key.display().to_string()]
        };
        // Metrics on a free port of their own, so servers of tests running at once never meet.
        if !flags.contains(&"--metrics-listen") {
            key_flag.extend(["--metrics-listen".into(), "127.0.0.1:0".into()]);
        }
        let mut child = Command::new(crate::binary("tincan-server"))
            .args(["--listen", listen])
            .args(flags)
            .args(key_flag)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("tincan-server starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("tincan-server says where it listens within 20 s")
            .expect("stdout readable")
            .expect("a line on stdout");
        // "tincan-server listening: ws://127.0.0.1:PORT/ws"
        let addr = line
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|hostport| hostport.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {line}"));
        // "tincan-server metrics: http://127.0.0.1:PORT/metrics"
        let metrics_addr = match lines.next_line().await {
            Ok(Some(line)) if line.starts_with("tincan-server metrics: ") => line
                .split("://")
                .nth(1)
                .and_then(|rest| rest.split('/').next())
                .and_then(|hostport| hostport.parse().ok()),
            _ => None,
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            addr,
            metrics_addr,
        }
    }

    /// The WebSocket URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// A plain HTTP GET; returns the status code and body. `/metrics` goes to the metrics
    /// address.
    pub async fn get(&self, path: &str) -> (u16, String) {
        match self.metrics_addr {
            Some(metrics) if path == "/metrics" => http_get(metrics, path).await,
            _ => http_get(self.addr, path).await,
        }
    }

    /// Waits until `GET /healthz` answers `status` (a server on Redis says 503 until it has
    /// met Redis, and while it cannot reach it); returns the body.
    pub async fn health_becomes(&self, status: u16, within: Duration) -> String {
        let until = tokio::time::Instant::now() + within;
        loop {
            let (got, body) = self.get("/healthz").await;
            if got == status {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "/healthz still {got} ({body:?}) after {within:?}, not {status}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The server's process id (for measuring it).
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Kills it (SIGKILL: no goodbyes, as in a crash) and waits.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// HTTP/1.0 GET over a raw socket: enough for /healthz and /metrics without an HTTP client.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}
