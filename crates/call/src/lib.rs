//! Tincan's call engine: join a room through the signaling server, keep one webrtc-rs peer
//! connection per remote peer (a mesh), send the local camera/pattern and microphone/tone as
//! VP8 and Opus, and hand back every remote peer's decoded video and audio, chat and stats.
//!
//! [`Call::join`] returns a [`Call`] handle and a stream of [`CallEvent`]s (the shape of
//! livekit's `connect()`): the app draws what arrives and calls the handle's controls.

mod adapt;
mod audio_jitter;
mod call;
mod chat;
mod congestion;
mod counters;
mod engine;
mod error;
mod events;
mod files;
#[doc(hidden)]
pub mod fuzzing;
mod ice_renewal;
mod identity;
mod inbound_rtcp;
mod media;
mod negotiation;
mod options;
mod peer;
mod playout;
mod queue_guard;
mod receive;
mod recording;
mod retransmit_budget;
mod roster;
mod runtime;
mod send;
mod sequence;
mod session;
mod stats;
mod wanted;

pub use call::Call;
pub use chat::MAX_CHAT_BYTES;
pub use error::CallError;
pub use events::{CallEvent, CallFeeds, LostInput, MediaFrame, PeerStats};
pub use files::{FileEvent, StoppedBy, TransferId};
pub use identity::Identity;
pub use options::{AudioInput, CallOptions, RoomChoice, VideoInput};
pub use peer::{live_peer_connections, peer_connection_handlers_alive};
pub use playout::AudioOutput;
pub use tincan_media::audio::ProcessingStats;
pub use tincan_protocol::AudioProcessing;

/// Opening the inputs a call would use, for an app's preview before joining.
pub mod sources {
    pub use crate::media::{open_audio, open_video, pace, Audio, Video};
}
