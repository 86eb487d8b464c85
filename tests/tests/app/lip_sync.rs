//! Lip sync, end to end, on the screen and in a recording: a tincan-cli peer sends the
//! flash-and-beep clip (a white picture and a 100 ms beep on every whole second, `--video
//! flash --audio beep`); the app shows the pictures at the engine's `show_at` and plays the
//! sound on the virtual speaker. When the page drew each flash (its tile's `recent` log, on
//! the wall clock) is compared with when the speaker played each beep (its monitor, read with
//! arrival times): ITU-R BT.1359 finds sound ahead of the picture by more than 45 ms
//! detectable, so the pairs must be within 45 ms at p95.
//!
//! Meanwhile the app records the call (its Record button): the peer is told, and the WebM
//! file in the Videos folder is read back with ffprobe and ffmpeg as a player would — VP8 and
//! Opus, as long as the recording ran, with each flash and its beep as close in the file.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use tincan_e2e::desktop::page::{
    click, server_address, start_a_call_with_the_pattern, wait_for_home,
};
use tincan_e2e::virtual_audio::{record_virtual_speaker_timed, TimedRecording};
use tincan_e2e::{start_app, CliPeer, Desktop, Place};

use super::{run_app_test, screenshots};

/// How long picture and sound are compared: a flash and a beep a second.
const LISTEN_SECS: f64 = 25.0;
/// Flash-beep pairs needed of the 25 (a few may fall at the edges or be lost).
const PAIRS: usize = 20;
/// The bound on |picture − sound| at p95, in ms.
const SYNC_MS: f64 = 45.0;

#[test]
fn flashes_meet_their_beeps_on_the_screen_and_in_the_recording() {
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

/// Each beep with the flash of the same second: picture minus sound, in ms (positive: the
/// picture came later). Times in µs on one clock.
fn pair_up(beeps: &[f64], flashes: &[f64]) -> Vec<f64> {
    beeps
        .iter()
        .filter_map(|b| {
            flashes
                .iter()
                .map(|f| (f - b) / 1000.0)
                .filter(|d| d.abs() < 500.0)
                .min_by(|x, y| x.abs().total_cmp(&y.abs()))
        })
        .collect()
}

/// |offset| at p95 over the pairs, after checking there are enough; prints the figures.
fn p95_apart(what: &str, offsets: &[f64]) -> f64 {
    assert!(
        offsets.len() >= PAIRS,
        "{what}: only {} flash-beep pairs",
        offsets.len()
    );
    let mut magnitudes: Vec<f64> = offsets.iter().map(|d| d.abs()).collect();
    magnitudes.sort_by(f64::total_cmp);
    let mut sorted = offsets.to_vec();
    sorted.sort_by(f64::total_cmp);
    let p95 = percentile(&magnitudes, 0.95);
    eprintln!(
        "{what}: picture − sound median {:.1} ms, |offset| p95 {p95:.1} ms over {} pairs",
        percentile(&sorted, 0.5),
        offsets.len()
    );
    p95
}

/// What ffprobe says of a recording: its duration in seconds and its streams' codecs.
fn probe(file: &std::path::Path) -> (f64, Vec<String>, Value) {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(file)
        .output()
        .expect("ffprobe runs (Debian's ffmpeg: scripts/install-deps --test)");
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let probe: Value = serde_json::from_slice(&out.stdout).expect("ffprobe's JSON");
    let duration = probe["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0);
    let codecs = probe["streams"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["codec_name"].as_str().map(str::to_owned))
        .collect();
    (duration, codecs, probe)
}

/// The flashes and beeps in a recording, in µs from its start, as ffmpeg decodes them:
/// each picture's mean luma with its time, and the sound as 48 kHz samples from the audio
/// stream's start.
fn flashes_and_beeps_in(file: &std::path::Path, probe: &Value) -> (Vec<f64>, Vec<f64>) {
    let video = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args([
            "-an",
            "-vf",
            "signalstats,metadata=print:key=lavfi.signalstats.YAVG:file=-",
        ])
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    let text = String::from_utf8_lossy(&video.stdout);
    let mut drawn = BTreeMap::new();
    let mut at: Option<f64> = None;
    for line in text.lines() {
        if let Some(t) = line.split("pts_time:").nth(1) {
            at = t.split_whitespace().next().and_then(|t| t.parse().ok());
        } else if let (Some(t), Some(y)) = (at, line.strip_prefix("lavfi.signalstats.YAVG=")) {
            if let Ok(y) = y.trim().parse::<f64>() {
                drawn.insert((t * 1e6) as u64, y as u64);
            }
        }
    }
    let audio_start = probe["streams"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["codec_type"] == "audio")
        .and_then(|s| s["start_time"].as_str())
        .and_then(|t| t.parse::<f64>().ok())
        .unwrap_or(0.0);
    let audio = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-vn", "-ac", "1", "-ar", "48000", "-f", "s16le", "-"])
        .output()
        .expect("ffmpeg runs");
    let samples = audio
        .stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let sound = TimedRecording {
        samples,
        start_us: audio_start * 1e6,
    };
    (flashes(&drawn), beep_onsets(&sound))
}

async fn flash_and_beep() {
    let dir = std::env::temp_dir().join(format!("tincan-app-sync-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("config")).unwrap();
    // The Videos folder, where the desktop's user-dirs.dirs says (as XDG desktops do).
    let videos = dir.join("videos");
    std::fs::write(
        dir.join("config/user-dirs.dirs"),
        format!("XDG_VIDEOS_DIR=\"{}\"\n", videos.display()),
    )
    .unwrap();
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

    // Record: the peer is told.
    click(&app, "record").await;
    let recording_from = std::time::Instant::now();
    assert!(
        peer.said("recording ", Duration::from_secs(10)).await
            && peer
                .printed_after("recording")
                .is_some_and(|r| r.ends_with(" on")),
        "the peer was not told the app records"
    );

    // What the person sees while recording: the button says so, and their own tile shows it.
    desktop.screenshot(&screenshots().join("recording.png"));

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
    // A 30 s recording.
    let recorded_for = Duration::from_secs(30);
    tokio::time::sleep(recorded_for.saturating_sub(recording_from.elapsed())).await;
    click(&app, "record").await;
    let recorded_secs = recording_from.elapsed().as_secs_f64();
    assert!(
        peer.said(" off", Duration::from_secs(10)).await,
        "the peer was not told the recording stopped"
    );
    app.wait_for(
        "the recording saved",
        "return document.getElementById('record').textContent === 'Record'",
        Duration::from_secs(10),
    )
    .await;
    let files: Vec<_> = std::fs::read_dir(&videos)
        .expect("the Videos folder was made")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "webm"))
        .collect();
    assert_eq!(files.len(), 1, "one file for the one peer: {files:?}");
    let name = files[0]
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    assert!(
        name.starts_with("Tincan ") && name.ends_with(" Clip.webm"),
        "{name}"
    );
    let beeps = beep_onsets(&recording);
    let flashes = flashes(&drawn);
    eprintln!(
        "{} pictures drawn, {} flashes; {:.1} s of sound, {} beeps",
        drawn.len(),
        flashes.len(),
        recording.samples.len() as f64 / 48_000.0,
        beeps.len()
    );
    let offsets = pair_up(&beeps, &flashes);
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
    let p95 = p95_apart("on the screen", &offsets);
    assert!(
        p95 <= SYNC_MS,
        "picture and sound {p95:.1} ms apart at p95 (bound {SYNC_MS} ms): {offsets:.0?}"
    );

    // The file, as a player reads it.
    let (duration, codecs, probed) = probe(&files[0]);
    eprintln!("recording: {duration:.2} s ({codecs:?}) for {recorded_secs:.2} s recorded");
    assert!(
        codecs.contains(&"vp8".to_owned()) && codecs.contains(&"opus".to_owned()),
        "streams: {codecs:?}"
    );
    // From the first picture or sound after the click (a keyframe is asked for) to the last.
    assert!(
        (duration - recorded_secs).abs() <= 1.0,
        "the file lasts {duration:.2} s, the recording ran {recorded_secs:.2} s"
    );
    let (file_flashes, file_beeps) = flashes_and_beeps_in(&files[0], &probed);
    let in_file = pair_up(&file_beeps, &file_flashes);
    eprintln!("in the file: picture − sound per pair (ms): {in_file:.0?}");
    let p95 = p95_apart("in the file", &in_file);
    assert!(
        p95 <= SYNC_MS,
        "in the file, picture and sound {p95:.1} ms apart at p95 (bound {SYNC_MS} ms)"
    );
    drop(peer);
}
