//! Load benchmark for tincan-server (not a test): hold many clients in rooms of two on
//! loopback, have every pair relay signals, and report clients held, server RSS per client and
//! relay latency percentiles.
//!
//! Run with `scripts/bench-signaling` (builds the release server first). Settings:
//! `TINCAN_LOAD_CLIENTS` (10,000), `TINCAN_LOAD_SECONDS` of relaying (10),
//! `TINCAN_LOAD_RATE` signals per second per pair (1), `TINCAN_LOAD_REGISTER=1` to have every
//! client also register a personal code (as the app does, to be rung) and watch its
//! partner's.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tincan_e2e::ServerProcess;
use tincan_protocol::{decode_server, PersonalKey, ServerMessage, Signal};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib(pid: u32) -> u64 {
    (tincan_e2e::process::rss_mib(pid) * 1024.0) as u64
}

async fn send(socket: &mut Socket, text: String) {
    socket.send(Message::Text(text.into())).await.expect("send");
}

async fn recv(socket: &mut Socket) -> ServerMessage {
    loop {
        match socket.next().await.expect("open").expect("frame") {
            Message::Text(t) => return decode_server(t.as_str()).expect("v1"),
            _ => continue,
        }
    }
}

/// A greeted client; with `register`, registered under a personal code of its own.
async fn greeted(url: &str, register: bool) -> Socket {
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    send(
        &mut socket,
        r#"{"type":"hello","version":1,"client":"load"}"#.into(),
    )
    .await;
    let nonce = match recv(&mut socket).await {
        ServerMessage::Welcome { nonce, .. } => nonce.unwrap_or_default(),
        other => panic!("expected welcome, got {other:?}"),
    };
    if register {
        let key = PersonalKey::generate().expect("random");
        let host = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap_or("");
        let message = serde_json::json!({
            "type": "register",
            "key": key.public(),
            "proof": key.prove(host, &nonce),
        });
        send(&mut socket, message.to_string()).await;
        assert!(matches!(
            recv(&mut socket).await,
            ServerMessage::Registered { .. }
        ));
        let watch = serde_json::json!({"type": "watch", "codes": [key.code()]});
        send(&mut socket, watch.to_string()).await;
        assert!(matches!(
            recv(&mut socket).await,
            ServerMessage::Presence { .. }
        ));
    }
    socket
}

async fn join(socket: &mut Socket, room: &str) -> String {
    send(
        socket,
        format!(r#"{{"type":"join","room":"{room}","name":"load"}}"#),
    )
    .await;
    match recv(socket).await {
        ServerMessage::Joined { peer_id, .. } => peer_id.0,
        other => panic!("join failed: {other:?}"),
    }
}

/// Connects one pair in a fresh room; returns (sender, receiver, receiver's id).
async fn pair(url: &str, register: bool) -> (Socket, Socket, String) {
    let mut a = greeted(url, register).await;
    send(&mut a, r#"{"type":"create_room"}"#.into()).await;
    let room = match recv(&mut a).await {
        ServerMessage::RoomCreated { room } => room.to_string(),
        other => panic!("create failed: {other:?}"),
    };
    join(&mut a, &room).await;
    let mut b = greeted(url, register).await;
    let b_id = join(&mut b, &room).await;
    assert!(matches!(
        recv(&mut a).await,
        ServerMessage::PeerJoined { .. }
    ));
    (a, b, b_id)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let clients = setting("TINCAN_LOAD_CLIENTS", 10_000) & !1;
    let seconds = setting("TINCAN_LOAD_SECONDS", 10);
    let rate = setting("TINCAN_LOAD_RATE", 1).max(1);
    let register = setting("TINCAN_LOAD_REGISTER", 0) == 1;
    let server = ServerProcess::start(&[
        "--max-connections",
        &(clients + 100).to_string(),
        // Every client comes from 127.0.0.1.
        "--max-connections-per-address",
        &(clients + 100).to_string(),
        "--joins-per-minute",
        "100000000",
    ])
    .await;
    let url = server.ws_url();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_idle = rss_kib(server.pid());

    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(200));
    let mut pending = Vec::new();
    for _ in 0..clients / 2 {
        let url = url.clone();
        let gate = Arc::clone(&gate);
        pending.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.expect("semaphore");
            pair(&url, register).await
        }));
    }
    let mut pairs = Vec::new();
    for p in pending {
        pairs.push(p.await.expect("pair task"));
    }
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_held = rss_kib(server.pid());

    // Every pair relays `rate` signals a second for `seconds`; the receiver records latency.
    let epoch = Instant::now();
    let samples: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(Vec::new()));
    let expected = (clients / 2) * seconds * rate;
    let mut tasks = Vec::new();
    for (i, (mut a, mut b, b_id)) in pairs.into_iter().enumerate() {
        let samples = Arc::clone(&samples);
        let per_pair = seconds * rate;
        tasks.push(tokio::spawn(async move {
            let mut got = 0;
            while got < per_pair {
                match recv(&mut b).await {
                    ServerMessage::Signal {
                        signal: Signal::Offer { sdp },
                        ..
                    } => {
                        let sent: u64 = sdp.parse().expect("timestamp");
                        let now = epoch.elapsed().as_micros() as u64;
                        samples.lock().expect("lock").push(now.saturating_sub(sent));
                        got += 1;
                    }
                    _ => continue,
                }
            }
            b
        }));
        // Spread senders over the interval so the load is even, not one burst a second.
        let interval = Duration::from_micros(1_000_000 / rate);
        let offset = interval.mul_f64((i as f64 * 0.618_033_988_7) % 1.0);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(offset).await;
            let mut ticks = tokio::time::interval(interval);
            for _ in 0..per_pair {
                ticks.tick().await;
                let now = epoch.elapsed().as_micros();
                let text = format!(
                    r#"{{"type":"signal","to":"{b_id}","signal":{{"kind":"offer","sdp":"{now}"}}}}"#
                );
                send(&mut a, text).await;
            }
            a
        }));
    }
    let mut sockets = Vec::new();
    for task in tasks {
        sockets.push(task.await.expect("relay task"));
    }
    let relay_secs = epoch.elapsed().as_secs_f64();
    let rss_relaying = rss_kib(server.pid());
    let (_, metrics) = server.get("/metrics").await;
    let connections = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tincan_connections "))
        .unwrap_or("?")
        .trim()
        .to_owned();

    let mut samples = samples.lock().expect("lock").clone();
    samples.sort_unstable();
    let per_client = (rss_held.saturating_sub(rss_idle)) as f64 / clients as f64;
    println!(
        "signaling load: {clients} clients in {} rooms of two{}",
        clients / 2,
        if register {
            ", each registered under a personal code and watching one"
        } else {
            ""
        }
    );
    println!(
        "  connected + joined in {connect_secs:.1} s; server reports {connections} connections"
    );
    println!(
        "  server RSS: idle {:.1} MiB, holding {:.1} MiB, while relaying {:.1} MiB",
        rss_idle as f64 / 1024.0,
        rss_held as f64 / 1024.0,
        rss_relaying as f64 / 1024.0
    );
    println!("  RSS per client: {:.1} KiB", per_client);
    println!(
        "  relayed {} of {expected} signals in {relay_secs:.1} s ({:.0}/s)",
        samples.len(),
        samples.len() as f64 / relay_secs
    );
    println!(
        "  relay latency (send → receive, both ends in this process): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        percentile(&samples, 1.0)
    );
    drop(sockets);
    server.stop().await;
}
