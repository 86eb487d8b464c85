//! Calls end to end: a real tincan-server and real tincan-cli peers on loopback, each sending
//! the stamped test pattern and a tone, each writing what it measured to a JSON summary.

use std::path::PathBuf;
use std::sync::Mutex;

use serde_json::Value;
use std::time::Duration;

use tincan_e2e::{about, CliPeer, RawClient, ServerProcess};
use tincan_protocol::{ClientMessage, Commitment, PeerId, ServerMessage, Signal};
use tokio::process::Command;

#[path = "call/echo.rs"]
mod echo;
#[path = "call/files.rs"]
mod files;
#[path = "call/resilience.rs"]
mod resilience;
#[path = "call/ringing.rs"]
mod ringing;
#[path = "call/scale_out.rs"]
mod scale_out;
#[path = "call/screen.rs"]
mod screen;
#[path = "call/windows.rs"]
mod windows;

/// Calls share two cores: one at a time, so a slow machine cannot fail them.
static ONE_CALL_AT_A_TIME: Mutex<()> = Mutex::new(());

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tincan-call-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn n(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v:#}"))
}

/// `receiver` decoded at least 95 % of what `sender` sent it, every stamp readable and in order.
fn assert_video(sender: &Value, receiver: &Value, sender_id: &str, receiver_id: &str) {
    let sent = n(about(sender, receiver_id), "video_frames_sent");
    let got = about(receiver, sender_id);
    let decoded = n(got, "video_frames_decoded");
    assert!(sent > 100.0, "{sender_id} sent only {sent} frames");
    assert!(
        decoded >= 0.95 * sent,
        "{receiver_id} decoded {decoded} of {sent}"
    );
    assert_eq!(
        n(got, "stamps_unreadable"),
        0.0,
        "every decoded frame's stamp read back"
    );
    assert!(n(got, "stamps_read") >= 0.95 * sent, "stamps read");
    assert_eq!(n(got, "stamps_out_of_order"), 0.0, "stamps in order");
}

fn assert_tone(receiver: &Value, sender_id: &str, hz: f64) {
    let got = n(about(receiver, sender_id), "audio_hz");
    assert!(
        (got - hz).abs() < 3.0,
        "heard {got:.1} Hz from {sender_id}, sent {hz}"
    );
}

async fn two_way_call(size: &str, bitrate: &str) {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let server = ServerProcess::start(&[]).await;
    let dir = temp_dir(size);
    let common = ["--size", size, "--bitrate", bitrate];
    let a = CliPeer::start(
        &server,
        &dir,
        "Ada",
        None,
        &[
            &common[..],
            &["--duration", "11", "--chat", "hello from Ada"],
        ]
        .concat(),
    )
    .await;
    let (room, a_id) = (a.room.clone(), a.id.clone());
    let b = CliPeer::start(
        &server,
        &dir,
        "Bo",
        Some(&room),
        &[
            &common[..],
            &[
                "--duration",
                "10",
                "--audio",
                "tone:660",
                "--chat",
                "hello from Bo",
            ],
        ]
        .concat(),
    )
    .await;
    let b_id = b.id.clone();
    let (a, b) = (a.finish().await, b.finish().await);

    assert_video(&a, &b, &a_id, &b_id);
    assert_video(&b, &a, &b_id, &a_id);
    assert_tone(&b, &a_id, 440.0);
    assert_tone(&a, &b_id, 660.0);
    assert_eq!(
        about(&a, &b_id)["chat"],
        serde_json::json!(["hello from Bo"])
    );
    assert_eq!(
        about(&b, &a_id)["chat"],
        serde_json::json!(["hello from Ada"])
    );
    let code = about(&a, &b_id)["security_code"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        about(&b, &a_id)["security_code"].as_str().unwrap(),
        code,
        "security codes match"
    );
    // Twenty digits in five groups (docs/calls.md, "The security code").
    assert_eq!(code.len(), 24, "{code}");
    assert!(
        code.split(' ')
            .all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_digit())),
        "{code}"
    );
    for (summary, other) in [(&a, &b_id), (&b, &a_id)] {
        let p = about(summary, other);
        println!(
            "{size}: setup {} ms, latency p50 {} ms p95 {} ms, {} decoded, cpu {} s",
            p["setup_ms"],
            p["latency_p50_ms"],
            p["latency_p95_ms"],
            p["video_frames_decoded"],
            summary["cpu_seconds"]
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_10_second_call_at_640x360_carries_video_audio_and_chat_both_ways() {
    two_way_call("640x360", "800").await;
}

#[tokio::test]
async fn a_10_second_call_at_1280x720_carries_video_and_audio_both_ways() {
    two_way_call("1280x720", "1500").await;
}

#[tokio::test]
async fn three_peers_each_receive_both_others() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let server = ServerProcess::start(&[]).await;
    let dir = temp_dir("mesh");
    let a = CliPeer::start(&server, &dir, "Ada", None, &["--duration", "10"]).await;
    let room = a.room.clone();
    let b = CliPeer::start(
        &server,
        &dir,
        "Bo",
        Some(&room),
        &["--duration", "9", "--audio", "tone:550"],
    )
    .await;
    let c = CliPeer::start(
        &server,
        &dir,
        "Cy",
        Some(&room),
        &["--duration", "8", "--audio", "tone:660"],
    )
    .await;
    let ids = [a.id.clone(), b.id.clone(), c.id.clone()];
    let tones = [440.0, 550.0, 660.0];
    let summaries = [a.finish().await, b.finish().await, c.finish().await];
    for i in 0..3 {
        for j in 0..3 {
            if i != j {
                assert_video(&summaries[j], &summaries[i], &ids[j], &ids[i]);
                assert_tone(&summaries[i], &ids[j], tones[j]);
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Video sized to each receiver: a peer that shows Ada in a tile at most half her picture's
/// size each way (160x90 of 320x180) gets half her frames (temporal layer 0, every one decodable), one that shows her in full
/// gets them all, and one that does not show her gets none — and still hears her.
#[tokio::test]
async fn each_peer_gets_the_frame_rate_its_tile_needs() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let server = ServerProcess::start(&[]).await;
    let dir = temp_dir("sized");
    let ada_args = ["--duration", "11", "--size", "320x180", "--bitrate", "300"];
    let ada = CliPeer::start(&server, &dir, "Ada", None, &ada_args).await;
    let room = ada.room.clone();
    let small = ["--duration", "10", "--show", "160x90", "--video", "none"];
    let bo = CliPeer::start(&server, &dir, "Bo", Some(&room), &small).await;
    let cy = CliPeer::start(
        &server,
        &dir,
        "Cy",
        Some(&room),
        &["--duration", "10", "--video", "none"],
    )
    .await;
    let none = ["--duration", "10", "--show", "none", "--video", "none"];
    let dee = CliPeer::start(&server, &dir, "Dee", Some(&room), &none).await;
    let (ada_id, bo_id, cy_id, dee_id) =
        (ada.id.clone(), bo.id.clone(), cy.id.clone(), dee.id.clone());
    let ada_sum = ada.finish().await;
    let (bo_sum, cy_sum, dee_sum) = (bo.finish().await, cy.finish().await, dee.finish().await);
    let sent = |to: &str| n(about(&ada_sum, to), "video_frames_sent");
    let (to_bo, to_cy, to_dee) = (sent(&bo_id), sent(&cy_id), sent(&dee_id));
    eprintln!(
        "Ada sent {to_cy} frames to Cy (full), {to_bo} to Bo (small tile), {to_dee} to Dee (none)"
    );
    assert!(to_cy > 200.0, "Cy got only {to_cy} frames");
    let ratio = to_bo / to_cy;
    assert!(
        (0.4..=0.6).contains(&ratio),
        "Bo got {ratio:.2} of Cy's frames"
    );
    assert_video(&ada_sum, &bo_sum, &ada_id, &bo_id);
    assert_video(&ada_sum, &cy_sum, &ada_id, &cy_id);
    assert_eq!(to_dee, 0.0, "Dee shows no video and got {to_dee} frames");
    assert_tone(&dee_sum, &ada_id, 440.0);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_peer_that_leaves_and_rejoins_is_called_again() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let server = ServerProcess::start(&[]).await;
    let dir = temp_dir("rejoin");
    let a = CliPeer::start(&server, &dir, "Ada", None, &["--duration", "12"]).await;
    let (room, a_id) = (a.room.clone(), a.id.clone());
    let first = CliPeer::start(&server, &dir, "Bo", Some(&room), &["--duration", "4"]).await;
    let first_id = first.id.clone();
    let first = first.finish().await;
    let again = CliPeer::start(&server, &dir, "Bo-again", Some(&room), &["--duration", "4"]).await;
    let again_id = again.id.clone();
    let again = again.finish().await;
    let a = a.finish().await;
    assert_ne!(first_id, again_id);
    for (b, b_id) in [(&first, &first_id), (&again, &again_id)] {
        let decoded = n(about(b, &a_id), "video_frames_decoded");
        assert!(
            decoded > 60.0,
            "{b_id} decoded only {decoded} frames from Ada"
        );
        let decoded = n(about(&a, b_id), "video_frames_decoded");
        assert!(
            decoded > 60.0,
            "Ada decoded only {decoded} frames from {b_id}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_wrong_code_and_a_dead_server_exit_with_their_own_codes() {
    let server = ServerProcess::start(&[]).await;
    let cli = tincan_e2e::binary("tincan-cli");
    let out = Command::new(&cli)
        .args([
            "call",
            "--server",
            &server.addr.to_string(),
            "--room",
            "k7wq-2m9x-d4tp",
            "--duration",
            "1",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "room not found");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no room has the code k7wq-2m9x-d4tp"));
    let addr = server.addr;
    server.stop().await;
    let out = Command::new(&cli)
        .args([
            "call",
            "--server",
            &addr.to_string(),
            "--create",
            "--duration",
            "1",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "server unreachable");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the server"));
}

#[tokio::test]
async fn a_keyframe_asked_for_arrives_within_200_ms_and_muting_silences_the_audio() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let server = ServerProcess::start(&[]).await;
    let dir = temp_dir("keyframe");
    let a = CliPeer::start(
        &server,
        &dir,
        "Ada",
        None,
        &["--duration", "7", "--mute-after", "3"],
    )
    .await;
    let (room, a_id) = (a.room.clone(), a.id.clone());
    // Bo throws Ada's video away from 3 s in and asks for a keyframe (a PLI).
    let b = CliPeer::start(
        &server,
        &dir,
        "Bo",
        Some(&room),
        &["--duration", "6", "--refresh-video-at", "3"],
    )
    .await;
    let b = b.finish().await;
    let _ = a.finish().await;
    let from_ada = about(&b, &a_id);
    let waits = from_ada["keyframe_waits_ms"].as_array().unwrap();
    assert_eq!(
        waits.len(),
        1,
        "one keyframe asked for and received: {from_ada:#}"
    );
    let waited = waits[0].as_f64().unwrap();
    println!("keyframe arrived {waited} ms after the PLI");
    assert!(waited <= 200.0, "keyframe took {waited} ms");
    assert!(
        n(from_ada, "stamps_read") > 120.0,
        "video went on after the refresh"
    );
    // Ada muted at 3 s: the last second Bo heard from her is silence.
    assert!(
        n(from_ada, "audio_level") < 0.01,
        "muted audio is silent: {}",
        from_ada["audio_level"]
    );
    assert!(
        n(from_ada, "audio_frames_received") > 200.0,
        "muted audio still flows (as silence)"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Ada plays Bo on the (virtual) speaker through the jitter buffer and records him; Bo sends
/// a 660 Hz tone. The speaker plays 660 Hz; the recording holds every frame Ada decoded, in
/// order, and the tone.
#[tokio::test]
async fn the_speaker_plays_the_far_end_and_the_recording_keeps_it() {
    use tincan_media::audio::analysis::dominant_frequency;
    use tincan_media::audio::{AudioSource, WavSource};
    use tincan_media::codec::{IvfReader, Vp8Decoder};
    use tincan_media::video::stamp;

    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let server = ServerProcess::start(&[]).await;
    let dir = temp_dir("record");
    let recordings = dir.join("recordings");
    let record = recordings.to_str().unwrap();
    let a = CliPeer::start(
        &server,
        &dir,
        "Ada",
        None,
        &[
            "--duration",
            "8",
            "--speaker",
            "default",
            "--record",
            record,
        ],
    )
    .await;
    let b = CliPeer::start(
        &server,
        &dir,
        "Bo",
        Some(&a.room),
        &["--duration", "7", "--audio", "tone:660"],
    )
    .await;
    let b_id = b.id.clone();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let played = tincan_e2e::virtual_audio::record_virtual_speaker(3.0);
    let (a, _b) = (a.finish().await, b.finish().await);

    let played = played.join().expect("speaker recording");
    let heard = dominant_frequency(&played[played.len().saturating_sub(48_000)..], 48_000);
    assert!(
        heard.is_some_and(|hz| (hz - 660.0).abs() < 3.0),
        "the speaker played {heard:?} Hz, Bo sent 660"
    );

    let decoded = about(&a, &b_id)["video_frames_decoded"].as_u64().unwrap();
    let mut ivf =
        IvfReader::open(recordings.join(format!("{b_id}.ivf"))).expect("a video recording");
    assert_eq!((ivf.width, ivf.height), (640, 360));
    // The summary's count is read as Ada leaves; a frame decoded in that moment is recorded
    // but not counted.
    let recorded = u64::from(ivf.frames);
    assert!(
        (decoded..=decoded + 2).contains(&recorded),
        "{recorded} frames recorded, {decoded} decoded"
    );
    let mut decoder = Vp8Decoder::new().unwrap();
    let (mut last, mut frames, mut last_ms) = (None, 0, 0);
    while let Some((frame, ms)) = ivf.next_frame().unwrap() {
        let picture = decoder.decode(&frame, 0).expect("recorded frames decode");
        let number = stamp::read(&picture).expect("stamps survive").frame_number;
        assert!(last.is_none_or(|l| number > l), "frames in order");
        assert!(ms >= last_ms, "timestamps in order");
        (last, last_ms, frames) = (Some(number), ms, frames + 1);
    }
    assert_eq!(
        frames, recorded,
        "the header's count matches the frames in the file"
    );
    assert!(
        last_ms > 5_000,
        "the recording spans the call ({last_ms} ms)"
    );

    let mut wav =
        WavSource::open(recordings.join(format!("{b_id}.wav")), false).expect("an audio recording");
    let mut samples = Vec::new();
    while let Some(frame) = wav.read().unwrap() {
        samples.extend(frame.samples);
    }
    assert!(
        samples.len() > 5 * 48_000,
        "{} samples recorded",
        samples.len()
    );
    let hz = dominant_frequency(&samples[samples.len() / 2..], 48_000);
    assert!(
        hz.is_some_and(|hz| (hz - 660.0).abs() < 3.0),
        "recorded {hz:?} Hz"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Bo switches his video to a 320x180 file and his audio to 660 Hz three seconds in: the
/// same tracks carry them (nothing renegotiated), and Ada ends up seeing 320x180 and hearing
/// 660 Hz, with the video decoding throughout.
#[tokio::test]
async fn switching_sources_mid_call_keeps_the_call_going() {
    use tincan_media::video::VideoFormat;

    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = temp_dir("switch");
    let clip = dir.join("small.y4m");
    let format = VideoFormat {
        width: 320,
        height: 180,
        fps: 30,
    };
    tincan_e2e::write_stamped_clip(&clip, format, 30);

    let server = ServerProcess::start(&[]).await;
    let a = CliPeer::start(&server, &dir, "Ada", None, &["--duration", "8"]).await;
    let video_switch = format!("3:{}", clip.display());
    let b = CliPeer::start(
        &server,
        &dir,
        "Bo",
        Some(&a.room),
        &[
            "--duration",
            "7",
            "--switch-video-at",
            &video_switch,
            "--switch-audio-at",
            "3:tone:660",
        ],
    )
    .await;
    let (a_id, b_id) = (a.id.clone(), b.id.clone());
    let (a, b) = (a.finish().await, b.finish().await);
    let got = about(&a, &b_id);
    assert_eq!(
        got["received_size"],
        serde_json::json!([320, 180]),
        "{got:#}"
    );
    assert_tone(&a, &b_id, 660.0);
    let sent = n(about(&b, &a_id), "video_frames_sent");
    let decoded = n(got, "video_frames_decoded");
    assert!(decoded >= 0.95 * sent, "Ada decoded {decoded} of {sent}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Someone in the middle (a server, or here a peer that breaks its word) cannot show a
/// certificate other than the one it committed to before seeing ours: `tincan-cli` waits for
/// the far end's commitment before its offer shows its own fingerprint, and refuses an answer
/// whose fingerprint breaks the commitment, or a second, different commitment, saying why
/// (docs/calls.md, "The security code").
#[tokio::test]
async fn a_certificate_other_than_the_one_committed_to_is_refused() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let server = ServerProcess::start(&[]).await;
    let mut mallory = RawClient::greeted(&server.ws_url()).await;
    let room = mallory.create_room().await;
    mallory.join(&room, "Mallory").await;
    let dir = temp_dir("commitment");
    let ada = CliPeer::start(&server, &dir, "Ada", Some(&room), &["--duration", "20"]).await;
    let ada_id = PeerId(ada.id.clone());
    let Some(Signal::Commit {
        hash: ada_commitment,
        reply: true,
    }) = next_signal(&mut mallory, Duration::from_secs(10)).await
    else {
        panic!("Ada's first word is her commitment, asking for ours");
    };
    assert_eq!(
        next_signal(&mut mallory, Duration::from_secs(1)).await,
        None,
        "no offer before our commitment"
    );
    let promised = vec!["sha-256 aa:bb:cc".to_owned()];
    let commit = |fingerprints: &[String]| Signal::Commit {
        hash: Commitment::to(fingerprints),
        reply: false,
    };
    let send = |signal: Signal| {
        ClientMessage::Signal {
            to: ada_id.clone(),
            signal,
        }
        .to_json()
    };
    mallory.send(&send(commit(&promised))).await;
    let Some(Signal::Offer { sdp }) = next_signal(&mut mallory, Duration::from_secs(10)).await
    else {
        panic!("Ada offers once she holds our commitment");
    };
    assert!(ada_commitment.matches(&sdp), "her offer keeps her word");
    // An answer from another certificate than the one promised.
    let answer = "v=0\r\no=- 7 2 IN IP4 127.0.0.1\r\na=fingerprint:sha-256 DD:EE:FF\r\n";
    mallory
        .send(&send(Signal::Answer {
            sdp: answer.to_owned(),
        }))
        .await;
    assert!(
        ada.said(
            "certificate is not the one it committed to",
            Duration::from_secs(5)
        )
        .await,
        "Ada refuses the answer and says why"
    );
    mallory
        .send(&send(commit(&["sha-256 dd:ee:ff".to_owned()])))
        .await;
    assert!(
        ada.said("a different security commitment", Duration::from_secs(5))
            .await,
        "Ada refuses a second commitment and says why"
    );
    drop(ada);
}

/// The next offer, answer or commitment `client` is sent within `wait`, if any.
async fn next_signal(client: &mut RawClient, wait: Duration) -> Option<Signal> {
    loop {
        if let ServerMessage::Signal { signal, .. } = client.try_recv(wait).await? {
            if matches!(
                signal,
                Signal::Offer { .. } | Signal::Answer { .. } | Signal::Commit { .. }
            ) {
                return Some(signal);
            }
        }
    }
}
