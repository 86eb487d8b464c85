//! Errors the window shows: each has a `kind` the page turns into what to do next (and a
//! retry), and a message in words a person can act on.

use serde::Serialize;
use tincan_call::CallError;
use tincan_media::MediaError;
use tincan_protocol::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    ServerUnreachable(String),
    #[error("no room has the code {0}; check it with the person who shared it")]
    RoomNotFound(String),
    #[error("no call with the code {0} on your network: check the code, and that the other person's Tincan lets people on the network join (their Settings → Signaling server)")]
    NotOnNetwork(String),
    #[error("that room is full")]
    RoomFull,
    #[error("{0}")]
    Camera(String),
    #[error("{0}")]
    Microphone(String),
    #[error("{0}")]
    Speaker(String),
    #[error("settings: {0}")]
    Settings(String),
    #[error("not in a call")]
    NotInCall,
    #[error("already in a call; leave it first")]
    AlreadyInCall,
    #[error("{0}")]
    Call(String),
    /// Contacts and rings.
    #[error("{0}")]
    People(String),
    /// Sending, receiving or saving a file.
    #[error("{0}")]
    File(String),
    /// Listing or sharing a screen or window.
    #[error("{0}")]
    Screen(String),
    /// Starting, writing or finishing a recording.
    #[error("{0}")]
    Recording(String),
}

impl AppError {
    /// A stable word for the page: it picks the advice and the retry by it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ServerUnreachable(_) => "server-unreachable",
            Self::RoomNotFound(_) => "room-not-found",
            Self::NotOnNetwork(_) => "not-on-network",
            Self::RoomFull => "room-full",
            Self::Camera(_) => "camera",
            Self::Microphone(_) => "microphone",
            Self::Speaker(_) => "speaker",
            Self::Settings(_) => "settings",
            Self::NotInCall => "not-in-call",
            Self::AlreadyInCall => "already-in-call",
            Self::Call(_) => "call",
            Self::People(_) => "people",
            Self::File(_) => "file",
            Self::Screen(_) => "screen",
            Self::Recording(_) => "recording",
        }
    }

    /// What went wrong joining `room` (None: creating one).
    pub fn joining(e: CallError, room: Option<&str>) -> Self {
        if e.is_unreachable() {
            return Self::ServerUnreachable(e.to_string());
        }
        match e.refusal() {
            Some(ErrorCode::RoomNotFound) => {
                return Self::RoomNotFound(room.unwrap_or_default().to_owned())
            }
            Some(ErrorCode::RoomFull) => return Self::RoomFull,
            _ => {}
        }
        match e {
            CallError::Media(m) => Self::from(m),
            other => Self::Call(other.to_string()),
        }
    }
}

impl From<MediaError> for AppError {
    fn from(e: MediaError) -> Self {
        let message = e.to_string();
        match e {
            MediaError::NoCamera
            | MediaError::CameraNotFound(_)
            | MediaError::CameraUnavailable(_) => Self::Camera(message),
            MediaError::NoMicrophone => Self::Microphone(message),
            MediaError::NoSpeaker => Self::Speaker(message),
            MediaError::AudioDeviceNotFound(_) | MediaError::AudioDevice(_) => {
                Self::Microphone(message)
            }
            _ => Self::Call(message),
        }
    }
}

impl From<CallError> for AppError {
    fn from(e: CallError) -> Self {
        Self::joining(e, None)
    }
}

impl Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("AppError", 2)?;
        s.serialize_field("kind", self.kind())?;
        s.serialize_field("message", &self.to_string())?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_errors_keep_their_kind_and_words() {
        let e = AppError::joining(CallError::Media(MediaError::NoCamera), Some("abc"));
        assert_eq!(e.kind(), "camera");
        assert!(e.to_string().contains("join with the camera off"), "{e}");
        let e = AppError::from(MediaError::NoMicrophone);
        assert_eq!(e.kind(), "microphone");
        let e = AppError::joining(CallError::Ended, None);
        assert_eq!(e.kind(), "call");
    }

    #[test]
    fn the_page_gets_a_kind_and_a_message() {
        let json = serde_json::to_value(AppError::RoomNotFound("k7wq-2m9x-d4tp".into())).unwrap();
        assert_eq!(json["kind"], "room-not-found");
        assert_eq!(
            json["message"],
            "no room has the code k7wq-2m9x-d4tp; check it with the person who shared it"
        );
    }
}
