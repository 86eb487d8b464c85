//! What the page can ask of the app (`invoke`). Each returns a typed [`AppError`] the page
//! shows with what to do next.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tauri::ipc::{Channel, InvokeResponseBody};
use tauri::{AppHandle, State};
use tincan_call::{Call, LostInput, RoomChoice};
use tincan_media::audio::echo_check::{check_devices, EchoCheckResult};
use tincan_media::devices::{DeviceKind, DeviceList};
use tincan_media::video::VideoFormat;

use crate::devices::{self, Choices};
use crate::error::AppError;
use crate::frame_socket::FrameSocket;
use crate::links::LinkJoin;
use crate::preview::{self, Preview, SELF_TILE};
use crate::server_choice;
use crate::session::{self, Joined};
use crate::settings::Settings;
use crate::state::{lock, AppState};
use crate::tiles::{Sink, TileCounts};

/// What the home screen shows besides the settings.
#[derive(Serialize)]
pub struct AppInfo {
    version: &'static str,
    settings: Settings,
    /// Why saved settings were not used, once.
    settings_problem: Option<String>,
    /// A `tincan://join/` link the app was started with, once.
    link: Option<LinkJoin>,
    /// A `tincan://person/` link the app was started with, once.
    person: Option<crate::links::PersonLink>,
}

#[tauri::command]
pub fn app_info(state: State<'_, AppState>) -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION"),
        settings: state.settings(),
        settings_problem: lock(&state.settings_problem).take(),
        link: lock(&state.pending_link).take(),
        person: lock(&state.pending_person).take(),
    }
}

/// The server this computer's calls use: the configured one, or the built-in one (started
/// if it is not running; restarted when LAN hosting changed and no call uses it).
#[tauri::command]
pub async fn server_address(state: State<'_, AppState>) -> Result<String, AppError> {
    server_choice::in_use(&state).await
}

/// What Settings says about the built-in server: where it runs and who can join.
#[tauri::command]
pub async fn builtin_server_info(state: State<'_, AppState>) -> Result<String, AppError> {
    let idle = state.call.lock().await.is_none();
    server_choice::builtin(&state, idle).await
}

#[tauri::command]
pub async fn save_settings(
    app: AppHandle,
    state: State<'_, AppState>,
    mut settings: Settings,
) -> Result<Settings, AppError> {
    let before = state.settings();
    // Said once is said once, whatever the page last read.
    settings.told_about_tray |= before.told_about_tray;
    if settings.start_at_login != before.start_at_login {
        crate::tray::start_at_login(&app, settings.start_at_login)?;
    }
    state.settings_file.save(&settings)?;
    let lan_changed = before.lan_hosting != settings.lan_hosting;
    *lock(&state.settings) = settings.clone();
    // LAN hosting on or off takes effect now (the built-in server moves to its new reach)
    // unless a call uses it; then it waits for the next call.
    if lan_changed && state.call.lock().await.is_none() && state.builtin.lock().await.is_some() {
        server_choice::builtin(&state, true).await?;
    }
    // Rings come through the server in use: a new one means registering there.
    if lan_changed || before.server.trim() != settings.server.trim() {
        state.people.reconnect();
    }
    // The microphone's processing applies to a call in progress at once (and its peers are
    // told); the rest waits for the next call.
    let call = state.call.lock().await.clone();
    if let Some(call) = call {
        call.set_audio_processing(settings.audio_processing).await?;
    }
    Ok(settings)
}

#[tauri::command]
pub async fn list_devices() -> Choices {
    let list = scan_devices().await;
    Choices::from_devices(&list)
}

/// Every device there is, listed off the async threads (listing can take a while).
async fn scan_devices() -> DeviceList {
    tokio::task::spawn_blocking(DeviceList::scan)
        .await
        .unwrap_or_default()
}

/// Stops the preview, if one runs, and waits off the async threads until its devices are
/// free (the call is about to open them, or a new preview is).
async fn stop_preview_now(state: &AppState) {
    state.preview_stops.fetch_add(1, Ordering::SeqCst);
    let preview = lock(&state.preview).take();
    if let Some(p) = preview {
        let _ = tokio::task::spawn_blocking(move || p.stop()).await;
    }
}

fn video_format(settings: &Settings) -> VideoFormat {
    let (width, height, _) = settings.quality.video();
    VideoFormat {
        width,
        height,
        fps: 30,
    }
}

/// Shows `camera` in the self tile and reports `microphone`'s level ("preview:level").
#[tauri::command]
pub async fn start_preview(
    app: AppHandle,
    state: State<'_, AppState>,
    camera: String,
    microphone: String,
) -> Result<(), AppError> {
    stop_preview_now(&state).await;
    let stops = state.preview_stops.load(Ordering::SeqCst);
    let list = scan_devices().await;
    let video = devices::video_input(&camera, &list);
    let audio = devices::audio_input(&microphone, &list);
    let format = video_format(&state.settings());
    let tiles = Arc::clone(&state.tiles);
    let preview =
        tokio::task::spawn_blocking(move || Preview::start(&app, tiles, &video, &audio, format))
            .await
            .map_err(|e| AppError::Call(e.to_string()))??;
    // Stopped (a join, a link that asks first, another start) while this one opened the
    // devices: it is not wanted any more. Checked and stored under the lock a stop takes.
    let unwanted = {
        let mut slot = lock(&state.preview);
        if state.preview_stops.load(Ordering::SeqCst) == stops {
            *slot = Some(preview);
            None
        } else {
            Some(preview)
        }
    };
    if let Some(preview) = unwanted {
        let _ = tokio::task::spawn_blocking(move || preview.stop()).await;
    }
    Ok(())
}

#[tauri::command]
pub async fn stop_preview(state: State<'_, AppState>) -> Result<(), AppError> {
    stop_preview_now(&state).await;
    Ok(())
}

#[tauri::command]
pub async fn test_speaker(speaker: String) -> Result<(), AppError> {
    let list = scan_devices().await;
    if list.speakers.is_empty() {
        return Err(AppError::Speaker(
            "no speaker or headphones found; plug some in and try again".into(),
        ));
    }
    let id = (!speaker.is_empty() && speaker != devices::NONE).then_some(speaker);
    tokio::task::spawn_blocking(move || preview::test_speaker(id.as_deref()))
        .await
        .map_err(|e| AppError::Speaker(e.to_string()))?
}

/// What "Test speaker and microphone" found, with the sentence the page shows.
#[derive(Debug, Serialize)]
pub struct DeviceTest {
    pub summary: String,
    #[serde(flatten)]
    pub result: EchoCheckResult,
}

/// "Test speaker and microphone" on the pre-join screen: a short sound through `speaker`,
/// recorded by `microphone`. The preview (which holds the microphone) stops first; the page
/// starts it again.
#[tauri::command]
pub async fn test_devices(
    state: State<'_, AppState>,
    microphone: String,
    speaker: String,
) -> Result<DeviceTest, AppError> {
    if microphone == devices::NONE || speaker == devices::NONE {
        return Err(AppError::Microphone(
            "pick a microphone and a speaker to test them together".into(),
        ));
    }
    stop_preview_now(&state).await;
    let pick = |id: String| (!id.is_empty()).then_some(id);
    let (microphone, speaker) = (pick(microphone), pick(speaker));
    let result = tokio::task::spawn_blocking(move || {
        check_devices(microphone.as_deref(), speaker.as_deref())
    })
    .await
    .map_err(|e| AppError::Microphone(e.to_string()))?
    .map_err(|e| AppError::Microphone(e.to_string()))?;
    Ok(DeviceTest {
        summary: result.summary(),
        result,
    })
}

#[derive(Debug, Deserialize)]
pub struct JoinRequest {
    /// None: create a room.
    room: Option<String>,
    name: String,
    camera: String,
    microphone: String,
    speaker: String,
    camera_on: bool,
    mic_on: bool,
    /// The server a `tincan://` link named, once the person agreed to join there.
    #[serde(default)]
    server: Option<String>,
}

#[tauri::command]
pub async fn join(
    app: AppHandle,
    state: State<'_, AppState>,
    request: JoinRequest,
) -> Result<Joined, AppError> {
    let mut current = state.call.lock().await;
    if current.is_some() {
        return Err(AppError::AlreadyInCall);
    }
    stop_preview_now(&state).await;
    let room_typed = request
        .room
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let link_server = match request.server.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Some(
            tincan_signaling::websocket_url(s)
                .map_err(|e| AppError::ServerUnreachable(e.to_string()))?
                .to_string(),
        ),
        _ => None,
    };
    let chosen = server_choice::choose(&state, room_typed, link_server.as_deref()).await?;
    let server = chosen.url.clone();
    let list = scan_devices().await;
    let settings = state.settings();
    let choice = match room_typed {
        Some(code) => RoomChoice::Join(code.to_owned()),
        None => RoomChoice::Create,
    };
    let name = if request.name.trim().is_empty() {
        "Tincan user".to_owned()
    } else {
        request.name.trim().to_owned()
    };
    let mut options = session::options(&server, choice, &name);
    options.video = devices::video_input(&request.camera, &list);
    options.camera_off = !request.camera_on;
    options.audio = devices::audio_input(&request.microphone, &list);
    options.output = devices::audio_output(&request.speaker, &list);
    options.format = video_format(&settings);
    options.video_kbps = settings.quality.video().2;
    options.relay_only = settings.hide_ip;
    options.audio_processing = settings.audio_processing;
    let (call, feeds) = Call::join(options)
        .await
        .map_err(|e| AppError::joining(e, room_typed))?;
    call.set_mic_muted(!request.mic_on);
    let call = Arc::new(call);
    let room = call.room().to_string();
    let me = call.peer_id().to_string();
    let in_use = Arc::new(session::InUse::new(&request.camera, &request.microphone));
    *lock(&state.in_use) = Arc::clone(&in_use);
    session::watch_devices(app.clone(), Arc::downgrade(&call), Arc::clone(&in_use));
    session::pump(
        app,
        Arc::clone(&state.tiles),
        Arc::clone(&call),
        in_use,
        feeds,
    );
    *current = Some(call);
    {
        let mut settings = lock(&state.settings);
        settings.remember_room(&room);
        if let Some(server) = &link_server {
            settings.trust_server(server);
        }
        settings.name = name;
        let _ = state.settings_file.save(&settings);
    }
    let (share_link, app_link) = chosen.links(&room);
    Ok(Joined {
        share_link,
        app_link,
        room,
        me,
    })
}

pub(crate) async fn current_call(state: &AppState) -> Result<Arc<Call>, AppError> {
    state.call.lock().await.clone().ok_or(AppError::NotInCall)
}

#[tauri::command]
pub async fn leave(state: State<'_, AppState>) -> Result<(), AppError> {
    let call = state.call.lock().await.take().ok_or(AppError::NotInCall)?;
    let _ = call.leave().await;
    Ok(())
}

#[tauri::command]
pub async fn set_mic_muted(state: State<'_, AppState>, muted: bool) -> Result<(), AppError> {
    current_call(&state).await?.set_mic_muted(muted);
    Ok(())
}

#[tauri::command]
pub async fn set_camera_off(state: State<'_, AppState>, off: bool) -> Result<(), AppError> {
    let call = current_call(&state).await?;
    // Turning on opens the camera, which can take a moment.
    tokio::task::spawn_blocking(move || call.set_camera_off(off))
        .await
        .map_err(|e| AppError::Camera(e.to_string()))?
        .map_err(AppError::from)
}

/// Switches the camera, microphone or speaker mid-call (no renegotiation).
#[tauri::command]
pub async fn switch_device(
    state: State<'_, AppState>,
    kind: DeviceKind,
    id: String,
) -> Result<(), AppError> {
    let call = current_call(&state).await?;
    let list = scan_devices().await;
    match kind {
        DeviceKind::Camera => {
            let input = devices::video_input(&id, &list);
            tokio::task::spawn_blocking(move || call.set_video_input(input))
                .await
                .map_err(|e| AppError::Camera(e.to_string()))?
                .map_err(AppError::from)?;
            lock(&state.in_use).set(LostInput::Camera, id);
        }
        DeviceKind::Microphone => {
            let input = devices::audio_input(&id, &list);
            tokio::task::spawn_blocking(move || call.set_audio_input(input))
                .await
                .map_err(|e| AppError::Microphone(e.to_string()))?
                .map_err(AppError::from)?;
            // The device watcher now follows this one (unplugging the old one is no loss).
            lock(&state.in_use).set(LostInput::Microphone, id);
        }
        DeviceKind::Speaker => call
            .set_speaker(devices::audio_output(&id, &list))
            .await
            .map_err(|e| AppError::Speaker(e.to_string()))?,
    }
    Ok(())
}

#[tauri::command]
pub async fn send_chat(state: State<'_, AppState>, text: String) -> Result<(), AppError> {
    current_call(&state)
        .await?
        .send_chat(&text)
        .await
        .map_err(AppError::from)
}

/// The page shows `tile` at `width`x`height` device pixels and wants its pictures.
#[tauri::command]
pub fn watch_tile(
    state: State<'_, AppState>,
    tile: String,
    width: u32,
    height: u32,
    channel: Channel<InvokeResponseBody>,
) {
    state
        .tiles
        .watch(&tile, Sink::Channel(channel), width, height);
}

/// Where the page may fetch tiles' pictures by WebSocket instead of a channel; None when
/// the socket could not start (the page then uses channels).
#[tauri::command]
pub async fn frame_socket(state: State<'_, AppState>) -> Result<Option<FrameSocket>, AppError> {
    // TINCAN_FRAME_PATH=channel keeps pictures on Tauri channels (to compare the two).
    if std::env::var("TINCAN_FRAME_PATH").is_ok_and(|p| p == "channel") {
        return Ok(None);
    }
    let mut socket = state.frame_socket.lock().await;
    if socket.is_none() {
        match FrameSocket::start(state.tiles.clone()).await {
            Ok(s) => *socket = Some(s),
            Err(e) => tracing::warn!("no frame socket, pictures go by channel: {e}"),
        }
    }
    Ok(socket.clone())
}

/// The page shows `tile` at `width`x`height` device pixels now: pictures are scaled to it, and
/// a peer's camera tile tells that peer, which sends no more than the size needs.
#[tauri::command]
pub async fn resize_tile(
    state: State<'_, AppState>,
    tile: String,
    width: u32,
    height: u32,
) -> Result<(), AppError> {
    state.tiles.resize(&tile, width, height);
    // A canvas laid out at zero size (hidden for a moment) says nothing about what is wanted:
    // telling the peer so would stop its pictures, and nothing would bring them back.
    let camera_of_a_peer = tile != SELF_TILE && !tile.contains('/');
    if camera_of_a_peer && width > 0 && height > 0 {
        if let Some(call) = state.call.lock().await.clone() {
            let _ = call
                .show_video(&tincan_protocol::PeerId(tile), width, height)
                .await;
        }
    }
    Ok(())
}

/// The page drew `tile`'s last picture.
#[tauri::command]
pub fn frame_shown(state: State<'_, AppState>, tile: String) {
    state.tiles.shown(&tile);
}

#[tauri::command]
pub fn tile_counts(state: State<'_, AppState>) -> HashMap<String, TileCounts> {
    state.tiles.counts()
}
