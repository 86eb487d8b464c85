//! Resilience (a benchmark, not a test): how long the media stops, or how long it takes to
//! notice, when something breaks mid-call, with release `tincan-cli` and `tincan-server`.
//!
//! - a peer's address moves (`TINCAN_BENCH_RUNS` runs, 10): the longest video gap each way;
//! - the signaling server is killed and back 5 s later (3 runs): the longest video gap, and
//!   how long after its return both peers are back in the room;
//! - a peer is killed (5 runs): how long until the other says it left;
//! - setup through a TURN relay (coturn, both ends relay-only) against a direct path
//!   (3 runs each): `setup_ms`, both peers in the room → first remote frame decoded.
//!
//! Run as root with `scripts/bench-network resilience`; `TINCAN_BENCH_ONLY=moves|restart|crash|
//! turn` runs one part.

use std::time::Duration;

use tincan_e2e::about;
use tincan_e2e::resilience::{
    across_a_link, address_moves, peer_crashes, server_restarts, Crash, Ended, Restart,
};

fn num(v: &serde_json::Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}

/// p50, p95 and the largest of `values` (sorted here).
fn spread(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |p: f64| values[((values.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.95), values[values.len() - 1])
}

fn both_gaps(call: &Ended) -> [f64; 2] {
    [
        num(about(&call.a, &call.b_id), "max_frame_gap_ms"),
        num(about(&call.b, &call.a_id), "max_frame_gap_ms"),
    ]
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::var("TINCAN_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let only = std::env::var("TINCAN_BENCH_ONLY").ok();
    let run = |part: &str| only.as_deref().is_none_or(|o| o == part);
    println!("| what | runs | p50 | p95 | worst |");
    println!("|---|---|---|---|---|");

    if run("moves") {
        moves(runs).await;
    }
    if run("restart") {
        restart().await;
    }
    if run("crash") {
        crash().await;
    }
    if run("turn") {
        turn().await;
    }
}

async fn moves(runs: usize) {
    let mut gaps = Vec::new();
    for _ in 0..runs {
        let call = address_moves(10, Duration::from_secs(3)).await;
        gaps.extend(both_gaps(&call));
    }
    let (p50, p95, worst) = spread(&mut gaps);
    println!("| video gap after an address change (both ways) | {runs} | {p50:.0} ms | {p95:.0} ms | {worst:.0} ms |");
}

async fn restart() {
    let (mut gaps, mut back) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let Restart {
            call, back_after, ..
        } = server_restarts(16, Duration::from_secs(2), Duration::from_secs(5), 3).await;
        gaps.extend(both_gaps(&call));
        back.push(back_after.as_secs_f64() * 1000.0);
    }
    let (p50, p95, worst) = spread(&mut gaps);
    println!("| video gap while the server restarts (both ways) | 3 | {p50:.0} ms | {p95:.0} ms | {worst:.0} ms |");
    let (p50, p95, worst) = spread(&mut back);
    println!("| back in the room after the server returns | 3 | {p50:.0} ms | {p95:.0} ms | {worst:.0} ms |");
}

async fn crash() {
    let mut noticed = Vec::new();
    for _ in 0..5 {
        let Crash { noticed_after, .. } = peer_crashes(9, Duration::from_secs(2), 2).await;
        noticed.push(noticed_after.as_secs_f64() * 1000.0);
    }
    let (p50, p95, worst) = spread(&mut noticed);
    println!("| a killed peer's `PeerLeft` | 5 | {p50:.0} ms | {p95:.0} ms | {worst:.0} ms |");
}

/// Setup through the relay has taken seconds: calls long enough to see it.
async fn turn() {
    for relay in [false, true] {
        let mut setup = Vec::new();
        for _ in 0..3 {
            let call = across_a_link(10, relay, &[], &[]).await;
            setup.push(num(about(&call.a, &call.b_id), "setup_ms"));
            setup.push(num(about(&call.b, &call.a_id), "setup_ms"));
        }
        let what = if relay {
            "setup through coturn (relay only)"
        } else {
            "setup on a direct path"
        };
        let (p50, p95, worst) = spread(&mut setup);
        println!("| {what} (both peers) | 3 | {p50:.0} ms | {p95:.0} ms | {worst:.0} ms |");
    }
}
