//! The tray icon that keeps Tincan reachable with its window closed: "Open Tincan", "Do not
//! disturb" and "Quit". Closing the window hides it (saying so once); rings still come, with
//! a notification. On a desktop with no tray, opening Tincan again shows the window.

use std::time::Duration;

use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Window, WindowEvent, Wry};
use tauri_plugin_autostart::ManagerExt;
use tauri_plugin_notification::NotificationExt;

use crate::error::AppError;
use crate::state::{lock, AppState};

/// The tray's "Do not disturb" item, kept to tick it when the page changes it.
pub struct TrayItems {
    do_not_disturb: CheckMenuItem<Wry>,
}

/// Puts Tincan's icon in the tray.
pub fn build(app: &AppHandle) -> tauri::Result<()> {
    let open = MenuItem::with_id(app, "open", "Open Tincan", true, None::<&str>)?;
    let dnd = CheckMenuItem::with_id(app, "dnd", "Do not disturb", true, false, None::<&str>)?;
    let quit_item = MenuItem::with_id(app, "quit", "Quit Tincan", true, None::<&str>)?;
    let separator = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(app, &[&open, &dnd, &separator, &quit_item])?;
    let mut tray = TrayIconBuilder::with_id("tincan")
        .tooltip("Tincan")
        .menu(&menu)
        .on_menu_event(|app, event| match event.id().as_ref() {
            "open" => show_window(app),
            "dnd" => {
                let state = app.state::<AppState>();
                let on = !state.people.do_not_disturb();
                state.people.set_do_not_disturb(on);
                show_do_not_disturb(app, on);
                state.people.changed(app);
            }
            "quit" => quit(app),
            _ => {}
        });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    app.manage(TrayItems {
        do_not_disturb: dnd,
    });
    Ok(())
}

/// Ticks (or unticks) "Do not disturb" in the tray's menu.
pub fn show_do_not_disturb(app: &AppHandle, on: bool) {
    if let Some(items) = app.try_state::<TrayItems>() {
        let _ = items.do_not_disturb.set_checked(on);
    }
}

/// Brings the window back and to the front.
pub fn show_window(app: &AppHandle) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}

/// Closing the window hides it: Tincan stays reachable. The first time, it says so.
pub fn on_window_event(window: &Window, event: &WindowEvent) {
    let WindowEvent::CloseRequested { api, .. } = event else {
        return;
    };
    api.prevent_close();
    let _ = window.hide();
    let app = window.app_handle();
    let state = app.state::<AppState>();
    let first_time = {
        let mut settings = lock(&state.settings);
        let first = !settings.told_about_tray;
        if first {
            settings.told_about_tray = true;
            let _ = state.settings_file.save(&settings);
        }
        first
    };
    if first_time {
        let shown = app
            .notification()
            .builder()
            .title("Tincan is still running")
            .body("People can still ring you. Quit from Tincan's icon in the tray.")
            .show();
        if let Err(e) = shown {
            tracing::warn!("cannot show a notification: {e}");
        }
    }
}

/// Leaves the call (so the others see it end at once), then exits.
fn quit(app: &AppHandle) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let call = app.state::<AppState>().call.lock().await.take();
        if let Some(call) = call {
            let _ = tokio::time::timeout(Duration::from_secs(2), call.leave()).await;
        }
        app.exit(0);
    });
}

/// The argument a start at login passes: start in the tray, window hidden.
pub const HIDDEN_ARG: &str = "--hidden";

/// Starts Tincan at login (in the tray), or stops doing so.
pub fn start_at_login(app: &AppHandle, on: bool) -> Result<(), AppError> {
    let launcher = app.autolaunch();
    if on {
        launcher.enable()
    } else if launcher.is_enabled().unwrap_or(true) {
        launcher.disable()
    } else {
        Ok(())
    }
    .map_err(|e| AppError::Settings(format!("cannot change starting at login: {e}")))
}
