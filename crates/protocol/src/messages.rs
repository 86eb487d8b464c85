//! The messages of protocol v1. Each is one JSON object with a `type` field.

use serde::{Deserialize, Serialize};

use crate::{Commitment, ErrorCode, PersonalCode, Proof, PublicKey, RoomCode};

/// The longest display name the server accepts, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Characters a display name may not hold because they are invisible yet change what is
/// shown: bidirectional overrides and isolates (which can make "Ada" display as someone
/// else's name), zero-width spaces and joiners of words, invisible operators, the byte order
/// mark and tag characters. The zero-width joiner and non-joiner stay allowed: emoji
/// sequences and Persian and Indic scripts need them.
pub fn is_hidden_formatting(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

/// A peer's id within the server: opaque, unique while the server runs, and ordered (perfect
/// negotiation picks the polite peer by comparing ids).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PeerId(pub String);

impl std::fmt::Display for PeerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A peer as the others in its room see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    pub id: PeerId,
    pub name: String,
}

/// A STUN or TURN server, shaped like the W3C `RTCIceServer` dictionary so a browser can use
/// it as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// An ICE candidate, shaped like the W3C `RTCIceCandidateInit` dictionary (hence camelCase),
/// so a browser can send `candidate.toJSON()` unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceCandidate {
    pub candidate: String,
    #[serde(rename = "sdpMid", default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    #[serde(
        rename = "sdpMLineIndex",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sdp_mline_index: Option<u16>,
    #[serde(
        rename = "usernameFragment",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub username_fragment: Option<String>,
}

/// What one peer sends another through the server. The server checks its shape and relays it;
/// it never looks inside the SDP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Signal {
    Offer {
        sdp: String,
    },
    Answer {
        sdp: String,
    },
    Candidate {
        candidate: IceCandidate,
    },
    /// The sender has gathered all its candidates.
    EndOfCandidates,
    /// How the sender processes its microphone, sent when the call to this peer starts and
    /// whenever it changes (so the far end can show, and tests can see, what it is getting).
    AudioProcessing(AudioProcessing),
    /// Whether the sender shares its screen, sent when the call to this peer starts and
    /// whenever it changes. The share travels on the connection's second video m-section
    /// (docs/protocol.md, "Screen sharing"); this says when to show it and when it is over.
    Sharing {
        on: bool,
    },
    /// Whether the sender records the call (what this peer sends it included), sent when the
    /// call to this peer starts and whenever it changes, so everyone can see it
    /// (docs/protocol.md, "Recording").
    Recording {
        on: bool,
    },
    /// The size (device pixels) the sender shows the receiver's camera at, `0x0` for not at
    /// all; sent when it changes (at most a few times a second) and when a connection
    /// starts. The receiver sends less to a small tile (docs/protocol.md, "Video wanted").
    VideoWanted {
        width: u32,
        height: u32,
    },
    /// The sender's commitment to its certificate fingerprints, sent before any offer or
    /// answer (docs/calls.md, "The security code"). With `reply`, the receiver sends its own
    /// back (without `reply`), so a peer that started over gets it again.
    Commit {
        hash: Commitment,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        reply: bool,
    },
}

/// Which of WebRTC's microphone processing stages are on: echo cancellation, noise
/// suppression and automatic gain (a high-pass filter runs whenever any is). The same shape
/// is the engine's setting, so what a peer is told is what it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AudioProcessing {
    pub echo_cancellation: bool,
    pub noise_suppression: bool,
    pub auto_gain: bool,
}

impl AudioProcessing {
    /// Everything on: what a person talking into a laptop needs.
    pub const ON: Self = Self {
        echo_cancellation: true,
        noise_suppression: true,
        auto_gain: true,
    };
    /// The microphone as it is (test tones, music, a bot).
    pub const OFF: Self = Self {
        echo_cancellation: false,
        noise_suppression: false,
        auto_gain: false,
    };

    /// Whether any stage runs.
    pub fn any(&self) -> bool {
        self.echo_cancellation || self.noise_suppression || self.auto_gain
    }
}

impl Default for AudioProcessing {
    fn default() -> Self {
        Self::ON
    }
}

/// A ring's id, made by the server: opaque, unique while it runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RingId(pub String);

impl std::fmt::Display for RingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the person rung says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RingAnswer {
    /// They take the call: they join the ring's room next.
    Accept,
    Decline,
    /// Already in a call (an app answers this by itself).
    Busy,
}

/// How a ring ended; each side of it is told once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RingEnd {
    Accepted,
    Declined,
    Busy,
    /// Nobody answered within the server's ring timeout (30 s by default).
    NoAnswer,
    /// The caller hung up first (`cancel_ring`, or it left its room).
    Cancelled,
    /// Another of the callee's devices answered it.
    AnsweredElsewhere,
    /// The other side's connection to the server ended.
    Gone,
    /// A reason from a newer server.
    #[serde(other)]
    Other,
}

impl RingEnd {
    /// The answer as the caller's side sees the ring end.
    pub fn of(answer: RingAnswer) -> Self {
        match answer {
            RingAnswer::Accept => Self::Accepted,
            RingAnswer::Decline => Self::Declined,
            RingAnswer::Busy => Self::Busy,
        }
    }
}

/// Why a peer is no longer in the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// It sent `leave`.
    Left,
    /// Its connection dropped and it did not come back within the reconnect grace.
    Disconnected,
    /// It sent nothing for longer than the idle timeout.
    Timeout,
    /// A reason from a newer server.
    #[serde(other)]
    Other,
}

/// Client to server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// First message on every connection.
    Hello {
        version: u32,
        /// Free text naming the client, for the server's logs (`tincan-cli/0.1.0`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<String>,
    },
    /// Ask the server for a new room. The reply is `room_created`; the sender is not in it
    /// until it joins.
    CreateRoom,
    /// Enter a room by its code.
    Join {
        /// As typed by a person: any case, with or without dashes.
        room: String,
        name: String,
        /// The `resume_token` of an earlier `joined`, to take back the same place (same peer
        /// id, no `peer_left` for the others) after a dropped connection, or, when the server
        /// restarted and forgot the room, to re-create it under the same code with the same id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<String>,
    },
    /// Relay a signal to one peer in the same room.
    Signal { to: PeerId, signal: Signal },
    /// Leave the room; the connection stays open for another join.
    Leave,
    /// Ask for fresh ICE servers (new TURN credentials) for a call that outlasts the ones
    /// `joined` gave. The reply is `ice_servers`.
    RefreshIce,
    /// Keepalive; answered with `pong` carrying the same nonce.
    Ping {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<u64>,
    },
    /// Be reachable by the personal code of `key`: `proof` signs the server as dialled and
    /// the `welcome`'s nonce ([`crate::registration_text`]). The reply is `registered`.
    Register { key: PublicKey, proof: Proof },
    /// Ring a person by their personal code, to join `room` (which must exist). Needs
    /// `register` first: the callee is shown the caller's code. The reply is `ring_sent`.
    Ring {
        to: PersonalCode,
        name: String,
        room: RoomCode,
    },
    /// The callee's answer to `ringing`; both sides then get `ring_ended`.
    AnswerRing { ring: RingId, answer: RingAnswer },
    /// The caller hangs up before an answer; both sides get `ring_ended` (`cancelled`).
    CancelRing { ring: RingId },
    /// Tell me whether these people are reachable here: `presence` for each now, and again
    /// whenever it changes. Replaces the list sent before (at most 256 codes).
    Watch { codes: Vec<PersonalCode> },
}

impl ClientMessage {
    /// The wire name of the message's type, as errors name the request they answer.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Hello { .. } => "hello",
            Self::CreateRoom => "create_room",
            Self::Join { .. } => "join",
            Self::Signal { .. } => "signal",
            Self::Leave => "leave",
            Self::RefreshIce => "refresh_ice",
            Self::Ping { .. } => "ping",
            Self::Register { .. } => "register",
            Self::Ring { .. } => "ring",
            Self::AnswerRing { .. } => "answer_ring",
            Self::CancelRing { .. } => "cancel_ring",
            Self::Watch { .. } => "watch",
        }
    }

    /// Every type name a v1 client may send.
    pub const TYPE_NAMES: [&'static str; 12] = [
        "hello",
        "create_room",
        "join",
        "signal",
        "leave",
        "refresh_ice",
        "ping",
        "register",
        "ring",
        "answer_ring",
        "cancel_ring",
        "watch",
    ];
}

/// Server to client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The answer to `hello`.
    Welcome {
        version: u32,
        /// Free text naming the server build.
        server: String,
        /// Send something (a `ping` will do) at least this often.
        heartbeat_ms: u64,
        /// A connection silent for this long is closed.
        idle_timeout_ms: u64,
        /// Larger messages are refused with `too_large`.
        max_message_bytes: usize,
        /// What this server does beyond rooms: `"ring"` (personal codes, ringing and
        /// presence). Absent from servers older than the feature.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        features: Vec<String>,
        /// Signed by `register`, so a proof is good on this connection only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<String>,
    },
    /// The answer to `create_room`.
    RoomCreated {
        room: RoomCode,
    },
    /// The answer to `join`.
    Joined {
        room: RoomCode,
        peer_id: PeerId,
        /// Everyone already in the room.
        peers: Vec<PeerInfo>,
        ice_servers: Vec<IceServer>,
        /// Secret for taking back this place after a dropped connection or a server restart.
        resume_token: String,
        /// True when `resume` was honoured and this is the same place (the same peer id) as
        /// before; the room may have been re-created after a server restart.
        resumed: bool,
        /// Most peers the room holds.
        capacity: usize,
    },
    PeerJoined {
        peer: PeerInfo,
    },
    PeerLeft {
        peer_id: PeerId,
        reason: LeaveReason,
    },
    /// A peer's connection to the server dropped without `leave`: it keeps its place for
    /// the reconnect grace, and signals to it are held. If its media has stopped too, it has
    /// most likely crashed or lost its network; `peer_left` follows when the grace ends, and
    /// `peer_joined` (with the same id) if it comes back.
    PeerAway {
        peer_id: PeerId,
    },
    /// A signal relayed from another peer in the room.
    Signal {
        from: PeerId,
        signal: Signal,
    },
    /// The answer to `leave`.
    Left,
    /// The answer to `refresh_ice`: the same servers as `joined` gave, with fresh credentials.
    IceServers {
        ice_servers: Vec<IceServer>,
    },
    Pong {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<u64>,
    },
    /// The answer to `register`: rings to `code` reach this connection from now on.
    Registered {
        code: PersonalCode,
    },
    /// The answer to `ring`: the callee is reachable and its devices are ringing.
    RingSent {
        ring: RingId,
        to: PersonalCode,
    },
    /// Someone rings this connection's personal code: answer with `answer_ring`, and on
    /// accepting, join `room`. `from` is the caller's registered code (the server checked
    /// its key); `name` is what the caller calls itself.
    Ringing {
        ring: RingId,
        from: PersonalCode,
        name: String,
        room: RoomCode,
    },
    /// A ring is over, and why; no more messages about it follow.
    RingEnded {
        ring: RingId,
        reason: RingEnd,
    },
    /// Whether a watched person is reachable on this server now.
    Presence {
        code: PersonalCode,
        online: bool,
    },
    Error {
        code: ErrorCode,
        /// For a person: what happened and what to do.
        message: String,
        /// The type of the message that caused the error, when there was one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request: Option<String>,
    },
}

impl ServerMessage {
    /// Serialises the message. Serialising these types cannot fail (no maps with non-string
    /// keys, no custom serialisers that error), so this returns the text directly.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            // Unreachable for these types; keep the connection alive with an error anyway.
            format!(r#"{{"type":"error","code":"internal","message":"encode failed: {e}"}}"#)
        })
    }

    /// Every type name a v1 server may send.
    pub const TYPE_NAMES: [&'static str; 16] = [
        "welcome",
        "room_created",
        "joined",
        "peer_joined",
        "peer_left",
        "peer_away",
        "signal",
        "left",
        "ice_servers",
        "pong",
        "registered",
        "ring_sent",
        "ringing",
        "ring_ended",
        "presence",
        "error",
    ];
}

impl ClientMessage {
    /// Serialises the message (infallible for these types, see [`ServerMessage::to_json`]).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
