//! Sharing a screen or a window from the app: the picker's choices (the display and its
//! windows, each with a thumbnail) and the share itself, which goes to everyone on a video
//! track of its own beside the camera (the far ends show it large).

use base64::Engine;
use serde::Serialize;
use tauri::State;
use tincan_media::video::scale::Scaler;
use tincan_media::video::{shareable, thumbnail, ScreenTarget};

use crate::commands::current_call;
use crate::error::AppError;
use crate::state::AppState;
use crate::tiles;

/// The size thumbnails are made to fit (the picker shows them smaller).
const THUMBNAIL: (u32, u32) = (320, 180);

/// One thing the picker offers.
#[derive(Debug, Clone, Serialize)]
pub struct ScreenChoice {
    /// What `share_screen` takes: "" for the whole display, the window's id, or "portal"
    /// for the desktop's own dialog (a Wayland session).
    pub target: String,
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// A picture of it now, in the tiles' wire form (`tiles::encode`), base64; None when it
    /// could not be read (the picker shows its name alone).
    pub thumbnail: Option<String>,
}

/// The display and its windows, each with a thumbnail, for the picker.
#[tauri::command]
pub async fn screen_choices() -> Result<Vec<ScreenChoice>, AppError> {
    tokio::task::spawn_blocking(|| {
        let mut scaler = Scaler::default();
        let list = shareable().map_err(|e| AppError::Screen(e.to_string()))?;
        Ok(list
            .into_iter()
            .map(|s| ScreenChoice {
                thumbnail: thumbnail(&s.target).ok().map(|frame| {
                    base64::engine::general_purpose::STANDARD.encode(tiles::encode(
                        &mut scaler,
                        &frame,
                        THUMBNAIL,
                    ))
                }),
                target: s.target.to_string(),
                name: s.name,
                width: s.width,
                height: s.height,
            })
            .collect())
    })
    .await
    .map_err(|e| AppError::Screen(e.to_string()))?
}

/// Starts sharing `target` (a choice's, "" or none for the whole display), or stops sharing
/// when `on` is false.
#[tauri::command]
pub async fn share_screen(
    state: State<'_, AppState>,
    on: bool,
    target: Option<String>,
) -> Result<(), AppError> {
    let call = current_call(&state).await?;
    let target = match on {
        true => Some(
            ScreenTarget::parse(target.as_deref().unwrap_or(""))
                .map_err(|e| AppError::Screen(e.to_string()))?,
        ),
        false => None,
    };
    call.share_screen(target).await.map_err(|e| {
        if on {
            AppError::Screen(format!("the screen cannot be shared: {e}"))
        } else {
            AppError::from(e)
        }
    })
}
