//! The counters of one peer's call, shared by the tasks that serve it (sending, receiving,
//! decoding, playout) and read once a second into [`crate::PeerStats`].

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counters for one peer, shared by the tasks that serve it.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub connected: AtomicBool,
    pub video_frames_sent: AtomicU64,
    pub video_frames_received: AtomicU64,
    pub video_frames_decoded: AtomicU64,
    pub keyframes_requested: AtomicU64,
    /// Keyframe requests (PLI, FIR) this peer sent us.
    pub keyframes_asked_of_us: AtomicU64,
    pub audio_frames_sent: AtomicU64,
    pub audio_frames_received: AtomicU64,
    pub audio_frames_concealed: AtomicU64,
    pub packets_lost: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub bytes_received: AtomicU64,
    pub chat_received: AtomicU64,
    /// Chat messages from this peer dropped: too long, or too many in a second.
    pub chat_dropped: AtomicU64,
    /// Video freezes (W3C definition, see [`crate::stats::FreezeDetector`]) and their length.
    pub freezes: AtomicU64,
    pub freeze_ms: AtomicU64,
    /// How long this peer's audio waits between arriving and being heard, in µs (set by the
    /// playout thread): its video is shown that long after arriving too.
    pub audio_delay_us: AtomicU64,
    /// This peer's audio as played, its mean square smoothed over about half a second (f32
    /// bits; the playout thread sets it): [`Counters::speaking_level`].
    pub audio_power: AtomicU32,
    /// How many times the selected candidate pair moved (an ICE restart, a network change):
    /// the video receiver's picture of the path starts over each time.
    pub path_changes: AtomicU64,
    /// Round trip to this peer in µs (0 until measured), from the once-a-second statistics.
    pub rtt_us: AtomicU64,
    /// How long its video is held before decoding (the playout delay), in ms.
    pub video_delay_ms: AtomicU64,
    /// Video packets we asked it to send again (each ask counted).
    pub nacks_sent: AtomicU64,
    /// Size of the last picture decoded.
    pub received_width: AtomicU32,
    pub received_height: AtomicU32,
    /// How long each keyframe asked for with `refresh_video` took to arrive, in ms.
    pub keyframe_waits_ms: Mutex<Vec<u64>>,
    /// When both peers were in the room, and when the first remote frame decoded.
    pub started: Mutex<Option<Instant>>,
    pub first_frame: Mutex<Option<Instant>>,
}

/// How much of a new 20 ms frame's power goes into the smoothed one: a time constant of
/// half a second.
const POWER_SMOOTHING: f32 = 0.04;

impl Counters {
    /// Notes the power (mean square, 0–1) of a 20 ms frame of this peer's audio as played.
    pub fn note_audio_power(&self, mean_square: f32) {
        let old = f32::from_bits(self.audio_power.load(Ordering::Relaxed));
        let new = old + POWER_SMOOTHING * (mean_square - old);
        self.audio_power.store(new.to_bits(), Ordering::Relaxed);
    }

    /// How loud this peer is as played: RMS, 0–1, over about the last half second.
    pub fn speaking_level(&self) -> f64 {
        f64::from(f32::from_bits(self.audio_power.load(Ordering::Relaxed)).max(0.0)).sqrt()
    }

    pub fn mark_first_frame(&self) {
        if let Ok(mut first) = self.first_frame.lock() {
            if first.is_none() {
                *first = Some(Instant::now());
                tracing::debug!(at_ms = self.since_start_ms(), "first remote frame decoded");
            }
        }
    }

    /// Milliseconds since this peer's connection was created: the setup timeline in logs.
    pub fn since_start_ms(&self) -> u64 {
        self.started
            .lock()
            .ok()
            .and_then(|s| *s)
            .map(|s| s.elapsed().as_millis() as u64)
            .unwrap_or(0)
    }

    /// The round trip to this peer, once measured.
    pub fn rtt(&self) -> Option<Duration> {
        match self.rtt_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    pub fn setup_ms(&self) -> Option<u64> {
        let started = (*self.started.lock().ok()?)?;
        let first = (*self.first_frame.lock().ok()?)?;
        Some(first.saturating_duration_since(started).as_millis() as u64)
    }
}
