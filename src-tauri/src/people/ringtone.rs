//! The sound of an incoming ring: two short notes every three seconds on the chosen
//! speaker, until dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tincan_media::audio::{AudioSink, SpeakerSink};
use tincan_media::{AudioFrame, MediaError, FRAME_SAMPLES, SAMPLE_RATE};

/// One ring's pattern, in 20 ms frames.
const PERIOD_FRAMES: usize = 150;

/// Rings until dropped.
pub struct Ringtone {
    stop: Arc<AtomicBool>,
}

impl Ringtone {
    /// Starts ringing on `speaker` (a device id; empty: the system's default; "none": no
    /// sound, which is not an error).
    pub fn start(speaker: &str) -> Result<Option<Self>, MediaError> {
        if speaker == crate::devices::NONE {
            return Ok(None);
        }
        let id = (!speaker.is_empty()).then(|| speaker.to_owned());
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        // The speaker is opened on the thread that writes to it (cpal's streams stay put).
        let (opened_tx, opened_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("ringtone".into())
            .spawn(move || {
                let mut sink = match SpeakerSink::open(id.as_deref()) {
                    Ok(sink) => {
                        let _ = opened_tx.send(Ok(()));
                        sink
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        return;
                    }
                };
                let mut n = 0usize;
                while !stopped.load(Ordering::Relaxed) {
                    // `write` waits while enough is queued: this loop runs at the sound's pace.
                    if sink.write(&frame(n)).is_err() {
                        return;
                    }
                    n = (n + 1) % PERIOD_FRAMES;
                }
            })
            .map_err(|e| MediaError::AudioDevice(e.to_string()))?;
        match opened_rx.recv() {
            Ok(Ok(())) => Ok(Some(Self { stop })),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(MediaError::AudioDevice("the ringtone stopped at once".into())),
        }
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
        assert!(!loud(22) && !loud(100), "quiet between notes and after them");
    }
}
