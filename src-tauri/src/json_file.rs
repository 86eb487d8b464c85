//! A value kept as a JSON file in the app's config directory (settings, contacts): missing
//! means the default, and writes go through a temporary file and a rename, so a crash never
//! leaves half a file.

use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a file could not be read or written (the caller words it for its screen).
#[derive(Debug, thiserror::Error)]
pub enum JsonFileError {
    #[error("{path} is damaged ({reason})")]
    Damaged { path: PathBuf, reason: String },
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("cannot save to {path}: {reason}")]
    Unwritable { path: PathBuf, reason: String },
}

pub struct JsonFile {
    path: PathBuf,
}

impl JsonFile {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    #[cfg(test)]
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The saved value; the default when there is no file yet. A file that cannot be read
    /// is an error and is left in place.
    pub fn load<T: DeserializeOwned + Default>(&self) -> Result<T, JsonFileError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| JsonFileError::Damaged {
                path: self.path.clone(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
            Err(e) => Err(JsonFileError::Unreadable {
                path: self.path.clone(),
                reason: e.to_string(),
            }),
        }
    }

    /// Writes `value` whole.
    pub fn save<T: Serialize>(&self, value: &T) -> Result<(), JsonFileError> {
        let fail = |reason: String| JsonFileError::Unwritable {
            path: self.path.clone(),
            reason,
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        }
        let text = serde_json::to_string_pretty(value).map_err(|e| fail(e.to_string()))?;
        let temp = self.path.with_extension("json.new");
        std::fs::write(&temp, text).map_err(|e| fail(e.to_string()))?;
        std::fs::rename(&temp, &self.path).map_err(|e| fail(e.to_string()))
    }
}
