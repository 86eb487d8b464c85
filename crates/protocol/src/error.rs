//! Machine-readable error codes. They are stable: clients branch on them, people read the
//! `message` that comes beside them.

use serde::{Deserialize, Serialize};

/// Why the server refused or could not carry out a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// `hello` named a protocol version this server does not speak.
    UnsupportedVersion,
    /// A message other than `hello` came before the handshake.
    HandshakeRequired,
    /// Not JSON, not an object, or a known type with missing or wrong fields.
    BadMessage,
    /// A `type` this protocol version does not know.
    UnknownType,
    /// The message is larger than the server's limit.
    TooLarge,
    /// Too many messages, or too many join attempts from one address.
    RateLimited,
    /// The room code is not a well-formed code.
    InvalidRoomCode,
    /// No room has that code (it never existed, or it ended).
    RoomNotFound,
    /// The room is at capacity.
    RoomFull,
    /// The message needs the sender to be in a room first.
    NotInRoom,
    /// `join` or `create_room` while already in a room.
    AlreadyInRoom,
    /// A signal was addressed to a peer that is not in the sender's room.
    PeerNotFound,
    /// The server is at its connection limit.
    ServerFull,
    /// Something went wrong inside the server.
    Internal,
    /// `register` with a proof that the key did not sign for this connection.
    BadProof,
    /// `ring` before `register`: the callee must be shown who rings.
    NotRegistered,
    /// `ring` to a personal code nobody has registered on this server now.
    Offline,
    /// `answer_ring` or `cancel_ring` for a ring that is over or was never yours.
    RingNotFound,
    /// The server cannot do it now (its room store, Redis, is unreachable): retry soon.
    Unavailable,
    /// A code from a newer server that this build does not know.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code as it appears on the wire, e.g. `room_full`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnsupportedVersion => "unsupported_version",
            Self::HandshakeRequired => "handshake_required",
            Self::BadMessage => "bad_message",
            Self::UnknownType => "unknown_type",
            Self::TooLarge => "too_large",
            Self::RateLimited => "rate_limited",
            Self::InvalidRoomCode => "invalid_room_code",
            Self::RoomNotFound => "room_not_found",
            Self::RoomFull => "room_full",
            Self::NotInRoom => "not_in_room",
            Self::AlreadyInRoom => "already_in_room",
            Self::PeerNotFound => "peer_not_found",
            Self::ServerFull => "server_full",
            Self::Internal => "internal",
            Self::BadProof => "bad_proof",
            Self::NotRegistered => "not_registered",
            Self::Offline => "offline",
            Self::RingNotFound => "ring_not_found",
            Self::Unavailable => "unavailable",
            Self::Unknown => "unknown",
        }
    }

    /// Every code, for metrics and documentation.
    pub const ALL: [ErrorCode; 20] = [
        Self::UnsupportedVersion,
        Self::HandshakeRequired,
        Self::BadMessage,
        Self::UnknownType,
        Self::TooLarge,
        Self::RateLimited,
        Self::InvalidRoomCode,
        Self::RoomNotFound,
        Self::RoomFull,
        Self::NotInRoom,
        Self::AlreadyInRoom,
        Self::PeerNotFound,
        Self::ServerFull,
        Self::Internal,
        Self::BadProof,
        Self::NotRegistered,
        Self::Offline,
        Self::RingNotFound,
        Self::Unavailable,
        Self::Unknown,
    ];
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_as_str() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn an_unknown_code_from_a_newer_server_still_decodes() {
        let code: ErrorCode = serde_json::from_str("\"quota_exceeded\"").unwrap();
        assert_eq!(code, ErrorCode::Unknown);
    }
}
