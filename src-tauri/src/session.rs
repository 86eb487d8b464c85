//! The call in progress: joins through the engine, turns its events into what the page shows
//! (tauri events, tile pictures), and falls back when a camera or microphone goes away.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use serde::Serialize;
use tauri::AppHandle;
use tincan_call::{
    AudioInput, Call, CallEvent, CallFeeds, CallOptions, LostInput, MediaFrame, VideoInput,
};
use tincan_media::devices::{DeviceChange, DeviceKind, DeviceList, DeviceWatcher};
use tincan_protocol::PeerInfo;

use crate::devices;
use crate::events::{share_tile, InputLostNotice, PageEvent, PeerView};
use crate::held::HeldPictures;
use crate::preview::SELF_TILE;
use crate::tiles::Tiles;

/// What the page learns once in the room; who is already there arrives as
/// [`PageEvent::PeerJoined`] events.
#[derive(Debug, Clone, Serialize)]
pub struct Joined {
    pub room: String,
    pub me: String,
    /// The browser link for people without the app (the server serves the guest page).
    pub share_link: String,
    /// The `tincan://join/CODE?server=…` link for people with the app; None when only this
    /// computer can reach the server (the built-in one with LAN hosting off).
    pub app_link: Option<String>,
}

/// A tile for `info` on the page.
fn show_peer(app: &AppHandle, info: PeerInfo) {
    let view = PeerView {
        id: info.id.to_string(),
        name: info.name,
    };
    PageEvent::PeerJoined(view).send(app);
}

/// Runs the call's events and pictures until it ends, then tells the page. Events go first:
/// however many pictures wait, an error or a leave is not held up behind them.
pub fn pump(
    app: AppHandle,
    tiles: Arc<Tiles>,
    call: Arc<Call>,
    in_use: Arc<InUse>,
    feeds: CallFeeds,
) {
    let CallFeeds {
        mut events,
        mut frames,
    } = feeds;
    tauri::async_runtime::spawn(async move {
        // Remote pictures wait here for their `show_at` (lip sync).
        let mut held = HeldPictures::default();
        let mut frames_open = true;
        loop {
            let due = held.next_due();
            let event = tokio::select! {
                biased;
                event = events.recv() => match event {
                    Some(event) => event,
                    None => break,
                },
                () = sleep_until(due) => {
                    for (tile, frame) in held.due(Instant::now()) {
                        tiles.offer(&tile, frame);
                    }
                    continue;
                }
                frame = frames.recv(), if frames_open => {
                    match frame {
                        Some(MediaFrame::Video { peer, screen, frame, show_at }) => {
                            let tile = match screen {
                                false => peer.0,
                                true => share_tile(&peer.0),
                            };
                            for frame in held.hold(&tile, frame, show_at, Instant::now()) {
                                tiles.offer(&tile, frame);
                            }
                        }
                        Some(MediaFrame::SelfVideo { frame }) => tiles.offer(SELF_TILE, frame),
                        // The engine plays the sound; the page does not need it.
                        Some(MediaFrame::Audio { .. }) => {}
                        None => frames_open = false,
                    }
                    continue;
                }
            };
            match event {
                CallEvent::Sharing { peer, on } => {
                    if !on {
                        held.forget(&share_tile(&peer.0));
                        tiles.forget(&share_tile(&peer.0));
                    }
                    PageEvent::Sharing {
                        peer: peer.to_string(),
                        on,
                    }
                    .send(&app);
                }
                CallEvent::Recording { peer, on } => PageEvent::Recording {
                    peer: peer.to_string(),
                    on,
                }
                .send(&app),
                // Renewed TURN credentials change nothing the person sees.
                CallEvent::KeyframeArrived { .. } | CallEvent::IceRenewed { .. } => {}
                // Whoever was in the room already: a tile each, as for later arrivals.
                CallEvent::Joined { peers, .. } => {
                    peers.into_iter().for_each(|p| show_peer(&app, p))
                }
                CallEvent::PeerJoined(info) => show_peer(&app, info),
                CallEvent::PeerLeft { peer } => {
                    for tile in [peer.0.clone(), share_tile(&peer.0)] {
                        held.forget(&tile);
                        tiles.forget(&tile);
                    }
                    PageEvent::PeerLeft(peer.to_string()).send(&app);
                }
                CallEvent::Connected {
                    peer,
                    security_code,
                } => {
                    PageEvent::Connected {
                        peer: peer.to_string(),
                        security_code,
                    }
                    .send(&app);
                }
                CallEvent::Disconnected { peer, reason } => {
                    PageEvent::Disconnected {
                        peer: peer.to_string(),
                        reason,
                    }
                    .send(&app);
                }
                CallEvent::Chat { peer, text } => {
                    PageEvent::Chat {
                        peer: peer.to_string(),
                        text,
                    }
                    .send(&app);
                }
                CallEvent::File(event) => PageEvent::File(event).send(&app),
                CallEvent::Stats(stats) => {
                    PageEvent::Stats(Box::new(stats)).send(&app);
                }
                CallEvent::Error { message } => {
                    PageEvent::Error(message).send(&app);
                }
                CallEvent::ServerLost { reason } => {
                    PageEvent::Server {
                        connected: false,
                        reason: Some(reason),
                    }
                    .send(&app);
                }
                CallEvent::ServerBack => {
                    PageEvent::Server {
                        connected: true,
                        reason: None,
                    }
                    .send(&app);
                }
                // A shared window closed: the engine ended the share; the page says so.
                CallEvent::InputLost {
                    input: LostInput::Screen,
                    reason,
                } => PageEvent::InputLost(InputLostNotice {
                    input: LostInput::Screen,
                    reason,
                    now: None,
                })
                .send(&app),
                CallEvent::InputLost { input, reason } => {
                    let (app, call, in_use) = (app.clone(), Arc::clone(&call), Arc::clone(&in_use));
                    let _ = tokio::task::spawn_blocking(move || {
                        lost(&app, &call, &in_use, input, reason)
                    })
                    .await;
                }
                CallEvent::Ended { reason } => {
                    PageEvent::Ended(reason).send(&app);
                    break;
                }
            }
        }
    });
}

/// Sleeps until `at`, or for ever when there is nothing to wait for.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Switches a lost input to the default device, or to none when there is no other. Returns
/// the name of what is used now. Blocks (lists devices, opens one).
fn fall_back(call: &Call, input: LostInput) -> Option<String> {
    let list = DeviceList::scan();
    match input {
        LostInput::Screen => None,
        LostInput::Camera => {
            let next = devices::video_input("", &list);
            let name = match &next {
                VideoInput::Camera(_) => list.cameras.first().map(|c| c.name.clone()),
                _ => None,
            };
            match call.set_video_input(next) {
                Ok(()) => name,
                Err(e) => {
                    tracing::warn!(error = %e, "no camera to fall back to");
                    let _ = call.set_video_input(VideoInput::None);
                    None
                }
            }
        }
        LostInput::Microphone => {
            let next = devices::audio_input("", &list);
            let name = match &next {
                AudioInput::Microphone(_) => list
                    .microphones
                    .iter()
                    .find(|m| m.is_default)
                    .or(list.microphones.first())
                    .map(|m| m.name.clone()),
                _ => None,
            };
            match call.set_audio_input(next) {
                Ok(()) => name,
                Err(e) => {
                    tracing::warn!(error = %e, "no microphone to fall back to");
                    let _ = call.set_audio_input(AudioInput::None);
                    None
                }
            }
        }
    }
}

/// Falls back, notes that the default is in use now, and tells the page.
fn lost(app: &AppHandle, call: &Call, in_use: &InUse, input: LostInput, reason: String) {
    let now = fall_back(call, input);
    in_use.set(input, String::new());
    PageEvent::InputLost(InputLostNotice { input, reason, now }).send(app);
}

/// The camera and microphone the call uses now ("" for the system's default): set at join,
/// changed by a switch mid-call (`switch_device`) and by a fallback, read by the device
/// watcher to tell whether an unplugged device is the one in use.
#[derive(Debug, Default)]
pub struct InUse(std::sync::Mutex<(String, String)>);

impl InUse {
    pub fn new(camera: &str, microphone: &str) -> Self {
        Self(std::sync::Mutex::new((
            camera.to_owned(),
            microphone.to_owned(),
        )))
    }

    pub fn set(&self, input: LostInput, id: String) {
        let mut ids = crate::state::lock(&self.0);
        match input {
            LostInput::Camera => ids.0 = id,
            LostInput::Microphone => ids.1 = id,
            LostInput::Screen => {}
        }
    }

    /// Whether losing device `id` of kind `input` takes away what the call uses.
    pub fn uses(&self, input: LostInput, id: &str) -> bool {
        let ids = crate::state::lock(&self.0);
        let chosen = match input {
            LostInput::Camera => &ids.0,
            LostInput::Microphone => &ids.1,
            LostInput::Screen => return false,
        };
        chosen.is_empty() || chosen == id
    }
}

/// Watches the devices while `call` lives. A sound server such as PulseAudio or PipeWire
/// moves a recording to another source when its microphone is unplugged, so the engine never
/// sees the microphone fail: the app notices the device going from the list instead, falls
/// back to the default on purpose and says so. New devices refresh the pickers.
pub fn watch_devices(app: AppHandle, call: Weak<Call>, in_use: Arc<InUse>) {
    let spawned = std::thread::Builder::new()
        .name("device-watch".into())
        .spawn(move || {
            let watcher = DeviceWatcher::start(Duration::from_secs(1));
            loop {
                let change = watcher.next(Duration::from_millis(500));
                let Some(call) = call.upgrade() else {
                    return;
                };
                let Some(change) = change else {
                    continue;
                };
                PageEvent::DevicesChanged(change.clone()).send(&app);
                if let DeviceChange::Removed { kind, id, name } = change {
                    let input = match kind {
                        DeviceKind::Camera => LostInput::Camera,
                        DeviceKind::Microphone => LostInput::Microphone,
                        DeviceKind::Speaker => continue,
                    };
                    if in_use.uses(input, &id) {
                        let reason = format!("{name} was unplugged");
                        lost(&app, &call, &in_use, input, reason);
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot watch devices; unplugged ones go unnoticed");
    }
}

/// The engine's options for this app's call.
pub fn options(server: &str, room: tincan_call::RoomChoice, name: &str) -> CallOptions {
    let mut options = CallOptions::new(server, room, name);
    options.self_view = true;
    options
}
