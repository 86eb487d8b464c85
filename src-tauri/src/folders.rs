//! The person's own folders that the app saves into (Downloads for files, Videos for
//! recordings): the system's, else one of that name in the home folder, made if missing.

use std::path::PathBuf;

use tauri::{AppHandle, Manager};

/// `system` (what the OS says, e.g. `app.path().video_dir()`), else `~/<name>`; made if
/// missing. The error says which folder and why, in words for the person.
pub fn user_folder(
    app: &AppHandle,
    system: tauri::Result<PathBuf>,
    name: &str,
) -> Result<PathBuf, String> {
    let folder = system
        .or_else(|_| app.path().home_dir().map(|home| home.join(name)))
        .map_err(|e| format!("no {name} folder to save into: {e}"))?;
    std::fs::create_dir_all(&folder)
        .map_err(|e| format!("the {name} folder {} cannot be made: {e}", folder.display()))?;
    Ok(folder)
}
