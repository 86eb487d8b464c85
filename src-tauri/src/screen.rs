//! Sharing the screen from the app: the display the app runs on is sent in place of the
//! camera's picture, and stopping the share brings the chosen camera back. (The share as a
//! second track beside the camera, and picking one window, are not built yet: docs/media.md,
//! "Screen sharing".)

use tauri::State;
use tincan_call::VideoInput;
use tincan_media::devices::DeviceList;
use tincan_media::video::ScreenTarget;

use crate::commands::current_call;
use crate::devices;
use crate::error::AppError;
use crate::state::{lock, AppState};

/// Starts (`on`) or stops sharing this computer's screen in the call.
#[tauri::command]
pub async fn share_screen(state: State<'_, AppState>, on: bool) -> Result<(), AppError> {
    let call = current_call(&state).await?;
    let camera = lock(&state.in_use).camera();
    tokio::task::spawn_blocking(move || {
        let input = if on {
            VideoInput::Screen(ScreenTarget::Display(None))
        } else {
            devices::video_input(&camera, &DeviceList::scan())
        };
        call.set_video_input(input)
    })
    .await
    .map_err(|e| AppError::Camera(e.to_string()))?
    .map_err(|e| {
        if on {
            AppError::Call(format!("the screen cannot be shared: {e}"))
        } else {
            AppError::from(e)
        }
    })
}
