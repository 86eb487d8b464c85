//! The Tincan desktop app: a Tauri window over the call engine (tincan-call).
//!
//! The page (ui/app) draws and asks; this crate owns devices, the call, the built-in server,
//! settings, the pictures sent to the page's tiles, and people: the personal code, contacts
//! and rings ([`people`]), with the tray that keeps the app reachable ([`tray`]).

mod builtin_server;
mod commands;
mod devices;
mod error;
mod events;
mod files;
mod folders;
mod frame_socket;
mod held;
mod json_file;
pub(crate) mod links;
#[cfg(target_os = "linux")]
mod no_gpu;
mod people;
mod preview;
mod recording;
mod screen;
mod server_choice;
mod session;
mod settings;
mod state;
mod tiles;
mod tray;
#[cfg(windows)]
pub mod webview_missing;

use tauri::Manager;
use tauri_plugin_deep_link::DeepLinkExt;

use crate::people::People;
use crate::settings::SettingsFile;
use crate::state::{lock, AppState};

/// Opens the window and runs until it closes.
pub fn run() -> Result<(), tauri::Error> {
    // Before GTK starts and before any thread: it sets environment variables. (WebKitGTK's;
    // Windows' WebView2 and macOS's WKWebView choose their GPU path themselves.)
    #[cfg(target_os = "linux")]
    no_gpu::leave_opengl_to_the_web_process_without_a_gpu();
    tauri::Builder::default()
        // First: a second launch (or a tincan:// link opened while running) hands its
        // arguments to this instance and exits.
        .plugin(tauri_plugin_single_instance::init(|app, args, _cwd| {
            // Also what brings the window back from the tray on a desktop without one.
            tray::show_window(app);
            open_links(app, args.iter().map(String::as_str));
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec![tray::HIDDEN_ARG]),
        ))
        .on_window_event(tray::on_window_event)
        .setup(|app| {
            let dir = app.path().app_config_dir()?;
            let state = AppState::new(SettingsFile::in_dir(&dir), People::new(&dir));
            *lock(&state.pending_link) = std::env::args().find_map(|a| state.link(&a));
            *lock(&state.pending_person) = std::env::args().find_map(|a| links::person_in_link(&a));
            app.manage(state);
            let handle = app.handle().clone();
            app.deep_link().on_open_url(move |event| {
                open_links(&handle, event.urls().iter().map(|u| u.as_str()));
            });
            if let Err(e) = tray::build(app.handle()) {
                tracing::warn!("no tray icon: {e}");
            }
            if std::env::args().any(|a| a == tray::HIDDEN_ARG) {
                if let Some(window) = app.get_webview_window("main") {
                    let _ = window.hide();
                }
            }
            people::reach::start(app.handle().clone());
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::server_address,
            commands::builtin_server_info,
            commands::save_settings,
            commands::list_devices,
            commands::start_preview,
            commands::stop_preview,
            commands::test_speaker,
            commands::test_devices,
            commands::join,
            commands::leave,
            commands::set_mic_muted,
            commands::set_camera_off,
            commands::switch_device,
            commands::send_chat,
            commands::watch_tile,
            commands::frame_socket,
            commands::resize_tile,
            commands::frame_shown,
            commands::tile_counts,
            files::pick_files,
            files::send_files,
            files::accept_file,
            files::decline_file,
            files::cancel_file,
            screen::share_screen,
            screen::screen_choices,
            recording::start_recording,
            recording::stop_recording,
            people::commands::people_view,
            people::commands::add_contact,
            people::commands::rename_contact,
            people::commands::remove_contact,
            people::commands::ring,
            people::commands::cancel_ring,
            people::commands::answer_ring,
            people::commands::set_do_not_disturb,
        ])
        .run(tauri::generate_context!())
}

/// Opens the `tincan://` links among `args` in the running app: a room to join
/// (`link:join`), or a person to add (`link:person`).
fn open_links<'a>(app: &tauri::AppHandle, args: impl Iterator<Item = &'a str>) {
    let state = app.state::<AppState>();
    for arg in args {
        if let Some(link) = state.link(arg) {
            events::PageEvent::LinkJoin(link).send(app);
        } else if let Some(person) = links::person_in_link(arg) {
            events::PageEvent::LinkPerson(person).send(app);
        }
    }
}
