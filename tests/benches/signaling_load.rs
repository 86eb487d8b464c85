//! Load benchmark for tincan-server (not a test): hold many clients in rooms of two on
//! loopback, have every pair relay signals, and report clients held, server RSS per client and
//! relay latency percentiles.
//!
//! Run with `scripts/bench-signaling` (builds the release server first). Settings:
//! `TINCAN_LOAD_CLIENTS` (10,000), `TINCAN_LOAD_SECONDS` of relaying (10),
//! `TINCAN_LOAD_RATE` signals per second per pair (1), `TINCAN_LOAD_REGISTER=1` to have every
//! client also register a personal code (as the app does, to be rung) and watch its
//! partner's.
//!
//! `TINCAN_LOAD_SERVERS=N` (N > 1) runs two phases: first one server holding its share
//! (clients / N) in memory, then N servers sharing rooms through one `redis-server`, every
//! pair split across two servers, all the clients at once; the figures side by side.
//!
//! The clients live in worker processes (this binary again, `TINCAN_LOAD_WORKER=1`) of at
//! most [`WORKER_CLIENTS`] each: a process here may hold 20,000 descriptors at most. A
//! worker says `connected` once its pairs are in their rooms, waits for `go` on its stdin,
//! relays, and prints its latency samples.

use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tincan_e2e::{RedisProcess, ServerProcess};
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

/// Connects one pair in a fresh room (the sender on `a_url`, the receiver on `b_url`);
/// returns (sender, receiver, receiver's id).
async fn pair(a_url: &str, b_url: &str, register: bool) -> (Socket, Socket, String) {
    let mut a = greeted(a_url, register).await;
    send(&mut a, r#"{"type":"create_room"}"#.into()).await;
    let room = match recv(&mut a).await {
        ServerMessage::RoomCreated { room } => room.to_string(),
        other => panic!("create failed: {other:?}"),
    };
    join(&mut a, &room).await;
    let mut b = greeted(b_url, register).await;
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

/// Clients per worker process: under the 20,000 descriptors a process may open here.
const WORKER_CLIENTS: u64 = 16_000;

/// One worker: `TINCAN_LOAD_URLS` (comma-separated), `TINCAN_LOAD_PAIRS`, and the settings.
/// Pair i's sender is on url i, its receiver on url i + 1 (the same one when there is one).
async fn worker() {
    let urls: Vec<String> = std::env::var("TINCAN_LOAD_URLS")
        .expect("urls")
        .split(',')
        .map(str::to_owned)
        .collect();
    let pairs_wanted = setting("TINCAN_LOAD_PAIRS", 0);
    let seconds = setting("TINCAN_LOAD_SECONDS", 10);
    let rate = setting("TINCAN_LOAD_RATE", 1).max(1);
    let register = setting("TINCAN_LOAD_REGISTER", 0) == 1;

    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(200));
    let mut pending = Vec::new();
    for i in 0..pairs_wanted as usize {
        let a_url = urls[i % urls.len()].clone();
        let b_url = urls[(i + 1) % urls.len()].clone();
        let gate = Arc::clone(&gate);
        pending.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.expect("semaphore");
            pair(&a_url, &b_url, register).await
        }));
    }
    let mut pairs = Vec::new();
    for p in pending {
        pairs.push(p.await.expect("pair task"));
    }
    println!("connected {:.2}", started.elapsed().as_secs_f64());
    let mut go = String::new();
    let _ = std::io::stdin().lock().read_line(&mut go);

    // Every pair relays `rate` signals a second for `seconds`; the receiver records latency.
    let epoch = Instant::now();
    let samples: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(Vec::new()));
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
    let secs = epoch.elapsed().as_secs_f64();
    let samples = samples.lock().expect("lock").clone();
    let list: Vec<String> = samples.iter().map(u64::to_string).collect();
    println!("relayed {secs:.2} {}", list.join(","));
    let _ = std::io::stdout().flush();
    drop(sockets);
}

/// What one phase measured.
struct Figures {
    clients: u64,
    connect_secs: f64,
    connections: Vec<String>,
    rss_idle: Vec<f64>,
    rss_held: Vec<f64>,
    rss_relaying: Vec<f64>,
    relayed: usize,
    expected: u64,
    relay_secs: f64,
    samples: Vec<u64>,
    redis_idle: u64,
    redis_held: u64,
    /// Seconds from Redis starting again (empty) until every server took joins again.
    recovery: Option<f64>,
    /// Share of one core each server (then Redis, if any) used while relaying.
    cpu: Vec<f64>,
}

/// Runs `clients` clients against `servers` (in pairs across them), in worker processes.
async fn phase(
    servers: &[ServerProcess],
    mut redis: Option<&mut RedisProcess>,
    clients: u64,
) -> Figures {
    let seconds = setting("TINCAN_LOAD_SECONDS", 10);
    let rate = setting("TINCAN_LOAD_RATE", 1).max(1);
    let urls: Vec<String> = servers.iter().map(ServerProcess::ws_url).collect();
    let rss = |_: ()| -> Vec<f64> {
        servers
            .iter()
            .map(|s| tincan_e2e::process::rss_mib(s.pid()))
            .collect()
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_idle = rss(());
    let redis_idle = match &redis {
        Some(redis) => redis.used_memory().await,
        None => 0,
    };
    let started = Instant::now();
    let workers = clients.div_ceil(WORKER_CLIENTS);
    let mut children = Vec::new();
    for w in 0..workers {
        let pairs = (clients / 2) / workers + u64::from(w < (clients / 2) % workers);
        let child = Command::new(std::env::current_exe().expect("own path"))
            .env("TINCAN_LOAD_WORKER", "1")
            .env("TINCAN_LOAD_URLS", urls.join(","))
            .env("TINCAN_LOAD_PAIRS", pairs.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("a worker starts");
        children.push(child);
    }
    let mut readers: Vec<_> = children
        .iter_mut()
        .map(|c| std::io::BufReader::new(c.stdout.take().expect("piped")))
        .collect();
    let mut line = String::new();
    for reader in &mut readers {
        line.clear();
        reader.read_line(&mut line).expect("a worker reports");
        assert!(line.starts_with("connected"), "worker said {line:?}");
    }
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_held = rss(());
    let redis_held = match &redis {
        Some(redis) => redis.used_memory().await,
        None => 0,
    };
    // Redis restarts, empty, with everyone held: how long until every server has put its
    // people back and takes joins again. The relaying after shows nothing was lost.
    let mut recovery = None;
    if let Some(redis) = redis.as_mut() {
        redis.stop().await;
        for server in servers {
            server.health_becomes(503, Duration::from_secs(10)).await;
        }
        let restarted = Instant::now();
        redis.start_again().await;
        for server in servers {
            server.health_becomes(200, Duration::from_secs(120)).await;
        }
        recovery = Some(restarted.elapsed().as_secs_f64());
    }
    let mut connections = Vec::new();
    for server in servers {
        let (_, metrics) = server.get("/metrics").await;
        connections.push(
            metrics
                .lines()
                .find_map(|l| l.strip_prefix("tincan_connections "))
                .unwrap_or("?")
                .trim()
                .to_owned(),
        );
    }
    let mut pids: Vec<u32> = servers.iter().map(ServerProcess::pid).collect();
    pids.extend(redis.as_ref().map(|r| r.pid()));
    let ticks = |pids: &[u32]| -> Vec<u64> {
        pids.iter()
            .map(|p| tincan_e2e::process::cpu_ticks(*p))
            .collect()
    };
    let ticks_before = ticks(&pids);
    let relay_started = Instant::now();
    for child in &mut children {
        let stdin = child.stdin.as_mut().expect("piped");
        stdin.write_all(b"go\n").expect("a worker listens");
        stdin.flush().expect("flush");
    }
    // Halfway through, the servers' memory while relaying.
    tokio::time::sleep(Duration::from_secs(seconds) / 2).await;
    let rss_relaying = rss(());
    let mut samples = Vec::new();
    let mut relay_secs: f64 = 0.0;
    for reader in &mut readers {
        line.clear();
        reader.read_line(&mut line).expect("a worker reports");
        let rest = line.trim().strip_prefix("relayed ").expect("relayed line");
        let (secs, list) = rest.split_once(' ').unwrap_or((rest, ""));
        relay_secs = relay_secs.max(secs.parse().unwrap_or(0.0));
        samples.extend(list.split(',').filter_map(|v| v.parse::<u64>().ok()));
    }
    // Clock ticks are 1/100 s (USER_HZ).
    let window = relay_started.elapsed().as_secs_f64();
    let cpu = ticks(&pids)
        .iter()
        .zip(&ticks_before)
        .map(|(after, before)| (after - before) as f64 / 100.0 / window)
        .collect();
    for mut child in children {
        let _ = child.wait();
    }
    samples.sort_unstable();
    Figures {
        clients,
        connect_secs,
        connections,
        rss_idle,
        rss_held,
        rss_relaying,
        relayed: samples.len(),
        expected: (clients / 2) * seconds * rate,
        relay_secs,
        samples,
        redis_idle,
        redis_held,
        recovery,
        cpu,
    }
}

fn report(title: &str, f: &Figures) {
    let mib = |v: &[f64]| {
        v.iter()
            .map(|m| format!("{m:.1}"))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    println!(
        "{title}: {} clients in {} rooms of two",
        f.clients,
        f.clients / 2
    );
    println!(
        "  connected + joined in {:.1} s; servers report {} connections",
        f.connect_secs,
        f.connections.join(" + ")
    );
    println!(
        "  server RSS (MiB): idle {}, holding {}, while relaying {}",
        mib(&f.rss_idle),
        mib(&f.rss_held),
        mib(&f.rss_relaying)
    );
    let held: f64 = f.rss_held.iter().sum::<f64>() - f.rss_idle.iter().sum::<f64>();
    println!(
        "  RSS per client: {:.1} KiB",
        held * 1024.0 / f.clients as f64
    );
    if f.redis_held > 0 {
        let per_room = f.redis_held.saturating_sub(f.redis_idle) as f64 / (f.clients / 2) as f64;
        println!(
            "  Redis used_memory: idle {:.1} MiB, holding {:.1} MiB ({per_room:.0} bytes per room)",
            f.redis_idle as f64 / 1048576.0,
            f.redis_held as f64 / 1048576.0
        );
    }
    if let Some(secs) = f.recovery {
        println!(
            "  Redis killed and started again (empty) before relaying: every server had put its \
             people back {secs:.1} s later"
        );
    }
    println!(
        "  relayed {} of {} signals in {:.1} s ({:.0}/s)",
        f.relayed,
        f.expected,
        f.relay_secs,
        f.relayed as f64 / f.relay_secs
    );
    let shares: Vec<String> = f
        .cpu
        .iter()
        .map(|c| format!("{:.0} %", c * 100.0))
        .collect();
    let (servers, redis) = shares.split_at(f.rss_idle.len());
    println!(
        "  CPU while relaying (of one core): servers {}{}",
        servers.join(" + "),
        redis
            .first()
            .map(|r| format!(", Redis {r}"))
            .unwrap_or_default()
    );
    println!(
        "  relay latency (send → receive, both ends in one worker): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&f.samples, 0.50),
        percentile(&f.samples, 0.99),
        percentile(&f.samples, 1.0)
    );
}

/// Flags for a server that lets one machine's load in.
fn load_flags(clients: u64) -> Vec<String> {
    let room = (clients + 100).to_string();
    [
        "--max-connections",
        &room,
        // Every client comes from 127.0.0.1.
        "--max-connections-per-address",
        &room,
        "--joins-per-minute",
        "100000000",
    ]
    .map(str::to_owned)
    .to_vec()
}

#[tokio::main]
async fn main() {
    if std::env::var_os("TINCAN_LOAD_WORKER").is_some() {
        return worker().await;
    }
    let clients = setting("TINCAN_LOAD_CLIENTS", 10_000) & !1;
    let servers = setting("TINCAN_LOAD_SERVERS", 1).max(1);
    let register = setting("TINCAN_LOAD_REGISTER", 0) == 1;
    if register {
        println!("(every client registered under a personal code and watching one)");
    }

    let share = (clients / servers) & !1;
    let flags = load_flags(clients);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let single = ServerProcess::start(&flags).await;
    let figures = phase(std::slice::from_ref(&single), None, share).await;
    single.stop().await;
    report("one server, rooms in memory", &figures);
    if servers == 1 {
        return;
    }

    let mut redis = RedisProcess::start().await;
    let url = redis.url();
    let mut shared_flags = flags.clone();
    shared_flags.extend(["--redis", url.as_str()]);
    let mut shared = Vec::new();
    for _ in 0..servers {
        shared.push(ServerProcess::start(&shared_flags).await);
    }
    // Until each has met Redis, it takes no joins.
    for server in &shared {
        server.health_becomes(200, Duration::from_secs(10)).await;
    }
    let figures = phase(&shared, Some(&mut redis), clients).await;
    report(
        &format!("{servers} servers sharing rooms through Redis, every pair split across two"),
        &figures,
    );
    let (_, metrics) = shared[0].get("/metrics").await;
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("tincan_redis_errors"))
    {
        println!("  server 1: {line}");
    }
    for server in shared {
        server.stop().await;
    }
}
