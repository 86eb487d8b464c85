//! The record button: the call recorded into the person's Videos folder, one WebM file per
//! remote peer (`tincan_call::Call::start_recording`; docs/calls.md, "Recording").

use std::path::PathBuf;

use serde::Serialize;
use tauri::{AppHandle, Manager, State};

use crate::commands::current_call;
use crate::error::AppError;
use crate::state::AppState;

/// What the page shows once a recording has started or stopped.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    /// Where the files go (when stopping: where they went; empty if none was written).
    pub folder: String,
    /// The files written (empty while recording).
    pub files: Vec<String>,
}

/// Starts recording the call into the Videos folder; everyone in it is told.
#[tauri::command]
pub async fn start_recording(
    app: AppHandle,
    state: State<'_, AppState>,
) -> Result<Recorded, AppError> {
    let call = current_call(&state).await?;
    let folder = videos(&app)?;
    call.start_recording(&folder)
        .await
        .map_err(|e| AppError::Recording(e.to_string()))?;
    Ok(Recorded {
        folder: folder.display().to_string(),
        files: Vec::new(),
    })
}

/// Stops recording: the files written, and the folder they are in.
#[tauri::command]
pub async fn stop_recording(state: State<'_, AppState>) -> Result<Recorded, AppError> {
    let call = current_call(&state).await?;
    let files = call
        .stop_recording()
        .await
        .map_err(|e| AppError::Recording(e.to_string()))?;
    let folder = files
        .first()
        .and_then(|f| f.parent())
        .map_or_else(String::new, |d| d.display().to_string());
    Ok(Recorded {
        folder,
        files: files.iter().map(|f| f.display().to_string()).collect(),
    })
}

/// The person's Videos folder (the system's — on Linux `XDG_VIDEOS_DIR` — else `~/Videos`),
/// made if missing.
fn videos(app: &AppHandle) -> Result<PathBuf, AppError> {
    crate::folders::user_folder(app, app.path().video_dir(), "Videos").map_err(AppError::Recording)
}
