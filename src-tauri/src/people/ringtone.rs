//! The sound of an incoming ring: two short notes every three seconds on the chosen
//! speaker, until dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tincan_media::audio::{AudioSink, SpeakerSink};
use tincan_media::{AudioFrame, MediaError, FRAME_SAMPLES, SAMPLE_RATE};

/// One ring's pattern, in 20 ms frames.
const PERIOD_FRAMES: usize = 150;
/// How long to wait before opening a speaker that failed again.
const RETRY: std::time::Duration = std::time::Duration::from_millis(500);

/// Rings until dropped.
pub struct Ringtone {
    stop: Arc<AtomicBool>,
}

impl Ringtone {
    /// Starts ringing on `speaker` (a device id; empty: the system's default; "none": no
    /// sound). A speaker that cannot be opened (or stops taking audio) is tried again every
    /// half second while it rings: a sound server busy for a moment does not silence a ring.
    pub fn start(speaker: &str) -> Result<Option<Self>, MediaError> {
        if speaker == crate::devices::NONE {
            return Ok(None);
        }
        let id = (!speaker.is_empty()).then(|| speaker.to_owned());
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("ringtone".into())
            // The speaker is opened on the thread that writes to it (cpal's streams stay put).
            .spawn(move || {
                let mut n = 0usize;
                let mut told = false;
                while !stopped.load(Ordering::Relaxed) {
                    let mut sink = match SpeakerSink::open(id.as_deref()) {
                        Ok(sink) => sink,
                        Err(e) => {
                            if !std::mem::replace(&mut told, true) {
                                tracing::warn!("the ringtone cannot open the speaker yet: {e}");
                            }
                            std::thread::sleep(RETRY);
                            continue;
                        }
                    };
                    while !stopped.load(Ordering::Relaxed) {
                        // `write` waits while enough is queued: this runs at the sound's pace.
                        if let Err(e) = sink.write(&frame(n)) {
                            tracing::warn!("the ringtone's speaker failed: {e}");
                            break;
                        }
                        n = (n + 1) % PERIOD_FRAMES;
                    }
                }
            })
            .map_err(|e| MediaError::AudioDevice(e.to_string()))?;
        Ok(Some(Self { stop }))
    }
}

impl Drop for Ringtone {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Frame `n` of the pattern: 880 Hz for 0.4 s, a pause, 660 Hz for 0.4 s, then quiet.
fn frame(n: usize) -> AudioFrame {
    let hz = match n {
        0..20 => 880.0,
        25..45 => 660.0,
        _ => 0.0,
    };
    let samples = (0..FRAME_SAMPLES)
        .map(|i| {
            let t = (n * FRAME_SAMPLES + i) as f64 / f64::from(SAMPLE_RATE);
            (0.25 * 32767.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
        })
        .collect();
    AudioFrame {
        samples,
        capture_us: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_rings_then_rests() {
        let loud = |n| frame(n).samples.iter().any(|s| s.unsigned_abs() > 4000);
        assert!(loud(0) && loud(30));
        assert!(
            !loud(22) && !loud(100),
            "quiet between notes and after them"
        );
    }
}
