//! The pickers' choices, and how a picked id becomes a call input.
//!
//! Besides the real devices, the camera list always ends with the test pattern: it lets a
//! person check a call works before their camera does, and lets machines without a camera
//! (and the end-to-end tests) send moving video.

use serde::Serialize;
use tincan_call::{AudioInput, AudioOutput, VideoInput};
use tincan_media::devices::DeviceList;

/// The camera id that means "the moving test pattern".
pub const PATTERN: &str = "pattern";
/// The id that means "none": camera off, no microphone.
pub const NONE: &str = "none";

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Choice {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct Choices {
    pub cameras: Vec<Choice>,
    pub microphones: Vec<Choice>,
    pub speakers: Vec<Choice>,
}

impl Choices {
    pub fn from_devices(list: &DeviceList) -> Self {
        let mut cameras: Vec<Choice> = list
            .cameras
            .iter()
            .map(|c| Choice {
                id: c.id.clone(),
                name: c.name.clone(),
            })
            .collect();
        cameras.push(Choice {
            id: PATTERN.into(),
            name: "Test pattern".into(),
        });
        let audio = |devices: &[tincan_media::audio::AudioDeviceInfo]| {
            devices
                .iter()
                .map(|d| Choice {
                    id: d.id.clone(),
                    name: d.name.clone(),
                })
                .collect()
        };
        Self {
            cameras,
            microphones: audio(&list.microphones),
            speakers: audio(&list.speakers),
        }
    }
}

/// The camera a picked id means. Empty: the first camera there is, or none (the tile shows
/// an avatar and the call goes on with audio).
pub fn video_input(id: &str, list: &DeviceList) -> VideoInput {
    match id {
        PATTERN => VideoInput::Pattern,
        NONE => VideoInput::None,
        "" if list.cameras.is_empty() => VideoInput::None,
        "" => VideoInput::Camera(None),
        id if list.cameras.iter().any(|c| c.id == id) => VideoInput::Camera(Some(id.into())),
        // The saved camera is gone: fall back to the default one.
        _ => video_input("", list),
    }
}

/// The microphone a picked id means: empty (or one that is gone) is the default; none if
/// there is no microphone at all.
pub fn audio_input(id: &str, list: &DeviceList) -> AudioInput {
    match id {
        NONE => AudioInput::None,
        _ if list.microphones.is_empty() => AudioInput::None,
        id if list.microphones.iter().any(|m| m.id == id) => {
            AudioInput::Microphone(Some(id.into()))
        }
        _ => AudioInput::Microphone(None),
    }
}

pub fn audio_output(id: &str, list: &DeviceList) -> AudioOutput {
    match id {
        NONE => AudioOutput::None,
        _ if list.speakers.is_empty() => AudioOutput::None,
        id if list.speakers.iter().any(|s| s.id == id) => AudioOutput::Speaker(Some(id.into())),
        _ => AudioOutput::Speaker(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tincan_media::audio::AudioDeviceInfo;
    use tincan_media::video::CameraInfo;

    fn list(cameras: &[&str], mics: &[&str]) -> DeviceList {
        DeviceList {
            cameras: cameras
                .iter()
                .map(|id| CameraInfo {
                    id: (*id).into(),
                    name: format!("Camera {id}"),
                    modes: vec![],
                })
                .collect(),
            microphones: mics
                .iter()
                .map(|id| AudioDeviceInfo {
                    id: (*id).into(),
                    name: (*id).into(),
                    is_default: false,
                })
                .collect(),
            speakers: vec![],
        }
    }

    #[test]
    fn the_pattern_is_always_a_camera_choice() {
        let choices = Choices::from_devices(&list(&[], &[]));
        assert_eq!(choices.cameras.len(), 1);
        assert_eq!(choices.cameras[0].id, PATTERN);
        let choices = Choices::from_devices(&list(&["0"], &["pulseaudio:mic"]));
        assert_eq!(choices.cameras.len(), 2);
        assert_eq!(choices.microphones[0].id, "pulseaudio:mic");
    }

    #[test]
    fn a_missing_device_falls_back_to_the_default_or_none() {
        let none = list(&[], &[]);
        assert_eq!(video_input("", &none), VideoInput::None);
        assert_eq!(video_input("2", &none), VideoInput::None);
        assert_eq!(audio_input("pulseaudio:gone", &none), AudioInput::None);
        let some = list(&["0"], &["pulseaudio:mic"]);
        assert_eq!(video_input("2", &some), VideoInput::Camera(None));
        assert_eq!(
            video_input("0", &some),
            VideoInput::Camera(Some("0".into()))
        );
        assert_eq!(video_input(PATTERN, &none), VideoInput::Pattern);
        assert_eq!(video_input(NONE, &some), VideoInput::None);
        assert_eq!(
            audio_input("pulseaudio:gone", &some),
            AudioInput::Microphone(None)
        );
        assert_eq!(audio_output("", &none), AudioOutput::None);
    }
}
