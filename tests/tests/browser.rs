//! Browser guests against the native engine: headless Chromium (its own getUserMedia and
//! RTCPeerConnection, fake devices fed from a stamped y4m file and a wav) on the page
//! tincan-server serves, in a room with tincan-cli peers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use tincan_e2e::{about, Browser, CliPeer, FakeDevices, Netns, Place, ServerProcess};

#[path = "browser/files.rs"]
mod files;
#[path = "browser/networks.rs"]
mod networks;
#[path = "browser/screen.rs"]
mod screen;

/// The tone Chromium's fake microphone plays.
const BROWSER_HZ: f64 = 523.0;

/// Browser calls share two cores with their native peers: one at a time.
static ONE_CALL_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Chromium's fake camera and microphone files ([`tincan_e2e::webdriver::fake_device_files`]).
fn fake_devices(dir: &Path) -> (PathBuf, PathBuf) {
    tincan_e2e::webdriver::fake_device_files(dir, BROWSER_HZ)
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
    join_from_chromium_with(server, room, video, audio, false).await
}

/// [`join_from_chromium`], with Chromium hiding its host addresses behind mDNS names (its
/// default) when `hide_host_addresses`.
async fn join_from_chromium_with(
    server: &ServerProcess,
    room: &str,
    video: &Path,
    audio: &Path,
    hide_host_addresses: bool,
) -> (Browser, String) {
    let origin = format!("http://{}", server.addr);
    let devices = FakeDevices { video, audio };
    let browser = Browser::start_with(&devices, &origin, hide_host_addresses).await;
    browser.navigate(&format!("{origin}/r/{room}")).await;
    let me = browser.join_as_guest().await;
    (browser, me)
}

/// A tincan-cli peer ("Ada", with `flags`) creates a room on a new server and Chromium joins
/// it through the share link. Ada binds every interface but loopback: Chromium gathers no
/// loopback candidates. Returns the scratch dir, the server, Ada, the browser and Chromium's
/// peer id.
async fn chromium_joins_a_native_peer(
    tag: &str,
    flags: &[&str],
) -> (PathBuf, ServerProcess, CliPeer, Browser, String) {
    let dir = std::env::temp_dir().join(format!("tincan-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (video, audio) = fake_devices(&dir);
    let server = ServerProcess::start(&[]).await;
    let everywhere = Place {
        bind: Some("0.0.0.0:0"),
        netns: None,
        env: &[],
    };
    let ada = CliPeer::start_at(&server, &everywhere, &dir, "Ada", None, flags).await;
    let (browser, me) = join_from_chromium(&server, &ada.room, &video, &audio).await;
    (dir, server, ada, browser, me)
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
    let (dir, server, ada, browser, me) = chromium_joins_a_native_peer(
        "browser",
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

    // The connection's security code, as the page shows it under Ada's tile; and the page's
    // own SHA-256 (for pages without crypto.subtle: a LAN server's plain http address) agrees
    // with the browser's.
    let page_code = browser
        .wait_for(
            "the security code under Ada's tile",
            &format!(
                "const p = window.tincan.peers.get({:?}); return p && p.securityCode",
                ada.id
            ),
            Duration::from_secs(10),
        )
        .await;
    let hashes = browser
        .execute(
            "const m = await import('/guest/security.js');
             const out = [];
             for (const t of ['', 'abc', 'a'.repeat(55), 'a'.repeat(56), 'a'.repeat(1000), 'h\\u00e9llo \\u2713'])
               out.push([await m.sha256Hex(t, false), await m.sha256Hex(t, true)]);
             return out",
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
    assert_eq!(
        about(&ada, &me)["security_code"],
        page_code,
        "the same security code at both ends"
    );
    let hashes = hashes.as_array().cloned().unwrap_or_default();
    assert_eq!(hashes.len(), 6, "{hashes:?}");
    for pair in &hashes {
        assert_eq!(pair[0], pair[1], "crypto.subtle and the page's own SHA-256");
    }
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

/// The guest page's controls in a call with a native peer: picking the camera and microphone
/// again swaps the tracks without renegotiating and the media keeps flowing; mute and camera
/// off reach the native peer as silence and black frames; leave reaches it as a departure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromiums_pickers_mute_camera_and_leave_reach_the_native_peer() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (dir, server, ada, browser, me) =
        chromium_joins_a_native_peer("browser-controls", &["--duration", "18"]).await;
    let sending = "const s = Object.values(await window.tincan.stats())[0];
                   return s && s.framesSent > 30 && s.audioPacketsSent > 50 && s";
    let before = browser
        .wait_for("sending to Ada", sending, Duration::from_secs(15))
        .await;

    // Pick the camera and the microphone again: new tracks, the same senders.
    let old_tracks = browser
        .execute(
            "const p = [...window.tincan.peers.values()][0];
             return p.pc.getSenders().filter((s) => s.track).map((s) => s.track.id).sort().join(' ')",
            json!([]),
        )
        .await;
    browser
        .execute(
            "for (const id of ['camera', 'microphone']) {
               document.getElementById(id).dispatchEvent(new Event('change'));
             }
             return true",
            json!([]),
        )
        .await;
    let new_tracks = browser
        .wait_for(
            "new tracks in the senders",
            &format!(
                "const p = [...window.tincan.peers.values()][0];
                 const ids = p.pc.getSenders().filter((s) => s.track).map((s) => s.track.id).sort().join(' ');
                 return ids !== {old_tracks} && ids.split(' ').length === 2 && ids"
            ),
            Duration::from_secs(10),
        )
        .await;
    let after_switch = browser
        .wait_for(
            "sending after the switch",
            &format!(
                "const s = Object.values(await window.tincan.stats())[0];
                 return s.framesSent > {} + 60 && s.audioPacketsSent > {} + 100 && s",
                n(&before, "framesSent") + 30.0,
                n(&before, "audioPacketsSent"),
            ),
            Duration::from_secs(10),
        )
        .await;
    let transceivers = browser
        .execute(
            "const p = [...window.tincan.peers.values()][0];
             return p.pc.getTransceivers().length",
            json!([]),
        )
        .await;

    // Mute and camera off, by keyboard shortcut as a person would, then leave by the button.
    browser
        .execute(
            "for (const key of ['m', 'v']) {
               document.body.dispatchEvent(new KeyboardEvent('keydown', { key, bubbles: true }));
             }
             return true",
            json!([]),
        )
        .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let pressed = browser
        .execute(
            "return [document.getElementById('mute').getAttribute('aria-pressed'),
                     document.getElementById('camera-toggle').getAttribute('aria-pressed')]",
            json!([]),
        )
        .await;
    browser
        .execute(
            "document.getElementById('leave').click(); return true",
            json!([]),
        )
        .await;
    let left_seen = ada
        .printed(&format!("left {me}"), Duration::from_secs(5))
        .await;
    let state = browser
        .execute("return window.tincan.state", json!([]))
        .await;
    browser.quit().await;
    let ada = ada.finish().await;
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();

    let from_browser = about(&ada, &me);
    eprintln!(
        "tracks {old_tracks} -> {new_tracks}; after the switch {after_switch:#}\n\
         Ada about Chromium (last second before it left): {from_browser:#}"
    );
    assert_ne!(old_tracks, new_tracks);
    assert_eq!(
        transceivers,
        json!(3),
        "audio, video and the screen share's, no transceiver added"
    );
    assert_eq!(
        pressed,
        json!(["true", "true"]),
        "mute and camera off show as pressed"
    );
    let level = n(from_browser, "audio_level");
    assert!(
        level < 0.001,
        "Ada still heard Chromium at level {level} after it muted"
    );
    // A disabled camera track still sends frames, black ones (no stamp to read), at a few
    // kbit/s.
    let kbps = n(from_browser, "kbps_in");
    assert!(
        kbps < 60.0,
        "Ada still got {kbps} kbit/s after Chromium's camera went off"
    );
    let black = n(from_browser, "stamps_unreadable");
    assert!(
        black >= 60.0,
        "Ada got only {black} frames without a stamp after camera off"
    );
    assert!(
        n(from_browser, "video_frames_decoded") > 150.0,
        "Ada decoded too little of Chromium before the switch and mute: {from_browser}"
    );
    assert!(left_seen, "Ada never saw Chromium leave");
    assert_eq!(state, json!("left"));
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
        env: &[],
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

/// What [`native_behind_link_with_chromium`] brings back.
struct LinkCall {
    /// The native peer's summary.
    native: Value,
    /// Chromium's last stats of the native peer, and what `wait_in_browser` returned.
    seen: Value,
    seen_mid_call: Value,
    /// Chromium's peer id.
    chromium: String,
}

/// A call between a tincan-cli peer behind `link` (in its network namespace) and Chromium on
/// this host.
async fn native_behind_link_with_chromium(
    link: &Netns,
    native_flags: &[&str],
    wait_in_browser: Option<(&str, &str)>,
) -> LinkCall {
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
            env: &[],
        },
        &dir,
        "Ada",
        None,
        native_flags,
    )
    .await;
    let (browser, me) = join_from_chromium(&server, &ada.room, &video, &audio).await;
    let mut seen_mid_call = Value::Null;
    let mut gave_up = None;
    if let Some((what, script)) = wait_in_browser {
        match browser
            .try_wait_for(what, script, Duration::from_secs(20))
            .await
        {
            Ok(seen) => seen_mid_call = seen,
            Err(why) => gave_up = Some(why),
        }
    }
    let ada_id = ada.id.clone();
    let native = ada.finish().await;
    if let Some(why) = gave_up {
        // What the native peer saw of Chromium too: which end stopped.
        panic!("{why}\nAda about Chromium: {:#}", native["peers"]);
    }
    let seen = stats_when_left(&browser, &ada_id).await;
    browser.quit().await;
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
    LinkCall {
        native,
        seen,
        seen_mid_call,
        chromium: me,
    }
}

/// The native peer's video to Chromium is lost for two seconds mid-call (its packets over 400
/// bytes are dropped; audio and ICE checks go on, so neither end thinks the connection died
/// and sends a keyframe of its own accord, as a whole-link outage made the native end do on
/// a loaded machine): what arrives next refers to pictures Chromium never got
/// (retransmissions cover only the last second), so Chromium asks for a keyframe (PLI); the
/// native peer is asked and sends one, and Chromium decodes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_asks_for_keyframes_and_gets_them() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let link = Netns::plain();
    let outage = async {
        // Well into the call: Chromium is decoding by then.
        tokio::time::sleep(Duration::from_secs(6)).await;
        link.drop_outgoing_over(400);
        tokio::time::sleep(Duration::from_secs(2)).await;
        link.heal_outgoing();
    };
    // At 320x180 the sender's ladder never steps down (that needs under 43 kbit/s; the
    // estimate's floor is higher), so the outage's loss cannot bring a keyframe unasked with
    // a smaller picture (CI once saw 640x360 step down to 320x180 and Chromium never ask).
    let call = native_behind_link_with_chromium(
        &link,
        &["--duration", "18", "--size", "320x180"],
        Some((
            "a keyframe request from Chromium",
            "const s = Object.values(await window.tincan.stats())[0];
             return !s ? false : s.pliSent > 0 && s.keyFramesDecoded > 1 ? s : { waiting: s }",
        )),
    );
    let (
        LinkCall {
            native: ada,
            seen,
            chromium: me,
            ..
        },
        (),
    ) = tokio::join!(call, outage);
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

/// A 600 kbit/s link each way between the native peer and Chromium. The native peer sends 720p
/// at up to 1.5 Mbit/s: its estimate, fed by Chromium's transport-wide feedback, brings its
/// bitrate under the link and its picture down, and Chromium keeps decoding. Chromium's own
/// estimate, fed by the native peer's feedback, keeps what it sends under the link too, and
/// the native peer keeps receiving its frames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sender_follows_the_others_feedback_under_a_bandwidth_limit() {
    const LINK_KBIT: f64 = 600.0;
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    // Chromium to the native peer through the host side's token bucket, and back through one
    // inside the namespace.
    let link = Netns::with_uplink(LINK_KBIT as u32);
    link.shape_outgoing(&[
        "tbf", "rate", "600kbit", "burst", "20kb", "latency", "200ms",
    ]);
    let call = native_behind_link_with_chromium(
        &link,
        &[
            "--duration",
            "25",
            "--size",
            "1280x720",
            "--bitrate",
            "1500",
        ],
        Some((
            "Chromium sending for 12 s",
            "const s = Object.values(await window.tincan.stats())[0];
             return s && s.framesSent > 360 && s",
        )),
    )
    .await;
    let (ada, seen, me) = (&call.native, &call.seen, &call.chromium);
    let to_browser = about(ada, me);
    eprintln!(
        "Ada about Chromium: {to_browser:#}\nChromium about Ada: {seen:#}\nmid-call: {:#}",
        call.seen_mid_call
    );

    // The native sender.
    let estimate = n(to_browser, "available_send_kbps");
    assert!(
        (100.0..=1.5 * LINK_KBIT).contains(&estimate),
        "Ada's estimate is {estimate} kbit/s for a {LINK_KBIT} kbit/s link"
    );
    // Sustained, not one second's burst: the link's queue lets a second above its rate
    // through now and then (666 kbit/s once in a full run).
    let mut recent: Vec<f64> = to_browser["series"]
        .as_array()
        .map(|series| {
            series
                .iter()
                .rev()
                .take(5)
                .filter_map(|s| s["kbps_out"].as_f64())
                .collect()
        })
        .unwrap_or_default();
    recent.sort_by(f64::total_cmp);
    let sending = recent
        .get(recent.len() / 2)
        .copied()
        .unwrap_or_else(|| n(to_browser, "kbps_out"));
    assert!(
        sending < LINK_KBIT,
        "Ada still sends {sending} kbit/s (median of the last 5 s: {recent:?})"
    );
    let width = to_browser["sent_size"][0].as_u64().unwrap_or(0);
    assert!(width < 1280, "Ada still sends {width} pixels wide");
    assert!(
        n(seen, "framesDecoded") > 200.0,
        "Chromium decoded too little: {seen}"
    );
    assert_eq!(
        seen["frameWidth"].as_u64(),
        Some(width),
        "Chromium shows what Ada sends"
    );

    // Chromium as the sender, over the second half of the call.
    let chromium_estimate = n(seen, "availableOutgoingBitrate") / 1000.0;
    assert!(
        (100.0..=1.5 * LINK_KBIT).contains(&chromium_estimate),
        "Chromium's estimate is {chromium_estimate} kbit/s for a {LINK_KBIT} kbit/s link"
    );
    let mid = &call.seen_mid_call;
    let sent_bits = 8.0 * (n(seen, "videoBytesSent") - n(mid, "videoBytesSent"));
    let chromium_kbps = sent_bits / (n(seen, "at") - n(mid, "at"));
    assert!(
        chromium_kbps < LINK_KBIT,
        "Chromium sent video at {chromium_kbps} kbit/s into the {LINK_KBIT} kbit/s link"
    );
    let received = n(to_browser, "fps_received");
    assert!(
        received >= 20.0,
        "Ada received Chromium's video at {received} fps"
    );
}
