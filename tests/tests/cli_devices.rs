//! `tincan-cli devices` as a user runs it.

use std::process::Command;

fn devices(args: &[&str]) -> (bool, String) {
    devices_with(args, |_| {})
}

/// `tincan-cli devices ARGS`, its environment changed by `env`: whether it exited 0, and its
/// output.
fn devices_with(args: &[&str], env: impl FnOnce(&mut Command)) -> (bool, String) {
    let mut command = Command::new(tincan_e2e::binary("tincan-cli"));
    command.arg("devices").args(args);
    env(&mut command);
    let out = command.output().expect("tincan-cli runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The microphones of `devices --json` output.
fn microphones(json: &str) -> Vec<serde_json::Value> {
    let value: serde_json::Value = serde_json::from_str(json).expect("valid JSON");
    value["microphones"]
        .as_array()
        .expect("a microphones list")
        .clone()
}

fn has_video_devices() -> bool {
    std::fs::read_dir("/dev")
        .map(|d| {
            d.filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().starts_with("video"))
        })
        .unwrap_or(false)
}

#[test]
fn lists_devices_as_text_and_json_and_exits_zero() {
    assert!(
        std::env::var_os("PULSE_SERVER").is_some(),
        "run with scripts/test, which starts the virtual sound devices"
    );
    let (ok, text) = devices(&[]);
    assert!(ok, "exit 0");
    assert!(
        text.contains("* TincanVirtualMic  [id pulseaudio:tincan_mic]"),
        "{text}"
    );
    assert!(
        text.contains("* TincanVirtualSpeaker  [id pulseaudio:tincan_speaker]"),
        "{text}"
    );

    let (ok, json) = devices(&["--json"]);
    assert!(ok);
    assert!(
        microphones(&json)
            .iter()
            .any(|m| m["id"] == "pulseaudio:tincan_mic" && m["is_default"] == true),
        "{json}"
    );
    let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert!(
        value["speakers"].as_array().is_some_and(|s| !s.is_empty()),
        "{json}"
    );
    let cameras = value["cameras"].as_array().expect("a cameras list");
    if !has_video_devices() {
        assert!(cameras.is_empty(), "{json}");
        assert!(
            text.contains("Cameras:\n  none found"),
            "no camera is said plainly: {text}"
        );
    }
}

/// A person whose PulseAudio cookie is where libpulse looks (`$XDG_CONFIG_HOME/pulse/cookie`)
/// but not where cpal's client does (`$HOME/.config/pulse/cookie`) still gets PulseAudio's
/// devices, not ALSA's stand-ins (`alsa:default`, what cpal took when the server dropped its
/// client for an empty cookie).
#[test]
fn finds_pulseaudios_devices_with_the_cookie_only_where_libpulse_looks() {
    let dir = std::env::temp_dir().join(format!("tincan-cookie-{}", std::process::id()));
    let home = dir.join("home");
    let config = dir.join("config");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(config.join("pulse")).unwrap();
    // The virtual daemon takes anyone (auth-anonymous); any cookie of the right length does.
    std::fs::write(config.join("pulse/cookie"), [7u8; 256]).unwrap();
    let (ok, json) = devices_with(&["--json"], |c| {
        c.env("HOME", &home)
            .env("XDG_CONFIG_HOME", &config)
            .env_remove("PULSE_COOKIE");
    });
    let _ = std::fs::remove_dir_all(&dir);
    assert!(ok, "exit 0: {json}");
    assert!(
        microphones(&json)
            .iter()
            .any(|m| m["id"] == "pulseaudio:tincan_mic"),
        "PulseAudio's own devices: {json}"
    );
}

/// `tincan-cli screens`: the display and its windows on view, by what `--share-screen` takes;
/// without a display, a clear error and exit 1.
#[tokio::test]
async fn lists_the_screen_and_its_windows_to_share() {
    let dir = std::env::temp_dir().join(format!("tincan-screens-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let desktop = tincan_e2e::Desktop::start_sized(800, 600).await;
    let _window = tincan_e2e::screen::window_showing_text(&desktop, &dir, 320, 200, (10, 10)).await;
    let screens = |display: &str, json: bool| {
        let mut command = Command::new(tincan_e2e::binary("tincan-cli"));
        command
            .arg("screens")
            .env("DISPLAY", display)
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("XDG_SESSION_TYPE");
        if json {
            command.arg("--json");
        }
        command.output().expect("tincan-cli runs")
    };
    let out = screens(&desktop.display, true);
    assert!(out.status.success(), "exit 0");
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        listed[0],
        serde_json::json!({"target": desktop.display, "name": "Entire screen", "width": 800, "height": 600})
    );
    let window = listed
        .as_array()
        .and_then(|l| l.iter().find(|w| w["name"] == "ImageMagick: window.ppm"))
        .unwrap_or_else(|| panic!("the window is not listed: {listed:#}"));
    assert_eq!(
        (&window["width"], &window["height"]),
        (&serde_json::json!(320), &serde_json::json!(200))
    );
    assert!(
        window["target"]
            .as_str()
            .is_some_and(|t| t.starts_with("0x")),
        "{window}"
    );
    let text = String::from_utf8_lossy(&screens(&desktop.display, false).stdout).into_owned();
    assert!(
        text.lines()
            .any(|l| l.starts_with(window["target"].as_str().unwrap_or("?"))
                && l.ends_with("320x200\tImageMagick: window.ppm")),
        "{text}"
    );
    // In a Wayland session the X display is XWayland's: the desktop's dialog is the choice.
    let wayland = Command::new(tincan_e2e::binary("tincan-cli"))
        .args(["screens", "--json"])
        .env("DISPLAY", &desktop.display)
        .env("XDG_SESSION_TYPE", "wayland")
        .output()
        .expect("tincan-cli runs");
    let listed: serde_json::Value = serde_json::from_slice(&wayland.stdout).expect("JSON");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed:#}");
    assert_eq!(listed[0]["target"], "portal", "{listed:#}");
    let nowhere = screens(":9999", false);
    assert_eq!(nowhere.status.code(), Some(1));
    let said = String::from_utf8_lossy(&nowhere.stderr);
    assert!(said.contains("cannot connect to the X display"), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}
