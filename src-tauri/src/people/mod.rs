//! People: this install's personal code, its contacts, and ringing (docs/protocol.md,
//! "Ringing people"; docs/desktop-app.md, "Contacts and ringing").
//!
//! - [`book`]: contacts and recent calls, kept on this machine;
//! - [`reach`]: the signaling connection the app keeps while it runs, registered under the
//!   personal code, watching the contacts' presence and taking rings;
//! - [`ringtone`]: the sound of an incoming ring on the chosen speaker;
//! - [`commands`]: what the page asks.
//!
//! The page hears everything here as one event, `people`
//! ([`crate::events::PageEvent::People`]), whose payload is a [`PeopleEvent`].

pub mod book;
pub mod commands;
pub mod reach;
pub mod ringtone;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde::Serialize;
use tauri::AppHandle;
use tincan_protocol::{PersonalCode, PersonalKey, RingEnd, RingId, RoomCode};
use tincan_signaling::Signaling;

use crate::state::lock;
use book::{Book, BookFile, RecentCall};

/// What the page hears about people (the `people` event's payload, tagged by `kind`).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PeopleEvent {
    /// Contacts, recent calls, presence or reachability changed: the whole view.
    Changed(PeopleView),
    /// Someone rings: show the incoming-call screen.
    Incoming(IncomingRing),
    /// A ring shown or made is over (`reason` as the protocol says it).
    RingEnded {
        ring: RingId,
        reason: RingEnd,
        /// Who it was with.
        name: String,
    },
}

/// Everything the home screen shows about people.
#[derive(Debug, Clone, Serialize)]
pub struct PeopleView {
    /// This install's personal code and the link that adds it; None without an identity.
    pub code: Option<String>,
    pub link: Option<String>,
    /// Registered with the server now: people can ring this app.
    pub reachable: bool,
    /// Why not, in words a person can act on.
    pub problem: Option<String>,
    pub contacts: Vec<ContactView>,
    pub recent: Vec<RecentCall>,
    pub do_not_disturb: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContactView {
    pub code: PersonalCode,
    pub name: String,
    pub online: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct IncomingRing {
    pub ring: RingId,
    pub from: PersonalCode,
    /// Their contact name, or the name they gave.
    pub name: String,
    pub contact: bool,
    pub room: RoomCode,
}

/// A ring this app made, until it ends.
#[derive(Debug, Clone)]
struct Outgoing {
    code: PersonalCode,
    name: String,
}

/// Everything people-related the app holds (in [`crate::state::AppState`]).
pub struct People {
    /// None when it could not be read or made (`problem` says why).
    key: Option<PersonalKey>,
    file: BookFile,
    book: Mutex<Book>,
    online: Mutex<HashSet<PersonalCode>>,
    /// The registered connection, while there is one.
    connection: Mutex<Option<Signaling>>,
    problem: Mutex<Option<String>>,
    incoming: Mutex<Option<IncomingRing>>,
    outgoing: Mutex<HashMap<RingId, Outgoing>>,
    ringtone: Mutex<Option<ringtone::Ringtone>>,
    do_not_disturb: AtomicBool,
    /// Wakes [`reach`] to connect again (the server in use changed).
    restart: tokio::sync::Notify,
}

impl People {
    /// Reads the identity and contacts kept in `dir` (making an identity on first start).
    pub fn new(dir: &Path) -> Self {
        let (key, key_problem) =
            match tincan_signaling::identity::load_or_create(&dir.join("identity.key")) {
                Ok(key) => (Some(key), None),
                Err(e) => (None, Some(e.to_string())),
            };
        let file = BookFile::in_dir(dir);
        let (book, book_problem) = match file.load() {
            Ok(book) => (book, None),
            Err(e) => (Book::default(), Some(e.to_string())),
        };
        Self {
            key,
            file,
            book: Mutex::new(book),
            online: Mutex::new(HashSet::new()),
            connection: Mutex::new(None),
            problem: Mutex::new(key_problem.or(book_problem)),
            incoming: Mutex::new(None),
            outgoing: Mutex::new(HashMap::new()),
            ringtone: Mutex::new(None),
            do_not_disturb: AtomicBool::new(false),
            restart: tokio::sync::Notify::new(),
        }
    }

    pub fn code(&self) -> Option<PersonalCode> {
        self.key.as_ref().map(PersonalKey::code)
    }

    pub fn view(&self) -> PeopleView {
        let book = lock(&self.book);
        let online = lock(&self.online);
        let code = self.code();
        PeopleView {
            code: code.map(|c| c.to_string()),
            link: code.map(crate::links::person_link),
            reachable: lock(&self.connection).is_some(),
            problem: lock(&self.problem).clone(),
            contacts: book
                .contacts
                .iter()
                .map(|c| ContactView {
                    code: c.code,
                    name: c.name.clone(),
                    online: online.contains(&c.code),
                })
                .collect(),
            recent: book.recent.clone(),
            do_not_disturb: self.do_not_disturb.load(Ordering::Relaxed),
        }
    }

    /// Tells the page the view changed.
    pub fn changed(&self, app: &AppHandle) {
        emit(app, PeopleEvent::Changed(self.view()));
    }

    /// Changes the book and keeps it (the change stands in memory even if the file cannot be
    /// written; the error says so).
    pub fn edit<T>(
        &self,
        change: impl FnOnce(&mut Book) -> Result<T, crate::error::AppError>,
    ) -> Result<T, crate::error::AppError> {
        let mut book = lock(&self.book);
        let result = change(&mut book)?;
        self.file.save(&book)?;
        Ok(result)
    }

    pub fn contact_codes(&self) -> Vec<PersonalCode> {
        lock(&self.book).contacts.iter().map(|c| c.code).collect()
    }

    pub fn set_do_not_disturb(&self, on: bool) {
        self.do_not_disturb.store(on, Ordering::Relaxed);
    }

    pub fn do_not_disturb(&self) -> bool {
        self.do_not_disturb.load(Ordering::Relaxed)
    }

    /// Connect again (the server in use changed).
    pub fn reconnect(&self) {
        self.restart.notify_one();
    }

    fn stop_ringtone(&self) {
        lock(&self.ringtone).take();
    }
}

pub fn emit(app: &AppHandle, event: PeopleEvent) {
    crate::events::PageEvent::People(event).send(app);
}

/// Milliseconds since 1970 now (0 if the clock is before it).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
