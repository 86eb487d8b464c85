//! Sharing the screen from the app: the display the app runs on goes to everyone on a video
//! track of its own, beside the camera (the far ends show it large); stopping the share takes
//! it away. (Picking one window, with thumbnails, is not built yet: docs/media.md, "Screen
//! sharing".)

use tauri::State;
use tincan_media::video::ScreenTarget;

use crate::commands::current_call;
use crate::error::AppError;
use crate::state::AppState;

/// Starts (`on`) or stops sharing this computer's screen in the call.
#[tauri::command]
pub async fn share_screen(state: State<'_, AppState>, on: bool) -> Result<(), AppError> {
    let call = current_call(&state).await?;
    call.share_screen(on.then_some(ScreenTarget::Display(None)))
        .await
        .map_err(|e| {
            if on {
                AppError::Call(format!("the screen cannot be shared: {e}"))
            } else {
                AppError::from(e)
            }
        })
}
