//! A real TURN relay for tests: Debian's coturn (`turnserver`) with the deploy files'
//! configuration (crates/server/deploy/turnserver.conf: quotas, the deny list) and the shared
//! secret `tincan-server --turn-secret` mints credentials with (the way docs/deploy.md sets it
//! up). The tests' own hosts live in 10.77.0.0/16 and 10.78.0.0/16, which the deny list
//! refuses like any private network: those two ranges, and nothing else, are let through.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// The `static-auth-secret` both servers share.
pub const SECRET: &str = "tincan-test-turn-secret";

/// The deploy files' coturn configuration, as shipped.
const DEPLOY_CONF: &str = include_str!("../../crates/server/deploy/turnserver.conf");

/// The test networks (tests/src/netns.rs, tests/src/long_path.rs): private addresses, which
/// the deploy configuration's deny list refuses.
const TEST_PEERS: &str = "10.77.0.0-10.78.255.255";

/// coturn on `ip`, with a shared secret for time-limited credentials (the way docs/deploy.md
/// sets it up); killed when dropped.
pub struct Coturn {
    /// Kept for its kill-on-drop.
    _child: Child,
    pub port: u16,
}

impl Coturn {
    /// The `turn:` URL to hand to tincan-server.
    pub fn url(&self, ip: &str) -> String {
        format!("turn:{ip}:{}?transport=udp", self.port)
    }

    pub async fn start(ip: &str) -> Self {
        // A free port: bound for a moment, then handed to coturn.
        let port = std::net::UdpSocket::bind((ip, 0))
            .and_then(|s| s.local_addr())
            .expect("a free UDP port")
            .port();
        let port_arg = port.to_string();
        let conf =
            std::env::temp_dir().join(format!("tincan-turnserver-{}.conf", std::process::id()));
        std::fs::write(&conf, DEPLOY_CONF).expect("the coturn configuration written");
        let child = Command::new("turnserver")
            .arg("-c")
            .arg(&conf)
            .args(["--allowed-peer-ip", TEST_PEERS])
            .args(["--listening-ip", ip, "--relay-ip", ip])
            .args(["--listening-port", &port_arg])
            .args(["--min-port", "40000", "--max-port", "40999"])
            .args(["--use-auth-secret", "--static-auth-secret", SECRET])
            .args(["--realm", "tincan.test", "--fingerprint"])
            .args(["--no-tls", "--no-dtls", "--no-cli", "--simple-log"])
            .args(["--log-file", "stdout"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("turnserver starts (apt install coturn; scripts/install-deps does)");
        // Wait until it answers a STUN binding request on its port.
        let socket = tokio::net::UdpSocket::bind((ip, 0))
            .await
            .expect("a socket");
        let request = [
            0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
        ];
        let mut answer = [0u8; 512];
        for _ in 0..50 {
            let _ = socket.send_to(&request, (ip, port)).await;
            let got =
                tokio::time::timeout(Duration::from_millis(100), socket.recv(&mut answer)).await;
            if matches!(got, Ok(Ok(n)) if n >= 20 && answer[0] == 0x01 && answer[1] == 0x01) {
                return Self {
                    _child: child,
                    port,
                };
            }
        }
        panic!("turnserver did not answer on {ip}:{port} within 5 s");
    }
}
