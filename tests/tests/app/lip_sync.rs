//! Lip sync, end to end: a tincan-cli peer sends the flash-and-beep clip (a white picture and
//! a 100 ms beep on every whole second, `--video flash --audio beep`); the app shows the
//! pictures at the engine's `show_at` and plays the sound on the virtual speaker. When the
//! page drew each flash (its tile's `recent` log, on the wall clock) is compared with when
//! the speaker played each beep (its monitor, read with arrival times): ITU-R BT.1359 finds
//! sound ahead of the picture by more than 45 ms detectable, so every pair must be within
//! 45 ms at p95.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use tincan_e2e::desktop::page::{server_address, start_a_call_with_the_pattern, wait_for_home};
use tincan_e2e::virtual_audio::{record_virtual_speaker_timed, TimedRecording};
use tincan_e2e::{start_app, CliPeer, Desktop, Place};

use super::run_app_test;

/// How long picture and sound are compared: a flash and a beep a second.
const LISTEN_SECS: f64 = 25.0;
/// Flash-beep pairs needed of the 25 (a few may fall at the edges or be lost).
const PAIRS: usize = 20;
/// The bound on |picture − sound| at p95, in ms.
const SYNC_MS: f64 = 45.0;

#[test]
fn the_app_shows_each_flash_when_its_beep_is_heard() {
    run_app_test(flash_and_beep());
}

/// When each beep started at the speaker, in µs since the epoch: a loud sample after at
/// least 300 ms of quiet (the clip is silent for 900 ms between beeps).
fn beep_onsets(recording: &TimedRecording) -> Vec<f64> {
    const LOUD: u16 = 3_000;
    let quiet_needed = 48_000 * 3 / 10;
    let mut quiet = 0usize;
    let mut onsets = Vec::new();
    for (n, s) in recording.samples.iter().enumerate() {
        if s.unsigned_abs() > LOUD {
            if quiet >= quiet_needed {
                onsets.push(recording.time_of(n));
            }
            quiet = 0;
        } else {
            quiet += 1;
        }
    }
    onsets
}

/// When each flash was drawn, in µs since the epoch: the first bright picture after at least
/// half a second of others (the pattern's mean luma is near 120, a flash's over 200).
fn flashes(drawn: &BTreeMap<u64, u64>) -> Vec<f64> {
    let mut last_bright: Option<u64> = None;
    let mut out = Vec::new();
    for (&at_us, &brightness) in drawn {
        if brightness < 180 {
            continue;
        }
        if last_bright.is_none_or(|last| at_us - last > 500_000) {
            out.push(at_us as f64);
        }
        last_bright = Some(at_us);
    }
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn flash_and_beep() {
    let dir = std::env::temp_dir().join(format!("tincan-app-sync-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("config")).unwrap();
    let desktop = Desktop::start().await;
    let app = start_app(&desktop, &dir.join("config"), &[]).await;
    wait_for_home(&app).await;
    let joined = start_a_call_with_the_pattern(&app).await;
    let room = joined["room"].as_str().unwrap_or_default().to_owned();
    let server = server_address(&app).await;
    let clip = [
        "--video",
        "flash",
        "--audio",
        "beep",
        "--size",
        "640x360",
        "--duration",
        "50",
    ];
    let peer = CliPeer::start_with_server(
        Some(&server),
        &Place::default(),
        &dir,
        "Clip",
        Some(&room),
        &clip,
    )
    .await;
    let tile = peer.id.clone();
    app.wait_for(
        "the clip's pictures drawn",
        &format!("const t = window.tincan.tiles[{tile:?}]; return t && t.drawn > 120"),
        Duration::from_secs(30),
    )
    .await;

    // The speaker's monitor and the page's log of drawn pictures, over the same seconds.
    let speaker = record_virtual_speaker_timed(LISTEN_SECS);
    let mut drawn = BTreeMap::new();
    let read = format!("return window.tincan.tiles[{tile:?}].recent");
    let until = std::time::Instant::now() + Duration::from_secs_f64(LISTEN_SECS);
    while std::time::Instant::now() < until {
        // The page keeps its last 120 pictures (4 s): read every second, nothing is missed.
        let recent: Value = app.execute(&read, json!([])).await;
        for entry in recent.as_array().into_iter().flatten() {
            if let (Some(at_ms), Some(brightness)) = (entry[0].as_f64(), entry[1].as_f64()) {
                drawn.insert((at_ms * 1000.0) as u64, brightness as u64);
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let recording = tokio::task::spawn_blocking(move || speaker.join().expect("recorder"))
        .await
        .expect("recorder");
    let beeps = beep_onsets(&recording);
    let flashes = flashes(&drawn);
    eprintln!(
        "{} pictures drawn, {} flashes; {:.1} s of sound, {} beeps",
        drawn.len(),
        flashes.len(),
        recording.samples.len() as f64 / 48_000.0,
        beeps.len()
    );
    // Each beep with the flash of the same second: picture minus sound, in ms (positive:
    // the picture came later).
    let mut offsets: Vec<f64> = beeps
        .iter()
        .filter_map(|b| {
            flashes
                .iter()
                .map(|f| (f - b) / 1000.0)
                .filter(|d| d.abs() < 500.0)
                .min_by(|x, y| x.abs().total_cmp(&y.abs()))
        })
        .collect();
    let second = |t: &f64| (t % 1e6) / 1000.0;
    let mut sound_latency: Vec<f64> = beeps.iter().map(second).collect();
    let mut picture_latency: Vec<f64> = flashes.iter().map(second).collect();
    for list in [&mut sound_latency, &mut picture_latency] {
        list.sort_by(f64::total_cmp);
    }
    eprintln!("picture − sound per pair (ms): {offsets:.0?}");
    if !sound_latency.is_empty() && !picture_latency.is_empty() {
        eprintln!(
            "from the clip's second: beep heard after {:.0} ms, flash drawn after {:.0} ms (medians)",
            percentile(&sound_latency, 0.5),
            percentile(&picture_latency, 0.5)
        );
    }
    assert!(
        offsets.len() >= PAIRS,
        "only {} flash-beep pairs in {LISTEN_SECS} s (beeps {}, flashes {})",
        offsets.len(),
        beeps.len(),
        flashes.len()
    );
    let mut magnitudes: Vec<f64> = offsets.iter().map(|d| d.abs()).collect();
    magnitudes.sort_by(f64::total_cmp);
    offsets.sort_by(f64::total_cmp);
    let p95 = percentile(&magnitudes, 0.95);
    eprintln!(
        "lip sync: median {:.1} ms, |offset| p95 {p95:.1} ms over {} pairs",
        percentile(&offsets, 0.5),
        offsets.len()
    );
    assert!(
        p95 <= SYNC_MS,
        "picture and sound {p95:.1} ms apart at p95 (bound {SYNC_MS} ms): {offsets:.0?}"
    );
    drop(peer);
}
