//! Everything the window's commands share.

use std::sync::{Arc, Mutex};

use tincan_call::Call;

use crate::builtin_server::BuiltInServer;
use crate::frame_socket::FrameSocket;
use crate::links::{self, LinkJoin, PersonLink};
use crate::people::People;
use crate::preview::Preview;
use crate::session::InUse;
use crate::settings::{Settings, SettingsFile};
use crate::tiles::Tiles;

pub struct AppState {
    pub settings_file: SettingsFile,
    pub settings: Mutex<Settings>,
    /// Why the saved settings could not be read, shown once at start.
    pub settings_problem: Mutex<Option<String>>,
    /// Started on first use when no server is configured.
    pub builtin: tokio::sync::Mutex<Option<BuiltInServer>>,
    pub tiles: Arc<Tiles>,
    /// Started when the page first asks for it.
    pub frame_socket: tokio::sync::Mutex<Option<FrameSocket>>,
    pub preview: Mutex<Option<Preview>>,
    /// Counts preview stops: a start that took a while (opening a camera does) and finds it
    /// moved on was stopped meanwhile, and must not leave the camera on.
    pub preview_stops: std::sync::atomic::AtomicU64,
    pub call: tokio::sync::Mutex<Option<Arc<Call>>>,
    /// A `tincan://join/` link the page has not taken yet.
    pub pending_link: Mutex<Option<LinkJoin>>,
    /// The devices the call in progress uses (the device watcher's and `switch_device`'s).
    pub in_use: Mutex<Arc<InUse>>,
    /// A `tincan://person/` link the page has not taken yet.
    pub pending_person: Mutex<Option<PersonLink>>,
    /// The personal code, contacts and rings.
    pub people: Arc<People>,
}

impl AppState {
    pub fn new(settings_file: SettingsFile, people: People) -> Self {
        let (settings, problem) = match settings_file.load() {
            Ok(s) => (s, None),
            Err(e) => (Settings::default(), Some(e.to_string())),
        };
        Self {
            settings_file,
            settings: Mutex::new(settings),
            settings_problem: Mutex::new(problem),
            builtin: tokio::sync::Mutex::new(None),
            tiles: Arc::new(Tiles::default()),
            frame_socket: tokio::sync::Mutex::new(None),
            preview: Mutex::new(None),
            preview_stops: std::sync::atomic::AtomicU64::new(0),
            call: tokio::sync::Mutex::new(None),
            pending_link: Mutex::new(None),
            in_use: Mutex::new(Arc::default()),
            pending_person: Mutex::new(None),
            people: Arc::new(people),
        }
    }

    pub fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    /// The room and server in a `tincan://` link, asking first for a server not used yet.
    pub fn link(&self, text: &str) -> Option<LinkJoin> {
        let settings = self.settings();
        links::join_in_link(text, &|s| settings.knows_server(s))
    }
}

/// A poisoned lock still holds good data here (plain values): use it.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
