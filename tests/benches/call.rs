//! Call benchmarks (not tests): release tincan-server and tincan-cli processes on loopback.
//!
//! - setup time: both peers in the room → first remote frame decoded, median of 10 calls;
//! - frame latency at 720p30: capture → decoded at the receiver, read from the stamps;
//! - CPU of one 720p30 two-way call, both ends together, in cores;
//! - a shared 1920x1080 screen (a still page of text on Xvfb) at 10 fps and 1 Mbit/s: the
//!   sharer's CPU, its bitrate, and the Y-PSNR of the far end's last picture at full size.
//!
//! Run with `scripts/bench-call`. TINCAN_BENCH_SECONDS sets the 720p call's and the share's
//! length (20).

use std::time::Duration;

use serde_json::Value;
use tincan_e2e::screen::{desktop_showing_text, last_recorded};
use tincan_e2e::{about, CliPeer, ServerProcess};
use tincan_media::video::y_psnr;

async fn call(server: &ServerProcess, secs: f64, size: &str, bitrate: &str) -> (Value, Value) {
    let dir = std::env::temp_dir().join(format!("tincan-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let args = |secs: f64| {
        vec![
            "--size".to_owned(),
            size.to_owned(),
            "--bitrate".into(),
            bitrate.into(),
            "--duration".into(),
            secs.to_string(),
        ]
    };
    let a_args = args(secs + 0.5);
    let a = CliPeer::start(
        server,
        &dir,
        "a",
        None,
        &a_args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    let b_args = args(secs);
    let b = CliPeer::start(
        server,
        &dir,
        "b",
        Some(&a.room.clone()),
        &b_args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    let b = b.finish().await;
    let a = a.finish().await;
    (a, b)
}

fn peer(v: &Value) -> &Value {
    &v["peers"][0]
}

#[tokio::main]
async fn main() {
    let seconds: f64 = std::env::var("TINCAN_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20.0);
    let server = ServerProcess::start(&[]).await;

    let mut setups = Vec::new();
    for _ in 0..10 {
        let (a, b) = call(&server, 2.0, "640x360", "800").await;
        for s in [&a, &b] {
            if let Some(ms) = peer(s)["setup_ms"].as_f64() {
                setups.push(ms);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    setups.sort_by(|x, y| x.total_cmp(y));
    let median = setups[setups.len() / 2];
    println!("setup time (both in the room → first remote frame decoded), 10 calls, both ends:");
    println!(
        "  median {median:.0} ms, min {:.0} ms, max {:.0} ms",
        setups[0],
        setups[setups.len() - 1]
    );

    let (a, b) = call(&server, seconds, "1280x720", "1500").await;
    println!("720p30 at 1.5 Mbps, {seconds} s, two-way:");
    for (name, me, other) in [("a", &a, &b), ("b", &b, &a)] {
        let p = peer(me);
        println!(
            "  {name} received {} of {} frames, latency p50 {:.1} ms p95 {:.1} ms, shown (held for lip sync) p50 {:.1} ms, audio buffer {} ms, cpu {:.2} s over {:.1} s",
            p["video_frames_decoded"],
            peer(other)["video_frames_sent"],
            p["latency_p50_ms"].as_f64().unwrap_or(f64::NAN),
            p["latency_p95_ms"].as_f64().unwrap_or(f64::NAN),
            p["shown_latency_p50_ms"].as_f64().unwrap_or(f64::NAN),
            p["audio_buffer_ms"],
            me["cpu_seconds"].as_f64().unwrap_or(0.0),
            me["seconds"].as_f64().unwrap_or(0.0),
        );
    }
    let cpu = a["cpu_seconds"].as_f64().unwrap_or(0.0) + b["cpu_seconds"].as_f64().unwrap_or(0.0);
    let wall = a["seconds"]
        .as_f64()
        .unwrap_or(1.0)
        .max(b["seconds"].as_f64().unwrap_or(1.0));
    println!("  CPU per call, both ends: {:.2} cores", cpu / wall);
    share_a_screen(&server, seconds).await;
    server.stop().await;
}

/// A still 1920x1080 page of text shared at 10 fps and at most 1 Mbit/s to a peer that sends
/// nothing and records what it decodes.
async fn share_a_screen(server: &ServerProcess, seconds: f64) {
    const W: u32 = 1920;
    const H: u32 = 1080;
    let dir = std::env::temp_dir().join(format!("tincan-bench-screen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (desktop, expected) = desktop_showing_text(&dir, W, H).await;
    let screen = format!("screen:{}", desktop.display);
    let secs = seconds.to_string();
    let a = CliPeer::start(
        server,
        &dir,
        "sharer",
        None,
        &[
            "--video",
            &screen,
            "--fps",
            "10",
            "--bitrate",
            "1000",
            "--audio",
            "none",
            "--duration",
            &secs,
        ],
    )
    .await;
    let recordings = dir.join("recordings");
    let b = CliPeer::start(
        server,
        &dir,
        "viewer",
        Some(&a.room.clone()),
        &[
            "--video",
            "none",
            "--audio",
            "none",
            "--duration",
            &secs,
            "--record",
            recordings.to_str().unwrap(),
        ],
    )
    .await;
    let a_id = a.id.clone();
    let (a, b) = tokio::join!(a.finish(), b.finish());
    let recorded = last_recorded(&recordings.join(format!("{a_id}.ivf")));
    let psnr = recorded.last.map_or(0.0, |l| y_psnr(&l, &expected));
    let sent = peer(&a);
    let seen = about(&b, &a_id);
    println!("screen share, 1920x1080 still page of text, 10 fps, at most 1 Mbit/s, {seconds} s:");
    println!(
        "  sharer cpu {:.2} cores, sent {:.0} kbit/s, {} frames; viewer decoded {} at {}x{}, Y-PSNR of the last {psnr:.1} dB",
        a["cpu_seconds"].as_f64().unwrap_or(0.0) / a["seconds"].as_f64().unwrap_or(1.0),
        sent["bitrate_out_kbps"].as_f64().unwrap_or(f64::NAN),
        sent["video_frames_sent"],
        seen["video_frames_decoded"],
        recorded.size.0,
        recorded.size.1,
    );
    let _ = std::fs::remove_dir_all(&dir);
}
