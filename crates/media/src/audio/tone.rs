//! A sine tone, or a sweep between two frequencies: a stand-in microphone whose frequency a
//! receiver can check.

use std::f64::consts::TAU;

use super::AudioSource;
use crate::{now_us, AudioFrame, MediaError, FRAME_SAMPLES, SAMPLE_RATE};

pub struct ToneSource {
    from_hz: f64,
    to_hz: f64,
    /// Seconds for one sweep from `from_hz` to `to_hz` (a tone when they are equal).
    sweep_secs: f64,
    amplitude: f64,
    phase: f64,
    samples: u64,
}

impl ToneSource {
    /// A steady tone at `hz`, at half of full scale.
    pub fn tone(hz: f64) -> Self {
        Self::sweep(hz, hz, 1.0)
    }

    /// A linear sweep from `from_hz` to `to_hz` over `secs`, repeating.
    pub fn sweep(from_hz: f64, to_hz: f64, secs: f64) -> Self {
        Self {
            from_hz,
            to_hz,
            sweep_secs: secs.max(0.02),
            amplitude: 0.5,
            phase: 0.0,
            samples: 0,
        }
    }
}

impl AudioSource for ToneSource {
    fn read(&mut self) -> Result<Option<AudioFrame>, MediaError> {
        let rate = f64::from(SAMPLE_RATE);
        let mut samples = Vec::with_capacity(FRAME_SAMPLES);
        for _ in 0..FRAME_SAMPLES {
            let t = (self.samples as f64 / rate) % self.sweep_secs;
            let hz = self.from_hz + (self.to_hz - self.from_hz) * t / self.sweep_secs;
            self.phase = (self.phase + TAU * hz / rate) % TAU;
            samples.push((self.phase.sin() * self.amplitude * 32767.0).round() as i16);
            self.samples += 1;
        }
        Ok(Some(AudioFrame {
            samples,
            capture_us: now_us(),
        }))
    }
}
