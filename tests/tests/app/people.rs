//! Contacts and ringing in the desktop app (issue 19; docs/desktop-app.md, "Contacts and ringing"):
//! the app calls a contact who is a `tincan-cli listen` peer; `tincan-cli call --ring` rings
//! the app, which declines, misses a ring with its window closed to the tray (the OS
//! notification is read from the test's own notification server), accepts one (video and
//! audio both ways) and answers a second ring meanwhile "busy", as it does in do-not-disturb;
//! with "only contacts can ring me" a stranger is declined; contacts are added from the recent
//! calls, renamed and removed, and survive a restart
//! and presence follows the contact within 5 s; starting at login writes (and removes) an
//! XDG autostart entry.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tincan_e2e::desktop::page::{click, server_address, set_value, wait_for_call, wait_for_home};
use tincan_e2e::notifications::Notifications;
use tincan_e2e::virtual_audio::record_virtual_speaker;
use tincan_e2e::{about, start_app, Browser, CliPeer, Desktop, Role};
use tincan_media::audio::analysis::{dominant_frequency, rms};

use super::microphones::feed_microphone;
use super::{change_settings, n, screenshots};

/// `tincan-cli call --ring`'s exit codes (crates/cli/src/call.rs, `exit`).
const DECLINED: i32 = 5;
const NO_ANSWER: i32 = 6;
const BUSY: i32 = 7;

#[test]
fn the_app_rings_its_contacts_and_is_rung() {
    super::run_app_test(rings());
}

/// The people view the page holds (`window.tincan.people`).
async fn people(app: &Browser) -> Value {
    app.execute("return window.tincan.people", json!([])).await
}

async fn wait_presence(app: &Browser, name: &str, online: bool) -> Duration {
    let start = Instant::now();
    app.wait_for(
        &format!("{name} shown {}", if online { "online" } else { "offline" }),
        &format!(
            "const c = window.tincan.people && window.tincan.people.contacts.find(c => c.name === {name:?});
             return c && c.online === {online}"
        ),
        Duration::from_secs(5),
    )
    .await;
    start.elapsed()
}

/// Waits for the incoming-call screen and returns the caller's name as shown.
async fn incoming(app: &Browser) -> String {
    app.wait_for(
        "the incoming-call screen",
        "return !document.getElementById('incoming').hidden &&
                document.getElementById('incoming-name').textContent",
        Duration::from_secs(10),
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

async fn rings() {
    let dir = std::env::temp_dir().join(format!("tincan-app-people-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    let shots = screenshots();
    let _microphone = feed_microphone(&dir);
    let desktop = Desktop::start().await;
    let notifications = Notifications::serve(&desktop.dbus_address).await;
    let home = dir.join("home");
    let home = home.to_str().expect("a UTF-8 temp path");
    let env = [("HOME", home)];
    let app = start_app(&desktop, &config, &env).await;
    wait_for_home(&app).await;
    set_value(&app, "name", "Desk").await;
    click(&app, "lan-deny").await;
    // No camera here but the test pattern, which the app does not pick by itself. (Settings
    // list the devices once they have looked.)
    change_settings(
        &app,
        "const pick = document.getElementById('default-camera');
         for (let i = 0; i < 100 && !pick.querySelector('option[value=pattern]'); i++)
           await new Promise(r => setTimeout(r, 100));
         pick.value = 'pattern'",
        "home",
    )
    .await;
    assert_eq!(
        app.execute("return window.tincan.settings.camera", json!([]))
            .await,
        json!("pattern")
    );
    let me = app
        .wait_for(
            "the app registered under its personal code",
            "const p = window.tincan.people; return p && p.reachable && p.code",
            Duration::from_secs(15),
        )
        .await;
    let my_code = me.as_str().unwrap_or_default().to_owned();
    assert_eq!(
        app.execute(
            "return document.getElementById('my-code').textContent",
            json!([])
        )
        .await,
        json!(my_code),
        "the home screen shows the personal code"
    );
    let server = server_address(&app).await;

    // The app calls a contact: Ada listens (and accepts); added by her code, she shows
    // online, and pressing Call rings her, then the call runs.
    let ada_key = dir.join("ada.key");
    let ada_key = ada_key.to_str().expect("a UTF-8 temp path");
    let ada = CliPeer::start_role_with_server(
        &server,
        &dir,
        "Ada",
        Role::Listen("accept"),
        &["--identity", ada_key, "--duration", "8"],
    )
    .await;
    let ada_code = ada.code().expect("the listener prints its code");
    set_value(&app, "contact-code", &ada_code).await;
    set_value(&app, "contact-name", "Ada").await;
    click(&app, "add-contact").await;
    app.wait_for(
        "Ada in the contacts",
        "const e = document.getElementById('error');
         if (!e.hidden) return {waiting: document.getElementById('error-message').textContent};
         return window.tincan.people.contacts.some(c => c.name === 'Ada')",
        Duration::from_secs(5),
    )
    .await;
    let online_after = wait_presence(&app, "Ada", true).await;
    eprintln!("Ada shown online {online_after:?} after being added");
    app.wait_for(
        "the add-contact form cleared",
        "return document.getElementById('contact-code').value === ''",
        Duration::from_secs(5),
    )
    .await;
    // (The page has changed; the screen shows it at its next paint.)
    tokio::time::sleep(Duration::from_millis(500)).await;
    desktop.screenshot(&shots.join("contacts.png"));
    app.execute(
        "document.querySelector('#contacts li button[aria-label=\"Call Ada\"]').click(); return true",
        json!([]),
    )
    .await;
    let joined = wait_for_call(&app).await;
    let app_id = joined["me"].as_str().unwrap_or_default().to_owned();
    assert!(
        ada.printed("ringing", Duration::from_secs(10)).await,
        "Ada was rung"
    );
    let ada_id = ada
        .printed_after("peer")
        .expect("Ada joined the app's room");
    app.wait_for(
        "Ada's video in the app",
        &format!("const t = window.tincan.tiles[{ada_id:?}]; return t && t.drawn > 30"),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(
        app.execute(
            "return document.getElementById('ringing').hidden",
            json!([])
        )
        .await,
        json!(true),
        "the ringing banner went once Ada answered"
    );
    let heard = app
        .wait_for(
            "Ada's audio in the app's stats",
            &format!(
                "const p = window.tincan.peers.get({ada_id:?});
                 return p && p.stats && p.stats.audio_frames_received > 100 && p.stats"
            ),
            Duration::from_secs(10),
        )
        .await;
    assert!(n(&heard, "video_frames_decoded") > 30.0, "{heard}");
    let ada = ada.finish().await;
    let from_app = about(&ada, &app_id);
    assert!(
        n(from_app, "video_frames_decoded") > 30.0 && n(from_app, "audio_frames_received") > 100.0,
        "Ada got too little of the app: {from_app}"
    );
    let offline_after = wait_presence(&app, "Ada", false).await;
    eprintln!("Ada shown offline {offline_after:?} after she quit");
    back_home(&app).await;

    // Bob rings the app; it shows his name; declined, his tincan-cli exits "declined".
    let bob = ring(&server, &dir, "Bob", &my_code, 10).await;
    assert_eq!(incoming(&app).await, "Bob");
    // The ringtone plays on the speaker: its two notes (880 and 660 Hz) every 3 s (two rounds:
    // a cold speaker can take a moment to start, docs/traps.md trap 10).
    let played = record_virtual_speaker(6.5);
    tokio::time::sleep(Duration::from_millis(500)).await;
    desktop.screenshot(&shots.join("incoming-call.png"));
    let inputs = std::process::Command::new("pactl")
        .args(["list", "short", "sink-inputs"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let played = played.join().expect("the recording");
    let notes: Vec<f64> = played
        .chunks(48_000 / 5)
        .filter(|c| rms(c) > 0.05)
        .filter_map(|c| dominant_frequency(c, 48_000))
        .collect();
    assert!(
        notes.iter().any(|hz| (hz - 880.0).abs() < 10.0)
            && notes.iter().any(|hz| (hz - 660.0).abs() < 10.0),
        "the ringtone's notes not heard: loud parts at {notes:?} Hz; levels {:?}; playing: {inputs}",
        played.chunks(48_000 / 5).map(|c| (rms(c) * 100.0).round()).collect::<Vec<_>>()
    );
    click(&app, "incoming-decline").await;
    assert_eq!(bob.exit().await.0, Some(DECLINED), "Bob hears the decline");

    // The window closed (to the tray): a ring still comes, as an OS notification. Nobody
    // answers: Bob hears "no answer" after the server's 30 s, and the app lists a missed call.
    app.execute(
        "await window.__TAURI__.window.getCurrentWindow().close(); return true",
        json!([]),
    )
    .await;
    app.wait_for(
        "the window hidden",
        "return !(await window.__TAURI__.window.getCurrentWindow().isVisible())",
        Duration::from_secs(5),
    )
    .await;
    let told = notifications
        .wait_for("still running", Duration::from_secs(5))
        .await;
    assert!(
        told.is_some(),
        "closing the window the first time says Tincan keeps running: {:?}",
        notifications.shown()
    );
    let rang = Instant::now();
    let bob = ring(&server, &dir, "Bob", &my_code, 45).await;
    let shown = notifications
        .wait_for("Bob is calling", Duration::from_secs(10))
        .await;
    assert!(
        shown.is_some(),
        "no notification of Bob's ring: {:?}",
        notifications.shown()
    );
    assert_eq!(bob.exit().await.0, Some(NO_ANSWER), "Bob hears no answer");
    let waited = rang.elapsed();
    assert!(
        waited >= Duration::from_secs(29),
        "no answer after only {waited:?}"
    );
    // Opening Tincan again (as from a launcher, on a desktop without a tray) shows the window.
    relaunch(&desktop, &config, home).await;
    app.wait_for(
        "the window back",
        "return await window.__TAURI__.window.getCurrentWindow().isVisible()",
        Duration::from_secs(10),
    )
    .await;
    let recent = people(&app).await["recent"][0].clone();
    assert_eq!(recent["kind"], json!("missed"), "{recent}");
    assert_eq!(recent["name"], json!("Bob"), "{recent}");
    assert_eq!(recent["outcome"], json!("no answer"), "{recent}");

    // Accepted: a call with video and audio both ways; Cy ringing meanwhile hears "busy".
    let bob = CliPeer::start_role_with_server(
        &server,
        &dir,
        "Bob",
        Role::Ring(&my_code),
        &["--duration", "10"],
    )
    .await;
    assert_eq!(incoming(&app).await, "Bob");
    click(&app, "incoming-accept").await;
    let joined = wait_for_call(&app).await;
    let app_id = joined["me"].as_str().unwrap_or_default().to_owned();
    let bob_id = bob.id.clone();
    app.wait_for(
        "Bob's video and audio in the app",
        &format!(
            "const t = window.tincan.tiles[{bob_id:?}]; const p = window.tincan.peers.get({bob_id:?});
             return t && t.drawn > 30 && p && p.stats && p.stats.audio_frames_received > 100"
        ),
        Duration::from_secs(20),
    )
    .await;
    let cy = ring(&server, &dir, "Cy", &my_code, 10).await;
    assert_eq!(
        cy.exit().await.0,
        Some(BUSY),
        "a ring during a call is busy"
    );
    let bob = bob.finish().await;
    let from_app = about(&bob, &app_id);
    assert!(
        n(from_app, "video_frames_decoded") > 30.0 && n(from_app, "audio_frames_received") > 100.0,
        "Bob got too little of the app: {from_app}"
    );
    let recent = people(&app).await["recent"].clone();
    assert_eq!(recent[0]["name"], json!("Cy"), "{recent}");
    assert_eq!(
        recent[0]["outcome"],
        json!("you were in a call"),
        "{recent}"
    );
    assert_eq!(recent[1]["kind"], json!("incoming"), "{recent}");
    back_home(&app).await;

    // Do not disturb: a ring is answered "busy" and listed as missed.
    let dnd = |on: bool| {
        format!(
            "const box = document.getElementById('do-not-disturb'); box.checked = {on};
             box.dispatchEvent(new Event('change')); return true"
        )
    };
    app.execute(&dnd(true), json!([])).await;
    app.wait_for(
        "do not disturb on",
        "return window.tincan.people.do_not_disturb",
        Duration::from_secs(5),
    )
    .await;
    let cy = ring(&server, &dir, "Cy", &my_code, 10).await;
    assert_eq!(cy.exit().await.0, Some(BUSY), "do not disturb answers busy");
    assert_eq!(
        people(&app).await["recent"][0]["outcome"],
        json!("do not disturb")
    );
    app.execute(&dnd(false), json!([])).await;
    // Only contacts may ring (Settings): Cy is not one, and is declined at once.
    let contacts_only = |on: bool| {
        let app = &app;
        async move {
            let change = format!("document.getElementById('contacts-only').checked = {on}");
            change_settings(app, &change, "home").await;
        }
    };
    contacts_only(true).await;
    let cy = ring(&server, &dir, "Cy", &my_code, 10).await;
    assert_eq!(cy.exit().await.0, Some(DECLINED), "a stranger is declined");
    let recent = people(&app).await["recent"][0].clone();
    assert_eq!(recent["kind"], json!("declined"), "{recent}");
    assert_eq!(recent["outcome"], json!("not a contact"), "{recent}");
    contacts_only(false).await;

    // Contacts are renamed and removed in their row; a caller from the recent calls is added.
    let press = |label: &str| {
        format!("document.querySelector('button[aria-label={label:?}]').click(); return true")
    };
    app.execute(&press("Add Cy to contacts"), json!([])).await;
    app.wait_for(
        "Cy added from the recent calls",
        "return window.tincan.people.contacts.some(c => c.name === 'Cy')",
        Duration::from_secs(5),
    )
    .await;
    app.execute(&press("Rename Ada"), json!([])).await;
    app.execute(
        "const f = document.querySelector('input[aria-label=\"New name for Ada\"]');
         f.value = 'Ada Lovelace'; return true",
        json!([]),
    )
    .await;
    app.execute(&press("Save the name for Ada"), json!([]))
        .await;
    app.execute(&press("Remove Cy"), json!([])).await;
    app.execute(&press("Yes, remove Cy"), json!([])).await;
    let names = app
        .wait_for(
            "Ada renamed and Cy removed",
            "const names = window.tincan.people.contacts.map(c => c.name);
             return names.length === 1 && names[0] === 'Ada Lovelace' && names",
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(names, json!(["Ada Lovelace"]));

    // Contacts are kept: after a restart Ada is still there, and online again with her.
    drop(app);
    let app = start_app(&desktop, &config, &env).await;
    wait_for_home(&app).await;
    let ada_again = CliPeer::start_role_with_server(
        &server_of(&app).await,
        &dir,
        "Ada again",
        Role::Listen("decline"),
        &["--identity", ada_key],
    )
    .await;
    assert_eq!(ada_again.code().as_deref(), Some(ada_code.as_str()));
    wait_presence(&app, "Ada Lovelace", true).await;
    assert_eq!(
        people(&app).await["code"],
        json!(my_code),
        "the same personal code"
    );
    // This time Ada declines: the app leaves the room it made and says so.
    app.execute(
        "document.querySelector('button[aria-label=\"Call Ada Lovelace\"]').click(); return true",
        json!([]),
    )
    .await;
    let said = app
        .wait_for(
            "the call ended by Ada's decline",
            "return window.tincan.screen === 'ended' && window.tincan.ended",
            Duration::from_secs(15),
        )
        .await;
    assert_eq!(said, json!("Ada Lovelace declined the call."));
    let recent = people(&app).await["recent"][0].clone();
    assert_eq!(recent["kind"], json!("outgoing"), "{recent}");
    assert_eq!(recent["outcome"], json!("declined"), "{recent}");
    click(&app, "home-again").await;
    wait_for_home(&app).await;
    drop(ada_again);

    // Start at login (Settings): an XDG autostart entry that starts Tincan in the tray, gone
    // again when turned off.
    let autostart = Path::new(home).join(".config/autostart");
    let entries = || {
        std::fs::read_dir(&autostart)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.path())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let login = |on: bool| {
        let app = &app;
        async move {
            let change = format!("document.getElementById('start-at-login').checked = {on}");
            change_settings(app, &change, "home").await;
        }
    };
    login(true).await;
    let made = entries();
    assert_eq!(made.len(), 1, "one autostart entry: {made:?}");
    let entry = std::fs::read_to_string(&made[0]).unwrap_or_default();
    assert!(entry.contains("--hidden"), "it starts in the tray: {entry}");
    login(false).await;
    assert_eq!(
        entries(),
        Vec::<std::path::PathBuf>::new(),
        "the entry is removed"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Leaves the call and goes back to the home screen.
async fn back_home(app: &Browser) {
    click(app, "leave").await;
    app.wait_for(
        "the call left",
        "return window.tincan.screen === 'ended'",
        Duration::from_secs(10),
    )
    .await;
    click(app, "home-again").await;
    wait_for_home(app).await;
}

/// A `tincan-cli call --ring` from `name` to `code`, ringing once this returns, for at most
/// `seconds` (ringing included).
async fn ring(server: &str, dir: &Path, name: &str, code: &str, seconds: u32) -> CliPeer {
    let seconds = seconds.to_string();
    CliPeer::start_role_with_server(
        server,
        dir,
        name,
        Role::Ring(code),
        &["--duration", &seconds],
    )
    .await
}

/// The restarted app's built-in server (a new port), once it is registered there.
async fn server_of(app: &Browser) -> String {
    app.wait_for(
        "the restarted app registered",
        "const p = window.tincan.people; return p && p.reachable",
        Duration::from_secs(15),
    )
    .await;
    server_address(app).await
}

/// Starts Tincan again as a person would, from its launcher: the running one shows its
/// window and the new one exits.
async fn relaunch(desktop: &Desktop, config: &Path, home: &str) {
    let second = tokio::process::Command::new(tincan_e2e::binary("tincan"))
        .env("DISPLAY", &desktop.display)
        .env("DBUS_SESSION_BUS_ADDRESS", &desktop.dbus_address)
        .env("XDG_CONFIG_HOME", config)
        .env("HOME", home)
        .kill_on_drop(true)
        .status();
    let second = tokio::time::timeout(Duration::from_secs(20), second)
        .await
        .expect("a second launch exits at once")
        .expect("the app starts");
    assert!(second.success(), "the second launch exited with {second}");
}
