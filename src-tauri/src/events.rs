//! Everything the app tells its page, in one place: each [`PageEvent`] variant is one Tauri
//! event, its name ([`PageEvent::name`]) and its payload (the variant's fields, serialised
//! as they are). The page's side is `ui/app/api.js`, whose `EVENTS` lists the same names; a
//! test below reads that file and holds the two lists equal, and holds every other page
//! module to `api.js` for listening.
//!
//! What the page asks of the app is the other half of the contract: the commands (in
//! `commands.rs`, `files.rs`, `screen.rs`, `people/commands.rs`), each with typed arguments
//! and replies, registered in `lib.rs`'s `generate_handler!`; `api.js`'s `COMMANDS` lists
//! their names, its `invoke` refuses any other, and a test below holds the lists equal and
//! every name a page module asks for to them.

use serde::Serialize;
use tauri::{AppHandle, Emitter};
use tincan_call::{FileEvent, LostInput, PeerStats};
use tincan_media::devices::DeviceChange;

use crate::links::{LinkJoin, PersonLink};
use crate::people::PeopleEvent;

/// A remote person as the page knows them: their tile's id and their name.
#[derive(Debug, Clone, Serialize)]
pub struct PeerView {
    pub id: String,
    pub name: String,
}

/// The tile that shows `peer`'s screen share (its camera's tile is its id).
pub fn share_tile(peer: &str) -> String {
    format!("{peer}/screen")
}

/// An input went away mid-call, and what replaced it.
#[derive(Debug, Clone, Serialize)]
pub struct InputLostNotice {
    pub input: LostInput,
    pub reason: String,
    /// The device now used instead, or None.
    pub now: Option<String>,
}

/// An event for the page. Serialised untagged: the payload is the variant's content.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum PageEvent {
    /// The pre-join microphone's loudest level over the last moment (RMS, 0–1).
    PreviewLevel(f64),
    /// A `tincan://join/…` link was opened.
    LinkJoin(LinkJoin),
    /// A `tincan://person/…` link was opened.
    LinkPerson(PersonLink),
    /// Someone is in the call (already there at join, or arrived): a tile for them.
    PeerJoined(PeerView),
    /// Someone left (their peer id).
    PeerLeft(String),
    /// The connection to `peer` is up; the code to read to each other.
    Connected {
        peer: String,
        security_code: String,
    },
    /// The connection to `peer` broke; the engine is restoring it.
    Disconnected {
        peer: String,
        reason: String,
    },
    Chat {
        peer: String,
        text: String,
    },
    /// A peer's statistics, once a second.
    Stats(Box<PeerStats>),
    /// Something went wrong that the call survives.
    Error(String),
    /// The signaling server was lost (with why) or is back; the call goes on either way.
    Server {
        connected: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    InputLost(InputLostNotice),
    /// A camera, microphone or speaker came or went.
    DevicesChanged(DeviceChange),
    /// The engine ended the call (why).
    Ended(String),
    /// Contacts, presence and rings (`people`).
    People(PeopleEvent),
    /// A file transfer's course: offered, progress, and how it ended (tagged by `kind`).
    File(FileEvent),
    /// `peer` started (`on`) or stopped sharing its screen: its share has a tile of its own,
    /// [`share_tile`], shown large.
    Sharing {
        peer: String,
        on: bool,
    },
    /// `peer` started (`on`) or stopped recording the call: its tile shows a red dot.
    Recording {
        peer: String,
        on: bool,
    },
}

impl PageEvent {
    /// Every event name, in the order of the variants.
    pub const NAMES: [&'static str; 18] = [
        "preview:level",
        "link:join",
        "link:person",
        "call:peer-joined",
        "call:peer-left",
        "call:connected",
        "call:disconnected",
        "call:chat",
        "call:stats",
        "call:error",
        "call:server",
        "call:input-lost",
        "devices:changed",
        "call:ended",
        "people",
        "call:file",
        "call:sharing",
        "call:recording",
    ];

    /// The Tauri event this is sent as.
    pub fn name(&self) -> &'static str {
        let index = match self {
            Self::PreviewLevel(_) => 0,
            Self::LinkJoin(_) => 1,
            Self::LinkPerson(_) => 2,
            Self::PeerJoined(_) => 3,
            Self::PeerLeft(_) => 4,
            Self::Connected { .. } => 5,
            Self::Disconnected { .. } => 6,
            Self::Chat { .. } => 7,
            Self::Stats(_) => 8,
            Self::Error(_) => 9,
            Self::Server { .. } => 10,
            Self::InputLost(_) => 11,
            Self::DevicesChanged(_) => 12,
            Self::Ended(_) => 13,
            Self::People(_) => 14,
            Self::File(_) => 15,
            Self::Sharing { .. } => 16,
            Self::Recording { .. } => 17,
        };
        Self::NAMES[index]
    }

    /// Sends it to the page (nothing happens when no window listens).
    pub fn send(self, app: &AppHandle) {
        if let Err(e) = app.emit(self.name(), &self) {
            tracing::debug!(error = %e, event = self.name(), "the page was not told");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each of the page's JavaScript modules: its file name and text.
    fn page_modules() -> Vec<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/app");
        std::fs::read_dir(dir)
            .expect("ui/app")
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                let text = name.ends_with(".js").then(|| page_file(&name))?;
                Some((name, text))
            })
            .collect()
    }

    fn page_file(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../ui/app")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn the_page_listens_to_exactly_the_events_the_app_sends() {
        let api = page_file("api.js");
        let start = api
            .find("export const EVENTS = {")
            .expect("EVENTS in api.js");
        let end = start + api[start..].find("};").expect("the end of EVENTS");
        let names: Vec<&str> = api[start..end].split('"').skip(1).step_by(2).collect();
        assert_eq!(names, PageEvent::NAMES, "ui/app/api.js's EVENTS");
        // No other module listens by itself (a name written there could drift).
        for (name, text) in page_modules() {
            if name != "api.js" {
                assert!(
                    !text.contains("__TAURI__.event") && !text.contains("listen("),
                    "{name} listens by itself; use api.js's on()"
                );
            }
        }
    }

    #[test]
    fn the_page_asks_only_for_commands_the_app_answers() {
        let lib = include_str!("lib.rs");
        let start = lib
            .find("tauri::generate_handler![")
            .expect("the app's handler list");
        let end = start
            + lib[start..]
                .find("])")
                .expect("the end of the handler list");
        let answered: Vec<&str> = lib[start..end]
            .lines()
            .skip(1)
            .filter_map(|l| l.trim().trim_end_matches(',').rsplit("::").next())
            .filter(|n| !n.is_empty())
            .collect();
        let api = page_file("api.js");
        let start = api
            .find("export const COMMANDS = [")
            .expect("COMMANDS in api.js");
        let end = start + api[start..].find("];").expect("the end of COMMANDS");
        let listed: Vec<&str> = api[start..end].split('"').skip(1).step_by(2).collect();
        assert_eq!(listed, answered, "ui/app/api.js's COMMANDS");
        // Every command a page module names is one of them, and none asks by itself.
        for (name, text) in page_modules() {
            for asked in text.split("invoke(\"").skip(1) {
                let command = asked.split('"').next().unwrap_or_default();
                assert!(
                    listed.contains(&command),
                    "{name} asks for {command:?}, which the app does not answer"
                );
            }
            if name != "api.js" {
                assert!(
                    !text.contains("__TAURI__"),
                    "{name} reaches Tauri by itself; use api.js"
                );
            }
        }
    }

    #[test]
    fn payloads_are_the_variants_content() {
        let server = PageEvent::Server {
            connected: false,
            reason: Some("timed out".into()),
        };
        assert_eq!(server.name(), "call:server");
        assert_eq!(
            serde_json::to_value(&server).ok(),
            Some(serde_json::json!({"connected": false, "reason": "timed out"}))
        );
        let back = PageEvent::Server {
            connected: true,
            reason: None,
        };
        assert_eq!(
            serde_json::to_value(&back).ok(),
            Some(serde_json::json!({"connected": true}))
        );
        let left = PageEvent::PeerLeft("abc".into());
        assert_eq!(
            (left.name(), serde_json::to_value(&left).ok()),
            ("call:peer-left", Some(serde_json::json!("abc")))
        );
    }
}
