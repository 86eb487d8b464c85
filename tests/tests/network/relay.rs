//! Calls through a real TURN relay (Debian's coturn): two peers that hide their addresses
//! (`--relay-only`) reach each other only through it, and a peer that asks to hide its
//! addresses from a server without TURN is told why it cannot.

use std::process::Stdio;
use std::time::Duration;

use tincan_e2e::{about, CliPeer, Netns, Place, ServerProcess};
use tokio::process::{Child, Command};

use super::{n, one_call_at_a_time};

const SECRET: &str = "tincan-test-turn-secret";

/// coturn on `ip`, with a shared secret for time-limited credentials (the way docs/deploy.md
/// sets it up); killed when dropped.
struct Coturn {
    /// Kept for its kill-on-drop.
    _child: Child,
    port: u16,
}

impl Coturn {
    async fn start(ip: &str) -> Self {
        // A free port: bound for a moment, then handed to coturn.
        let port = std::net::UdpSocket::bind((ip, 0))
            .and_then(|s| s.local_addr())
            .expect("a free UDP port")
            .port();
        let port_arg = port.to_string();
        let child = Command::new("turnserver")
            .args(["-n", "--listening-ip", ip, "--relay-ip", ip])
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

/// Two peers that hide their addresses call through coturn: video and audio arrive, and both
/// ends' selected candidate pairs are relay to relay (no host or reflexive candidate was sent,
/// so no direct path could even be tried).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_that_hide_their_addresses_call_through_a_turn_relay() {
    let _one = one_call_at_a_time().await;
    let link = Netns::plain();
    let turn = Coturn::start(&link.host_ip).await;
    let turn_url = format!("turn:{}:{}?transport=udp", link.host_ip, turn.port);
    let server = ServerProcess::start_on(
        &format!("{}:0", link.host_ip),
        &["--turn", &turn_url, "--turn-secret", SECRET],
    )
    .await;
    let dir = std::env::temp_dir().join(format!("tincan-relay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a_bind, b_bind) = (format!("{}:0", link.host_ip), format!("{}:0", link.ns_ip));
    let a_place = Place {
        bind: Some(&a_bind),
        netns: None,
    };
    let a = CliPeer::start_at(
        &server,
        &a_place,
        &dir,
        "a",
        None,
        &["--relay-only", "--duration", "9"],
    )
    .await;
    let b_place = Place {
        bind: Some(&b_bind),
        netns: Some(&link),
    };
    let b = CliPeer::start_at(
        &server,
        &b_place,
        &dir,
        "b",
        Some(&a.room),
        &[
            "--relay-only",
            "--duration",
            "8",
            "--chat",
            "through the relay",
        ],
    )
    .await;
    let (a_id, b_id) = (a.id.clone(), b.id.clone());
    let (a_summary, b_summary) = tokio::join!(a.finish(), b.finish());
    server.stop().await;
    drop(turn);
    for (me, other, summary) in [("a", &b_id, &a_summary), ("b", &a_id, &b_summary)] {
        let s = about(summary, other);
        eprintln!("{me} about {other}: {s:#}");
        assert_eq!(s["local_candidate"], "relay", "{me}: {s:#}");
        assert_eq!(s["remote_candidate"], "relay", "{me}: {s:#}");
        // Every candidate that reached this end was a relay's.
        assert_eq!(
            s["remote_candidate_types"],
            serde_json::json!(["relay"]),
            "{me}"
        );
        let decoded = n(s, "video_frames_decoded");
        assert!(
            decoded > 120.0,
            "{me} decoded only {decoded} frames through the relay"
        );
        assert!(n(s, "audio_frames_received") > 200.0, "{me}: {s:#}");
    }
    assert_eq!(
        about(&a_summary, &b_id)["chat"],
        serde_json::json!(["through the relay"])
    );
}

/// Hiding one's addresses needs a relay: against a server that hands out none, the call does
/// not start, the reason is said, and the exit code is 4 (the call failed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hiding_addresses_without_a_relay_is_refused_with_the_reason() {
    let server = ServerProcess::start(&[]).await;
    let out = Command::new(tincan_e2e::binary("tincan-cli"))
        .args([
            "call",
            "--server",
            &server.addr.to_string(),
            "--create",
            "--relay-only",
        ])
        .args(["--bind", "127.0.0.1:0", "--duration", "3"])
        .output()
        .await
        .expect("tincan-cli runs");
    server.stop().await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("needs a TURN relay"), "{stderr}");
}
