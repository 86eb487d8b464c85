//! What the page asks about people: the view, contacts, and rings made and answered. Changes
//! come back to the page as a `changed` people event (not as replies: a reply could land
//! after a newer event and draw an older view).

use std::sync::Arc;

use tauri::{AppHandle, State};
use tincan_protocol::{ErrorCode, PersonalCode, RingAnswer, RingId, RoomCode};

use super::book::{CallKind, RecentCall};
use super::{now_ms, PeopleView};
use crate::error::AppError;
use crate::state::AppState;

fn parse_code(text: &str) -> Result<PersonalCode, AppError> {
    PersonalCode::parse(text).map_err(|e| {
        AppError::People(format!(
            "'{}' is not a personal code ({e}); ask for the code shown under \"Your code\" in \
             their Tincan",
            text.chars().take(40).collect::<String>()
        ))
    })
}

#[tauri::command]
pub fn people_view(state: State<'_, AppState>) -> PeopleView {
    state.people.view()
}

/// Adds a contact from a pasted code or `tincan://person/…` link; `name` may be empty when
/// the link carries one.
#[tauri::command]
pub async fn add_contact(
    app: AppHandle,
    state: State<'_, AppState>,
    text: String,
    name: String,
) -> Result<(), AppError> {
    let (code, named) = match crate::links::person_in_link(&text) {
        Some(person) => (person.code, person.name),
        None => (parse_code(text.trim())?, None),
    };
    if Some(code) == state.people.code() {
        return Err(AppError::People("that is your own code".into()));
    }
    let name = if name.trim().is_empty() {
        named.unwrap_or_default()
    } else {
        name
    };
    let people = Arc::clone(&state.people);
    people.edit(|book| book.add(code, &name))?;
    watch_contacts(&state).await;
    people.changed(&app);
    Ok(())
}

#[tauri::command]
pub fn rename_contact(
    app: AppHandle,
    state: State<'_, AppState>,
    code: String,
    name: String,
) -> Result<(), AppError> {
    let code = parse_code(&code)?;
    state.people.edit(|book| book.rename(code, &name))?;
    state.people.changed(&app);
    Ok(())
}

#[tauri::command]
pub async fn remove_contact(
    app: AppHandle,
    state: State<'_, AppState>,
    code: String,
) -> Result<(), AppError> {
    let code = parse_code(&code)?;
    state.people.edit(|book| Ok(book.remove(code)))?;
    watch_contacts(&state).await;
    state.people.changed(&app);
    Ok(())
}

/// Watches the contacts' presence (again, after the list changed).
async fn watch_contacts(state: &AppState) {
    if let Ok(connection) = state.people.connection() {
        let _ = connection.watch(state.people.contact_codes()).await;
    }
}

/// Rings contact `code` into `room` (which this app has just created and joined). The end
/// comes as a `ring_ended` people event.
#[tauri::command]
pub async fn ring(
    state: State<'_, AppState>,
    code: String,
    room: String,
) -> Result<RingId, AppError> {
    let to = parse_code(&code)?;
    let room = RoomCode::parse(&room).map_err(|e| AppError::Call(e.to_string()))?;
    let people = Arc::clone(&state.people);
    let contact_name = people
        .view()
        .contacts
        .into_iter()
        .find(|c| c.code == to)
        .map_or_else(|| to.to_string(), |c| c.name);
    let name = state.settings().name;
    let name = if name.trim().is_empty() {
        "Tincan user".to_owned()
    } else {
        name
    };
    let ring = people
        .connection()?
        .ring(to, &name, &room)
        .await
        .map_err(|e| match e.code() {
            Some(ErrorCode::Offline) => {
                AppError::People(format!("{contact_name} is not online now; try again later"))
            }
            _ => AppError::People(format!("cannot ring {contact_name}: {e}")),
        })?;
    people.rang(ring.clone(), to, contact_name);
    Ok(ring)
}

/// Hangs up a ring this app made, before it was answered.
#[tauri::command]
pub async fn cancel_ring(state: State<'_, AppState>, ring: RingId) -> Result<(), AppError> {
    state
        .people
        .connection()?
        .cancel_ring(ring)
        .await
        .map_err(|e| AppError::People(e.to_string()))
}

/// Answers the incoming ring shown. Accepting returns the room to join (the page joins it
/// as for a typed code); declining returns None.
#[tauri::command]
pub async fn answer_ring(
    app: AppHandle,
    state: State<'_, AppState>,
    ring: RingId,
    accept: bool,
) -> Result<Option<String>, AppError> {
    let people = Arc::clone(&state.people);
    let incoming = people.take_incoming(&ring).ok_or_else(|| {
        AppError::People("that ring is over: the caller hung up or it timed out".into())
    })?;
    let answer = if accept {
        RingAnswer::Accept
    } else {
        RingAnswer::Decline
    };
    let sent = match people.connection() {
        Ok(connection) => connection
            .answer_ring(ring, answer)
            .await
            .map_err(|e| AppError::People(e.to_string())),
        Err(e) => Err(e),
    };
    let _ = people.edit(|book| {
        book.note_call(RecentCall {
            code: incoming.from,
            name: incoming.name.clone(),
            kind: if accept {
                CallKind::Incoming
            } else {
                CallKind::Declined
            },
            at_ms: now_ms(),
            outcome: None,
        });
        Ok(())
    });
    people.changed(&app);
    sent?;
    Ok(accept.then(|| incoming.room.to_string()))
}

#[tauri::command]
pub fn set_do_not_disturb(app: AppHandle, state: State<'_, AppState>, on: bool) {
    state.people.set_do_not_disturb(on);
    crate::tray::show_do_not_disturb(&app, on);
    state.people.changed(&app);
}
