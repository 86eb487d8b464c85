//! Tincan's media engine: frames, devices, sources and sinks, and the VP8 and Opus codecs.
//!
//! Everything here is independent of WebRTC and of the app: the call engine moves
//! [`VideoFrame`]s and [`AudioFrame`]s between sources, codecs and sinks.
//!
//! - [`video`]: camera (nokhwa), the stamped test pattern, y4m files; format conversion.
//! - [`audio`]: microphone and speaker (cpal), tone, wav, null; resampling to 48 kHz mono.
//! - [`codec`]: VP8 over libvpx (keyframes on demand, live bitrate), Opus (FEC, concealment).
//! - [`sync_clip`]: a flash and a beep on every whole second, to measure lip sync.
//! - [`devices`]: what cameras, microphones and speakers exist, and when that changes.

pub mod audio;
pub mod codec;
pub mod devices;
mod error;
mod frame;
#[doc(hidden)]
pub mod fuzzing;
pub mod sync_clip;
pub mod video;

pub use error::MediaError;
pub use frame::{now_us, AudioFrame, VideoFrame, FRAME_SAMPLES, SAMPLE_RATE};
