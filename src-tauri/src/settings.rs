//! What the person chose, kept in the OS config directory (`settings.json`): their name, the
//! signaling server, video quality, default devices, whether to hide their IP address, the
//! microphone's processing, recent rooms, who may ring and starting at login. (Contacts and
//! recent calls: people::book.)

use std::path::Path;

use serde::{Deserialize, Serialize};
use tincan_call::AudioProcessing;

use crate::error::AppError;
use crate::json_file::{JsonFile, JsonFileError};

/// How many recent rooms the home screen lists.
const RECENT_ROOMS: usize = 5;
/// How many servers named by links the person agreed to join are remembered.
const KNOWN_SERVERS: usize = 20;

/// The server a new install uses: empty (the built-in one, and the LAN), unless the app was
/// built with `TINCAN_DEFAULT_SERVER=wss://call.example.org` (an operator's own build).
pub const DEFAULT_SERVER: &str = match option_env!("TINCAN_DEFAULT_SERVER") {
    Some(server) => server,
    None => "",
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub name: String,
    /// A signaling server's address (`wss://call.example.org`); empty: the built-in one,
    /// and rooms found on the LAN.
    pub server: String,
    /// "Let people on my network join my calls": the built-in server listens on the LAN and
    /// is advertised there (true), or serves this computer only (false). None until the
    /// person has been asked (once, on first start).
    pub lan_hosting: Option<bool>,
    /// Servers named by `tincan://` links that the person agreed to join (a link naming any
    /// other asks first).
    pub known_servers: Vec<String>,
    pub quality: Quality,
    /// Device ids; empty: the system's default (or the first camera).
    pub camera: String,
    pub microphone: String,
    pub speaker: String,
    /// "Hide my IP address": calls send only TURN relay candidates
    /// (`CallOptions::relay_only`); needs a server that hands out TURN.
    pub hide_ip: bool,
    /// Echo cancellation, noise suppression and automatic gain on the microphone (Settings →
    /// Audio): all on unless the person turns one off.
    pub audio_processing: AudioProcessing,
    /// Newest first.
    pub recent_rooms: Vec<String>,
    /// Only contacts can ring this app: rings from anyone else are declined at once (and
    /// listed as declined).
    pub contacts_only: bool,
    /// Start Tincan (in the tray, window hidden) when the person logs in.
    pub start_at_login: bool,
    /// Closing the window has said once that Tincan keeps running in the tray.
    pub told_about_tray: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            name: String::new(),
            server: DEFAULT_SERVER.to_owned(),
            lan_hosting: None,
            known_servers: Vec::new(),
            quality: Quality::High,
            camera: String::new(),
            microphone: String::new(),
            speaker: String::new(),
            hide_ip: false,
            audio_processing: AudioProcessing::ON,
            recent_rooms: Vec::new(),
            contacts_only: false,
            start_at_login: false,
            told_about_tray: false,
        }
    }
}

/// Video sent: 720p30 by default; 360p for slow uplinks or old machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    High,
    Low,
}

impl Quality {
    /// Size and bitrate (kbit/s) asked of the camera and encoder.
    pub fn video(self) -> (u32, u32, u32) {
        match self {
            Self::High => (1280, 720, 1500),
            Self::Low => (640, 360, 600),
        }
    }
}

impl Settings {
    /// Remembers `room` as the most recent one.
    pub fn remember_room(&mut self, room: &str) {
        self.recent_rooms.retain(|r| r != room);
        self.recent_rooms.insert(0, room.to_owned());
        self.recent_rooms.truncate(RECENT_ROOMS);
    }

    /// Remembers that the person agreed to join calls on `server`.
    pub fn trust_server(&mut self, server: &str) {
        self.known_servers.retain(|s| s != server);
        self.known_servers.insert(0, server.to_owned());
        self.known_servers.truncate(KNOWN_SERVERS);
    }

    /// Whether a link naming `server` may connect without asking: the configured server and
    /// those the person agreed to before.
    pub fn knows_server(&self, server: &str) -> bool {
        server == self.server.trim() || self.known_servers.iter().any(|s| s == server)
    }
}

/// Where the settings live and how they are read and written.
pub struct SettingsFile {
    file: JsonFile,
}

impl SettingsFile {
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            file: JsonFile::new(dir.join("settings.json")),
        }
    }

    #[cfg(test)]
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// The saved settings; defaults when there are none yet. A file that cannot be read is
    /// an error (the caller starts from defaults and says so) and is left in place.
    pub fn load(&self) -> Result<Settings, AppError> {
        self.file.load().map_err(|e| match e {
            JsonFileError::Damaged { .. } => {
                AppError::Settings(format!("{e}; using defaults until you save new settings"))
            }
            other => AppError::Settings(other.to_string()),
        })
    }

    pub fn save(&self, settings: &Settings) -> Result<(), AppError> {
        self.file
            .save(settings)
            .map_err(|e| AppError::Settings(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tincan-settings-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn saved_settings_come_back_and_missing_ones_are_defaults() {
        let dir = temp_dir("roundtrip");
        let file = SettingsFile::in_dir(&dir);
        assert_eq!(file.load().unwrap(), Settings::default());
        let mut settings = Settings {
            name: "Ada".into(),
            server: "wss://call.example.org".into(),
            quality: Quality::Low,
            hide_ip: true,
            audio_processing: AudioProcessing {
                echo_cancellation: false,
                ..AudioProcessing::ON
            },
            ..Settings::default()
        };
        settings.remember_room("k7wq-2m9x-d4tp");
        file.save(&settings).unwrap();
        assert_eq!(file.load().unwrap(), settings);
        // A file from an older version, missing fields, still loads.
        std::fs::write(file.path(), r#"{"name":"Bo"}"#).unwrap();
        let old = file.load().unwrap();
        assert_eq!(
            (
                old.name.as_str(),
                old.quality,
                old.hide_ip,
                old.audio_processing
            ),
            ("Bo", Quality::High, false, AudioProcessing::ON)
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_damaged_file_is_an_error_that_names_it_and_stays() {
        let dir = temp_dir("damaged");
        std::fs::create_dir_all(&dir).unwrap();
        let file = SettingsFile::in_dir(&dir);
        std::fs::write(file.path(), "{ not json").unwrap();
        let e = file.load().unwrap_err();
        assert_eq!(e.kind(), "settings");
        assert!(e.to_string().contains("settings.json is damaged"), "{e}");
        assert_eq!(std::fs::read_to_string(file.path()).unwrap(), "{ not json");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn servers_agreed_to_are_known_and_few() {
        let mut s = Settings {
            server: "wss://call.example.org".into(),
            ..Settings::default()
        };
        assert!(s.knows_server("wss://call.example.org"));
        assert!(!s.knows_server("ws://10.0.0.5:4000/ws"));
        s.trust_server("ws://10.0.0.5:4000/ws");
        assert!(s.knows_server("ws://10.0.0.5:4000/ws"));
        for i in 0..30 {
            s.trust_server(&format!("wss://s{i}.example.org"));
        }
        assert_eq!(s.known_servers.len(), KNOWN_SERVERS);
        assert_eq!(s.known_servers[0], "wss://s29.example.org");
    }

    #[test]
    fn recent_rooms_are_newest_first_without_repeats_and_few() {
        let mut s = Settings::default();
        for room in ["a", "b", "c", "a", "d", "e", "f"] {
            s.remember_room(room);
        }
        assert_eq!(s.recent_rooms, ["f", "e", "d", "a", "c"]);
    }
}
