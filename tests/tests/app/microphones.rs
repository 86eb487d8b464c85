//! The virtual microphone the app tests use (scripts/virtual-audio.sh): fed a tone,
//! unplugged, and a second one plugged beside it.

use std::path::Path;
use std::process::Stdio;

use super::MIC_HZ;

/// Plays `MIC_HZ` into the virtual microphone for as long as the returned process lives
/// (it is killed when dropped, also when the test fails).
pub(super) fn feed_microphone(dir: &Path) -> tokio::process::Child {
    let raw = dir.join("microphone.raw");
    let samples: Vec<u8> = (0..48_000 * 120)
        .flat_map(|i| {
            let t = f64::from(i) / 48_000.0;
            let s = (0.5 * 32767.0 * (2.0 * std::f64::consts::PI * MIC_HZ * t).sin()) as i16;
            s.to_le_bytes()
        })
        .collect();
    std::fs::write(&raw, samples).unwrap();
    tokio::process::Command::new("pacat")
        .args([
            "--playback",
            "-d",
            "tincan_micfeed",
            "--format=s16le",
            "--rate=48000",
            "--channels=1",
        ])
        .arg(&raw)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("pacat runs (scripts/install-deps installs pulseaudio-utils)")
}

/// Unplugs the virtual microphone (unloads its PulseAudio module) until dropped, when it is
/// plugged back as scripts/virtual-audio.sh made it.
pub(super) struct UnpluggedMicrophone;

impl UnpluggedMicrophone {
    pub(super) fn now() -> Self {
        // Its module by index: other remapped sources (a second microphone) stay.
        let modules = std::process::Command::new("pactl")
            .args(["list", "short", "modules"])
            .output()
            .expect("pactl runs");
        let modules = String::from_utf8_lossy(&modules.stdout).into_owned();
        let index = modules
            .lines()
            .find(|l| l.contains("source_name=tincan_mic "))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("no virtual microphone module in {modules}"));
        let status = std::process::Command::new("pactl")
            .args(["unload-module", index])
            .status()
            .expect("pactl runs");
        assert!(status.success(), "cannot unplug the virtual microphone");
        Self
    }
}

impl Drop for UnpluggedMicrophone {
    fn drop(&mut self) {
        let _ = std::process::Command::new("pactl")
            .args([
                "load-module",
                "module-remap-source",
                "source_name=tincan_mic",
                "master=tincan_micfeed.monitor",
                "channels=1",
                "source_properties=device.description=TincanVirtualMic",
            ])
            .status();
        let _ = std::process::Command::new("pactl")
            .args(["set-default-source", "tincan_mic"])
            .status();
    }
}

/// A second virtual microphone (TincanSecondMic, the same feed as the first) until dropped.
pub(super) struct SecondMicrophone(String);

impl SecondMicrophone {
    pub(super) fn plug() -> Self {
        let out = std::process::Command::new("pactl")
            .args([
                "load-module",
                "module-remap-source",
                "source_name=tincan_mic2",
                "master=tincan_micfeed.monitor",
                "channels=1",
                "source_properties=device.description=TincanSecondMic",
            ])
            .output()
            .expect("pactl runs");
        assert!(out.status.success(), "cannot plug a second microphone");
        Self(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

impl Drop for SecondMicrophone {
    fn drop(&mut self) {
        let _ = std::process::Command::new("pactl")
            .args(["unload-module", &self.0])
            .status();
    }
}
