//! Files in a call, from the app: the page picks files through the system's file chooser
//! (or has them dropped on the window: Tauri gives the page their paths) and sends them to
//! one person or everyone; offers to us are accepted into the Downloads folder or declined;
//! either side cancels. The engine does the rest (crates/call/src/files: a data channel per
//! transfer, bounded memory, the SHA-256 check, name clashes); its [`FileEvent`]s reach the
//! page as `call:file` (`events.rs`).
//!
//! [`FileEvent`]: tincan_call::FileEvent

use std::path::{Path, PathBuf};

use tauri::{AppHandle, Manager, State};
use tauri_plugin_dialog::DialogExt;
use tincan_call::TransferId;
use tincan_protocol::PeerId;

use crate::commands::current_call;
use crate::error::AppError;
use crate::state::AppState;

/// Files at most in one pick or drop: each is an offer the receiver answers.
const MAX_FILES_AT_ONCE: usize = 16;

/// Asks the person for files to send with the system's file chooser; their paths, or none
/// when the chooser was closed.
#[tauri::command]
pub async fn pick_files(app: AppHandle) -> Result<Vec<String>, AppError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_title("Send files")
        .pick_files(move |picked| {
            let _ = tx.send(picked);
        });
    let picked = rx.await.ok().flatten().unwrap_or_default();
    picked
        .into_iter()
        .map(|p| {
            p.into_path()
                .map(|p| p.to_string_lossy().into_owned())
                .map_err(|e| AppError::File(format!("the chosen file has no path: {e}")))
        })
        .collect()
}

/// Offers each file at `paths` to `to` (None: everyone in the call). The transfers'
/// numbers, in the order of the files and people; what happens next comes as `call:file`.
#[tauri::command]
pub async fn send_files(
    state: State<'_, AppState>,
    paths: Vec<String>,
    to: Option<String>,
) -> Result<Vec<TransferId>, AppError> {
    if paths.len() > MAX_FILES_AT_ONCE {
        return Err(AppError::File(format!(
            "{} files at once is too many; send at most {MAX_FILES_AT_ONCE} at a time",
            paths.len()
        )));
    }
    let call = current_call(&state).await?;
    let to = to.map(PeerId);
    let mut ids = Vec::new();
    for path in &paths {
        ids.extend(
            call.send_file(Path::new(path), to.clone())
                .await
                .map_err(file_error)?,
        );
    }
    Ok(ids)
}

/// Accepts the file offered as `id` into the Downloads folder; the folder it goes to.
#[tauri::command]
pub async fn accept_file(
    app: AppHandle,
    state: State<'_, AppState>,
    id: TransferId,
) -> Result<String, AppError> {
    let folder = downloads(&app)?;
    current_call(&state)
        .await?
        .accept_file(id, &folder)
        .map_err(file_error)?;
    Ok(folder.to_string_lossy().into_owned())
}

#[tauri::command]
pub async fn decline_file(state: State<'_, AppState>, id: TransferId) -> Result<(), AppError> {
    current_call(&state)
        .await?
        .decline_file(id)
        .map_err(file_error)
}

/// Stops transfer `id`, sent or received; nothing of it is kept.
#[tauri::command]
pub async fn cancel_file(state: State<'_, AppState>, id: TransferId) -> Result<(), AppError> {
    current_call(&state)
        .await?
        .cancel_file(id)
        .map_err(file_error)
}

/// The person's Downloads folder (the system's, else `~/Downloads`), made if missing.
fn downloads(app: &AppHandle) -> Result<PathBuf, AppError> {
    crate::folders::user_folder(app, app.path().download_dir(), "Downloads").map_err(AppError::File)
}

fn file_error(e: tincan_call::CallError) -> AppError {
    AppError::File(e.to_string())
}
