//! Microphone processing: WebRTC's audio processing module (AEC3 echo cancellation, noise
//! suppression, AGC2 automatic gain, a high-pass filter) through `sonora`, its pure-Rust port.
//! docs/media.md says why this one and what it was measured against.
//!
//! One [`AudioProcessor`] serves a call, shared by two threads: playout hands it what goes to
//! the speaker ([`AudioProcessor::far_end`], the echo canceller's reference) at the moment it
//! is handed to the device, and the microphone's loop runs every captured frame through it
//! ([`AudioProcessor::near_end`]) before the encoder. The canceller finds the delay between
//! the two itself and follows it when it changes; we give it the speaker's queue as a hint.
//!
//! The reference is not handed to the canceller when it is played but queued, and each
//! captured frame takes the oldest queued one with it: the canceller sees the two streams
//! frame by frame in step, so a thread that runs late (a busy machine) does not move the
//! echo in its eyes. Moving it makes AEC3 reset its buffers and let echo through while it
//! finds the delay again (seen on two busy cores: 4 s of echo back at full level).
//!
//! Two instances of the module run in a row: the first the high-pass filter and the echo
//! canceller, the second noise suppression and gain on what the canceller left. In one
//! instance (libwebrtc's order: the suppressor analyses the microphone before the canceller)
//! echo came back at nearly full level for half a second at a time in the end-to-end test,
//! and not with the canceller alone; chained, it did not (docs/media.md).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use sonora::config::{
    AdaptiveDigital, EchoCanceller, GainController2, HighPassFilter, NoiseSuppression,
    NoiseSuppressionLevel,
};
use sonora::{AudioProcessing as Apm, Config, StreamConfig};
pub use tincan_protocol::AudioProcessing as ProcessingSettings;

use crate::{AudioFrame, MediaError, FRAME_SAMPLES, SAMPLE_RATE};

/// The module works on 10 ms; our frames are 20 ms.
const CHUNK: usize = SAMPLE_RATE as usize / 100;

/// Reference frames waiting for the microphone, at most: 200 ms. More means the microphone
/// stopped or started late; the oldest are of no use then.
const MAX_QUEUED_REFERENCE: usize = 10;

/// What the processing does now, for the call's statistics.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ProcessingStats {
    pub echo_cancellation: bool,
    pub noise_suppression: bool,
    pub auto_gain: bool,
    /// The echo canceller's estimate of the speaker → microphone delay, ms (after it has heard
    /// the speaker and found the echo).
    pub echo_delay_ms: Option<i32>,
    /// How much the echo canceller removes, dB (echo return loss enhancement).
    pub echo_return_loss_enhancement_db: Option<f64>,
    /// Frames the microphone sent through the processing.
    pub frames_processed: u64,
    /// Played frames thrown away because the microphone fell more than 200 ms behind, and
    /// captured frames that found no played frame waiting (the microphone ran ahead): each
    /// moves the echo by 20 ms in the canceller's eyes.
    pub reference_dropped: u64,
    pub reference_missing: u64,
}

struct Inner {
    /// High-pass and echo cancellation, fed the reference.
    echo: Apm,
    /// Noise suppression and automatic gain, on the echo canceller's output.
    clean: Apm,
    settings: ProcessingSettings,
    /// Audio queued in the speaker when the last reference frame went in.
    speaker_queue: Duration,
    /// What was played, waiting for the captured frame it goes in step with.
    reference: std::collections::VecDeque<AudioFrame>,
    frames_processed: u64,
    reference_dropped: u64,
    reference_missing: u64,
    scratch: Vec<i16>,
}

/// The processing of one call's microphone. Cloning shares it.
#[derive(Clone)]
pub struct AudioProcessor(Arc<Mutex<Inner>>);

impl std::fmt::Debug for AudioProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AudioProcessor({:?})", self.settings())
    }
}

fn echo_config(settings: ProcessingSettings) -> Config {
    Config {
        high_pass_filter: settings.any().then(HighPassFilter::default),
        echo_canceller: settings.echo_cancellation.then(EchoCanceller::default),
        ..Default::default()
    }
}

fn clean_config(settings: ProcessingSettings) -> Config {
    Config {
        // libwebrtc's level in Chrome: fans and street are steady; speech is not.
        noise_suppression: settings.noise_suppression.then(|| NoiseSuppression {
            level: NoiseSuppressionLevel::High,
            ..Default::default()
        }),
        // Digital gain only: the microphone's own (analog) level is the user's to set.
        gain_controller2: settings.auto_gain.then(|| GainController2 {
            adaptive_digital: Some(AdaptiveDigital::default()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl AudioProcessor {
    pub fn new(settings: ProcessingSettings) -> Self {
        let mono = StreamConfig::new(SAMPLE_RATE, 1);
        let build = |config: Config| {
            Apm::builder()
                .config(config)
                .capture_config(mono)
                .render_config(mono)
                .build()
        };
        Self(Arc::new(Mutex::new(Inner {
            echo: build(echo_config(settings)),
            clean: build(clean_config(settings)),
            settings,
            speaker_queue: Duration::ZERO,
            reference: std::collections::VecDeque::with_capacity(MAX_QUEUED_REFERENCE),
            frames_processed: 0,
            reference_dropped: 0,
            reference_missing: 0,
            scratch: vec![0; CHUNK],
        })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Processing state cannot be left half-updated by a panic that matters: go on.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn settings(&self) -> ProcessingSettings {
        self.lock().settings
    }

    /// Turns stages on or off from the next frame. A stage turned on starts afresh (the echo
    /// canceller converges again within about two seconds of far-end speech).
    pub fn set_settings(&self, settings: ProcessingSettings) {
        let mut inner = self.lock();
        if inner.settings != settings {
            inner.settings = settings;
            inner.echo.apply_config(echo_config(settings));
            inner.clean.apply_config(clean_config(settings));
            inner.reference.clear();
        }
    }

    /// The far-end reference: `frame` is exactly what is being handed to the speaker, and
    /// `queued` how much the speaker held before it (so how much later it will be heard).
    pub fn far_end(&self, frame: &AudioFrame, queued: Duration) -> Result<(), MediaError> {
        if frame.samples.len() != FRAME_SAMPLES {
            return Err(MediaError::Format(format!(
                "audio frame of {} samples, not {FRAME_SAMPLES}",
                frame.samples.len()
            )));
        }
        let mut inner = self.lock();
        if !inner.settings.echo_cancellation {
            return Ok(());
        }
        inner.speaker_queue = queued;
        if inner.reference.len() == MAX_QUEUED_REFERENCE {
            inner.reference.pop_front();
            inner.reference_dropped += 1;
        }
        inner.reference.push_back(frame.clone());
        Ok(())
    }

    /// Runs a captured frame through the stages that are on, in place. With none on the frame
    /// is left exactly as it was.
    pub fn near_end(&self, frame: &mut AudioFrame) -> Result<(), MediaError> {
        if frame.samples.len() != FRAME_SAMPLES {
            return Err(MediaError::Format(format!(
                "audio frame of {} samples, not {FRAME_SAMPLES}",
                frame.samples.len()
            )));
        }
        let mut inner = self.lock();
        if !inner.settings.any() {
            return Ok(());
        }
        // The hint: heard `speaker_queue` after the reference went in, plus what waits here,
        // plus the microphone's own buffering (about a frame). The canceller's own estimator
        // does the rest.
        let waiting = inner.reference.len() as i32 * 20;
        let hint = inner.speaker_queue.as_millis() as i32 + waiting + 20;
        let reference = inner.reference.pop_front();
        if reference.is_none() && inner.settings.echo_cancellation {
            inner.reference_missing += 1;
        }
        let settings = inner.settings;
        let Inner {
            echo,
            clean,
            scratch,
            ..
        } = &mut *inner;
        let failed = |e: sonora::Error| MediaError::Processing(format!("{e:?}"));
        if let Some(reference) = reference {
            for chunk in reference.samples.chunks_exact(CHUNK) {
                echo.process_render_i16(chunk, scratch).map_err(failed)?;
            }
        }
        // Out of range is clamped and processing goes on; nothing to do about it.
        let _ = echo.set_stream_delay_ms(hint);
        for chunk in frame.samples.chunks_exact_mut(CHUNK) {
            echo.process_capture_i16(chunk, scratch).map_err(failed)?;
            chunk.copy_from_slice(scratch);
            if settings.noise_suppression || settings.auto_gain {
                clean.process_capture_i16(chunk, scratch).map_err(failed)?;
                chunk.copy_from_slice(scratch);
            }
        }
        inner.frames_processed += 1;
        Ok(())
    }

    pub fn stats(&self) -> ProcessingStats {
        let inner = self.lock();
        let settings = inner.settings;
        let apm_stats = inner.echo.statistics();
        let aec = settings.echo_cancellation;
        ProcessingStats {
            echo_cancellation: aec,
            noise_suppression: settings.noise_suppression,
            auto_gain: settings.auto_gain,
            echo_delay_ms: apm_stats
                .delay_ms
                .or(apm_stats.delay_median_ms)
                .filter(|_| aec),
            echo_return_loss_enhancement_db: apm_stats
                .echo_return_loss_enhancement
                .filter(|v| aec && v.is_finite()),
            frames_processed: inner.frames_processed,
            reference_dropped: inner.reference_dropped,
            reference_missing: inner.reference_missing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Speech-like test signal: noise in syllables (on 200 ms, off 100 ms), deterministic.
    fn talker(seconds: usize, seed: u32, level: f64) -> Vec<i16> {
        let mut state = seed;
        (0..seconds * SAMPLE_RATE as usize)
            .map(|i| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = f64::from(state >> 16) / 32768.0 - 1.0;
                let on = (i / 4800) % 3 != 2;
                (if on { noise * level * 32767.0 } else { 0.0 }) as i16
            })
            .collect()
    }

    fn frames(samples: &[i16]) -> impl Iterator<Item = AudioFrame> + '_ {
        samples.chunks_exact(FRAME_SAMPLES).map(|c| AudioFrame {
            samples: c.to_vec(),
            capture_us: 0,
        })
    }

    fn energy(samples: &[i16]) -> f64 {
        samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len().max(1) as f64
    }

    /// The speaker's signal comes back into the microphone 80 ms later at half the level; what
    /// the microphone sends on, with the given settings, from 2 s on. The playout thread runs
    /// `burst` frames ahead now and then, as a busy machine's does.
    fn echo_through(settings: ProcessingSettings, burst: usize) -> (f64, f64, ProcessingStats) {
        let processor = AudioProcessor::new(settings);
        let far = talker(6, 7, 0.3);
        let all: Vec<AudioFrame> = frames(&far).collect();
        let delay = 80 * SAMPLE_RATE as usize / 1000;
        let mut sent = Vec::new();
        let mut heard = Vec::new();
        let mut played = 0;
        for n in 0..all.len() {
            let ahead = if n % 50 < 25 { 1 } else { burst };
            while played < all.len() && played < n + ahead {
                processor.far_end(&all[played], Duration::ZERO).unwrap();
                played += 1;
            }
            let start = n * FRAME_SAMPLES;
            let mut mic = AudioFrame {
                samples: (start..start + FRAME_SAMPLES)
                    .map(|i| i.checked_sub(delay).map_or(0, |j| far[j] / 2))
                    .collect(),
                capture_us: 0,
            };
            heard.extend_from_slice(&mic.samples);
            processor.near_end(&mut mic).unwrap();
            sent.extend_from_slice(&mic.samples);
        }
        let from = 2 * SAMPLE_RATE as usize;
        (
            energy(&heard[from..]),
            energy(&sent[from..]),
            processor.stats(),
        )
    }

    #[test]
    fn the_echo_canceller_removes_the_speaker_from_the_microphone() {
        let (heard, sent, stats) = echo_through(
            ProcessingSettings {
                echo_cancellation: true,
                ..ProcessingSettings::OFF
            },
            1,
        );
        let erle = 10.0 * (heard / sent.max(1.0)).log10();
        assert!(erle > 25.0, "only {erle:.1} dB removed");
        assert!(stats.echo_cancellation && !stats.noise_suppression);
        let delay = stats.echo_delay_ms.expect("a delay estimate");
        assert!((60..=120).contains(&delay), "delay estimate {delay} ms");
        assert_eq!(stats.frames_processed, 300);
    }

    #[test]
    fn a_playout_thread_running_ahead_does_not_move_the_echo() {
        let aec = ProcessingSettings {
            echo_cancellation: true,
            ..ProcessingSettings::OFF
        };
        // Half a second at a time, playout runs 8 frames (160 ms) ahead of the microphone.
        let (heard, sent, _) = echo_through(aec, 8);
        let erle = 10.0 * (heard / sent.max(1.0)).log10();
        assert!(erle > 25.0, "only {erle:.1} dB removed");
    }

    #[test]
    fn off_leaves_the_microphone_untouched_and_on_again_works() {
        let (heard, sent, stats) = echo_through(ProcessingSettings::OFF, 1);
        assert_eq!(heard, sent);
        assert_eq!(stats.frames_processed, 0);
        assert_eq!(stats.echo_delay_ms, None);

        let processor = AudioProcessor::new(ProcessingSettings::OFF);
        processor.set_settings(ProcessingSettings::ON);
        assert_eq!(processor.settings(), ProcessingSettings::ON);
        let mut frame = AudioFrame::silence(0);
        processor.near_end(&mut frame).unwrap();
        assert_eq!(processor.stats().frames_processed, 1);
    }

    #[test]
    fn a_frame_of_the_wrong_size_is_refused() {
        let processor = AudioProcessor::new(ProcessingSettings::ON);
        let mut frame = AudioFrame {
            samples: vec![0; 100],
            capture_us: 0,
        };
        assert!(matches!(
            processor.near_end(&mut frame),
            Err(MediaError::Format(_))
        ));
    }
}
