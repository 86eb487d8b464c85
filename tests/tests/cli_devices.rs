//! `tincan-cli devices` as a user runs it.

use std::process::Command;

fn devices(args: &[&str]) -> (bool, String) {
    let out = Command::new(tincan_e2e::binary("tincan-cli"))
        .arg("devices")
        .args(args)
        .output()
        .expect("tincan-cli runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
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
    let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let mics = value["microphones"].as_array().expect("a microphones list");
    assert!(
        mics.iter()
            .any(|m| m["id"] == "pulseaudio:tincan_mic" && m["is_default"] == true),
        "{json}"
    );
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
