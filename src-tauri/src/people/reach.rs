//! The connection that keeps this app reachable while it runs: registered under the
//! personal code on the server in use (the configured one, or the built-in one), watching
//! the contacts' presence, taking rings. It connects again whenever it drops or the server
//! in use changes.

use std::sync::Arc;
use std::time::Duration;

use tauri::{AppHandle, Manager};
use tauri_plugin_notification::NotificationExt;
use tincan_protocol::{PersonalCode, RingAnswer, RingEnd, RingId, RoomCode};
use tincan_signaling::{connect, ClientOptions, DirectoryEvent, Signaling};

use super::book::{CallKind, RecentCall};
use super::{emit, now_ms, IncomingRing, People, PeopleEvent};
use crate::state::{lock, AppState};

/// How long to wait before trying again after the server could not be reached.
const RETRY: Duration = Duration::from_secs(5);

/// Runs for as long as the app does.
pub fn start(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        loop {
            let state = app.state::<AppState>();
            let people = Arc::clone(&state.people);
            let Some(key) = people.key.clone() else {
                return; // No identity: People::new said why; nothing can register.
            };
            let ended = match crate::server_choice::in_use(&state).await {
                Ok(server) => stay_connected(&app, &people, &server, &key).await,
                Err(e) => Ended::Lost(e.to_string()),
            };
            *lock(&people.connection) = None;
            lock(&people.online).clear();
            let (reason, wait) = match ended {
                Ended::Restart => ("connecting to the server in use…".to_owned(), false),
                Ended::Lost(reason) => (reason, true),
            };
            *lock(&people.problem) = Some(reason);
            people.changed(&app);
            if wait {
                tokio::select! {
                    () = tokio::time::sleep(RETRY) => {}
                    () = people.restart.notified() => {}
                }
            }
        }
    });
}

/// Why [`stay_connected`] returned.
enum Ended {
    /// The server in use changed: connect again now.
    Restart,
    /// Why the connection failed or ended, for the page; try again after [`RETRY`].
    Lost(String),
}

/// Connects, registers and handles what comes until the connection ends or a restart is
/// asked.
async fn stay_connected(
    app: &AppHandle,
    people: &People,
    server: &str,
    key: &tincan_protocol::PersonalKey,
) -> Ended {
    let (signaling, _room_events) = match connect(server, ClientOptions::default()).await {
        Ok(connected) => connected,
        Err(e) => return Ended::Lost(format!("people cannot ring you now: {e}")),
    };
    if !signaling.rings_people() {
        signaling.close().await;
        return Ended::Lost(format!(
            "the server {server} does not take personal codes (it needs a newer \
             tincan-server): people cannot ring you there"
        ));
    }
    let Some(mut events) = signaling.directory_events() else {
        return Ended::Lost("the connection gave no ring events".into());
    };
    match signaling.register(key).await {
        Ok(code) if Some(code) == people.code() => {}
        Ok(other) => {
            return Ended::Lost(format!(
                "the server registered {other}, not this app's code"
            ))
        }
        Err(e) => return Ended::Lost(format!("the server refused your personal code: {e}")),
    }
    let _ = signaling.watch(people.contact_codes()).await;
    *lock(&people.connection) = Some(signaling.clone());
    *lock(&people.problem) = None;
    people.changed(app);
    let ended = loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => on_event(app, people, &signaling, event).await,
                None => break Ended::Lost("the connection to the server ended; connecting again".into()),
            },
            () = people.restart.notified() => break Ended::Restart,
        }
    };
    signaling.close().await;
    end_incoming(app, people, RingEnd::Gone);
    ended
}

async fn on_event(app: &AppHandle, people: &People, signaling: &Signaling, event: DirectoryEvent) {
    match event {
        DirectoryEvent::Ringing {
            ring,
            from,
            name,
            room,
        } => ringing(app, people, signaling, ring, from, &name, room).await,
        DirectoryEvent::RingEnded { ring, reason } => ring_ended(app, people, &ring, reason),
        DirectoryEvent::Presence { code, online } => {
            let mut set = lock(&people.online);
            if online {
                set.insert(code);
            } else {
                set.remove(&code);
            }
            drop(set);
            people.changed(app);
        }
        DirectoryEvent::Registered { code: None, error } => {
            *lock(&people.problem) = error.or(Some("the server refused your code".into()));
            people.changed(app);
        }
        DirectoryEvent::Registered { .. } => {
            *lock(&people.problem) = None;
            people.changed(app);
        }
    }
}

/// Someone rings: refused at once when busy, in do-not-disturb or (if so set) not a
/// contact; otherwise shown, rung and notified.
async fn ringing(
    app: &AppHandle,
    people: &People,
    signaling: &Signaling,
    ring: RingId,
    from: PersonalCode,
    name: &str,
    room: RoomCode,
) {
    let state = app.state::<AppState>();
    let contact = lock(&people.book).contact(from).map(|c| c.name.clone());
    let in_call = state.call.lock().await.is_some();
    let showing = lock(&people.incoming).is_some();
    let refuse = if in_call {
        Some((RingAnswer::Busy, CallKind::Missed, "you were in a call"))
    } else if showing {
        Some((
            RingAnswer::Busy,
            CallKind::Missed,
            "another call was ringing",
        ))
    } else if people.do_not_disturb() {
        Some((RingAnswer::Busy, CallKind::Missed, "do not disturb"))
    } else if contact.is_none() && state.settings().contacts_only {
        Some((RingAnswer::Decline, CallKind::Declined, "not a contact"))
    } else {
        None
    };
    if let Some((answer, kind, why)) = refuse {
        let _ = signaling.answer_ring(ring, answer).await;
        let _ = people.edit(|book| {
            book.note_call(RecentCall {
                code: from,
                name: name.to_owned(),
                kind,
                at_ms: now_ms(),
                outcome: Some(why.to_owned()),
            });
            Ok(())
        });
        people.changed(app);
        return;
    }
    let incoming = IncomingRing {
        ring,
        from,
        name: contact.clone().unwrap_or_else(|| name.to_owned()),
        contact: contact.is_some(),
        room,
    };
    let speaker = state.settings().speaker;
    let tone = super::ringtone::Ringtone::start(&speaker)
        .map_err(|e| tracing::warn!("no ringtone: {e}"))
        .ok()
        .flatten();
    // Shown and rung together, under the lock an answer takes: an answer never finds the
    // ring without its tone (and leaves it ringing).
    {
        let mut shown = lock(&people.incoming);
        *shown = Some(incoming.clone());
        *lock(&people.ringtone) = tone;
    }
    notify_if_away(app, &incoming.name);
    emit(app, PeopleEvent::Incoming(incoming));
}

/// An OS notification when the window is hidden or not in front.
fn notify_if_away(app: &AppHandle, name: &str) {
    let away = app
        .get_webview_window("main")
        .is_none_or(|w| !w.is_visible().unwrap_or(false) || !w.is_focused().unwrap_or(false));
    if !away {
        return;
    }
    let shown = app
        .notification()
        .builder()
        .title(format!("{name} is calling"))
        .body("Open Tincan to answer")
        .show();
    if let Err(e) = shown {
        tracing::warn!("cannot show a notification: {e}");
    }
}

fn ring_ended(app: &AppHandle, people: &People, ring: &RingId, reason: RingEnd) {
    if lock(&people.incoming)
        .as_ref()
        .is_some_and(|i| &i.ring == ring)
    {
        return end_incoming(app, people, reason);
    }
    let Some(out) = lock(&people.outgoing).remove(ring) else {
        return;
    };
    let _ = people.edit(|book| {
        book.note_call(RecentCall {
            code: out.code,
            name: out.name.clone(),
            kind: CallKind::Outgoing,
            at_ms: now_ms(),
            outcome: (reason != RingEnd::Accepted).then(|| outcome(reason).to_owned()),
        });
        Ok(())
    });
    emit(
        app,
        PeopleEvent::RingEnded {
            ring: ring.clone(),
            reason,
            name: out.name,
        },
    );
    people.changed(app);
}

/// The incoming ring shown is over without an answer from here: a missed call.
fn end_incoming(app: &AppHandle, people: &People, reason: RingEnd) {
    let Some(incoming) = lock(&people.incoming).take() else {
        return;
    };
    people.stop_ringtone();
    let _ = people.edit(|book| {
        book.note_call(RecentCall {
            code: incoming.from,
            name: incoming.name.clone(),
            kind: CallKind::Missed,
            at_ms: now_ms(),
            outcome: Some(outcome(reason).to_owned()),
        });
        Ok(())
    });
    emit(
        app,
        PeopleEvent::RingEnded {
            ring: incoming.ring,
            reason,
            name: incoming.name,
        },
    );
    people.changed(app);
}

/// A ring's end in the words the recent list uses.
pub fn outcome(reason: RingEnd) -> &'static str {
    match reason {
        RingEnd::Accepted => "answered",
        RingEnd::Declined => "declined",
        RingEnd::Busy => "busy",
        RingEnd::NoAnswer => "no answer",
        RingEnd::Cancelled => "hung up",
        RingEnd::AnsweredElsewhere => "answered elsewhere",
        RingEnd::Gone => "went offline",
        RingEnd::Other => "ended",
    }
}

impl People {
    /// The registered connection, or why there is none.
    pub fn connection(&self) -> Result<Signaling, crate::error::AppError> {
        lock(&self.connection).clone().ok_or_else(|| {
            crate::error::AppError::People(
                lock(&self.problem)
                    .clone()
                    .unwrap_or_else(|| "not connected to the server yet; try again".into()),
            )
        })
    }

    /// Notes a ring this app made, so its end is listed and told.
    pub fn rang(&self, ring: RingId, code: PersonalCode, name: String) {
        lock(&self.outgoing).insert(ring, super::Outgoing { code, name });
    }

    /// Takes the incoming ring being shown (answered here), stopping its ringtone.
    pub fn take_incoming(&self, ring: &RingId) -> Option<IncomingRing> {
        let mut incoming = lock(&self.incoming);
        if incoming.as_ref().is_some_and(|i| &i.ring == ring) {
            self.stop_ringtone();
            incoming.take()
        } else {
            None
        }
    }
}
