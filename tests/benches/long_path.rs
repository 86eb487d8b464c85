//! Video over long and lossy paths (a benchmark, not a test): two release `tincan-cli` peers
//! across `tincan_e2e::LongPath` at 0/2/5/10 % random loss each way and 0/50/100/200 ms each
//! way (±10 ms jitter where delayed), 640x360 at 30 fps. Prints a Markdown table of what
//! each side decoded of what the other sent, its frame rate over the last 10 s, freezes,
//! capture → decode latency and keyframe requests, averaged over both directions.
//!
//! Run as root with `scripts/bench-network`. TINCAN_BENCH_SECONDS sets each call's length
//! (15); TINCAN_BIN_DIR runs another build of tincan-cli and tincan-server (a "before").

use serde_json::Value;
use tincan_e2e::about;
use tincan_e2e::long_path::{call_over, Impairment, LongPath};

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() {
    let seconds: u32 = std::env::var("TINCAN_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    println!("| one way | loss | decoded | fps (last 10 s) | freezes | frozen | latency p50 / p95 | keyframes asked |");
    println!("|---|---|---|---|---|---|---|---|");
    for delay in [0u64, 50, 100, 200] {
        for loss in [0.0, 2.0, 5.0, 10.0] {
            let path = LongPath::new(
                Impairment::delay_loss(delay, loss),
                Impairment::delay_loss(delay, loss),
            );
            let (a, b, a_id, b_id) = call_over(&path, seconds, &[], &[]).await;
            let mut cols = [0.0f64; 8];
            for (sender, receiver) in [
                (about(&a, &b_id), about(&b, &a_id)),
                (about(&b, &a_id), about(&a, &b_id)),
            ] {
                let fps = receiver["fps_last_10s"]
                    .as_f64()
                    .unwrap_or_else(|| num(receiver, "fps_received"));
                let values = [
                    num(receiver, "video_frames_decoded") / num(sender, "video_frames_sent"),
                    fps,
                    num(receiver, "freezes"),
                    num(receiver, "freeze_ms"),
                    num(receiver, "latency_p50_ms"),
                    num(receiver, "latency_p95_ms"),
                    num(receiver, "keyframes_requested"),
                    0.0,
                ];
                for (c, v) in cols.iter_mut().zip(values) {
                    *c += v / 2.0;
                }
            }
            println!(
                "| {delay} ms | {loss} % | {:.0} % | {:.1} | {:.1} | {:.1} s | {:.0} / {:.0} ms | {:.1} |",
                cols[0] * 100.0,
                cols[1],
                cols[2],
                cols[3] / 1000.0,
                cols[4],
                cols[5],
                cols[6]
            );
            drop(path);
        }
    }
}
