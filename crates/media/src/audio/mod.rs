//! Audio sources and sinks. Inside the engine audio is 48 kHz mono in 20 ms frames
//! ([`crate::AudioFrame`]); devices and files are converted at the edge.

pub mod analysis;
mod cpal_device;
pub mod echo_check;
mod null;
pub mod processing;
pub mod pulse_cookie;
mod realtime;
mod resample;
mod tone;
mod wav;

pub use cpal_device::{
    list_microphones, list_speakers, AudioDeviceInfo, MicrophoneSource, SpeakerSink,
};
pub use null::NullSink;
pub use processing::{AudioProcessor, ProcessingSettings, ProcessingStats};
pub use resample::Resampler;
pub use tone::ToneSource;
pub use wav::{WavSink, WavSource};

use crate::{AudioFrame, MediaError};

/// Anything that produces audio. `read` returns the next 20 ms, blocking for a microphone
/// until it has them; synthetic and file sources return at once (the caller paces them).
/// `None` means the source has ended.
pub trait AudioSource: Send {
    fn read(&mut self) -> Result<Option<AudioFrame>, MediaError>;
}

/// Anything that consumes audio. A speaker blocks when it has enough queued, which paces a
/// caller that writes as fast as it can.
pub trait AudioSink: Send {
    fn write(&mut self, frame: &AudioFrame) -> Result<(), MediaError>;
}

/// Splits a stream of samples into 20 ms frames.
#[derive(Debug, Default)]
pub(crate) struct Framer {
    pending: std::collections::VecDeque<f32>,
}

impl Framer {
    pub fn push(&mut self, samples: &[f32]) {
        self.pending.extend(samples);
    }

    pub fn pop(&mut self, capture_us: u64) -> Option<AudioFrame> {
        if self.pending.len() < crate::FRAME_SAMPLES {
            return None;
        }
        let samples = self
            .pending
            .drain(..crate::FRAME_SAMPLES)
            .map(to_i16)
            .collect();
        Some(AudioFrame {
            samples,
            capture_us,
        })
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }
}

pub(crate) fn to_i16(sample: f32) -> i16 {
    (sample.clamp(-1.0, 1.0) * 32767.0).round() as i16
}

pub(crate) fn to_f32(sample: i16) -> f32 {
    f32::from(sample) / 32768.0
}
