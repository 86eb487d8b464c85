//! Debian's `redis-server` on a free loopback port, for the servers that share rooms through
//! it; stopped and started again on the same port to play an outage.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// A running `redis-server` (no persistence: a restart loses everything, the harder case),
/// killed when dropped.
pub struct RedisProcess {
    child: Option<Child>,
    pub addr: SocketAddr,
    dir: PathBuf,
}

impl RedisProcess {
    /// Starts one on a free port and waits until it answers.
    pub async fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("tincan-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        let mut redis = Self {
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
        };
        redis.start_again().await;
        redis
    }

    /// `redis://127.0.0.1:PORT/`, for `tincan-server --redis`.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    /// Kills it (SIGKILL, as a crash) and waits until it is gone.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts it again on the same port, empty.
    pub async fn start_again(&mut self) {
        self.stop().await;
        let child = Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &self.addr.port().to_string(),
            ])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server starts (scripts/install-deps --test installs it)");
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(10);
        while self.command("PING").await.as_deref() != Some("+PONG") {
            assert!(
                Instant::now() < until,
                "redis-server answered no PING within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One inline command; its reply's first line, or None when Redis does not answer.
    pub async fn command(&self, command: &str) -> Option<String> {
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.ok()?;
        stream
            .write_all(format!("{command}\r\n").as_bytes())
            .await
            .ok()?;
        let mut lines = BufReader::new(stream).lines();
        lines.next_line().await.ok().flatten()
    }

    /// `INFO memory`'s `used_memory` in bytes.
    pub async fn used_memory(&self) -> u64 {
        let mut stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("redis answers");
        stream
            .write_all(b"INFO memory\r\nQUIT\r\n")
            .await
            .expect("write");
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text).await;
        text.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The process id (for measuring it).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().and_then(Child::id).unwrap_or(0)
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
