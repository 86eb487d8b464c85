//! The app in a room of eight: seven `tincan-cli` peers sending 360p, through a server that
//! holds eight. For 60 s every tile must draw at least 15 pictures a second, and the active
//! speaker (the one peer sending a tone) is outlined and pinned large. The peers are headless
//! and say so (`--show none`), so none sends video to another: the app alone decodes seven
//! streams, as a person's computer in such a call would. The figures it prints (per-tile
//! frame rates, the app's CPU and memory, each peer's uplink) are in BENCHMARKS.md;
//! `TINCAN_ROOM_OF=N` runs the same room with N people instead of eight, for those figures.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tincan_e2e::cli::about;
use tincan_e2e::desktop::page::{start_a_call_with_the_pattern, wait_for_home};
use tincan_e2e::process::{cpu_ticks, pids, rss_mib};
use tincan_e2e::{start_app, CliPeer, Desktop, Place, ServerProcess};

use super::{run_app_test, screenshots, settings_through};

/// How long the frame rates are measured.
const MEASURE: Duration = Duration::from_secs(60);
/// The least each tile may draw, pictures a second.
const MIN_FPS: f64 = 15.0;

#[test]
fn a_room_of_eight_draws_every_tile_and_pins_the_speaker() {
    run_app_test(room_of_eight());
}

async fn room_of_eight() {
    let people: usize = std::env::var("TINCAN_ROOM_OF")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| (2..=8).contains(n))
        .unwrap_or(8);
    let dir = std::env::temp_dir().join(format!("tincan-app-eight-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let server = ServerProcess::start(&["--room-capacity", "8"]).await;
    settings_through(&dir, &server);
    let desktop = Desktop::start().await;
    let app = start_app(&desktop, &dir.join("config"), &[]).await;
    wait_for_home(&app).await;
    let joined = start_a_call_with_the_pattern(&app).await;
    let room = joined["room"].as_str().unwrap_or_default().to_owned();
    let me = joined["me"].as_str().unwrap_or_default().to_owned();

    // The first peer talks (a tone); the others are silent.
    let mut peers = Vec::new();
    for n in 1..people {
        let name = format!("P{n}");
        let audio = if n == 1 { "tone:660" } else { "none" };
        let flags = [
            "--duration",
            "110",
            "--size",
            "640x360",
            "--bitrate",
            "500",
            "--show",
            "none",
            "--audio",
            audio,
        ];
        let place = Place::default();
        peers.push(CliPeer::start_at(&server, &place, &dir, &name, Some(&room), &flags).await);
    }
    let ids: Vec<String> = peers.iter().map(|p| p.id.clone()).collect();
    let counts_js = format!(
        "const ids = {ids:?};
         const counts = ids.map(id => window.tincan.tiles[id] ? window.tincan.tiles[id].drawn : 0);"
    );
    let drawn = format!("{counts_js} return counts");
    app.wait_for(
        "every remote tile drawing",
        &format!("{counts_js} return counts.every(c => c > 30) && counts"),
        Duration::from_secs(60),
    )
    .await;

    let app_pid = pids(|_, cmd, _| {
        cmd.split('\0')
            .next()
            .is_some_and(|p| p.ends_with("/tincan"))
    })
    .first()
    .copied()
    .expect("the app runs");
    let counts = |v: Value| -> Vec<f64> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|c| c.as_f64().unwrap_or(0.0))
            .collect()
    };
    let start = Instant::now();
    let (drawn_0, cpu_0) = (
        counts(app.execute(&drawn, json!([])).await),
        cpu_ticks(app_pid),
    );
    let mut rss_max: f64 = 0.0;
    while start.elapsed() < MEASURE {
        rss_max = rss_max.max(rss_mib(app_pid));
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let (drawn_1, cpu_1) = (
        counts(app.execute(&drawn, json!([])).await),
        cpu_ticks(app_pid),
    );
    let seconds = start.elapsed().as_secs_f64();
    let fps: Vec<f64> = drawn_0
        .iter()
        .zip(&drawn_1)
        .map(|(a, b)| ((b - a) / seconds * 10.0).round() / 10.0)
        .collect();
    let app_cores = (cpu_1 - cpu_0) as f64 / 100.0 / seconds;
    eprintln!(
        "room of {people}: tiles drew {fps:?} pictures a second; app {app_cores:.2} cores, RSS up to {rss_max:.0} MiB"
    );

    // The one talking is outlined and, in a room of five or more, pinned large.
    let speaker = app
        .wait_for(
            "the talking peer marked as the active speaker",
            &format!(
                "const t = document.getElementById('tile-' + {p1:?});
                 return window.tincan.speaker === {p1:?} && t.classList.contains('speaking')
                        && [t.classList.contains('pinned'), t.getBoundingClientRect().width]",
                p1 = ids[0]
            ),
            Duration::from_secs(15),
        )
        .await;
    if people >= 5 {
        assert_eq!(speaker[0], json!(true), "the speaker is pinned: {speaker}");
    }
    if people == 8 {
        desktop.screenshot(&screenshots().join("room-of-eight.png"));
    }

    // Each peer's uplink: what it sent to everyone, audio and (to the app) video.
    let mut uplinks = Vec::new();
    for peer in peers {
        let summary = peer.finish().await;
        let out: f64 = summary["peers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["bitrate_out_kbps"].as_f64())
            .sum();
        uplinks.push(out.round());
        let to_app = about(&summary, &me);
        assert!(
            to_app["video_frames_sent"].as_f64().unwrap_or(0.0) > 0.0,
            "a peer sent the app no video"
        );
    }
    eprintln!("room of {people}: each peer's uplink {uplinks:?} kbit/s");
    for (id, tile_fps) in ids.iter().zip(&fps) {
        assert!(
            *tile_fps >= MIN_FPS,
            "{id}'s tile drew {tile_fps} pictures a second (all: {fps:?})"
        );
    }
    drop(app);
}
