use tincan_protocol::ErrorCode;

/// What went wrong talking to the signaling server. Messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum SignalingError {
    #[error("'{url}' is not a server address: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot reach the server at {url}: {reason}. Check the address and that the server is running")]
    Unreachable { url: String, reason: String },
    #[error(
        "the server at {url} did not finish the handshake in {seconds} s; is it a Tincan server?"
    )]
    HandshakeTimeout { url: String, seconds: u64 },
    /// The server refused a request; `code` is stable, `message` is for people.
    #[error("{message}")]
    Refused { code: ErrorCode, message: String },
    #[error("the server sent something this app cannot read: {0}")]
    Protocol(String),
    #[error("the server did not answer within {seconds} s; try again")]
    NoAnswer { seconds: u64 },
    #[error("the connection to the server dropped before it answered; try again")]
    ConnectionLost,
    #[error("the signaling connection is closed")]
    Closed,
    #[error("cannot set up TLS: {0}")]
    Tls(String),
}

impl SignalingError {
    /// The server's error code, when the server refused.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }
}
