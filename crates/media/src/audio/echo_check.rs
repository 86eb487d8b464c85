//! "Test speaker and microphone": a short sound through the speaker, recorded by the
//! microphone, says whether the microphone hears the speaker (so the others would hear
//! themselves) and how much of that the echo canceller removes.
//!
//! [`EchoCheck`] decides from frames handed to it (no devices, no clock of its own);
//! [`check_devices`] plays and records on real devices and hands it the frames.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{
    AudioProcessor, AudioSink, AudioSource, MicrophoneSource, ProcessingSettings, SpeakerSink,
};
use crate::{AudioFrame, MediaError, FRAME_SAMPLES, SAMPLE_RATE};

/// The test sound: bursts of noise shaped like syllables, 2.6 s, at about −20 dBFS.
const SIGNAL_FRAMES: usize = 130;
/// Recorded after the sound ends, for a late echo.
const TAIL_FRAMES: usize = 25;
/// Correlation is computed at 12 kHz (blocks of 4 samples averaged): where the test sound's
/// energy is, and a quarter of the work.
const DECIMATE: usize = 4;
/// Echoes are looked for up to this late.
const MAX_LAG_MS: usize = 500;
/// A normalised correlation above this means the microphone hears the speaker.
const HEARD: f64 = 0.25;

/// What the check found.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EchoCheckResult {
    /// Whether the microphone hears the speaker.
    pub hears_speaker: bool,
    /// How loud the speaker arrives at the microphone, dBFS (when it does).
    pub echo_dbfs: Option<f64>,
    /// How late, ms.
    pub delay_ms: Option<u32>,
    /// How much of it the echo canceller removes over the last second, dB (capped at 60).
    pub removed_db: Option<f64>,
}

impl EchoCheckResult {
    /// One sentence for the person who pressed the button.
    pub fn summary(&self) -> String {
        match (self.hears_speaker, self.removed_db) {
            (false, _) => "Your microphone does not hear your speaker: nobody will hear \
                           themselves (headphones, or a speaker far enough away)."
                .to_owned(),
            (true, Some(removed)) if removed >= 20.0 => format!(
                "Your microphone hears your speaker; echo cancellation removes {removed:.0} dB \
                 of it, so the others will not hear themselves."
            ),
            (true, removed) => format!(
                "Your microphone hears your speaker and echo cancellation removes only {:.0} dB: \
                 the others may hear themselves. Use headphones or turn the speaker down.",
                removed.unwrap_or(0.0)
            ),
        }
    }
}

/// The check's state: what was played, captured, and captured after echo cancellation.
pub struct EchoCheck {
    processor: AudioProcessor,
    played: Vec<i16>,
    captured: Vec<i16>,
    processed: Vec<i16>,
}

impl Default for EchoCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl EchoCheck {
    pub fn new() -> Self {
        Self {
            processor: AudioProcessor::new(ProcessingSettings {
                echo_cancellation: true,
                ..ProcessingSettings::OFF
            }),
            played: Vec::new(),
            captured: Vec::new(),
            processed: Vec::new(),
        }
    }

    /// The frames to play: the sound, then silence for the tail.
    pub fn signal() -> Vec<AudioFrame> {
        let mut state = 0x5eed_u32;
        let mut low = 0.0f32;
        (0..SIGNAL_FRAMES + TAIL_FRAMES)
            .map(|n| {
                let samples = (0..FRAME_SAMPLES)
                    .map(|i| {
                        let t = n * FRAME_SAMPLES + i;
                        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        let white = (state >> 16) as f32 / 32768.0 - 1.0;
                        // Low-passed, so most of it is below the 6 kHz the check looks at.
                        low += 0.15 * (white - low);
                        // 160 ms on, 80 ms off, like syllables; nothing in the tail.
                        let on = n < SIGNAL_FRAMES && (t / 3840) % 3 != 2;
                        if on {
                            (low * 25_000.0) as i16
                        } else {
                            0
                        }
                    })
                    .collect();
                AudioFrame {
                    samples,
                    capture_us: 0,
                }
            })
            .collect()
    }

    /// One frame handed to the speaker (with what it held before) and one captured.
    pub fn step(&mut self, played: &AudioFrame, queued: Duration, captured: &AudioFrame) {
        let _ = self.processor.far_end(played, queued);
        let mut processed = captured.clone();
        if self.processor.near_end(&mut processed).is_err() {
            processed = captured.clone();
        }
        self.played.extend_from_slice(&played.samples);
        self.captured.extend_from_slice(&captured.samples);
        self.processed.extend_from_slice(&processed.samples);
    }

    pub fn result(&self) -> EchoCheckResult {
        let played = decimate(&self.played);
        let captured = decimate(&self.captured);
        let max_lag = MAX_LAG_MS * SAMPLE_RATE as usize / 1000 / DECIMATE;
        let found = best_lag(&played, &captured, max_lag).filter(|&(_, c, _)| c >= HEARD);
        let Some((lag, _, gain)) = found else {
            return EchoCheckResult {
                hears_speaker: false,
                echo_dbfs: None,
                delay_ms: None,
                removed_db: None,
            };
        };
        let level = |x: &[f32]| {
            let p = x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / x.len().max(1) as f64;
            10.0 * p.max(1e-12).log10()
        };
        // The echo's share of the last second of the sound, before and after cancelling.
        let second = SAMPLE_RATE as usize / DECIMATE;
        let end = (SIGNAL_FRAMES * FRAME_SAMPLES / DECIMATE).min(played.len());
        let from = end.saturating_sub(second);
        let processed = decimate(&self.processed);
        let after = gain_at(&played[from..end], &processed, from, lag);
        let removed = (20.0 * (gain / after.abs().max(gain * 1e-3)).log10()).min(60.0);
        EchoCheckResult {
            hears_speaker: true,
            echo_dbfs: Some(level(&played) + 20.0 * gain.max(1e-6).log10()),
            delay_ms: Some((lag * DECIMATE * 1000 / SAMPLE_RATE as usize) as u32),
            removed_db: Some(removed),
        }
    }
}

fn decimate(x: &[i16]) -> Vec<f32> {
    x.chunks_exact(DECIMATE)
        .map(|c| c.iter().map(|&s| f32::from(s) / 32768.0).sum::<f32>() / DECIMATE as f32)
        .collect()
}

/// The lag (in decimated samples) at which `y` best matches `x`: its normalised correlation
/// and the gain (y ≈ gain × x delayed).
fn best_lag(x: &[f32], y: &[f32], max_lag: usize) -> Option<(usize, f64, f64)> {
    let energy_x: f64 = x.iter().map(|v| f64::from(*v).powi(2)).sum();
    if energy_x <= 0.0 {
        return None;
    }
    let mut best: Option<(usize, f64, f64)> = None;
    for lag in 0..=max_lag.min(y.len()) {
        let (mut xy, mut yy, mut xx) = (0.0f64, 0.0f64, 0.0f64);
        for (a, b) in x.iter().zip(&y[lag..]) {
            xy += f64::from(*a) * f64::from(*b);
            yy += f64::from(*b).powi(2);
            xx += f64::from(*a).powi(2);
        }
        if xx <= 0.0 || yy <= 0.0 {
            continue;
        }
        let c = xy / (xx * yy).sqrt();
        if best.is_none_or(|(_, bc, _)| c > bc) {
            best = Some((lag, c, xy / xx));
        }
    }
    best
}

/// The gain of `x` (which starts at `from`) in `y` at `lag`.
fn gain_at(x: &[f32], y: &[f32], from: usize, lag: usize) -> f64 {
    let (mut xy, mut xx) = (0.0f64, 0.0f64);
    for (i, a) in x.iter().enumerate() {
        if let Some(b) = y.get(from + i + lag) {
            xy += f64::from(*a) * f64::from(*b);
            xx += f64::from(*a).powi(2);
        }
    }
    if xx > 0.0 {
        xy / xx
    } else {
        0.0
    }
}

/// Plays the test sound on `speaker` and records `microphone` meanwhile (None: the defaults).
/// Takes about four seconds: call it off any thread that must stay responsive.
pub fn check_devices(
    microphone: Option<&str>,
    speaker: Option<&str>,
) -> Result<EchoCheckResult, MediaError> {
    let mut mic = MicrophoneSource::open(microphone)?;
    let mut sink = SpeakerSink::open(speaker)?;
    // A cold microphone can deliver its first audio late and then in a burst (docs/traps.md,
    // trap 10): wait for it, then drop what queued up so capture keeps pace with playback.
    mic.read()?;
    let drained = Instant::now();
    loop {
        let asked = Instant::now();
        mic.read()?;
        if asked.elapsed() > Duration::from_millis(10) || drained.elapsed() > Duration::from_secs(3)
        {
            break;
        }
    }
    let mut check = EchoCheck::new();
    for frame in EchoCheck::signal() {
        let queued = sink.queued();
        sink.write(&frame)?;
        let captured = mic.read()?.unwrap_or_else(|| AudioFrame::silence(0));
        check.step(&frame, queued, &captured);
    }
    Ok(check.result())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(delay_ms: usize, gain: f32) -> EchoCheckResult {
        let delay = delay_ms * SAMPLE_RATE as usize / 1000;
        let signal = EchoCheck::signal();
        let all: Vec<i16> = signal.iter().flat_map(|f| f.samples.clone()).collect();
        let mut check = EchoCheck::new();
        for (n, frame) in signal.iter().enumerate() {
            let start = n * FRAME_SAMPLES;
            let captured = AudioFrame {
                samples: (start..start + FRAME_SAMPLES)
                    .map(|i| {
                        let echo = i
                            .checked_sub(delay)
                            .map_or(0.0, |j| f32::from(all[j]) * gain);
                        // A steady tone the microphone also hears, as in a real room.
                        let tone = (i as f32 * 600.0 * std::f32::consts::TAU / 48_000.0).sin();
                        (echo + tone * 3_000.0) as i16
                    })
                    .collect(),
                capture_us: 0,
            };
            check.step(frame, Duration::ZERO, &captured);
        }
        check.result()
    }

    #[test]
    fn an_echo_is_found_with_its_delay_and_the_canceller_removes_it() {
        let result = room(120, 0.4);
        assert!(result.hears_speaker, "{result:?}");
        let delay = result.delay_ms.unwrap_or(0);
        assert!((115..=125).contains(&delay), "{result:?}");
        let level = result.echo_dbfs.unwrap_or(0.0);
        assert!((-35.0..-20.0).contains(&level), "{result:?}");
        assert!(result.removed_db.unwrap_or(0.0) >= 20.0, "{result:?}");
        assert!(result.summary().contains("removes"), "{}", result.summary());
    }

    #[test]
    fn no_echo_is_no_echo_whatever_else_the_microphone_hears() {
        let result = room(120, 0.0);
        assert!(!result.hears_speaker, "{result:?}");
        assert!(result.summary().contains("does not hear"));
    }
}
