//! The app from its first start to the moment it joins a call: the LAN question, keyboard
//! and screen-reader reach of every control, "hide my IP address" refused without a relay,
//! a tincan:// link to an unknown server and a wrong code, the pre-join screen and its
//! speaker-and-microphone test. (The call itself: `call.rs`.)

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use tincan_e2e::desktop::page::{click, server_address, set_value, wait_for_call};
use tincan_e2e::{Browser, Desktop};

use super::change_settings;

/// Drives the app from its home screen into a new call; what `join` answered.
pub(super) async fn first_start_to_the_call(
    app: &Browser,
    desktop: &Desktop,
    shots: &Path,
    dir: &Path,
) -> Value {
    set_value(app, "name", "Desk").await;
    // First start: the app asks once whether people on the network may join. Here (this
    // host's own network) the answer is no: the built-in server stays on loopback and is not
    // advertised. (Yes, between computers on a LAN: tests/tests/network/lan.rs.)
    app.wait_for(
        "the question about LAN hosting",
        "return !document.getElementById('lan-ask').hidden",
        Duration::from_secs(10),
    )
    .await;
    desktop.screenshot(&shots.join("lan-question.png"));
    click(app, "lan-deny").await;
    app.wait_for(
        "the answer saved",
        "return window.tincan.settings.lan_hosting === false
                && document.getElementById('lan-ask').hidden",
        Duration::from_secs(10),
    )
    .await;
    desktop.screenshot(&shots.join("home.png"));

    // Every control of every screen (all are in the page, the others hidden) has a name a
    // screen reader can say and is reachable with Tab.
    let controls = app
        .execute(
            "const all = [...document.querySelectorAll('button, input, select, textarea')];
             const bad = all.filter(e => {
                 const named = e.getAttribute('aria-label') || e.labels?.length > 0
                   || (e.tagName === 'BUTTON' && e.textContent.trim());
                 return !named || e.tabIndex < 0;
               })
               .map(e => e.id || e.outerHTML.slice(0, 80));
             return {count: all.length, bad}",
            json!([]),
        )
        .await;
    assert!(controls["count"].as_u64() > Some(30), "{controls}");
    assert_eq!(
        controls["bad"],
        json!([]),
        "controls without a name or out of the Tab order"
    );

    // "Hide my IP address" needs a TURN relay, which the built-in server does not hand out:
    // joining is refused with the reason (the relay itself: tests/tests/network/relay.rs).
    // Then the setting goes off again.
    let hide_ip = |on: bool| async move {
        let change = format!("document.getElementById('hide-ip').checked = {on}");
        change_settings(app, &change, "home").await;
    };
    hide_ip(true).await;
    click(app, "create").await;
    app.wait_for(
        "the pre-join screen",
        "return window.tincan.screen === 'prejoin'",
        Duration::from_secs(10),
    )
    .await;
    set_value(app, "camera", "pattern").await;
    click(app, "join").await;
    let refusal = app
        .wait_for(
            "the refusal to hide the IP address without a relay",
            "const e = document.getElementById('error');
             return !e.hidden && document.getElementById('error-message').textContent",
            Duration::from_secs(15),
        )
        .await;
    assert!(
        refusal
            .as_str()
            .is_some_and(|m| m.contains("needs a TURN relay")),
        "{refusal}"
    );
    click(app, "error-close").await;
    hide_ip(false).await;
    // The microphone here plays a steady tone, which the processing would treat as noise or
    // echo (docs/media.md): all off, as a person playing music would set it. Echo
    // cancellation is turned on and off again mid-call below.
    change_settings(
        app,
        "document.getElementById('echo-cancellation').checked = false;
         document.getElementById('noise-suppression').checked = false;
         document.getElementById('auto-gain').checked = false",
        "home",
    )
    .await;

    // A wrong code, from a tincan:// link naming a server (the built-in one, by address)
    // opened while the app runs: a second launch hands the link to the running window and
    // exits (one instance). The server is not one the person used before, so the window asks
    // first, with the camera off (the preview draws nothing); once they continue, it shows
    // the pre-join screen for that room, and joining gets the server's refusal.
    let builtin = server_address(app).await;
    let link = format!(
        "tincan://join/zzzz-zzzz-zzzz?server={}",
        builtin.replace(':', "%3A").replace('/', "%2F")
    );
    let second = tokio::process::Command::new(tincan_e2e::binary("tincan"))
        .arg(&link)
        .env("DISPLAY", &desktop.display)
        .env("DBUS_SESSION_BUS_ADDRESS", &desktop.dbus_address)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .kill_on_drop(true)
        .status();
    let second = tokio::time::timeout(Duration::from_secs(20), second)
        .await
        .expect("a second launch exits at once")
        .expect("the app starts");
    assert!(second.success(), "the second launch exited with {second}");
    let asked = app
        .wait_for(
            "the question before joining on a new server",
            "return window.tincan.screen === 'link-ask' &&
                    document.getElementById('link-ask-title').textContent",
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(asked, json!("Join a call on 127.0.0.1?"));
    let drawn = "return window.tincan.tiles.self ? window.tincan.tiles.self.drawn : 0";
    // (Pictures already on their way may still land.)
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = app.execute(drawn, json!([])).await;
    let counts = "return await window.__TAURI__.core.invoke('tile_counts')";
    let sent_before = app.execute(counts, json!([])).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent_after = app.execute(counts, json!([])).await;
    assert_eq!(
        app.execute(drawn, json!([])).await,
        before,
        "the camera stays off while the app asks (pictures sent: {sent_before} then {sent_after})"
    );
    desktop.screenshot(&shots.join("link-question.png"));
    click(app, "link-continue").await;
    let title = app
        .wait_for(
            "the pre-join screen for the link's room",
            "return window.tincan.screen === 'prejoin' &&
                    document.getElementById('prejoin-title').textContent",
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(title, json!("Join zzzz-zzzz-zzzz"));
    click(app, "join").await;
    let error = app
        .wait_for(
            "the wrong code's error",
            "const e = document.getElementById('error');
             return !e.hidden && [e.dataset.kind, document.getElementById('error-title').textContent,
                                  document.getElementById('error-advice').textContent,
                                  document.getElementById('error-message').textContent]",
            Duration::from_secs(15),
        )
        .await;
    assert_eq!(error[0], json!("room-not-found"), "{error}");
    assert_eq!(error[1], json!("No room with that code"), "{error}");

    // A new room, from the test pattern (no camera here) and the virtual microphone.
    click(app, "error-close").await;
    click(app, "create").await;
    app.wait_for(
        "the pre-join screen",
        "return window.tincan.screen === 'prejoin' && document.getElementById('camera').options.length > 0",
        Duration::from_secs(10),
    )
    .await;
    set_value(app, "camera", "pattern").await;
    app.wait_for(
        "the camera preview",
        "const t = window.tincan.tiles.self;
         return t && t.drawn > 10 ? t : { waiting: { preview: window.tincan.preview, screen: window.tincan.screen,
           camera: document.getElementById('camera').value, tiles: Object.keys(window.tincan.tiles),
           self: t ? { drawn: t.drawn, canvas: t.canvas, path: t.path } : null } }",
        Duration::from_secs(15),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    desktop.screenshot(&shots.join("prejoin.png"));
    // "Test speaker and microphone": nothing carries this speaker into this microphone (the
    // tone it hears is its own), so it says the microphone does not hear the speaker. (That
    // it finds a speaker it does hear: tests/tests/call/echo.rs.)
    click(app, "test-devices").await;
    let verdict = app
        .wait_for(
            "the speaker and microphone test's verdict",
            "const r = document.getElementById('device-test-result');
             return r.dataset.hears !== undefined && [r.dataset.hears, r.textContent]",
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(verdict[0], json!("false"), "{verdict}");
    assert!(
        verdict[1]
            .as_str()
            .is_some_and(|t| t.contains("does not hear")),
        "{verdict}"
    );
    app.wait_for(
        "the camera preview back after the test",
        "return window.tincan.tiles.self && window.tincan.tiles.self.drawn > 10",
        Duration::from_secs(15),
    )
    .await;
    click(app, "join").await;
    let joined = wait_for_call(app).await;
    joined
}
