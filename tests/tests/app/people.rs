//! Contacts and ringing in the desktop app (issue 19; docs/app.md, "Contacts and ringing"):
//! the app calls a contact who is a `tincan-cli listen` peer; `tincan-cli call --ring` rings
//! the app, which declines, misses a ring with its window closed to the tray (the OS
//! notification is read from the test's own notification server), accepts one (video and
//! audio both ways) and answers a second ring meanwhile "busy"; contacts survive a restart
//! and presence follows the contact within 5 s.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tincan_e2e::desktop::page::{click, server_address, set_value, wait_for_call, wait_for_home};
use tincan_e2e::notifications::Notifications;
use tincan_e2e::{about, start_app, Browser, CliPeer, Desktop, Role};

use super::{change_settings, feed_microphone, n, screenshots, ONE_APP_AT_A_TIME};

/// `tincan-cli call --ring`'s exit codes (crates/cli/src/call.rs, `exit`).
const DECLINED: i32 = 5;
const NO_ANSWER: i32 = 6;
const BUSY: i32 = 7;

#[test]
fn the_app_rings_its_contacts_and_is_rung() {
    let _one = ONE_APP_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    // As for the other app test: the call's state machine needs a larger stack unoptimised.
    let runner = std::thread::Builder::new()
        .name("app-people-test".into())
        .stack_size(32 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(Box::pin(rings()));
        })
        .expect("a thread for the test");
    if let Err(panic) = runner.join() {
        std::panic::resume_unwind(panic);
    }
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
        app.execute("return window.tincan.settings.camera", json!([])).await,
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
        app.execute("return document.getElementById('my-code').textContent", json!([]))
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
    let ada_id = ada.printed_after("peer").expect("Ada joined the app's room");
    app.wait_for(
        "Ada's video in the app",
        &format!("const t = window.tincan.tiles[{ada_id:?}]; return t && t.drawn > 30"),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(
        app.execute("return document.getElementById('ringing').hidden", json!([]))
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
    tokio::time::sleep(Duration::from_millis(500)).await;
    desktop.screenshot(&shots.join("incoming-call.png"));
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
    assert!(told.is_some(), "closing the window the first time says Tincan keeps running: {:?}", notifications.shown());
    let rang = Instant::now();
    let bob = ring(&server, &dir, "Bob", &my_code, 45).await;
    let shown = notifications
        .wait_for("Bob is calling", Duration::from_secs(10))
        .await;
    assert!(shown.is_some(), "no notification of Bob's ring: {:?}", notifications.shown());
    assert_eq!(bob.exit().await.0, Some(NO_ANSWER), "Bob hears no answer");
    let waited = rang.elapsed();
    assert!(waited >= Duration::from_secs(29), "no answer after only {waited:?}");
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
    assert_eq!(cy.exit().await.0, Some(BUSY), "a ring during a call is busy");
    let bob = bob.finish().await;
    let from_app = about(&bob, &app_id);
    assert!(
        n(from_app, "video_frames_decoded") > 30.0 && n(from_app, "audio_frames_received") > 100.0,
        "Bob got too little of the app: {from_app}"
    );
    let recent = people(&app).await["recent"].clone();
    assert_eq!(recent[0]["name"], json!("Cy"), "{recent}");
    assert_eq!(recent[0]["outcome"], json!("you were in a call"), "{recent}");
    assert_eq!(recent[1]["kind"], json!("incoming"), "{recent}");
    back_home(&app).await;

    // Contacts are kept: after a restart Ada is still there, and online again with her.
    drop(app);
    let app = start_app(&desktop, &config, &env).await;
    wait_for_home(&app).await;
    let ada_again = CliPeer::start_role_with_server(
        &server_of(&app).await,
        &dir,
        "Ada again",
        Role::Listen("none"),
        &["--identity", ada_key],
    )
    .await;
    assert_eq!(ada_again.code().as_deref(), Some(ada_code.as_str()));
    wait_presence(&app, "Ada", true).await;
    assert_eq!(people(&app).await["code"], json!(my_code), "the same personal code");
    drop(ada_again);
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
    CliPeer::start_role_with_server(server, dir, name, Role::Ring(code), &["--duration", &seconds])
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
