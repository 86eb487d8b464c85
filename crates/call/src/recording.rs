//! Recording what the peers send, two ways:
//!
//! - `record` (`--record DIR`, for tests and tools): each remote peer's video as it arrived
//!   (VP8 in IVF, no re-encoding) and its audio as played (WAV), in `DIR/<peer id>.ivf` and
//!   `DIR/<peer id>.wav`; its screen share, if it shares, in `DIR/<peer id>-screen.ivf`.
//! - [`Tape`] (`Call::start_recording`, the app's record button): one WebM file per peer that
//!   people play, started and stopped during the call (docs/calls.md, "Recording").

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tincan_media::audio::{AudioSink, WavSink};
use tincan_media::codec::{IvfWriter, WebmWriter};
use tincan_media::{now_us, AudioFrame, MediaError, FRAME_SAMPLES, SAMPLE_RATE};
use tincan_protocol::PeerId;

pub(crate) fn video_path(dir: &Path, peer: &PeerId, screen: bool) -> PathBuf {
    match screen {
        false => dir.join(format!("{peer}.ivf")),
        true => dir.join(format!("{peer}-screen.ivf")),
    }
}

pub(crate) fn audio_path(dir: &Path, peer: &PeerId) -> PathBuf {
    dir.join(format!("{peer}.wav"))
}

/// A peer's video recording, opened at its first decodable frame.
pub(crate) struct VideoRecorder {
    path: PathBuf,
    writer: Option<IvfWriter>,
    start: Instant,
}

impl VideoRecorder {
    pub fn new(dir: &Path, peer: &PeerId, screen: bool) -> Self {
        Self {
            path: video_path(dir, peer, screen),
            writer: None,
            start: Instant::now(),
        }
    }

    pub fn write(&mut self, frame: &[u8]) -> Result<(), MediaError> {
        let writer = match &mut self.writer {
            Some(writer) => writer,
            None => {
                self.start = Instant::now();
                self.writer.insert(IvfWriter::create(&self.path)?)
            }
        };
        writer.write(frame, self.start.elapsed().as_millis() as u64)
    }

    pub fn finish(self) -> Result<(), MediaError> {
        match self.writer {
            Some(writer) => writer.finish(),
            None => Ok(()),
        }
    }
}

/// A peer's audio recording: what the playout thread played for it, from its first sound.
pub(crate) struct AudioRecorder {
    path: PathBuf,
    sink: Option<WavSink>,
}

impl AudioRecorder {
    pub fn new(dir: &Path, peer: &PeerId) -> Self {
        Self {
            path: audio_path(dir, peer),
            sink: None,
        }
    }

    pub fn write(&mut self, frame: &AudioFrame) -> Result<(), MediaError> {
        let sink = match &mut self.sink {
            Some(sink) => sink,
            None => self.sink.insert(WavSink::create(&self.path)?),
        };
        sink.write(frame)
    }

    pub fn finish(self) -> Result<(), MediaError> {
        match self.sink {
            Some(sink) => sink.finish(),
            None => Ok(()),
        }
    }
}

/// The longest gap between two sounds that is closed up: the audio clock and the wall clock
/// may part by this much before the next frame is placed by the clock instead.
const SOUND_SLIP_US: u64 = 30_000;

/// A peer's recording people can play (WebM, [`WebmWriter`]), started and stopped while the
/// call goes on: the decoder thread adds the pictures at their `show_at`, the playout thread
/// the sound when it is heard, both on the wall clock, so they stay in sync in the file as
/// they were on the screen and the speaker.
#[derive(Default)]
pub(crate) struct Tape(Mutex<Option<Reel>>);

struct Reel {
    writer: WebmWriter,
    /// Where the next 20 ms of sound go, so consecutive frames are seamless.
    next_sound_us: Option<u64>,
}

impl Tape {
    /// Starts recording into `path` (created now). Recording already: carries on.
    pub fn start(&self, path: &Path) -> Result<(), MediaError> {
        let mut reel = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if reel.is_none() {
            *reel = Some(Reel {
                writer: WebmWriter::create(path)?,
                next_sound_us: None,
            });
        }
        Ok(())
    }

    #[cfg(test)]
    pub fn is_on(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// A picture (VP8 as it arrived) shown at `show_at`. A failure stops the recording.
    pub fn picture(&self, frame: &[u8], show_at: Instant) -> Result<(), MediaError> {
        let at_us = wall_clock(show_at);
        self.with(|reel| reel.writer.push_video(frame, at_us))
    }

    /// 20 ms of sound, heard `heard_after` from now. A failure stops the recording.
    pub fn sound(&self, frame: &AudioFrame, heard_after: Duration) -> Result<(), MediaError> {
        let clock_us = now_us() + heard_after.as_micros() as u64;
        self.with(|reel| {
            let at_us = place_sound(&mut reel.next_sound_us, clock_us);
            reel.writer.push_audio(frame, at_us)
        })
    }

    /// Ends the recording: the file's path, or `None` if nothing was recorded (or it was not
    /// recording).
    pub fn stop(&self) -> Result<Option<PathBuf>, MediaError> {
        let reel = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        match reel {
            Some(reel) => reel.writer.finish(),
            None => Ok(None),
        }
    }

    fn with(
        &self,
        job: impl FnOnce(&mut Reel) -> Result<(), MediaError>,
    ) -> Result<(), MediaError> {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(reel) = slot.as_mut() else {
            return Ok(());
        };
        let result = job(reel);
        if result.is_err() {
            // Close what was written so far: it plays up to the failure.
            if let Some(reel) = slot.take() {
                let _ = reel.writer.finish();
            }
        }
        result
    }
}

/// Where 20 ms of sound heard at `clock_us` go in the file: right after the last frame while
/// the clock agrees within [`SOUND_SLIP_US`] (so jitter in when frames are handed over leaves
/// no clicks), at the clock's time after a gap (nothing was played).
fn place_sound(next: &mut Option<u64>, clock_us: u64) -> u64 {
    let at_us = match *next {
        Some(next) if next.abs_diff(clock_us) <= SOUND_SLIP_US => next,
        _ => clock_us,
    };
    *next = Some(at_us + FRAME_US);
    at_us
}

/// One audio frame, in µs.
const FRAME_US: u64 = FRAME_SAMPLES as u64 * 1_000_000 / SAMPLE_RATE as u64;

/// `at` on the wall clock, in µs since the epoch.
fn wall_clock(at: Instant) -> u64 {
    let now = Instant::now();
    let wall = now_us();
    match at.checked_duration_since(now) {
        Some(ahead) => wall + ahead.as_micros() as u64,
        None => wall.saturating_sub(now.duration_since(at).as_micros() as u64),
    }
}

/// The file a peer's recording goes to: `Tincan <room> <date> <time> <name>.webm` in `dir`,
/// with the name cut to what a file system takes.
pub(crate) fn tape_path(dir: &Path, room: &str, name: &str, started: SystemTime) -> PathBuf {
    let stamp = local_stamp(started);
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == ' ' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let name = name.trim();
    let name = if name.is_empty() { "peer" } else { name };
    let base = format!("Tincan {room} {stamp} {name}");
    let mut path = dir.join(format!("{base}.webm"));
    let mut n = 2;
    while path.exists() {
        path = dir.join(format!("{base} ({n}).webm"));
        n += 1;
    }
    path
}

/// `YYYY-MM-DD HH-MM-SS` in the computer's time zone (no colons: Windows file names cannot
/// have them).
fn local_stamp(at: SystemTime) -> String {
    match jiff::Timestamp::try_from(at) {
        Ok(at) => at
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%d %H-%M-%S")
            .to_string(),
        Err(_) => "unknown time".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recordings_name_says_room_time_and_who() {
        let at = std::time::UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        let dir = std::env::temp_dir().join("tincan-tape-names-nowhere");
        let path = tape_path(&dir, "ABCD-EFGH", "Ana/../x:y", at);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap();
        // 2026-11-30 00:53:20 UTC, in whatever zone this computer is in.
        assert!(name.starts_with("Tincan ABCD-EFGH 2026-11-"), "{name}");
        assert!(name.ends_with(" Ana____x_y.webm"), "{name}");
        assert_eq!(path.parent(), Some(dir.as_path()));
    }

    #[test]
    fn sound_is_seamless_until_the_clock_parts_from_it() {
        let mut next = None;
        let placed: Vec<u64> = [
            1_000_000, 1_020_900, 1_039_000, 1_065_000, 1_300_000, 1_321_000,
        ]
        .into_iter()
        .map(|clock| place_sound(&mut next, clock))
        .collect();
        assert_eq!(
            placed,
            [1_000_000, 1_020_000, 1_040_000, 1_060_000, 1_300_000, 1_320_000]
        );
    }

    #[test]
    fn a_tape_records_between_start_and_stop() {
        let tape = Tape::default();
        let path = std::env::temp_dir().join(format!("tincan-tape-{}.webm", std::process::id()));
        tape.sound(&AudioFrame::silence(0), Duration::ZERO).unwrap();
        tape.start(&path).unwrap();
        assert!(tape.is_on());
        for _ in 0..10 {
            tape.sound(&AudioFrame::silence(0), Duration::ZERO).unwrap();
        }
        assert_eq!(tape.stop().unwrap(), Some(path.clone()));
        assert!(!tape.is_on());
        assert_eq!(tape.stop().unwrap(), None);
        std::fs::remove_file(&path).unwrap();
    }
}
