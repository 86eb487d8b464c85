//! What cameras, microphones and speakers exist, and noticing when that changes.
//!
//! Neither nokhwa nor cpal reports hot-plug events on every platform, so [`DeviceWatcher`]
//! polls: listing devices costs a few milliseconds, and a second's delay in noticing an
//! unplug is well within what a person notices.

use std::sync::mpsc;
use std::time::Duration;

use serde::Serialize;

use crate::audio::{list_microphones, list_speakers, AudioDeviceInfo};
use crate::video::{list_cameras, CameraInfo};

/// Every device, as the pickers and `tincan-cli devices` show them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeviceList {
    pub cameras: Vec<CameraInfo>,
    pub microphones: Vec<AudioDeviceInfo>,
    pub speakers: Vec<AudioDeviceInfo>,
}

impl DeviceList {
    pub fn scan() -> Self {
        Self {
            cameras: list_cameras(),
            microphones: list_microphones(),
            speakers: list_speakers(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    Camera,
    Microphone,
    Speaker,
}

/// A device that appeared or vanished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "lowercase")]
pub enum DeviceChange {
    Added {
        kind: DeviceKind,
        id: String,
        name: String,
    },
    Removed {
        kind: DeviceKind,
        id: String,
        name: String,
    },
}

/// The changes from `old` to `new`, matched by id.
pub fn diff(old: &DeviceList, new: &DeviceList) -> Vec<DeviceChange> {
    let mut changes = Vec::new();
    let mut compare = |kind, old: Vec<(&str, &str)>, new: Vec<(&str, &str)>| {
        for (id, name) in &old {
            if !new.iter().any(|(n, _)| n == id) {
                changes.push(DeviceChange::Removed {
                    kind,
                    id: id.to_string(),
                    name: name.to_string(),
                });
            }
        }
        for (id, name) in &new {
            if !old.iter().any(|(o, _)| o == id) {
                changes.push(DeviceChange::Added {
                    kind,
                    id: id.to_string(),
                    name: name.to_string(),
                });
            }
        }
    };
    fn cams(l: &DeviceList) -> Vec<(&str, &str)> {
        l.cameras
            .iter()
            .map(|c| (c.id.as_str(), c.name.as_str()))
            .collect()
    }
    fn audio(devices: &[AudioDeviceInfo]) -> Vec<(&str, &str)> {
        devices
            .iter()
            .map(|c| (c.id.as_str(), c.name.as_str()))
            .collect()
    }
    compare(DeviceKind::Camera, cams(old), cams(new));
    compare(
        DeviceKind::Microphone,
        audio(&old.microphones),
        audio(&new.microphones),
    );
    compare(
        DeviceKind::Speaker,
        audio(&old.speakers),
        audio(&new.speakers),
    );
    changes
}

/// Polls the devices on a thread and reports changes until dropped.
pub struct DeviceWatcher {
    changes: mpsc::Receiver<DeviceChange>,
    stop: mpsc::Sender<()>,
}

impl DeviceWatcher {
    pub fn start(every: Duration) -> Self {
        Self::start_with(every, DeviceList::scan)
    }

    /// With a custom scan, for tests and for platforms with a cheaper way to list.
    pub fn start_with(every: Duration, scan: impl Fn() -> DeviceList + Send + 'static) -> Self {
        let (tx, changes) = mpsc::channel();
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            let mut known = scan();
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                let now = scan();
                for change in diff(&known, &now) {
                    if tx.send(change).is_err() {
                        return;
                    }
                }
                known = now;
            }
        });
        Self { changes, stop }
    }

    /// The next change, waiting up to `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<DeviceChange> {
        self.changes.recv_timeout(timeout).ok()
    }
}

impl Drop for DeviceWatcher {
    fn drop(&mut self) {
        let _ = self.stop.send(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn mic(id: &str) -> AudioDeviceInfo {
        AudioDeviceInfo {
            id: id.into(),
            name: format!("Mic {id}"),
            is_default: false,
        }
    }

    #[test]
    fn diff_reports_unplugged_and_plugged_devices() {
        let old = DeviceList {
            microphones: vec![mic("a"), mic("b")],
            ..Default::default()
        };
        let new = DeviceList {
            microphones: vec![mic("b"), mic("c")],
            ..Default::default()
        };
        assert_eq!(
            diff(&old, &new),
            vec![
                DeviceChange::Removed {
                    kind: DeviceKind::Microphone,
                    id: "a".into(),
                    name: "Mic a".into()
                },
                DeviceChange::Added {
                    kind: DeviceKind::Microphone,
                    id: "c".into(),
                    name: "Mic c".into()
                },
            ]
        );
        assert!(diff(&new, &new).is_empty());
    }

    #[test]
    fn the_watcher_notices_an_unplug() {
        let current = Arc::new(Mutex::new(DeviceList {
            microphones: vec![mic("usb")],
            ..Default::default()
        }));
        let shared = Arc::clone(&current);
        let watcher = DeviceWatcher::start_with(Duration::from_millis(10), move || {
            shared.lock().unwrap().clone()
        });
        std::thread::sleep(Duration::from_millis(30));
        current.lock().unwrap().microphones.clear();
        let change = watcher.next(Duration::from_secs(2)).expect("a change");
        assert!(
            matches!(change, DeviceChange::Removed { kind: DeviceKind::Microphone, ref id, .. } if id == "usb")
        );
    }
}
