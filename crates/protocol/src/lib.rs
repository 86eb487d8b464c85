//! The Tincan signaling protocol, version 1.
//!
//! Peers find each other through `tincan-server` over a WebSocket carrying one JSON object per
//! text frame. This crate owns the message types ([`ClientMessage`], [`ServerMessage`]), the
//! room codes people read aloud ([`RoomCode`]), and the decoder that tells a malformed message
//! from one of a type this version does not know ([`decode_client`], [`decode_server`]).
//!
//! The wire format is documented, with a complete example exchange, in `docs/protocol.md`.
//! It depends on nothing else in the workspace, so the server, the call engine and any bot can
//! share it.

mod code;
mod decode;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod lan;
mod messages;
mod personal;
mod security;

pub use code::{RoomCode, RoomCodeError, ROOM_CODE_BITS};
pub use decode::{decode_client, decode_server, DecodeError};
pub use error::ErrorCode;
pub use messages::{
    is_hidden_formatting, AudioProcessing, ClientMessage, IceCandidate, IceServer, LeaveReason,
    PeerId, PeerInfo, RingAnswer, RingEnd, RingId, ServerMessage, Signal, MAX_NAME_CHARS,
};
pub use personal::{
    canonical_host, registration_text, KeyError, PersonalCode, PersonalCodeError, PersonalKey,
    Proof, ProofError, PublicKey, PERSONAL_CODE_BITS,
};
pub use security::{
    fingerprints, security_code, BadCommitment, Commitment, Side, SECURITY_CODE_DIGITS,
};

/// The desktop app's page, as Tauri serves it (Linux and macOS, then Windows): the `Origin`
/// its requests carry, which the signaling server and the app's frame socket accept.
pub const APP_ORIGINS: [&str; 3] = [
    "tauri://localhost",
    "http://tauri.localhost",
    "https://tauri.localhost",
];

/// The feature a server names in `welcome.features` when it takes `register`, `ring`,
/// `answer_ring`, `cancel_ring` and `watch` (docs/protocol.md, "Ringing people").
pub const FEATURE_RING: &str = "ring";

/// The protocol version this crate speaks. A client says it in `hello`; a server that cannot
/// speak it answers `unsupported_version`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes behind hex digits (either case), or None when `text` is not an even number of
/// them.
pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}
