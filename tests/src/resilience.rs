//! Calls with something breaking in the middle, as tests and the resilience benchmark run
//! them: a peer's address moves, the signaling server restarts, a peer crashes, or the only
//! path is a TURN relay; and the plain call across a namespace's link they build on
//! ([`across`]). Each returns what the peers wrote and the times it measured; the caller
//! decides what is good enough.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::turn::{Coturn, SECRET};
use crate::{CliPeer, Netns, Place, ServerProcess};

/// Two peers' summaries and ids after a call.
pub struct Ended {
    pub a: Value,
    pub b: Value,
    pub a_id: String,
    pub b_id: String,
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tincan-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// Waits for `a` to connect to `b_id`, then `settle` more.
async fn connected(a: &CliPeer, b_id: &str, settle: Duration) {
    assert!(
        a.printed(&format!("connected {b_id}"), Duration::from_secs(10))
            .await,
        "{} and {b_id} never connected",
        a.id
    );
    tokio::time::sleep(settle).await;
}

/// A third peer, Cy, joins `room` for `seconds`; its id and summary once it has ended.
async fn newcomer(server: &ServerProcess, dir: &Path, room: &str, seconds: u32) -> (String, Value) {
    let duration = seconds.to_string();
    let c = CliPeer::start(server, dir, "Cy", Some(room), &["--duration", &duration]).await;
    let c_id = c.id.clone();
    (c_id, c.finish().await)
}

/// `a` on this host and `b` in a namespace (bound to every address it has, as the app is);
/// `move_after` into the call, `b`'s address moves to another (`Netns::move_address`).
pub async fn address_moves(seconds: u32, move_after: Duration) -> Ended {
    let link = Netns::plain();
    let server = ServerProcess::start_on(&format!("{}:0", link.host_ip), &[]).await;
    let dir = scratch("moves");
    let host_bind = format!("{}:0", link.host_ip);
    let duration = seconds.to_string();
    let a = CliPeer::start_at(
        &server,
        &Place {
            bind: Some(&host_bind),
            netns: None,
            env: &[],
        },
        &dir,
        "a",
        None,
        &["--duration", &duration],
    )
    .await;
    let b = CliPeer::start_at(
        &server,
        &Place {
            bind: Some("0.0.0.0:0"),
            netns: Some(&link),
            env: &[],
        },
        &dir,
        "b",
        Some(&a.room),
        &["--duration", &duration],
    )
    .await;
    let (a_id, b_id) = (a.id.clone(), b.id.clone());
    connected(&a, &b_id, move_after).await;
    link.move_address();
    let (a, b) = tokio::join!(a.finish(), b.finish());
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
    Ended { a, b, a_id, b_id }
}

/// What [`server_restarts`] measured besides the summaries.
pub struct Restart {
    pub call: Ended,
    /// From the server's return to both peers being back in the room.
    pub back_after: Duration,
    /// A third peer that joined the re-created room afterwards, and its summary.
    pub c_id: String,
    pub c: Value,
}

/// Two peers in a call; `kill_after` into it the server is killed (SIGKILL), and it comes back
/// `down_for` later on the same port with the same room key. Once both are back in the room,
/// a third peer joins for `c_seconds`.
pub async fn server_restarts(
    seconds: u32,
    kill_after: Duration,
    down_for: Duration,
    c_seconds: u32,
) -> Restart {
    let server = ServerProcess::start(&[]).await;
    let addr = server.addr.to_string();
    let dir = scratch("server-restart");
    let duration = seconds.to_string();
    let a = CliPeer::start(&server, &dir, "Ada", None, &["--duration", &duration]).await;
    let b = CliPeer::start(
        &server,
        &dir,
        "Bo",
        Some(&a.room),
        &["--duration", &duration],
    )
    .await;
    let (room, a_id, b_id) = (a.room.clone(), a.id.clone(), b.id.clone());
    connected(&a, &b_id, kill_after).await;
    server.stop().await;
    tokio::time::sleep(down_for).await;
    let server = ServerProcess::start_on(&addr, &[]).await;
    let back = Instant::now();
    for peer in [&a, &b] {
        assert!(
            peer.printed("server back", Duration::from_secs(15)).await,
            "{} is back in the room within 15 s of the server's return",
            peer.id
        );
    }
    let back_after = back.elapsed();
    let (c_id, c) = newcomer(&server, &dir, &room, c_seconds).await;
    let (a, b) = tokio::join!(a.finish(), b.finish());
    std::fs::remove_dir_all(&dir).ok();
    Restart {
        call: Ended { a, b, a_id, b_id },
        back_after,
        c_id,
        c,
    }
}

/// What [`peer_crashes`] measured.
pub struct Crash {
    /// From `b`'s SIGKILL to `a` printing that it left.
    pub noticed_after: Duration,
    /// `a`'s summary, and a third peer's (joined after the crash), with their ids.
    pub a: Value,
    pub a_id: String,
    pub c: Value,
    pub c_id: String,
}

/// `a` and `b` in a call; `kill_after` into it, `b` is killed with SIGKILL. Once `a` has seen
/// it go, a third peer joins for `c_seconds`.
pub async fn peer_crashes(seconds: u32, kill_after: Duration, c_seconds: u32) -> Crash {
    let server = ServerProcess::start(&[]).await;
    let dir = scratch("crash");
    let duration = seconds.to_string();
    let a = CliPeer::start(&server, &dir, "Ada", None, &["--duration", &duration]).await;
    let (room, a_id) = (a.room.clone(), a.id.clone());
    // b would run on long after the test; it is killed.
    let mut b = CliPeer::start(&server, &dir, "Bo", Some(&room), &["--duration", "300"]).await;
    let b_id = b.id.clone();
    connected(&a, &b_id, kill_after).await;
    b.kill();
    let killed = Instant::now();
    assert!(
        a.printed(&format!("left {b_id}"), Duration::from_secs(30))
            .await,
        "Ada never saw Bo go"
    );
    let noticed_after = killed.elapsed();
    let (c_id, c) = newcomer(&server, &dir, &room, c_seconds).await;
    let a = a.finish().await;
    std::fs::remove_dir_all(&dir).ok();
    Crash {
        noticed_after,
        a,
        a_id,
        c,
        c_id,
    }
}

/// `a` on this host (bound to the link's host side) and `b` in `link`'s namespace call through
/// a server on the link started with `server_flags`; their summaries once both have ended.
pub async fn across(
    link: &Netns,
    server_flags: &[&str],
    a_flags: &[&str],
    b_flags: &[&str],
) -> Ended {
    let server = ServerProcess::start_on(&format!("{}:0", link.host_ip), server_flags).await;
    let dir = scratch("link");
    let (a_bind, b_bind) = (format!("{}:0", link.host_ip), format!("{}:0", link.ns_ip));
    let a = CliPeer::start_at(
        &server,
        &Place {
            bind: Some(&a_bind),
            netns: None,
            env: &[],
        },
        &dir,
        "a",
        None,
        a_flags,
    )
    .await;
    let b = CliPeer::start_at(
        &server,
        &Place {
            bind: Some(&b_bind),
            netns: Some(link),
            env: &[],
        },
        &dir,
        "b",
        Some(&a.room),
        b_flags,
    )
    .await;
    let (a_id, b_id) = (a.id.clone(), b.id.clone());
    let (a, b) = tokio::join!(a.finish(), b.finish());
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
    Ended { a, b, a_id, b_id }
}

/// `a` on this host and `b` in a namespace call for `seconds`; with `relay`, both hide their
/// addresses and go through coturn (`--relay-only`), else they connect directly.
/// `server_flags` go to tincan-server besides the TURN ones.
pub async fn across_a_link(
    seconds: u32,
    relay: bool,
    server_flags: &[&str],
    b_flags: &[&str],
) -> Ended {
    let link = Netns::plain();
    let turn = if relay {
        Some(Coturn::start(&link.host_ip).await)
    } else {
        None
    };
    let turn_url = turn.as_ref().map(|t| t.url(&link.host_ip));
    let mut server_flags = server_flags.to_vec();
    if let Some(url) = &turn_url {
        server_flags.extend(["--turn", url, "--turn-secret", SECRET]);
    }
    let duration = seconds.to_string();
    let mut a_flags = vec!["--duration", &duration];
    let b_duration = seconds.saturating_sub(1).max(1).to_string();
    let mut b_all = vec!["--duration", &b_duration];
    if relay {
        a_flags.push("--relay-only");
        b_all.push("--relay-only");
    }
    b_all.extend_from_slice(b_flags);
    let ended = across(&link, &server_flags, &a_flags, &b_all).await;
    drop(turn);
    ended
}
