//! Browser guests against the native engine: headless Chromium (its own getUserMedia and
//! RTCPeerConnection, fake devices fed from a stamped y4m file and a wav) on the page
//! tincan-server serves, in a room with tincan-cli peers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use tincan_e2e::{about, Browser, CliPeer, FakeDevices, Netns, Place, ServerProcess};
use tincan_media::audio::{AudioSink, AudioSource, ToneSource, WavSink};
use tincan_media::video::VideoFormat;

/// The tone Chromium's fake microphone plays.
const BROWSER_HZ: f64 = 523.0;

/// Browser calls share two cores with their native peers: one at a time.
static ONE_CALL_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A stamped 640x360 clip (10 s, looped by Chromium) and a tone, written once per run.
fn fake_devices(dir: &Path) -> (PathBuf, PathBuf) {
    let video = dir.join("camera.y4m");
    let audio = dir.join("microphone.wav");
    let format = VideoFormat {
        width: 640,
        height: 360,
        fps: 30,
    };
    tincan_e2e::write_stamped_clip(&video, format, 300);
    // 30 s: Chromium plays the file from when the page opens the microphone, once.
    let mut tone = ToneSource::tone(BROWSER_HZ);
    let mut wav = WavSink::create(&audio).unwrap();
    for _ in 0..1500 {
        wav.write(&tone.read().unwrap().unwrap()).unwrap();
    }
    wav.finish().unwrap();
    (video, audio)
}

/// Opens the share link of `room` in a new headless Chromium, joins as "Chromium" with the
/// microphone's processing off (it would treat the test tone as noise), and returns the
/// browser and its peer id once it is in the call.
async fn join_from_chromium(
    server: &ServerProcess,
    room: &str,
    video: &Path,
    audio: &Path,
) -> (Browser, String) {
    let origin = format!("http://{}", server.addr);
    let browser = Browser::start(&FakeDevices { video, audio }, &origin).await;
    browser.navigate(&format!("{origin}/r/{room}")).await;
    browser
        .execute(
            "await window.tincan.setAudioProcessing(false);
             document.getElementById('name').value = 'Chromium';
             document.getElementById('join').click(); return true",
            json!([]),
        )
        .await;
    let me = browser
        .wait_for(
            "joining the room",
            "return window.tincan.state === 'in-call' && window.tincan.me",
            Duration::from_secs(15),
        )
        .await;
    let me = me.as_str().unwrap_or_default().to_owned();
    (browser, me)
}

/// What Chromium's getStats said of `peer` as it left (the page keeps it).
async fn stats_when_left(browser: &Browser, peer: &str) -> Value {
    browser
        .wait_for(
            "the last stats of a peer that left",
            &format!("return window.tincan.ended[{peer:?}]"),
            Duration::from_secs(10),
        )
        .await
}

fn n(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v:#}"))
}

/// Chromium joins a tincan-cli peer's room through the share link; video, audio and chat go
/// both ways, and each side decodes the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_and_a_native_peer_see_and_hear_each_other() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = std::env::temp_dir().join(format!("tincan-browser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (video, audio) = fake_devices(&dir);
    let server = ServerProcess::start(&[]).await;
    // Chromium gathers no loopback candidates, so the native peer uses the other interfaces.
    let everywhere = Place {
        bind: Some("0.0.0.0:0"),
        netns: None,
    };
    let ada = CliPeer::start_at(
        &server,
        &everywhere,
        &dir,
        "Ada",
        None,
        &[
            "--duration",
            "14",
            "--chat",
            "hello from Ada",
            "--refresh-video-at",
            "7",
        ],
    )
    .await;
    let (browser, me) = join_from_chromium(&server, &ada.room, &video, &audio).await;
    browser
        .wait_for(
            "decoding Ada's video",
            "const s = Object.values(await window.tincan.stats())[0];
             return s && s.framesDecoded > 30",
            Duration::from_secs(15),
        )
        .await;
    browser
        .wait_for(
            "an open chat channel",
            "const p = [...window.tincan.peers.values()][0];
             return p && p.channel && p.channel.readyState === 'open'",
            Duration::from_secs(10),
        )
        .await;
    browser
        .execute(
            "document.getElementById('chat-text').value = 'hello from Chromium';
             document.getElementById('chat-form').requestSubmit(); return true",
            json!([]),
        )
        .await;

    let ada_id = ada.id.clone();
    let ada = ada.finish().await;
    let seen = stats_when_left(&browser, &ada_id).await;
    let chat = browser
        .execute("return window.tincan.chat", json!([]))
        .await;
    browser.quit().await;
    eprintln!(
        "Chromium saw from Ada: {seen:#}\nAda saw from Chromium: {:#}",
        about(&ada, &me)
    );

    // Ada → Chromium: Chromium decoded at least 90 % of what Ada sent it, and heard her.
    let to_browser = about(&ada, &me);
    let sent = n(to_browser, "video_frames_sent");
    let decoded = n(&seen, "framesDecoded");
    assert!(sent > 200.0, "Ada sent only {sent} frames");
    assert!(
        decoded >= 0.9 * sent,
        "Chromium decoded {decoded} of {sent}"
    );
    assert!(n(&seen, "audioSamplesReceived") > 5.0 * 48_000.0, "{seen}");
    assert!(
        n(&seen, "audioEnergy") > 0.0,
        "Chromium heard silence: {seen}"
    );
    // Chromium → Ada: Ada decoded Chromium's video, read its stamps back in order (the clip
    // loops once in a call this long), and heard its tone.
    let from_browser = about(&ada, &me);
    let ada_decoded = n(from_browser, "video_frames_decoded");
    assert!(
        ada_decoded > 200.0,
        "Ada decoded {ada_decoded} frames from Chromium"
    );
    assert!(
        n(from_browser, "stamps_read") >= 0.9 * ada_decoded,
        "stamps read back: {from_browser}"
    );
    assert!(
        n(from_browser, "stamps_out_of_order") <= 2.0,
        "{from_browser}"
    );
    let hz = n(from_browser, "audio_hz");
    assert!((hz - BROWSER_HZ).abs() < 3.0, "Ada heard {hz} Hz");
    // Ada asked Chromium for a keyframe (a PLI) halfway through; it came.
    let waits = from_browser["keyframe_waits_ms"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        waits
            .first()
            .and_then(Value::as_f64)
            .is_some_and(|ms| ms < 500.0),
        "Chromium's keyframe after Ada's PLI: {waits:?} ms"
    );
    // Chat both ways.
    assert_eq!(from_browser["chat"], json!(["hello from Chromium"]));
    assert!(
        chat.as_array()
            .is_some_and(|lines| lines.iter().any(|l| l["text"] == "hello from Ada")),
        "Chromium's chat: {chat}"
    );
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

/// Two tincan-cli peers and a Chromium tab in one room: a full mesh in which everyone
/// decodes both others' video and hears their audio.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mesh_of_two_native_peers_and_chromium() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = std::env::temp_dir().join(format!("tincan-browser-mesh-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (video, audio) = fake_devices(&dir);
    let server = ServerProcess::start(&[]).await;
    let everywhere = Place {
        bind: Some("0.0.0.0:0"),
        netns: None,
    };
    let ada = CliPeer::start_at(
        &server,
        &everywhere,
        &dir,
        "Ada",
        None,
        &["--duration", "16"],
    )
    .await;
    let (browser, me) = join_from_chromium(&server, &ada.room, &video, &audio).await;
    let bo = CliPeer::start_at(
        &server,
        &everywhere,
        &dir,
        "Bo",
        Some(&ada.room),
        &["--duration", "10", "--audio", "tone:660"],
    )
    .await;
    let seen = browser
        .wait_for(
            "decoding both native peers",
            "const s = Object.values(await window.tincan.stats());
             return s.length === 2 && s.every((p) => p.framesDecoded > 100 && p.audioLevel > 0.01) && s",
            Duration::from_secs(20),
        )
        .await;
    let (ada_id, bo_id) = (ada.id.clone(), bo.id.clone());
    let (ada, bo) = (ada.finish().await, bo.finish().await);
    browser.quit().await;
    eprintln!("Chromium saw: {seen:#}");
    for (summary, others) in [(&ada, [&bo_id, &me]), (&bo, [&ada_id, &me])] {
        for other in others {
            let got = about(summary, other);
            assert!(
                n(got, "video_frames_decoded") > 100.0,
                "{} decoded too little from {other}: {got}",
                summary["peer_id"]
            );
            assert!(n(got, "audio_level") > 0.01, "silence from {other}: {got}");
        }
    }
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

/// A call between a tincan-cli peer behind `link` (in its network namespace) and Chromium on
/// this host. Returns the native peer's summary, Chromium's last stats of it, and Chromium's
/// peer id.
async fn native_behind_link_with_chromium(
    link: &Netns,
    native_flags: &[&str],
    wait_in_browser: Option<(&str, &str)>,
) -> (Value, Value, String) {
    let dir = std::env::temp_dir().join(format!("tincan-browser-link-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (video, audio) = fake_devices(&dir);
    let server = ServerProcess::start_on(&format!("{}:0", link.host_ip), &[]).await;
    let bind = format!("{}:0", link.ns_ip);
    let ada = CliPeer::start_at(
        &server,
        &Place {
            bind: Some(&bind),
            netns: Some(link),
        },
        &dir,
        "Ada",
        None,
        native_flags,
    )
    .await;
    let (browser, me) = join_from_chromium(&server, &ada.room, &video, &audio).await;
    if let Some((what, script)) = wait_in_browser {
        browser
            .wait_for(what, script, Duration::from_secs(20))
            .await;
    }
    let ada_id = ada.id.clone();
    let ada = ada.finish().await;
    let seen = stats_when_left(&browser, &ada_id).await;
    browser.quit().await;
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
    (ada, seen, me)
}

/// The native peer's link to Chromium goes dead for four seconds mid-call: when it comes back,
/// what arrives refers to pictures Chromium never got, so Chromium asks for a keyframe (PLI);
/// the native peer is asked and sends one, and Chromium decodes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_asks_for_keyframes_and_gets_them() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let link = Netns::plain();
    let outage = async {
        // Well into the call: Chromium is decoding by then.
        tokio::time::sleep(Duration::from_secs(6)).await;
        link.drop_outgoing(1000);
        tokio::time::sleep(Duration::from_secs(4)).await;
        link.heal_outgoing();
    };
    let call = native_behind_link_with_chromium(
        &link,
        &["--duration", "18"],
        Some((
            "a keyframe request from Chromium",
            "const s = Object.values(await window.tincan.stats())[0];
             return s && s.pliSent > 0 && s.keyFramesDecoded > 1",
        )),
    );
    let ((ada, seen, me), ()) = tokio::join!(call, outage);
    let to_browser = about(&ada, &me);
    eprintln!("Ada about Chromium: {to_browser:#}\nChromium about Ada: {seen:#}");
    let asked = n(to_browser, "keyframes_asked_of_us");
    assert!(
        asked >= 1.0,
        "Ada was never asked for a keyframe: {to_browser}"
    );
    assert!(n(&seen, "pliSent") >= 1.0, "{seen}");
    assert!(
        n(&seen, "keyFramesDecoded") >= 2.0,
        "no keyframe after Chromium's request: {seen}"
    );
}

/// The native peer sends 720p at up to 1.5 Mbit/s to Chromium over a 600 kbit/s link: its
/// estimate, fed by Chromium's transport-wide feedback, brings its bitrate under the link and
/// its picture down, and Chromium keeps decoding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_native_sender_follows_chromiums_feedback_under_a_bandwidth_limit() {
    const LINK_KBIT: f64 = 600.0;
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let link = Netns::plain();
    link.shape_outgoing(&[
        "tbf", "rate", "600kbit", "burst", "20kb", "latency", "200ms",
    ]);
    let (ada, seen, me) = native_behind_link_with_chromium(
        &link,
        &[
            "--duration",
            "25",
            "--size",
            "1280x720",
            "--bitrate",
            "1500",
        ],
        None,
    )
    .await;
    let to_browser = about(&ada, &me);
    eprintln!("Ada about Chromium: {to_browser:#}\nChromium about Ada: {seen:#}");
    let estimate = n(to_browser, "available_send_kbps");
    assert!(
        (100.0..=1.5 * LINK_KBIT).contains(&estimate),
        "Ada's estimate is {estimate} kbit/s for a {LINK_KBIT} kbit/s link"
    );
    let sending = n(to_browser, "kbps_out");
    assert!(sending < LINK_KBIT, "Ada still sends {sending} kbit/s");
    let width = to_browser["sent_size"][0].as_u64().unwrap_or(0);
    assert!(width < 1280, "Ada still sends {width} pixels wide");
    assert!(
        n(&seen, "framesDecoded") > 200.0,
        "Chromium decoded too little: {seen}"
    );
    assert_eq!(
        seen["frameWidth"].as_u64(),
        Some(width),
        "Chromium shows what Ada sends"
    );
}
