//! `tincan-cli devices`, `tincan-cli screens` and `tincan-cli echo-test`.

use std::process::ExitCode;

use tincan_media::devices::DeviceList;
use tincan_media::video::CameraInfo;

pub fn run(json: bool) -> ExitCode {
    let list = DeviceList::scan();
    if json {
        return print_json(&list);
    }
    print!("{}", render(&list));
    ExitCode::SUCCESS
}

/// One line per display or window: what `--share-screen` takes, its size, its title.
pub fn screens(json: bool) -> ExitCode {
    let list = match tincan_media::video::shareable() {
        Ok(list) => list,
        Err(e) => {
            eprintln!("tincan-cli: {e}");
            return ExitCode::FAILURE;
        }
    };
    let display = std::env::var("DISPLAY").unwrap_or_default();
    let rows: Vec<serde_json::Value> = list
        .iter()
        .map(|s| {
            let target = match s.target.to_string() {
                t if t.is_empty() => display.clone(),
                t => t,
            };
            serde_json::json!({ "target": target, "name": s.name, "width": s.width, "height": s.height })
        })
        .collect();
    if json {
        return print_json(&rows);
    }
    for row in &rows {
        println!(
            "{}\t{}x{}\t{}",
            row["target"].as_str().unwrap_or_default(),
            row["width"],
            row["height"],
            row["name"].as_str().unwrap_or_default()
        );
    }
    ExitCode::SUCCESS
}

fn print_json(value: &impl serde::Serialize) -> ExitCode {
    match serde_json::to_string_pretty(value) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tincan-cli: cannot write JSON: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn echo_test(microphone: Option<&str>, speaker: Option<&str>, json: bool) -> ExitCode {
    let result = match tincan_media::audio::echo_check::check_devices(microphone, speaker) {
        Ok(result) => result,
        Err(e) => {
            eprintln!("tincan-cli: {e}");
            return ExitCode::FAILURE;
        }
    };
    if json {
        return print_json(&result);
    }
    println!("{}", result.summary());
    ExitCode::SUCCESS
}

fn render(list: &DeviceList) -> String {
    let mut out = String::new();
    out.push_str("Cameras:\n");
    if list.cameras.is_empty() {
        out.push_str(
            "  none found (calls can still send a test pattern or a y4m file: --video pattern)\n",
        );
    }
    for camera in &list.cameras {
        out.push_str(&format!("  {}  [id {}]\n", camera.name, camera.id));
        out.push_str(&modes_line(camera));
    }
    for (title, devices, none) in [
        (
            "Microphones",
            &list.microphones,
            "none found (calls can send a tone or a wav file: --audio tone)",
        ),
        (
            "Speakers",
            &list.speakers,
            "none found (calls can record to files: --record DIR)",
        ),
    ] {
        out.push_str(&format!("{title}:\n"));
        if devices.is_empty() {
            out.push_str(&format!("  {none}\n"));
        }
        for d in devices {
            let mark = if d.is_default { "*" } else { " " };
            out.push_str(&format!(" {mark} {}  [id {}]\n", d.name, d.id));
        }
    }
    if !list.microphones.is_empty() || !list.speakers.is_empty() {
        out.push_str("(* marks the default)\n");
    }
    out
}

fn modes_line(camera: &CameraInfo) -> String {
    if camera.modes.is_empty() {
        return "      no usable modes (is another app using it?)\n".into();
    }
    let modes: Vec<String> = camera
        .modes
        .iter()
        .take(12)
        .map(|m| format!("{}x{}@{} {:?}", m.width, m.height, m.fps, m.format).to_lowercase())
        .collect();
    let more = camera.modes.len().saturating_sub(12);
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!("      {}{tail}\n", modes.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tincan_media::audio::AudioDeviceInfo;
    use tincan_media::video::{CameraMode, PixelFormat};

    #[test]
    fn nothing_found_is_said_plainly() {
        let text = render(&DeviceList::default());
        assert!(text.contains("Cameras:\n  none found"), "{text}");
        assert!(text.contains("Microphones:\n  none found"), "{text}");
        assert!(text.contains("Speakers:\n  none found"), "{text}");
    }

    #[test]
    fn devices_are_listed_with_ids_modes_and_the_default() {
        let list = DeviceList {
            cameras: vec![CameraInfo {
                id: "0".into(),
                name: "USB Camera".into(),
                modes: vec![CameraMode {
                    width: 1280,
                    height: 720,
                    fps: 30,
                    format: PixelFormat::Mjpeg,
                }],
            }],
            microphones: vec![AudioDeviceInfo {
                id: "pulseaudio:mic".into(),
                name: "Mic".into(),
                is_default: true,
            }],
            speakers: vec![],
        };
        let text = render(&list);
        assert!(
            text.contains("USB Camera  [id 0]\n      1280x720@30 mjpeg\n"),
            "{text}"
        );
        assert!(text.contains(" * Mic  [id pulseaudio:mic]"), "{text}");
    }
}
