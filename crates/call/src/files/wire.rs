//! What the two ends of a file transfer say to each other on its data channel
//! (docs/protocol.md, "File transfer"): JSON text messages for the conversation, binary
//! messages for the file's bytes.

use serde::{Deserialize, Serialize};

/// The label of every file transfer's data channel (one channel per transfer, reliable and
/// ordered, opened by the sender).
pub(crate) const FILE_LABEL: &str = "file";

/// Bytes of the file in one binary message: what every browser takes.
pub(crate) const CHUNK_BYTES: usize = 16 * 1024;

/// The longest text message taken from a peer; a longer one ends the transfer.
pub(crate) const MAX_TEXT_BYTES: usize = 4096;

/// The longest reason a peer may give for a failure, in characters (more is cut).
const MAX_REASON_CHARS: usize = 200;

/// One text message on a file channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum FileMessage {
    /// Sender, first: what it offers. Nothing else is sent before an answer.
    Offer { name: String, size: u64 },
    /// Receiver: send it.
    Accept,
    /// Receiver: no thanks (the sender closes the channel).
    Decline,
    /// Sender, after the last byte: the whole file's SHA-256, 64 lower-case hex digits.
    Done { sha256: String },
    /// Receiver: the bytes and the hash matched; the file is saved.
    Received,
    /// Receiver: it could not be saved (the hash did not match, the disk is full…).
    Failed { reason: String },
    /// Either side, at any time: stop. The other side keeps nothing.
    Cancel,
}

/// Why a text message from a peer was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WireError {
    #[error("the peer sent a message of {0} bytes on a file channel (at most {MAX_TEXT_BYTES})")]
    TooLong(usize),
    #[error("the peer sent something that is not a file-transfer message: {0}")]
    Unreadable(String),
    #[error("the peer's hash is not 64 lower-case hex digits")]
    BadHash,
}

impl FileMessage {
    pub fn to_text(&self) -> String {
        // A plain enum of strings and numbers always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a text message from a peer: bounded, and a `done` must carry a real hash.
    pub fn parse(text: &[u8]) -> Result<FileMessage, WireError> {
        if text.len() > MAX_TEXT_BYTES {
            return Err(WireError::TooLong(text.len()));
        }
        let message: FileMessage =
            serde_json::from_slice(text).map_err(|e| WireError::Unreadable(e.to_string()))?;
        match message {
            FileMessage::Done { ref sha256 } if !tincan_protocol::lan::is_hex(sha256, 64) => {
                Err(WireError::BadHash)
            }
            FileMessage::Failed { reason } => Ok(FileMessage::Failed {
                reason: printable(&reason).chars().take(MAX_REASON_CHARS).collect(),
            }),
            other => Ok(other),
        }
    }
}

/// `text` without control characters or invisible formatting (bidi overrides, zero-width
/// characters): what a peer says is shown to a person as it is.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() && !is_invisible(*c))
        .collect()
}

fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{E0000}'..='\u{E007F}')
}

/// The longest file name kept, in bytes of UTF-8 (what Linux, Windows and macOS all take).
const MAX_NAME_BYTES: usize = 200;

/// The name a received file is saved under, from the name its sender gave: the last path
/// component only (no `../`, no folders, either slash), printable, without leading dots (no
/// hidden files), trailing dots or spaces (Windows drops them), Windows' reserved device
/// names or characters, and at most [`MAX_NAME_BYTES`] (cut before the extension, which is
/// kept). An empty result is `file`.
pub(crate) fn safe_file_name(offered: &str) -> String {
    let last = offered.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = printable(last)
        .chars()
        .map(|c| match c {
            '<' | '>' | ':' | '"' | '|' | '?' | '*' => '_',
            c => c,
        })
        .collect();
    let trimmed = cleaned
        .trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' ']);
    let (stem, ext) = split_extension(trimmed);
    let reserved = {
        let upper = stem.to_ascii_uppercase();
        matches!(upper.as_str(), "CON" | "PRN" | "AUX" | "NUL")
            || ((upper.starts_with("COM") || upper.starts_with("LPT"))
                && upper.len() == 4
                && upper.as_bytes()[3].is_ascii_digit())
    };
    let stem = if stem.is_empty() {
        "file".to_owned()
    } else if reserved {
        format!("_{stem}")
    } else {
        stem.to_owned()
    };
    let ext: String = if ext.len() > 16 { "" } else { ext }.to_owned();
    let room = MAX_NAME_BYTES.saturating_sub(ext.len());
    let mut cut = stem;
    while cut.len() > room {
        cut.pop();
    }
    format!("{cut}{ext}")
}

/// `report.final.pdf` → (`report.final`, `.pdf`); no extension → (name, "").
pub(crate) fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 => name.split_at(i),
        _ => (name, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_back_and_bad_ones_are_refused() {
        for m in [
            FileMessage::Offer {
                name: "a.pdf".into(),
                size: 7,
            },
            FileMessage::Accept,
            FileMessage::Decline,
            FileMessage::Done {
                sha256: "ab".repeat(32),
            },
            FileMessage::Received,
            FileMessage::Cancel,
        ] {
            assert_eq!(FileMessage::parse(m.to_text().as_bytes()), Ok(m));
        }
        assert_eq!(
            FileMessage::Offer {
                name: "a".into(),
                size: 1
            }
            .to_text(),
            r#"{"type":"offer","name":"a","size":1}"#
        );
        assert_eq!(
            FileMessage::parse(br#"{"type":"done","sha256":"AB"}"#),
            Err(WireError::BadHash)
        );
        assert!(matches!(
            FileMessage::parse(br#"{"type":"offer","name":"a","size":-1}"#),
            Err(WireError::Unreadable(_))
        ));
        let long = format!(
            r#"{{"type":"offer","name":"{}","size":1}}"#,
            "a".repeat(5000)
        );
        assert!(matches!(
            FileMessage::parse(long.as_bytes()),
            Err(WireError::TooLong(_))
        ));
        let failed = format!(
            r#"{{"type":"failed","reason":"\u202e{}"}}"#,
            "x".repeat(500)
        );
        assert_eq!(
            FileMessage::parse(failed.as_bytes()),
            Ok(FileMessage::Failed {
                reason: "x".repeat(200)
            })
        );
    }

    #[test]
    fn hostile_names_become_plain_ones_in_the_chosen_folder() {
        assert_eq!(safe_file_name("report.pdf"), "report.pdf");
        assert_eq!(safe_file_name("../../.bashrc"), "bashrc");
        assert_eq!(safe_file_name("C:\\Windows\\evil.exe"), "evil.exe");
        assert_eq!(safe_file_name("/etc/passwd"), "passwd");
        assert_eq!(safe_file_name(".."), "file");
        assert_eq!(safe_file_name(""), "file");
        assert_eq!(safe_file_name("a\u{202e}fdp.exe"), "afdp.exe");
        assert_eq!(safe_file_name("we?ird:na*me.txt"), "we_ird_na_me.txt");
        assert_eq!(safe_file_name("CON.txt"), "_CON.txt");
        assert_eq!(safe_file_name("com1"), "_com1");
        assert_eq!(safe_file_name("notes. . "), "notes");
        let long = format!("{}.tar", "é".repeat(300));
        let safe = safe_file_name(&long);
        assert!(safe.len() <= MAX_NAME_BYTES, "{}", safe.len());
        assert!(safe.ends_with("é.tar"));
    }
}
