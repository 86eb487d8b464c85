use tincan_protocol::ErrorCode;
use tincan_signaling::SignalingError;

/// Why a call could not start or went wrong. The messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error(transparent)]
    Signaling(#[from] SignalingError),
    #[error("media: {0}")]
    Media(#[from] tincan_media::MediaError),
    #[error("the connection to a peer failed: {0}")]
    WebRtc(String),
    #[error("the call has ended")]
    Ended,
    #[error(
        "\"hide my IP address\" needs a TURN relay, and the server at {server} offers none: turn it off, or use a server set up with TURN (docs/deploy.md)"
    )]
    NoRelay { server: String },
    #[error(
        "too many chat messages are waiting for the connection to {to}; try again when it is up"
    )]
    ChatQueueFull { to: String },
    #[error("a chat message can be at most {max} bytes long; this one is {bytes}: split it")]
    ChatTooLong { bytes: usize, max: usize },
    #[error("cannot send {path}: {reason}")]
    FileUnreadable { path: String, reason: String },
    #[error("cannot record into {path}: {reason}; pick another folder")]
    RecordingFolder { path: String, reason: String },
    #[error("nobody is connected to send the file to yet")]
    NobodyToSendTo,
    #[error("{peer} is not in the call")]
    NoSuchPeer { peer: String },
    #[error("no file transfer {id} is under way (it has ended, or never was)")]
    NoSuchTransfer { id: u64 },
}

impl CallError {
    /// The signaling server's refusal, if that is what this is (room_not_found, room_full...).
    pub fn refusal(&self) -> Option<ErrorCode> {
        match self {
            Self::Signaling(e) => e.code(),
            _ => None,
        }
    }

    /// True when the server could not be reached at all.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Self::Signaling(
                SignalingError::Unreachable { .. }
                    | SignalingError::HandshakeTimeout { .. }
                    | SignalingError::BadUrl { .. }
            )
        )
    }
}

pub(crate) fn webrtc(e: impl std::fmt::Display) -> CallError {
    CallError::WebRtc(e.to_string())
}
