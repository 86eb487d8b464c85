//! What `tincan-cli call` takes on its command line.

use std::path::PathBuf;

use tincan_call::AudioProcessing;

use super::parse::parse_processing;

#[derive(Debug, clap::Args)]
pub struct CallArgs {
    /// The signaling server (ws://, wss://, or host:port). Without it, --create hosts a
    /// server in this process and --room looks for the room on the LAN.
    #[arg(long)]
    pub(crate) server: Option<String>,
    /// The room code to join.
    #[arg(long, conflicts_with = "create")]
    pub(crate) room: Option<String>,
    /// Ring a person by their personal code into a room created for the call, and call them
    /// when they accept (exit 5 declined, 6 no answer, 7 busy, 8 not reachable).
    #[arg(long, value_name = "CODE", conflicts_with_all = ["room", "create"], requires = "server")]
    pub(crate) ring: Option<String>,
    /// Where this peer's personal key is kept (made the first time): its personal code stays
    /// the same from run to run. Without it, a new code each run.
    #[arg(long, value_name = "FILE")]
    pub(crate) identity: Option<PathBuf>,
    /// Create a room and print its code.
    #[arg(long)]
    pub(crate) create: bool,
    /// With --create and no --server: host the room on the LAN (listen on every interface,
    /// answer lookups, advertise over DNS-SD), not on this computer only.
    #[arg(long, requires = "create", conflicts_with = "server")]
    pub(crate) host: bool,
    /// The port a hosted server listens on (0: any free one).
    #[arg(long, default_value_t = 0, requires = "create")]
    pub(crate) host_port: u16,
    #[arg(long, default_value = "tincan-cli")]
    pub(crate) name: String,
    /// pattern, flash (the pattern, white for one picture on every whole second: with
    /// --audio beep, a clip to measure lip sync), a .y4m file, camera or camera:ID, screen (the X display in $DISPLAY),
    /// screen:DISPLAY (like :0) or screen:WINDOW (an X window id), or none. A screen is sent
    /// at its own size up to 1920x1080 and at most 15 fps, encoded for text.
    #[arg(long, default_value = "pattern")]
    pub(crate) video: String,
    /// tone, tone:HZ, beep or beep:HZ (100 ms on every whole second, 1000 Hz by default), a
    /// .wav file, mic or mic:ID, or none.
    #[arg(long, default_value = "tone")]
    pub(crate) audio: String,
    /// Microphone processing: on (echo cancellation, noise suppression, automatic gain), off
    /// (the default: tones and files would be treated as noise), or some of aec,ns,agc.
    #[arg(long, default_value = "off", value_parser = parse_processing)]
    pub(crate) audio_processing: AudioProcessing,
    /// This many seconds into the call, change the processing: SECS:SETTING, SETTING as for
    /// --audio-processing.
    #[arg(long, value_name = "SECS:SETTING")]
    pub(crate) audio_processing_at: Option<String>,
    /// Video size, WIDTHxHEIGHT.
    #[arg(long, default_value = "640x360")]
    pub(crate) size: String,
    /// How big this peer shows the others' cameras, WIDTHxHEIGHT, or none: each sends no
    /// more than that needs (half its frame rate to a tile half its picture each way or less,
    /// nothing to none). Default: not said, everything is sent.
    #[arg(long, value_name = "WxH|none")]
    pub(crate) show: Option<String>,
    #[arg(long, default_value_t = 30)]
    pub(crate) fps: u32,
    /// Video bitrate in kbps.
    #[arg(long, default_value_t = 800)]
    pub(crate) bitrate: u32,
    /// Leave after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    pub(crate) duration: Option<f64>,
    /// Send this chat message to each peer once connected.
    #[arg(long)]
    pub(crate) chat: Option<String>,
    /// Mute the microphone this many seconds into the call.
    #[arg(long)]
    pub(crate) mute_after: Option<f64>,
    /// Push-to-talk, scripted: the microphone is muted except from START to END seconds
    /// into the call (START-END, like 5-7.5; give the flag once per window).
    #[arg(long, value_name = "START-END")]
    pub(crate) talk: Vec<String>,
    /// This many seconds into the call, throw away incoming video and ask every peer for a
    /// keyframe; the wait is reported (keyframe_waits_ms).
    #[arg(long)]
    pub(crate) refresh_video_at: Option<f64>,
    /// This many seconds into the call, switch the video source: SECS:INPUT, INPUT as for
    /// --video (the same track carries it; nothing is renegotiated).
    #[arg(long, value_name = "SECS:INPUT")]
    pub(crate) switch_video_at: Option<String>,
    /// Share a screen beside the camera, on a track of its own (the far end shows it
    /// large): the display in $DISPLAY, a DISPLAY (like :0), a WINDOW (an X window id), or
    /// `portal`: what the person picks in the desktop's ScreenCast portal (how a Wayland
    /// session shares; the whole screen means this there). Sent at its own size up to
    /// 1920x1080, at most 15 fps, encoded for text.
    #[arg(long, value_name = "DISPLAY|WINDOW|portal", num_args = 0..=1, default_missing_value = "")]
    pub(crate) share_screen: Option<String>,
    /// Share the screen only from START to END seconds into the call (START-END, like 5-20).
    #[arg(long, value_name = "START-END", requires = "share_screen")]
    pub(crate) share_during: Option<String>,
    /// This many seconds into the call, switch the audio source: SECS:INPUT, INPUT as for
    /// --audio.
    #[arg(long, value_name = "SECS:INPUT")]
    pub(crate) switch_audio_at: Option<String>,
    /// Where to play the others: none (the default for a headless peer), default, or a
    /// speaker id from `tincan-cli devices`.
    #[arg(long, default_value = "none")]
    pub(crate) speaker: String,
    /// Record each remote peer's video (DIR/<peer id>.ivf, VP8 as received) and audio
    /// (DIR/<peer id>.wav, as played).
    #[arg(long, value_name = "DIR")]
    pub(crate) record: Option<PathBuf>,
    /// Record the call for people to play, as the app's record button does: one WebM file
    /// per remote peer (VP8 as received, Opus) in DIR, everyone told; the files are printed
    /// (`recorded FILE`) when the call ends.
    #[arg(long, value_name = "DIR")]
    pub(crate) record_webm: Option<PathBuf>,
    /// Write a JSON summary per remote peer here at the end.
    #[arg(long)]
    pub(crate) stats_json: Option<PathBuf>,
    /// Local address for media (repeatable): 0.0.0.0:0 uses every interface but loopback.
    #[arg(long = "bind", default_value = "0.0.0.0:0")]
    pub(crate) bind: Vec<String>,
    /// Hide this machine's addresses: send only TURN relay candidates (the server must hand
    /// out TURN; exit 4 otherwise).
    #[arg(long)]
    pub(crate) relay_only: bool,
    #[command(flatten)]
    pub(crate) files: super::files::FileArgs,
}
