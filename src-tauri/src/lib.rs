//! The Tincan desktop app: a Tauri window over the call engine (tincan-call).
//!
//! The page (ui/app) draws and asks; this crate owns devices, the call, the built-in server,
//! settings and the pictures sent to the page's tiles.

mod builtin_server;
mod commands;
mod devices;
mod error;
mod frame_socket;
mod links;
mod no_gpu;
mod preview;
mod server_choice;
mod session;
mod settings;
mod state;
mod tiles;

use tauri::{Emitter, Manager};
use tauri_plugin_deep_link::DeepLinkExt;

use crate::settings::SettingsFile;
use crate::state::{lock, AppState};

/// Opens the window and runs until it closes.
pub fn run() -> Result<(), tauri::Error> {
    // Before GTK starts and before any thread: it sets environment variables.
    no_gpu::leave_opengl_to_the_web_process_without_a_gpu();
    tauri::Builder::default()
        // First: a second launch (or a tincan:// link opened while running) hands its
        // arguments to this instance and exits.
        .plugin(tauri_plugin_single_instance::init(|app, args, _cwd| {
            if let Some(window) = app.get_webview_window("main") {
                let _ = window.unminimize();
                let _ = window.set_focus();
            }
            let state = app.state::<AppState>();
            if let Some(link) = args.iter().find_map(|a| state.link(a)) {
                let _ = app.emit("link:join", link);
            }
        }))
        .plugin(tauri_plugin_deep_link::init())
        .setup(|app| {
            let dir = app.path().app_config_dir()?;
            let state = AppState::new(SettingsFile::in_dir(&dir));
            *lock(&state.pending_link) = std::env::args().find_map(|a| state.link(&a));
            app.manage(state);
            let handle = app.handle().clone();
            app.deep_link().on_open_url(move |event| {
                let state = handle.state::<AppState>();
                let link = event.urls().iter().find_map(|u| state.link(u.as_str()));
                if let Some(link) = link {
                    let _ = handle.emit("link:join", link);
                }
            });
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
        ])
        .run(tauri::generate_context!())
}
