//! Before joining: the chosen camera in the self tile and the chosen microphone's level, so a
//! person sees and hears what the call will send. Stopped (its devices released) before the
//! call opens them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tauri::AppHandle;
use tincan_call::sources::{open_audio, open_video, pace};
use tincan_call::{AudioInput, VideoInput};
use tincan_media::audio::analysis::rms;
use tincan_media::audio::AudioSource;
use tincan_media::audio::{AudioSink, SpeakerSink, ToneSource};
use tincan_media::video::VideoFormat;

use crate::error::AppError;
use crate::events::PageEvent;
use crate::tiles::Tiles;

/// The self tile's id, in the preview and in a call.
pub const SELF_TILE: &str = "self";

/// How often the page hears the microphone's level.
const LEVEL_EVERY: Duration = Duration::from_millis(100);

pub struct Preview {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Preview {
    /// Opens both inputs first, so a missing or busy device is reported here; then shows them.
    pub fn start(
        app: &AppHandle,
        tiles: Arc<Tiles>,
        video: &VideoInput,
        audio: &AudioInput,
        format: VideoFormat,
    ) -> Result<Self, AppError> {
        let video = open_video(video, format).map_err(|e| AppError::joining(e, None))?;
        let audio = open_audio(audio).map_err(|e| AppError::joining(e, None))?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        if let Some((mut source, paced)) = video {
            let stop = Arc::clone(&stop);
            threads.push(spawn("preview-video", move || {
                let interval = Duration::from_secs(1) / source.format().fps.max(1);
                let (mut start, mut n) = (Instant::now(), 0u64);
                while !stop.load(Ordering::Relaxed) {
                    if paced {
                        pace(&mut start, &mut n, interval);
                    }
                    match source.read() {
                        Ok(frame) => tiles.offer(SELF_TILE, frame),
                        Err(e) => {
                            tracing::warn!(error = %e, "preview camera stopped");
                            break;
                        }
                    }
                }
            })?);
        }
        if let Some((mut source, paced)) = audio {
            let (stop, app) = (Arc::clone(&stop), app.clone());
            threads.push(spawn("preview-audio", move || {
                let (mut start, mut n) = (Instant::now(), 0u64);
                let mut loudest = 0.0f64;
                let mut told = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    if paced {
                        pace(&mut start, &mut n, Duration::from_millis(20));
                    }
                    match source.read() {
                        Ok(Some(frame)) => loudest = loudest.max(rms(&frame.samples)),
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "preview microphone stopped");
                            break;
                        }
                    }
                    if told.elapsed() >= LEVEL_EVERY {
                        PageEvent::PreviewLevel(loudest).send(&app);
                        (loudest, told) = (0.0, Instant::now());
                    }
                }
            })?);
        }
        Ok(Self { stop, threads })
    }

    /// Stops both threads and waits, so their devices are free when this returns.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, AppError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(body)
        .map_err(|e| AppError::Call(format!("cannot start the preview: {e}")))
}

/// Plays a short chime on `speaker` (None: the default), so a person hears where calls will
/// sound. Blocks for its length (about a second): call it off the main thread.
pub fn test_speaker(speaker: Option<&str>) -> Result<(), AppError> {
    let mut sink = SpeakerSink::open(speaker).map_err(|e| AppError::Speaker(e.to_string()))?;
    for hz in [660.0, 880.0] {
        let mut tone = ToneSource::tone(hz);
        for _ in 0..20 {
            if let Ok(Some(frame)) = tone.read() {
                sink.write(&frame)
                    .map_err(|e| AppError::Speaker(e.to_string()))?;
            }
        }
    }
    // Let what is queued play out before the sink closes.
    std::thread::sleep(Duration::from_millis(300));
    Ok(())
}
