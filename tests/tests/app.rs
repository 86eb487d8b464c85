//! The desktop app itself (the `tincan` binary from src-tauri) under Xvfb, driven over
//! WebDriver like a person would use it, in a call with a tincan-cli peer through the app's
//! built-in server. The microphone is the virtual one (scripts/virtual-audio.sh), fed a tone.
//! Screenshots of each screen go to docs/screenshots/. [`lan`]: the app hosting a call for
//! its LAN, joined by code from another computer and by its copied link from Chromium.
//! [`people`]: contacts and ringing, with the window closed to the tray. [`room`]: a room of
//! five, push-to-talk and the shortcuts' help. [`eight`]: a room of eight, every tile
//! drawing, the speaker pinned. [`lip_sync`]: a flash and its beep, drawn
//! and heard together, and recorded together by the Record button.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use tincan_e2e::desktop::page::click;
use tincan_e2e::Browser;

#[path = "app/before_call.rs"]
mod before_call;
#[path = "app/call.rs"]
mod call;
#[path = "app/eight.rs"]
mod eight;
#[path = "app/lan.rs"]
mod lan;
#[path = "app/lip_sync.rs"]
mod lip_sync;
#[path = "app/microphones.rs"]
mod microphones;
#[path = "app/people.rs"]
mod people;
#[path = "app/room.rs"]
mod room;
#[path = "app/sharing.rs"]
mod sharing;

/// The tone played into the virtual microphone the app listens to.
const MIC_HZ: f64 = 600.0;

/// The app tests share the virtual microphone (one unplugs it) and two cores: one at a time.
static ONE_APP_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn n(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v:#}"))
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Settings (in `dir/config`, the app's config home) that call through `server` as "Desk",
/// with no LAN hosting and the microphone's tone kept as it is (no processing).
fn settings_through(dir: &Path, server: &tincan_e2e::ServerProcess) {
    let settings = dir.join("config/app.tincan.desktop");
    std::fs::create_dir_all(&settings).unwrap();
    std::fs::write(
        settings.join("settings.json"),
        json!({
            "name": "Desk",
            "server": server.addr.to_string(),
            "lan_hosting": false,
            "audio_processing": {"echo_cancellation": false, "noise_suppression": false, "auto_gain": false},
        })
        .to_string(),
    )
    .unwrap();
}

/// Opens Settings, runs `change` (JavaScript setting the controls), saves, and waits for
/// `back_to` (the screen Settings were opened from).
async fn change_settings(app: &Browser, change: &str, back_to: &str) {
    click(app, "open-settings").await;
    app.wait_for(
        "the settings",
        "return window.tincan.screen === 'settings'",
        Duration::from_secs(10),
    )
    .await;
    app.execute(&format!("{change}; return true"), json!([]))
        .await;
    click(app, "settings-save").await;
    app.wait_for(
        "back from the settings",
        &format!("return window.tincan.screen === {back_to:?}"),
        Duration::from_secs(10),
    )
    .await;
}

/// Runs an app test, one at a time. Polling the whole call's state machine, built without
/// optimisation, takes more stack than a test thread has (2 MiB): it runs on a thread with
/// more.
fn run_app_test<F: std::future::Future<Output = ()> + Send + 'static>(test: F) {
    let _one = ONE_APP_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let runner = std::thread::Builder::new()
        .name("app-test".into())
        .stack_size(32 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(Box::pin(test));
        })
        .expect("a thread for the test");
    if let Err(panic) = runner.join() {
        std::panic::resume_unwind(panic);
    }
}
