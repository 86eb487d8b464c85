//! The app on a LAN with no server set up: it runs in one computer of a `Lan` (namespaces on
//! a bridge, tests/src/lan.rs), is let host for the network on first start, and starts a call;
//! on a second computer `tincan-cli` joins by the code alone, and Chromium opens the link the
//! app gives to copy.

use std::time::Duration;

use serde_json::{json, Value};
use tincan_e2e::desktop::page::{click, set_value, start_a_call_with_the_pattern, wait_for_home};
use tincan_e2e::lan::{join, Computer, Lan};
use tincan_e2e::webdriver::fake_device_files;
use tincan_e2e::{about, start_app, Browser, CliPeer, Desktop, FakeDevices, Place};

use super::microphones::feed_microphone;
use super::{n, ONE_APP_AT_A_TIME};

/// The tone Chromium's fake microphone plays.
const BROWSER_HZ: f64 = 523.0;

#[test]
fn the_app_hosts_a_call_that_a_peer_and_a_browser_on_the_lan_join_by_code_and_link() {
    let _one = ONE_APP_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let lan = Lan::new(2);
    let [desk, other] = &lan.computers[..] else {
        unreachable!()
    };
    let (desk, other) = (desk.clone(), other.clone());
    join(
        desk.clone()
            .spawn_inside(move || the_app_hosts_for_the_lan(desk, other)),
    );
}

async fn the_app_hosts_for_the_lan(desk: Computer, other: Computer) {
    let dir = std::env::temp_dir().join(format!("tincan-app-lan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = dir.join("config");
    // The microphone's processing off, as in the app test (a steady tone is "noise").
    let settings = config.join("app.tincan.desktop");
    std::fs::create_dir_all(&settings).unwrap();
    std::fs::write(
        settings.join("settings.json"),
        r#"{"name": "Desk", "audio_processing":
            {"echo_cancellation": false, "noise_suppression": false, "auto_gain": false}}"#,
    )
    .unwrap();
    let _microphone = feed_microphone(&dir);
    let desktop = Desktop::start().await;
    let app = start_app(&desktop, &config, &[]).await;
    wait_for_home(&app).await;
    app.wait_for(
        "the question about LAN hosting",
        "return !document.getElementById('lan-ask').hidden",
        Duration::from_secs(10),
    )
    .await;
    click(&app, "lan-allow").await;
    app.wait_for(
        "LAN hosting on",
        "return window.tincan.settings.lan_hosting === true",
        Duration::from_secs(10),
    )
    .await;

    // A code nobody on the network hosts: told so within 3 s of pressing Join.
    set_value(&app, "room-code", "k7wq-2m9x-d4tp").await;
    click(&app, "join-code").await;
    app.wait_for(
        "the pre-join screen for the typed code",
        "return window.tincan.screen === 'prejoin' && document.getElementById('camera').options.length > 0",
        Duration::from_secs(10),
    )
    .await;
    set_value(&app, "camera", "pattern").await;
    let pressed = std::time::Instant::now();
    click(&app, "join").await;
    let error = app
        .wait_for(
            "the answer for a code nobody hosts",
            "const e = document.getElementById('error');
             return !e.hidden && [e.dataset.kind, document.getElementById('error-message').textContent]",
            Duration::from_secs(10),
        )
        .await;
    let took = pressed.elapsed();
    assert_eq!(error[0], json!("not-on-network"), "{error}");
    assert!(
        error[1]
            .as_str()
            .is_some_and(|m| m.contains("no call with the code k7wq-2m9x-d4tp on your network")),
        "{error}"
    );
    assert!(took < Duration::from_secs(3), "told after {took:?}");
    eprintln!("the app told a code nobody hosts in {took:?}");
    click(&app, "error-close").await;

    let joined = start_a_call_with_the_pattern(&app).await;
    let room = joined["room"].as_str().unwrap_or_default().to_owned();
    let me = joined["me"].as_str().unwrap_or_default().to_owned();
    let share = joined["share_link"].as_str().unwrap_or_default().to_owned();
    let base = format!("http://{}:", desk.ip);
    assert!(
        share.starts_with(&base) && share.ends_with(&format!("/r/{room}")),
        "the copied link opens on another computer: {joined}"
    );
    let port = share[base.len()..].split('/').next().unwrap_or_default();
    assert_eq!(
        joined["app_link"],
        json!(format!(
            "tincan://join/{room}?server=ws%3A%2F%2F{}%3A{port}%2Fws",
            desk.ip
        )),
        "{joined}"
    );

    // Bo, on the other computer, by the code alone.
    let bind = format!("{}:0", other.ip);
    let bo = CliPeer::start_with_server(
        None,
        &Place {
            bind: Some(&bind),
            netns: Some(&other),
            env: &[],
        },
        &dir,
        "Bo",
        Some(&room),
        &["--duration", "25", "--audio", "tone:660"],
    )
    .await;
    assert_eq!(
        bo.printed_after("found"),
        Some(format!("{room} at ws://{}:{port}/ws", desk.ip)),
        "Bo found the app's room on the LAN"
    );

    // Chromium, on the other computer too, opens the copied link; it reports what it
    // received from the app when told the app's id.
    let (joined_tx, joined_rx) = std::sync::mpsc::channel();
    let (report_tx, report_rx) = tokio::sync::oneshot::channel();
    let browser = other.spawn_inside({
        let (dir, share) = (dir.clone(), share.clone());
        move || chromium_in_the_call(dir, share, joined_tx, report_rx)
    });
    let chromium =
        tokio::task::spawn_blocking(move || joined_rx.recv_timeout(Duration::from_secs(60)))
            .await
            .expect("waited")
            .expect("Chromium joins the call within 60 s");

    for (who, id) in [("Bo", &bo.id), ("Chromium", &chromium)] {
        app.wait_for(
            &format!("{who}'s video in the app"),
            &format!("const t = window.tincan.tiles[{id:?}]; return t && t.drawn > 30"),
            Duration::from_secs(20),
        )
        .await;
    }
    app.wait_for(
        "Bo's audio in the app",
        &format!(
            "const p = window.tincan.peers.get({:?}); return p && p.stats && p.stats.audio_frames_received > 200",
            bo.id
        ),
        Duration::from_secs(20),
    )
    .await;
    // Each connection's security code, on the far end's tile in the app (docs/calls.md):
    // Bo's own (tincan-cli prints it) and Chromium's (its page shows it) are the same.
    let code_in_app = |id: &str| {
        let script = format!(
            "const p = window.tincan.peers.get({id:?});
             const e = p && p.tile.querySelector('.security-code');
             return e && !e.hidden && e.textContent"
        );
        let app = &app;
        async move {
            let shown = app
                .wait_for(
                    "a security code on the tile",
                    &script,
                    Duration::from_secs(10),
                )
                .await;
            let shown = shown.as_str().unwrap_or_default().to_owned();
            shown
                .strip_prefix("Security code ")
                .unwrap_or_else(|| panic!("the tile shows {shown:?}"))
                .to_owned()
        }
    };
    let app_for_bo = code_in_app(&bo.id).await;
    let app_for_chromium = code_in_app(&chromium).await;
    assert_ne!(app_for_bo, app_for_chromium, "one code per connection");
    // What the app says of its side of the call with Bo, for when Bo saw no video (CI saw
    // that twice: audio came, no video).
    let app_about_bo = app
        .execute(
            &format!(
                "const p = window.tincan.peers.get({:?}); const s = p && p.stats;
                 return s && {{ fps_sent: s.fps_sent, video_frames_sent: s.video_frames_sent,
                   sent_size: s.sent_size, kbps_out: s.kbps_out, available_send_kbps: s.available_send_kbps,
                   keyframes_asked_of_us: s.keyframes_asked_of_us, camera: window.tincan.cameraOn,
                   errors: window.tincan.errors, notice: document.getElementById('notice').textContent }}",
                bo.id
            ),
            json!([]),
        )
        .await;
    let bo = bo.finish().await;
    let from_app = about(&bo, &me);
    assert_eq!(from_app["security_code"], json!(app_for_bo), "Bo's code");
    let decoded = n(from_app, "video_frames_decoded");
    assert!(
        decoded > 100.0,
        "Bo decoded {decoded} frames from the app (the app's side: {app_about_bo}): {from_app:#}"
    );
    let hz = n(from_app, "audio_hz");
    assert!(
        (hz - super::MIC_HZ).abs() < 5.0,
        "Bo heard {hz} Hz from the app"
    );
    let _ = report_tx.send(me.clone());
    let (chromium_saw, chromium_code) = tokio::task::spawn_blocking(move || join(browser))
        .await
        .expect("waited");
    assert_eq!(
        chromium_code,
        json!(format!("Security code {app_for_chromium}")),
        "the code Chromium's page shows on the app's tile"
    );
    assert!(
        n(&chromium_saw, "framesDecoded") > 100.0,
        "Chromium about the app: {chromium_saw:#}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Chromium (with fake devices) on this thread's computer: opens `link`, joins, says its
/// peer id on `joined`, and when `report` names a peer, returns what getStats says of it and
/// the security code its page shows for that peer.
async fn chromium_in_the_call(
    dir: std::path::PathBuf,
    link: String,
    joined: std::sync::mpsc::Sender<String>,
    report: tokio::sync::oneshot::Receiver<String>,
) -> (Value, Value) {
    let (video, audio) = fake_device_files(&dir, BROWSER_HZ);
    let origin = link.split("/r/").next().unwrap_or_default().to_owned();
    let browser = Browser::start(
        &FakeDevices {
            video: &video,
            audio: &audio,
        },
        &origin,
    )
    .await;
    browser.navigate(&link).await;
    let _ = joined.send(browser.join_as_guest().await);
    let peer = tokio::time::timeout(Duration::from_secs(90), report)
        .await
        .expect("asked for the report within 90 s")
        .expect("the test asks");
    let stats = browser
        .execute(
            &format!("const all = await window.tincan.stats(); return all[{peer:?}]"),
            json!([]),
        )
        .await;
    let code = browser
        .wait_for(
            "the security code on the app's tile",
            &format!(
                "const p = window.tincan.peers.get({peer:?});
                 return p && p.securityCode && p.codeLine.textContent"
            ),
            Duration::from_secs(10),
        )
        .await;
    browser.quit().await;
    (stats, code)
}
