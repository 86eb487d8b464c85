//! Local media: one capture-and-encode thread per kind, shared by every peer connection.
//! Encoding once for the whole mesh keeps the CPU cost flat as peers join; a keyframe asked
//! for by any peer goes to all of them.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tincan_media::audio::{AudioProcessor, AudioSource, MicrophoneSource, ToneSource, WavSource};
use tincan_media::codec::{OpusEncoder, Vp8Config, Vp8Encoder};
use tincan_media::sync_clip::{BeepSource, FlashSource};
use tincan_media::video::{
    scale, stamp, CameraSource, PatternSource, ScreenSource, VideoFormat, VideoSource, Y4mSource,
};
use tincan_media::{AudioFrame, MediaError, VideoFrame};
use tokio::sync::{broadcast, mpsc};

use crate::adapt::{Adapter, Step};
use crate::events::{CallEvent, LostInput, MediaFrame};
use crate::options::{AudioInput, CallOptions, VideoInput};
use crate::CallError;

/// One encoded picture, ready for every peer's video track.
#[derive(Debug)]
pub(crate) struct EncodedVideo {
    pub data: Bytes,
    pub keyframe: bool,
    /// Its temporal layer (0, or 1: nothing refers to it), for peers that take half the rate.
    pub layer: u8,
    /// Encoded with two temporal layers (every other picture layer 1).
    pub layered: bool,
    /// Real frame duration: RTP timestamps are derived from it (docs/traps.md, trap 2).
    pub duration: Duration,
}

/// 20 ms of Opus.
#[derive(Debug)]
pub(crate) struct EncodedAudio {
    pub data: Bytes,
}

/// What the call's controls change while the threads run.
#[derive(Default)]
pub(crate) struct Controls {
    pub mic_muted: AtomicBool,
    pub camera_off: AtomicBool,
    pub keyframe_wanted: AtomicBool,
    /// Some peer takes half our frame rate: encode two temporal layers (the session sets it
    /// from what the peers ask, `Signal::VideoWanted`).
    pub temporal_layers: AtomicBool,
    /// Set by the capture thread when its source failed mid-call (a shared window closed):
    /// the session takes it to end the share and tell the peers.
    pub source_lost: AtomicBool,
    /// The bitrate the video encoder aims at: what the user asked for, or less when the
    /// network allows less.
    pub video_kbps: AtomicU32,
    /// Loss the far ends report for our audio, in percent: Opus adds in-band FEC for it.
    pub audio_loss_percent: AtomicU32,
    pub stop: AtomicBool,
    pub video_frames_encoded: AtomicU64,
    /// What the encoder sends now (smaller than captured when the network is short).
    pub sent_width: AtomicU32,
    pub sent_height: AtomicU32,
    pub sent_fps: AtomicU32,
    /// Sources to switch to.
    pub next_video: Swap<Video>,
    pub next_audio: Swap<Audio>,
}

pub(crate) struct LocalMedia {
    pub controls: Arc<Controls>,
    pub video: broadcast::Sender<Arc<EncodedVideo>>,
    /// The screen share: a second video thread and track, idle while nothing is shared
    /// (its `next_video` takes the screen; `video_kbps` is the share's part of the budget).
    pub share_controls: Arc<Controls>,
    pub share: broadcast::Sender<Arc<EncodedVideo>>,
    pub audio: broadcast::Sender<Arc<EncodedAudio>>,
    /// The microphone's processing, shared with the playout (its echo reference).
    pub processor: AudioProcessor,
    threads: Vec<JoinHandle<()>>,
    /// What the share's thread needs, until the first share starts it (a call that never
    /// shares has no such thread: each thread costs memory a long-running app keeps).
    share_start: Option<(u32, mpsc::Sender<CallEvent>)>,
}

/// A video source and whether the thread must pace it (files and patterns run as fast as
/// they are read; a camera delivers at its own rate).
pub type Video = (Box<dyn VideoSource>, bool);
pub type Audio = (Box<dyn AudioSource>, bool);

/// A shared screen is sent at most this often: text needs sharpness, not motion.
pub const MAX_SCREEN_FPS: u32 = 15;

/// Opens a screen or window to share beside the camera, at [`MAX_SCREEN_FPS`] (the ladder
/// halves the rate before the size when the network is short).
pub fn open_share(target: &tincan_media::video::ScreenTarget) -> Result<Video, CallError> {
    Ok((Box::new(ScreenSource::open(target, MAX_SCREEN_FPS)?), true))
}

/// Opens a video input at `format` (a file keeps its own; a screen its own size, capped at
/// 1080p, and at most [`MAX_SCREEN_FPS`]).
pub fn open_video(input: &VideoInput, format: VideoFormat) -> Result<Option<Video>, CallError> {
    Ok(match input {
        VideoInput::Pattern => Some((Box::new(PatternSource::new(format)?), true)),
        // It keeps to the wall clock's grid itself.
        VideoInput::Flash => Some((Box::new(FlashSource::new(format)?), false)),
        VideoInput::File(path) => Some((Box::new(Y4mSource::open(path)?), true)),
        VideoInput::Camera(id) => {
            Some((Box::new(CameraSource::open(id.as_deref(), format)?), false))
        }
        VideoInput::Screen(target) => Some((
            Box::new(ScreenSource::open(
                target,
                format.fps.clamp(1, MAX_SCREEN_FPS),
            )?),
            true,
        )),
        VideoInput::None => None,
    })
}

pub fn open_audio(input: &AudioInput) -> Result<Option<Audio>, CallError> {
    Ok(match input {
        AudioInput::Tone(hz) => Some((Box::new(ToneSource::tone(*hz)), true)),
        AudioInput::Beep(hz) => Some((Box::new(BeepSource::new(*hz)), true)),
        AudioInput::File(path) => Some((Box::new(WavSource::open(path, true)?), true)),
        AudioInput::Microphone(id) => {
            Some((Box::new(MicrophoneSource::open(id.as_deref())?), false))
        }
        AudioInput::None => None,
    })
}

/// A source handed to a running thread, which takes it at its next frame: switching devices
/// changes what feeds the same track, so nothing is renegotiated.
pub(crate) struct Swap<T>(Mutex<Option<Option<T>>>);

impl<T> Default for Swap<T> {
    fn default() -> Self {
        Self(Mutex::new(None))
    }
}

impl<T> Swap<T> {
    pub fn put(&self, next: Option<T>) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(next);
        }
    }

    /// What was put since the last take, if anything (`Some(None)`: switch to nothing).
    pub fn take(&self) -> Option<Option<T>> {
        self.0.lock().ok()?.take()
    }
}

/// The least a video encoder is asked for, whatever the network (the session's floor is
/// higher; this guards the encoder against a zero).
const MIN_ENCODER_KBPS: u32 = 30;

/// How long a thread with no source waits before looking for one again.
const IDLE: Duration = Duration::from_millis(20);

impl LocalMedia {
    /// Opens the sources (so a missing camera or microphone fails the join, clearly) and
    /// starts the threads.
    /// `events` hears of a source that fails mid-call; with `options.self_view`, `frames`
    /// gets every captured picture.
    pub fn start(
        options: &CallOptions,
        events: mpsc::Sender<CallEvent>,
        frames: mpsc::Sender<MediaFrame>,
    ) -> Result<Self, CallError> {
        let controls = Arc::new(Controls::default());
        controls
            .video_kbps
            .store(options.video_kbps, Ordering::Relaxed);
        let (video, _) = broadcast::channel(8);
        let (audio, _) = broadcast::channel(32);
        controls
            .camera_off
            .store(options.camera_off, Ordering::Relaxed);
        let video_source = if options.camera_off {
            None
        } else {
            open_video(&options.video, options.format)?
        };
        let audio_source = open_audio(&options.audio)?;
        let share_controls = Arc::new(Controls::default());
        share_controls
            .video_kbps
            .store(options.share_kbps, Ordering::Relaxed);
        let (share, _) = broadcast::channel(8);
        if let Some(target) = &options.share {
            share_controls.next_video.put(Some(open_share(target)?));
        }
        let encoder = OpusEncoder::new(options.audio_bps)?;
        let processor = AudioProcessor::new(options.audio_processing);
        let spawn = |name: &str, body: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(body)
                .map_err(|e| CallError::WebRtc(e.to_string()))
        };
        let threads = vec![
            spawn("video-encode", {
                let (controls, video, kbps) =
                    (Arc::clone(&controls), video.clone(), options.video_kbps);
                let local = Local {
                    events: events.clone(),
                    self_view: options.self_view.then_some(frames),
                };
                Box::new(move || {
                    video_loop(
                        video_source,
                        kbps,
                        controls,
                        video,
                        local,
                        LostInput::Camera,
                    )
                })
            })?,
            spawn("audio-encode", {
                let (controls, audio) = (Arc::clone(&controls), audio.clone());
                let local = Local {
                    events: events.clone(),
                    self_view: None,
                };
                let processor = processor.clone();
                Box::new(move || {
                    audio_loop(audio_source, encoder, processor, controls, audio, local)
                })
            })?,
        ];
        let mut media = Self {
            controls,
            video,
            share_controls,
            share,
            audio,
            processor,
            threads,
            share_start: Some((options.share_kbps, events)),
        };
        if options.share.is_some() {
            media.start_share()?;
        }
        Ok(media)
    }

    /// Starts the share's capture-and-encode thread, once: it takes the screen put in
    /// `share_controls.next_video`.
    pub fn start_share(&mut self) -> Result<(), CallError> {
        let Some((kbps, events)) = self.share_start.take() else {
            return Ok(());
        };
        let (controls, share) = (Arc::clone(&self.share_controls), self.share.clone());
        let local = Local {
            events,
            self_view: None,
        };
        let thread = std::thread::Builder::new()
            .name("share-encode".into())
            .spawn(move || video_loop(None, kbps, controls, share, local, LostInput::Screen))
            .map_err(|e| CallError::WebRtc(e.to_string()))?;
        self.threads.push(thread);
        Ok(())
    }

    pub fn stop(&mut self) {
        self.controls.stop.store(true, Ordering::Relaxed);
        self.share_controls.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for LocalMedia {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sleeps until `start + n × interval`; a thread that fell behind does not try to catch up.
pub fn pace(start: &mut Instant, n: &mut u64, interval: Duration) {
    *n += 1;
    let due = *start + interval * (*n as u32);
    let now = Instant::now();
    if due > now {
        std::thread::sleep(due - now);
    } else if now - due > interval * 4 {
        *start = now;
        *n = 0;
    }
}

/// What a capture thread tells the app directly: its own pictures (self view) and a source
/// that stopped working.
struct Local {
    events: mpsc::Sender<CallEvent>,
    /// Where our own pictures go, with `CallOptions::self_view`.
    self_view: Option<mpsc::Sender<MediaFrame>>,
}

impl Local {
    fn lost(&self, input: LostInput, error: &MediaError) {
        tracing::error!(%error, ?input, "source failed mid-call");
        // Unlike a picture, this notice must not be dropped: the app falls back on it. The
        // source is gone, so waiting for room in the queue costs nothing.
        let reason = error.to_string();
        let _ = self
            .events
            .blocking_send(CallEvent::InputLost { input, reason });
    }
}

fn video_loop(
    mut source: Option<Video>,
    kbps: u32,
    controls: Arc<Controls>,
    out: broadcast::Sender<Arc<EncodedVideo>>,
    local: Local,
    input: LostInput,
) {
    let mut kbps_now = kbps;
    // What is being encoded now: the source's format, its ladder and encoder.
    let mut encoding: Option<(VideoFormat, bool, Adapter, Step, Vp8Encoder)> = None;
    let (mut start, mut n) = (Instant::now(), 0u64);
    let mut captured = 0u64;
    while !controls.stop.load(Ordering::Relaxed) {
        if let Some(next) = controls.next_video.take() {
            source = next;
            (start, n) = (Instant::now(), 0);
        }
        let Some((video, paced)) = source.as_mut() else {
            encoding = None;
            controls.sent_width.store(0, Ordering::Relaxed);
            std::thread::sleep(IDLE);
            continue;
        };
        let format = video.format();
        let screen = video.is_screen();
        if encoding
            .as_ref()
            .is_none_or(|(f, s, ..)| (*f, *s) != (format, screen))
        {
            let adapter = if screen {
                Adapter::for_screen(format.width, format.height, format.fps)
            } else {
                Adapter::new(format.width, format.height, format.fps)
            };
            let step = adapter.step();
            let Some(encoder) = encoder_for(format, screen, step, kbps_now, &controls) else {
                return;
            };
            encoding = Some((format, screen, adapter, step, encoder));
        }
        let Some((_, screen, adapter, step, encoder)) = encoding.as_mut() else {
            continue;
        };
        let interval = Duration::from_secs(1) / format.fps.max(1);
        // Wait first, then take the picture: its capture time must be when it leaves, not a
        // frame interval before.
        if *paced {
            pace(&mut start, &mut n, interval);
        }
        let frame = match video.read() {
            Ok(frame) => frame,
            Err(e) => {
                controls.source_lost.store(true, Ordering::Relaxed);
                local.lost(input, &e);
                source = None;
                continue;
            }
        };
        if controls.camera_off.load(Ordering::Relaxed) {
            continue;
        }
        if let Some(frames) = &local.self_view {
            // Never blocks capture: an app that falls behind misses pictures, not the call.
            let _ = frames.try_send(MediaFrame::SelfVideo {
                frame: frame.clone(),
            });
        }
        // Never zero: an encoder cannot start at 0 kbit/s, and this thread would end.
        let wanted = controls
            .video_kbps
            .load(Ordering::Relaxed)
            .max(MIN_ENCODER_KBPS);
        if let Some(next) = adapter.update(Instant::now(), wanted) {
            tracing::info!(
                scale = next.scale,
                fps_divisor = next.fps_divisor,
                kbps = wanted,
                "video step changed"
            );
            match encoder_for(format, *screen, next, wanted, &controls) {
                Some(fresh) => {
                    (*encoder, *step, kbps_now) = (fresh, next, wanted);
                }
                None => return,
            }
        } else if wanted != kbps_now && encoder.set_bitrate_kbps(wanted).is_ok() {
            kbps_now = wanted;
        }
        captured += 1;
        if captured % u64::from(step.fps_divisor) != 0 {
            continue;
        }
        let frame = match shrink(frame, step.scale) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::error!(error = %e, "cannot scale the picture");
                return;
            }
        };
        if controls.keyframe_wanted.swap(false, Ordering::Relaxed) {
            encoder.request_keyframe();
        }
        let layered = controls.temporal_layers.load(Ordering::Relaxed);
        encoder.set_temporal_layers(layered);
        match encoder.encode(&frame) {
            Ok(Some(encoded)) => {
                controls
                    .video_frames_encoded
                    .fetch_add(1, Ordering::Relaxed);
                let _ = out.send(Arc::new(EncodedVideo {
                    data: Bytes::from(encoded.data),
                    keyframe: encoded.keyframe,
                    layer: encoded.layer,
                    layered,
                    duration: interval * step.fps_divisor,
                }));
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "a frame failed to encode"),
        }
    }
}

/// An encoder for one step of the ladder; says what it sends in `controls`.
fn encoder_for(
    format: VideoFormat,
    screen: bool,
    step: Step,
    kbps: u32,
    controls: &Controls,
) -> Option<Vp8Encoder> {
    let (width, height) = scaled_size(format.width, format.height, step.scale);
    let fps = (format.fps / step.fps_divisor).max(1);
    let config = Vp8Config {
        screen,
        ..Vp8Config::new(width, height, fps, kbps)
    };
    match Vp8Encoder::new(&config) {
        Ok(encoder) => {
            controls.sent_width.store(width, Ordering::Relaxed);
            controls.sent_height.store(height, Ordering::Relaxed);
            controls.sent_fps.store(fps, Ordering::Relaxed);
            Some(encoder)
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot start the video encoder");
            None
        }
    }
}

/// The size [`shrink`] gives: halved `scale`'s log2 times, kept even.
fn scaled_size(width: u32, height: u32, scale: u32) -> (u32, u32) {
    let (mut w, mut h, mut s) = (width, height, scale);
    while s > 1 {
        ((w, h), s) = (scale::half_size(w, h), s / 2);
    }
    (w, h)
}

/// The picture at `1/scale` of its size. A stamped test picture is stamped again at the new
/// size (the stamp's blocks scale with the width) so latency stays measurable at every step.
fn shrink(frame: VideoFrame, scale: u32) -> Result<VideoFrame, MediaError> {
    if scale <= 1 {
        return Ok(frame);
    }
    let stamped = stamp::read(&frame);
    let mut small = frame;
    let mut s = scale;
    while s > 1 {
        small = scale::half(&small)?;
        s /= 2;
    }
    if let Some(stamped) = stamped {
        // Too small to carry a stamp is fine: it is a measurement aid, not content.
        let _ = stamp::write(&mut small, stamped);
    }
    Ok(small)
}

fn audio_loop(
    mut source: Option<Audio>,
    mut encoder: OpusEncoder,
    processor: AudioProcessor,
    controls: Arc<Controls>,
    out: broadcast::Sender<Arc<EncodedAudio>>,
    local: Local,
) {
    let interval = Duration::from_millis(20);
    let (mut start, mut n) = (Instant::now(), 0u64);
    let mut loss_now = None;
    while !controls.stop.load(Ordering::Relaxed) {
        if let Some(next) = controls.next_audio.take() {
            source = next;
            (start, n) = (Instant::now(), 0);
        }
        let Some((audio, paced)) = source.as_mut() else {
            std::thread::sleep(IDLE);
            continue;
        };
        if *paced {
            pace(&mut start, &mut n, interval);
        }
        let loss = controls
            .audio_loss_percent
            .load(Ordering::Relaxed)
            .min(MAX_FEC_LOSS);
        if loss_now != Some(loss) {
            loss_now = Some(loss);
            if let Err(e) = follow_loss(&mut encoder, loss) {
                tracing::warn!(error = %e, "cannot set Opus FEC");
            }
        }
        let mut frame = match audio.read() {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                source = None;
                continue;
            }
            Err(e) => {
                local.lost(LostInput::Microphone, &e);
                source = None;
                continue;
            }
        };
        // Processed even when muted, so the echo canceller stays converged for the unmute.
        if let Err(e) = processor.near_end(&mut frame) {
            tracing::warn!(error = %e, "audio processing failed; this frame goes as captured");
        }
        // Muted still sends (silence costs a few bytes) so the far end's timing holds.
        let frame = if controls.mic_muted.load(Ordering::Relaxed) {
            AudioFrame::silence(frame.capture_us)
        } else {
            frame
        };
        match encoder.encode(&frame) {
            Ok(packet) => {
                let _ = out.send(Arc::new(EncodedAudio {
                    data: Bytes::from(packet),
                }));
            }
            Err(e) => tracing::warn!(error = %e, "an audio frame failed to encode"),
        }
    }
}

/// Opus's in-band FEC is worth its bits only when packets are lost; it is sized by the loss
/// the encoder expects, capped here as libwebrtc caps it.
const MAX_FEC_LOSS: u32 = 20;

fn follow_loss(encoder: &mut OpusEncoder, percent: u32) -> Result<(), MediaError> {
    encoder.set_fec(percent > 0)?;
    encoder.set_expected_loss(percent as u8)
}
