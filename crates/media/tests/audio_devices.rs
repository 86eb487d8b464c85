//! The real cpal paths, against virtual PulseAudio devices (scripts/virtual-audio.sh, which
//! scripts/test starts): a tone played into the virtual microphone is captured, and what the
//! speaker sink plays is recorded from the virtual speaker's monitor.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tincan_media::audio::analysis::{dominant_frequency, rms};
use tincan_media::audio::{
    list_microphones, list_speakers, AudioSink, AudioSource, MicrophoneSource, SpeakerSink,
    ToneSource,
};
use tincan_media::SAMPLE_RATE;

/// The tests in this file take the virtual devices one at a time: they share the virtual
/// microphone and speaker, and one of them counts this process's connections to the sound
/// server, which a stream opened by another test at the same moment would add to.
static VIRTUAL_AUDIO: Mutex<()> = Mutex::new(());

/// Checks the virtual PulseAudio daemon is up and holds the devices until the guard drops.
fn virtual_audio() -> MutexGuard<'static, ()> {
    let guard = VIRTUAL_AUDIO
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let up = std::env::var_os("PULSE_SERVER").is_some()
        && Command::new("pactl")
            .arg("info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        up,
        "no PulseAudio daemon: run the tests with scripts/test, or `source scripts/virtual-audio.sh` first"
    );
    guard
}

fn tone_bytes(hz: f64, secs: f64) -> Vec<u8> {
    let mut tone = ToneSource::tone(hz);
    let frames = (secs * 50.0) as usize;
    (0..frames)
        .flat_map(|_| tone.read().unwrap().unwrap().samples)
        .flat_map(|s| s.to_le_bytes())
        .collect()
}

#[test]
fn the_microphone_captures_a_tone_at_48_khz() {
    let _devices = virtual_audio();
    let mics = list_microphones();
    let mic = mics
        .iter()
        .find(|m| m.name.contains("TincanVirtualMic"))
        .unwrap_or_else(|| panic!("virtual mic listed: {mics:?}"));
    assert!(mic.is_default, "the virtual mic is the default: {mic:?}");

    let mut feed = Command::new("pacat")
        .args([
            "--playback",
            "-d",
            "tincan_micfeed",
            "--format=s16le",
            "--rate=48000",
            "--channels=1",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .expect("pacat runs");
    let mut stdin = feed.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&tone_bytes(440.0, 6.0));
    });

    let mut source = MicrophoneSource::open(Some(&mic.id)).expect("the virtual mic opens by id");
    let mut captured = Vec::new();
    // Up to 4 s for the tone to start (a cold virtual mic is slow), then 1 s of it.
    for _ in 0..200 {
        let frame = source
            .read()
            .expect("capture works")
            .expect("a microphone does not end");
        assert_eq!(frame.samples.len(), 960, "20 ms at 48 kHz");
        if rms(&frame.samples) > 0.1 || !captured.is_empty() {
            captured.extend(frame.samples);
        }
        if captured.len() >= SAMPLE_RATE as usize {
            break;
        }
    }
    let _ = feed.kill();
    let _ = writer.join();
    assert!(
        captured.len() >= SAMPLE_RATE as usize,
        "heard the tone for a second ({} samples)",
        captured.len()
    );
    let tail = &captured[4800..];
    let hz = dominant_frequency(tail, SAMPLE_RATE).expect("a tone");
    println!("microphone heard {hz:.1} Hz at level {:.2}", rms(tail));
    assert!((hz - 440.0).abs() < 2.0, "heard {hz:.1} Hz");
    assert!(
        (rms(tail) - 0.5 / 2f64.sqrt()).abs() < 0.1,
        "level kept: {}",
        rms(tail)
    );
}

#[test]
fn what_the_speaker_plays_is_what_was_sent() {
    let _devices = virtual_audio();
    let speakers = list_speakers();
    let speaker = speakers
        .iter()
        .find(|s| s.name.contains("TincanVirtualSpeaker"))
        .unwrap_or_else(|| panic!("virtual speaker listed: {speakers:?}"));

    let mut recorder = Command::new("parec")
        .args([
            "-d",
            "tincan_speaker.monitor",
            "--format=s16le",
            "--rate=48000",
            "--channels=1",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("parec runs");
    let mut out = recorder.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = out.read_to_end(&mut bytes);
        bytes
    });
    std::thread::sleep(Duration::from_millis(300));

    // A sweep: unlike a steady tone, it lines up with the recording at one offset only.
    let mut sweep = ToneSource::sweep(300.0, 3000.0, 1.5);
    let mut sent = Vec::new();
    let mut sink = SpeakerSink::open(Some(&speaker.id)).expect("the virtual speaker opens by id");
    for _ in 0..75 {
        let frame = sweep.read().unwrap().unwrap();
        sink.write(&frame).expect("playback works");
        sent.extend(frame.samples);
    }
    std::thread::sleep(Duration::from_millis(500));
    drop(sink);
    let _ = recorder.kill();
    let bytes = reader.join().unwrap();
    let recorded: Vec<i16> = bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();

    let onset = recorded
        .iter()
        .position(|s| s.unsigned_abs() > 2000)
        .expect("the speaker played something");
    let (best_lag, best) = (onset.saturating_sub(400)..onset + 400)
        .map(|start| {
            (
                start,
                correlation(&sent, &recorded[start.min(recorded.len())..]),
            )
        })
        .fold((0, f64::MIN), |a, b| if b.1 > a.1 { b } else { a });
    println!("speaker recording matches the sweep with correlation {best:.3} at sample {best_lag}");
    assert!(best > 0.9, "correlation {best:.3}");
}

/// Normalised correlation of `a` with the start of `b` (over the shorter length).
fn correlation(a: &[i16], b: &[i16]) -> f64 {
    let n = a.len().min(b.len());
    if n < 1000 {
        return 0.0;
    }
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (x, y) = (f64::from(a[i]), f64::from(b[i]));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa.sqrt() * bb.sqrt()).max(1.0)
}

/// Connections this process holds to the sound server, as the server counts them.
fn our_connections_to_the_server() -> usize {
    let out = Command::new("pactl")
        .args(["list", "clients"])
        .output()
        .expect("pactl runs");
    let me = format!("application.process.id = \"{}\"", std::process::id());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.trim() == me)
        .count()
}

/// The app's device watcher lists microphones and speakers every second of a call. Each
/// listing used to open a connection to PulseAudio (with a reader thread and a 1 MiB buffer)
/// that nothing closed: ~2 MiB and two threads more every second.
#[test]
fn listing_devices_again_and_again_reuses_one_connection() {
    let _devices = virtual_audio();
    assert!(!list_microphones().is_empty());
    let before = our_connections_to_the_server();
    for _ in 0..20 {
        assert!(!list_microphones().is_empty());
        assert!(!list_speakers().is_empty());
    }
    let after = our_connections_to_the_server();
    println!("connections to the sound server: {before} before 40 listings, {after} after");
    assert!(
        (1..=before).contains(&after),
        "connections to the sound server: {before} before 40 listings, {after} after"
    );
}
