use serde::Serialize;

use crate::files::FileEvent;
use crate::peer::ShareStats;
use tincan_media::audio::ProcessingStats;
use tincan_media::{AudioFrame, VideoFrame};
use tincan_protocol::{AudioProcessing, PeerId, PeerInfo, RoomCode};

/// Per-peer statistics, sent every second and at the end of the call.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PeerStats {
    pub peer_id: String,
    pub name: String,
    /// Both peers in the room → first remote frame decoded, in ms.
    pub setup_ms: Option<u64>,
    pub connected: bool,
    /// Round trip time on the selected candidate pair, in ms.
    pub rtt_ms: Option<f64>,
    /// The selected candidate pair's types: host, srflx, prflx or relay.
    pub local_candidate: Option<String>,
    pub remote_candidate: Option<String>,
    /// Bitrates over the last second, everything we send this peer and receive from it.
    pub kbps_out: f64,
    pub kbps_in: f64,
    /// What the bandwidth estimate says we may send this peer, in kbps.
    pub available_send_kbps: Option<u64>,
    /// Video frame rates over the last second: sent to this peer, decoded from it.
    pub fps_sent: f64,
    pub fps_received: f64,
    /// Picture sizes (width, height) sent to this peer now and last decoded from it.
    pub sent_size: Option<(u32, u32)>,
    pub received_size: Option<(u32, u32)>,
    /// Interarrival jitter of what this peer sends us, in ms.
    pub audio_jitter_ms: Option<f64>,
    pub video_jitter_ms: Option<f64>,
    /// How much audio the jitter buffer holds before playing (it adapts to the jitter), ms.
    pub audio_buffer_ms: u64,
    /// Times the video from this peer froze, and for how long in all (ms).
    pub freezes: u64,
    pub freeze_ms: u64,
    pub video_frames_sent: u64,
    pub video_frames_received: u64,
    pub video_frames_decoded: u64,
    /// Keyframes we asked this peer for (PLI), and it asked us for (PLI or FIR).
    pub keyframes_requested: u64,
    pub keyframes_asked_of_us: u64,
    pub audio_frames_sent: u64,
    pub audio_frames_received: u64,
    pub audio_frames_concealed: u64,
    /// How loud this peer is as played here: RMS (0–1) over about the last half second
    /// (what the app's active speaker follows).
    pub speaking_level: f64,
    pub packets_lost: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub chat_received: u64,
    /// Chat messages from this peer dropped: over `MAX_CHAT_BYTES`, or over 10 in a second.
    pub chat_dropped: u64,
    /// How long video from this peer is held before decoding, so repaired frames are on
    /// time (the playout delay), in ms.
    pub video_delay_ms: u64,
    /// Video packets we asked this peer to resend (NACK), each ask counted.
    pub nacks_sent: u64,
    /// Retransmissions we sent this peer (packets and bytes; `kbps_out` includes them), and
    /// packets it asked for that the retransmission budget did not resend.
    pub rtx_packets_sent: u64,
    pub rtx_bytes_sent: u64,
    pub rtx_refused: u64,
    /// How long each keyframe asked for with `refresh_video` took to arrive, in ms.
    pub keyframe_waits_ms: Vec<u64>,
    pub security_code: Option<String>,
    /// The kinds of ICE candidate this peer sent us (host, srflx, prflx, relay), sorted: only
    /// `relay` when it hides its addresses.
    pub remote_candidate_types: Vec<String>,
    /// ICE restarts we started toward this peer (its path went down, or our network changed).
    pub ice_restarts: u64,
    /// What our microphone's processing does now (the same for every peer): which stages
    /// are on, and the echo canceller's delay estimate.
    pub audio_processing: ProcessingStats,
    /// How this peer says it processes its microphone (native peers say; browsers do not).
    pub remote_audio_processing: Option<AudioProcessing>,
    /// Screen shares, ours to this peer and its to us.
    pub share: ShareStats,
}

/// Which local input a [`CallEvent::InputLost`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LostInput {
    Camera,
    Microphone,
    /// The shared screen or window (closed, or the display went away): the share is over.
    Screen,
}

/// What happens in a call, in order.
#[derive(Debug, Clone)]
pub enum CallEvent {
    /// In the room (after a create, the code to share is `room`). Sent again, with a new
    /// `peer_id`, if the call had to rejoin as a new peer after a long outage (everyone had a
    /// [`CallEvent::PeerLeft`] first).
    Joined {
        room: RoomCode,
        peer_id: PeerId,
        peers: Vec<PeerInfo>,
    },
    PeerJoined(PeerInfo),
    PeerLeft {
        peer: PeerId,
    },
    /// Media flows with this peer; `security_code` is the same on both ends.
    Connected {
        peer: PeerId,
        security_code: String,
    },
    /// Fresh TURN credentials came before the old ones expired; the paths through the relay
    /// (to `restarted`) were restarted onto allocations made with them.
    IceRenewed {
        restarted: Vec<PeerId>,
    },
    /// The connection to a peer failed or dropped.
    Disconnected {
        peer: PeerId,
        reason: String,
    },
    /// A peer started (`on`) or stopped sharing its screen: its pictures with `screen` are
    /// the share while it is on (docs/protocol.md, "Screen sharing").
    Sharing {
        peer: PeerId,
        on: bool,
    },
    /// A peer started (`on`) or stopped recording the call (`Signal::Recording`).
    Recording {
        peer: PeerId,
        on: bool,
    },
    /// A camera or microphone stopped working mid-call (unplugged, taken by another app): the
    /// call goes on without it until the app switches to another with `set_video_input` or
    /// `set_audio_input`.
    InputLost {
        input: LostInput,
        reason: String,
    },
    Chat {
        peer: PeerId,
        text: String,
    },
    /// A file transfer's course ([`crate::Call::send_file`], or a peer's offer).
    File(FileEvent),
    /// The keyframe asked for by [`crate::Call::refresh_video`] arrived.
    KeyframeArrived {
        peer: PeerId,
        after_ms: u64,
    },
    Stats(PeerStats),
    /// The connection to the signaling server dropped: calls already connected go on (media
    /// does not pass through it), and it is being retried. Nobody new can join meanwhile.
    ServerLost {
        reason: String,
    },
    /// Back in the room on the server after [`CallEvent::ServerLost`].
    ServerBack,
    /// Something went wrong that the user should know about; the call goes on.
    Error {
        message: String,
    },
    /// The call is over (left, or signaling gave up).
    Ended {
        reason: String,
    },
}

/// Pictures and sound from the call, on a queue of their own apart from the control events
/// ([`CallEvent`]): a consumer that falls behind on pictures never delays or loses an error,
/// a join or a leave.
#[derive(Debug)]
pub enum MediaFrame {
    Video {
        peer: PeerId,
        /// From the peer's screen share (its second video track), not its camera.
        screen: bool,
        frame: VideoFrame,
        /// When to show it so it lines up with the audio captured with it: the audio waits
        /// in a jitter buffer, so the picture should wait as long (docs/calls.md).
        show_at: std::time::Instant,
    },
    Audio {
        peer: PeerId,
        frame: AudioFrame,
    },
    /// A picture from our own camera as it is sent (with `CallOptions::self_view`): the self
    /// view. Dropped rather than queued when the app falls behind.
    SelfVideo {
        frame: VideoFrame,
    },
}

/// What a joined call hands out: its control events and its media, on two queues. Both must
/// be read (or dropped): a full `frames` queue holds the video decoders back.
pub struct CallFeeds {
    pub events: tokio::sync::mpsc::Receiver<CallEvent>,
    pub frames: tokio::sync::mpsc::Receiver<MediaFrame>,
}
