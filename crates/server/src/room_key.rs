//! The server's room key: resume tokens are MACs under it, so a token proves that its holder
//! was given that place in that room by this server (or by an earlier run with the same key).
//!
//! That is what lets rooms outlive a restart: rooms live in memory and are lost, but a member
//! that comes back with its token is recognised without any memory of the room, and the room
//! is re-created around it under the same code with the same peer id (docs/calls.md,
//! "When the server restarts"). Nobody without a token (nobody who was never in the room) can
//! re-create a room, so a code cannot be taken over.

use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tincan_protocol::{PeerId, RoomCode};

/// Key bytes.
const KEY_LEN: usize = 32;

/// Hex digits of the MAC in a token: 128 bits.
const MAC_HEX: usize = 32;

/// Why the key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the room key {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write a new room key to {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("the room key {path} is not {KEY_LEN} bytes ({len}): delete it to make a new one")]
    Length { path: String, len: usize },
    #[error("the operating system's random source failed: {0}")]
    Random(String),
}

/// The secret behind resume tokens.
#[derive(Clone)]
pub struct RoomKey([u8; KEY_LEN]);

impl std::fmt::Debug for RoomKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoomKey(..)")
    }
}

impl RoomKey {
    /// A fresh random key: rooms do not outlive this process.
    pub fn generate() -> Result<Self, KeyError> {
        let mut key = [0u8; KEY_LEN];
        getrandom::fill(&mut key).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self(key))
    }

    /// Reads the key at `path`, or makes one there (readable by this user only) if there is
    /// none, so every run of the server with that file recognises the others' tokens.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        let shown = || path.display().to_string();
        match std::fs::read(path) {
            Ok(bytes) => {
                let key: [u8; KEY_LEN] =
                    bytes.as_slice().try_into().map_err(|_| KeyError::Length {
                        path: shown(),
                        len: bytes.len(),
                    })?;
                Ok(Self(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate()?;
                let write = |source| KeyError::Write {
                    path: shown(),
                    source,
                };
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(write)?;
                }
                // Written whole under another name, then linked into place: two servers
                // starting together never read half a key, and the first one's key wins.
                let mut draft = path.as_os_str().to_owned();
                draft.push(format!(".{}.new", std::process::id()));
                let draft = PathBuf::from(draft);
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create(true).truncate(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let written = options.open(&draft).and_then(|mut file| {
                    file.write_all(&key.0)?;
                    file.sync_all()
                });
                let linked = written.and_then(|()| std::fs::hard_link(&draft, path));
                let _ = std::fs::remove_file(&draft);
                match linked {
                    Ok(()) => Ok(key),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Self::load_or_create(path)
                    }
                    Err(e) => Err(write(e)),
                }
            }
            Err(source) => Err(KeyError::Read {
                path: shown(),
                source,
            }),
        }
    }

    /// Where `tincan-server` keeps its key when not told: systemd's `$STATE_DIRECTORY`, else
    /// `$XDG_STATE_HOME/tincan-server`, else `~/.local/state/tincan-server`; on Windows
    /// `%LOCALAPPDATA%\tincan-server`.
    pub fn default_path() -> Option<PathBuf> {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        let dir = if cfg!(windows) {
            PathBuf::from(var("LOCALAPPDATA")?).join("tincan-server")
        } else if let Some(dir) = var("STATE_DIRECTORY") {
            // systemd may list several, separated by colons; the first is ours.
            let first = dir.to_string_lossy().split(':').next()?.to_owned();
            PathBuf::from(first)
        } else if let Some(state) = var("XDG_STATE_HOME") {
            PathBuf::from(state).join("tincan-server")
        } else {
            PathBuf::from(var("HOME")?).join(".local/state/tincan-server")
        };
        Some(dir.join("room-key"))
    }

    /// The key's bytes, to share it with the other servers of a deployment (through Redis).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_vec()
    }

    /// A key shared by another server; None unless it is exactly a key's length.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The resume token for `peer` in `room`: `<peer id>.<MAC>`.
    pub fn resume_token(&self, room: &RoomCode, peer: &PeerId) -> String {
        format!("{}.{}", peer.0, self.mac(room, peer))
    }

    /// The peer id a token was made for in `room`, if it is one of ours.
    pub fn verify(&self, room: &RoomCode, token: &str) -> Option<PeerId> {
        let (id, mac) = token.rsplit_once('.')?;
        if id.is_empty() || id.len() > 64 || mac.len() != MAC_HEX {
            return None;
        }
        let peer = PeerId(id.to_owned());
        let expected = self.mac(room, &peer);
        // Compare without an early exit, so timing says nothing about the right MAC.
        let differ = expected
            .bytes()
            .zip(mac.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        (differ == 0).then_some(peer)
    }

    fn mac(&self, room: &RoomCode, peer: &PeerId) -> String {
        // HMAC takes keys of any length, so this cannot fail.
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(b"tincan resume v1\0");
        mac.update(room.to_string().as_bytes());
        mac.update(b"\0");
        mac.update(peer.0.as_bytes());
        let bytes = mac.finalize().into_bytes();
        bytes
            .iter()
            .take(MAC_HEX / 2)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> RoomCode {
        RoomCode::parse(s).unwrap()
    }

    #[test]
    fn a_token_names_its_peer_in_its_room_only() {
        let key = RoomKey::generate().unwrap();
        let room = code("k7wq-2m9x-d4tp");
        let peer = PeerId("9f3c21a07b5d4e18".into());
        let token = key.resume_token(&room, &peer);
        assert_eq!(key.verify(&room, &token), Some(peer.clone()));
        // Another room, another key, another peer id, a changed MAC: not ours.
        assert_eq!(key.verify(&code("k7wq-2m9x-d4tq"), &token), None);
        assert_eq!(RoomKey::generate().unwrap().verify(&room, &token), None);
        let forged = token.replace("9f3c", "0000");
        assert_eq!(key.verify(&room, &forged), None);
        let mut flipped = token.clone();
        let last = flipped.pop().unwrap();
        flipped.push(if last == '0' { '1' } else { '0' });
        assert_eq!(key.verify(&room, &flipped), None);
        for junk in ["", ".", "abc", "x.y", &format!(".{}", "0".repeat(32))] {
            assert_eq!(key.verify(&room, junk), None, "{junk:?}");
        }
    }

    #[test]
    fn a_key_file_is_made_once_and_read_back() {
        let dir = std::env::temp_dir().join(format!("tincan-key-{}", std::process::id()));
        let path = dir.join("state/room-key");
        let _ = std::fs::remove_dir_all(&dir);
        let made = RoomKey::load_or_create(&path).unwrap();
        let read = RoomKey::load_or_create(&path).unwrap();
        let room = code("k7wq-2m9x-d4tp");
        let peer = PeerId("a".into());
        assert_eq!(
            read.verify(&room, &made.resume_token(&room, &peer)),
            Some(peer)
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, b"short").unwrap();
        assert!(matches!(
            RoomKey::load_or_create(&path),
            Err(KeyError::Length { len: 5, .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
