//! The personal key a client is reachable by (docs/protocol.md, "Ringing people"), kept in a
//! file only its owner can read.

use std::path::{Path, PathBuf};

use tincan_protocol::PersonalKey;

/// Why the personal key could not be read or kept.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "{path}: {reason} (delete it to make a new identity; contacts will need your new code)"
    )]
    Unreadable { path: PathBuf, reason: String },
    #[error("cannot keep the identity in {path}: {reason}")]
    CannotKeep { path: PathBuf, reason: String },
    #[error("cannot make a personal key: {0}")]
    NoRandomness(String),
}

/// Reads the personal key kept at `path`, making (and keeping) one when there is none yet.
pub fn load_or_create(path: &Path) -> Result<PersonalKey, IdentityError> {
    match std::fs::read_to_string(path) {
        Ok(text) => PersonalKey::from_text(&text).map_err(|e| IdentityError::Unreadable {
            path: path.to_owned(),
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = generate()?;
            write_private(path, &key.to_text()).map_err(|e| IdentityError::CannotKeep {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
            Ok(key)
        }
        Err(e) => Err(IdentityError::Unreadable {
            path: path.to_owned(),
            reason: e.to_string(),
        }),
    }
}

/// A new key, kept nowhere (for one run).
pub fn generate() -> Result<PersonalKey, IdentityError> {
    PersonalKey::generate().map_err(|e| IdentityError::NoRandomness(e.to_string()))
}

/// Writes a new file only its owner can read (the key is a secret).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_and_read_back() {
        let dir = std::env::temp_dir().join(format!("tincan-identity-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub/identity.key");
        let made = load_or_create(&path).unwrap();
        let read = load_or_create(&path).unwrap();
        assert_eq!(made.code(), read.code());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "others can read the key: {mode:o}");
        }
        std::fs::write(&path, "not a key").unwrap();
        let refused = load_or_create(&path).unwrap_err().to_string();
        assert!(refused.contains("delete it"), "{refused}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
