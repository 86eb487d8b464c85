use std::path::PathBuf;

use tincan_media::video::VideoFormat;
use tincan_protocol::AudioProcessing;

use crate::playout::AudioOutput;

/// Which room to be in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomChoice {
    /// Ask the server for a new room.
    Create,
    /// Join by code, as the person typed it.
    Join(String),
}

/// Where the outgoing video comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoInput {
    /// The stamped test pattern.
    Pattern,
    /// The test pattern turning white for one picture on every whole second of the clock:
    /// with [`AudioInput::Beep`], the flash-and-beep clip that measures lip sync
    /// (`tincan_media::sync_clip`).
    Flash,
    /// A y4m file, looping.
    File(PathBuf),
    /// A camera by id, or the first one.
    Camera(Option<String>),
    /// A screen or a window (docs/media.md, "Screen sharing").
    Screen(tincan_media::video::ScreenTarget),
    None,
}

/// Where the outgoing audio comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioInput {
    /// A steady tone at this frequency.
    Tone(f64),
    /// A 100 ms beep at this frequency on every whole second of the clock, silence between
    /// (the sound of the flash-and-beep clip, see [`VideoInput::Flash`]).
    Beep(f64),
    /// A wav file, looping.
    File(PathBuf),
    /// A microphone by id, or the default one.
    Microphone(Option<String>),
    None,
}

/// Everything [`crate::Call::join`] needs.
#[derive(Debug, Clone)]
pub struct CallOptions {
    pub server: String,
    pub room: RoomChoice,
    pub name: String,
    pub video: VideoInput,
    /// Join with the camera off: `video` is not opened (a camera's light stays off) until
    /// [`crate::Call::set_camera_off`] turns it on.
    pub camera_off: bool,
    pub audio: AudioInput,
    /// Echo cancellation, noise suppression and automatic gain on the microphone: all on by
    /// default (a person at a laptop); off for test tones and music, which they would treat
    /// as noise. Changed mid-call with [`crate::Call::set_audio_processing`].
    pub audio_processing: AudioProcessing,
    /// Where the others are heard. None by default: an app picks the speaker (a user's
    /// choice); a bot or a test wants none.
    pub output: AudioOutput,
    /// Hand each captured picture back as [`crate::MediaFrame::SelfVideo`].
    pub self_view: bool,
    /// The size every peer's camera is shown at here (device pixels; `0x0`: not shown, as
    /// by a headless peer), told to each as it connects; `None`: not said until
    /// [`crate::Call::show_video`], and peers send everything.
    pub show_video: Option<(u32, u32)>,
    /// Record each remote peer's video (`<peer id>.ivf`) and audio (`<peer id>.wav`) here.
    pub record: Option<PathBuf>,
    /// Size and frame rate asked of the video source.
    pub format: VideoFormat,
    pub video_kbps: u32,
    /// Share this screen or window from the start, beside the camera
    /// ([`crate::Call::share_screen`] starts and stops it mid-call).
    pub share: Option<tincan_media::video::ScreenTarget>,
    /// The most a screen share may send, in kbit/s: it goes before the camera when the
    /// network is short (text must stay readable; a face can be small).
    pub share_kbps: u32,
    pub audio_bps: i32,
    /// Local addresses for media (`0.0.0.0:0`: every interface but loopback; tests use
    /// `127.0.0.1:0`).
    pub bind: Vec<String>,
    /// Hide this machine's addresses: gather and send only TURN relay candidates, so the
    /// others (and anyone with the room code) never learn a local or public IP address. Needs
    /// a signaling server that hands out TURN (`tincan-server --turn`); joining fails with
    /// [`crate::CallError::NoRelay`] otherwise.
    pub relay_only: bool,
    pub signaling: tincan_signaling::ClientOptions,
}

impl CallOptions {
    pub fn new(server: impl Into<String>, room: RoomChoice, name: impl Into<String>) -> Self {
        Self {
            server: server.into(),
            room,
            name: name.into(),
            video: VideoInput::Pattern,
            camera_off: false,
            audio: AudioInput::Tone(440.0),
            audio_processing: AudioProcessing::ON,
            output: AudioOutput::None,
            record: None,
            self_view: false,
            show_video: None,
            format: VideoFormat {
                width: 640,
                height: 360,
                fps: 30,
            },
            video_kbps: 800,
            share: None,
            share_kbps: 1200,
            audio_bps: 32_000,
            bind: vec!["0.0.0.0:0".to_owned()],
            relay_only: false,
            signaling: tincan_signaling::ClientOptions::default(),
        }
    }
}
