//! One remote peer: its RTCPeerConnection and the event handler webrtc-rs calls
//! ([`handler`]), wired to what we send it ([`crate::send`]), what we receive from it
//! ([`crate::receive`]), chat ([`crate::chat`]) and its counters ([`crate::counters`]).

mod handler;
mod share;

pub use handler::peer_connection_handlers_alive;
pub(crate) use handler::{DecoderThread, PeerInput, Tasks};
use handler::{Handler, Wiring};
pub(crate) use share::Share;
pub use share::ShareStats;

use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tincan_protocol::{IceServer, PeerId};
use tokio::sync::{broadcast, mpsc};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::Track;
use webrtc::peer_connection::{PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler};

use crate::audio_jitter::AudioJitterBuffer;
use crate::chat::{read_chat, Chat, CHAT_LABEL};
use crate::congestion::{Estimate, LossBased};
use crate::counters::Counters;
use crate::engine;
use crate::error::{webrtc, CallError};
use crate::events::{CallEvent, MediaFrame, PeerStats};
use crate::files::{
    send_file, Control, Outgoing, Reporting, Transfers, FILE_LABEL, SEND_BUFFER_BYTES,
};
use crate::inbound_rtcp::ReceptionReports;
use crate::media::{Controls, EncodedAudio, EncodedVideo};
use crate::negotiation::Negotiation;
use crate::playout::PeerAudio;
use crate::recording::AudioRecorder;
use crate::retransmit_budget::RetransmitStats;
use crate::send::{local_track, random_u32, send_audio, send_video};
use crate::stats::{path_stats, PathStats, RateWindow, Totals};
use crate::wanted::Shown;

/// Every peer connection this process made, weakly: a leak check can count the ones still
/// alive after their calls ended (webrtc-rs issue 906 reports closed connections leaking).
static MADE: Mutex<Vec<std::sync::Weak<dyn PeerConnection>>> = Mutex::new(Vec::new());

/// Peer connections still alive in this process (open ones, and any leaked after close).
pub fn live_peer_connections() -> usize {
    let mut made = MADE.lock().unwrap_or_else(|p| p.into_inner());
    made.retain(|weak| weak.strong_count() > 0);
    made.len()
}

/// One remote peer's connection.
pub(crate) struct PeerSession {
    pub id: PeerId,
    pub name: String,
    pub pc: Arc<dyn PeerConnection>,
    pub counters: Arc<Counters>,
    /// Where the offer/answer exchange stands (perfect negotiation; candidates held).
    pub negotiation: Negotiation,
    /// ICE restarts we started toward this peer.
    pub ice_restarts: u64,
    /// An offer waits for the peer's commitment (docs/calls.md, "The security code"): `Some`
    /// when one does, `Some(true)` when it restarts ICE.
    pub offer_held: Option<bool>,
    pub chat: Arc<Chat>,
    pub security_code: Option<String>,
    /// The kinds of candidate this peer sent us (host, srflx, prflx, relay), each once.
    remote_candidate_types: Vec<String>,
    /// Asks the video receive task to throw frames away until a fresh keyframe.
    pub refresh: mpsc::UnboundedSender<()>,
    /// The bandwidth estimate for what we send this peer.
    pub estimate: Arc<Estimate>,
    /// What leaves for this peer (media and retransmissions), counted on the wire.
    rtx: Arc<RetransmitStats>,
    /// Retransmissions sent in the last second, kbit/s, and the count it was taken from.
    rtx_kbps: f64,
    rtx_counted: Option<(Instant, u64)>,
    /// The loss-based part of the estimate, from the far end's reception reports.
    loss_based: LossBased,
    reports: Arc<ReceptionReports>,
    /// Our video and audio SSRCs toward this peer: what its reports are about.
    video_ssrc: u32,
    audio_ssrc: u32,
    /// This peer's incoming audio, for the playout thread.
    pub audio: Arc<PeerAudio>,
    /// How the peer says it processes its microphone (`Signal::AudioProcessing`).
    pub remote_audio_processing: Option<tincan_protocol::AudioProcessing>,
    /// Whether the peer says it records the call (`Signal::Recording`).
    pub remote_recording: bool,
    /// The size the peer says it shows our camera at (`Signal::VideoWanted`).
    pub shown: Arc<Shown>,
    /// What webrtc-rs's statistics said at the last refresh.
    pub path: PathStats,
    /// The last selected candidate pair seen (a restart can leave none selected for a
    /// refresh or two in between).
    known_pair: Option<String>,
    rates: RateWindow,
    controls: Arc<Controls>,
    decoder_thread: DecoderThread,
    /// The screen share's tracks, both ways.
    pub share: Share,
    share_controls: Arc<Controls>,
    tasks: Arc<Tasks>,
    handler: Arc<Handler>,
}

/// Adds a VP8 track in `stream` to `pc` and starts its sender loop on `frames`, whose
/// keyframe requests go to `controls`; with `shown`, the peer takes what the size it shows
/// the pictures at asks for ([`crate::wanted`]). Returns the track's SSRC.
async fn add_video_track(
    pc: &Arc<dyn PeerConnection>,
    stream: &str,
    tasks: &Tasks,
    frames: broadcast::Receiver<Arc<EncodedVideo>>,
    (controls, shown): (Arc<Controls>, Option<Arc<Shown>>),
    counters: Arc<Counters>,
) -> Result<u32, CallError> {
    let track = local_track(stream, RtpCodecKind::Video, engine::vp8_codec())?;
    let ssrc = track.ssrcs().await.first().copied().unwrap_or(0);
    let sender = pc
        .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
        .await
        .map_err(webrtc)?;
    tasks.spawn(send_video(
        track,
        sender,
        frames,
        (controls, shown),
        counters,
    ));
    Ok(ssrc)
}

/// How long a file waits for the connection's data channels to come up before it is
/// offered anyway.
const ASSOCIATION_WITHIN: std::time::Duration = std::time::Duration::from_secs(30);

/// The estimate may climb to this multiple of what the user asked to send: the encoder never
/// goes above the ask, but room above it keeps the pacer from becoming the bottleneck.
const ESTIMATE_HEADROOM: f64 = 2.0;

pub(crate) struct NewPeer<'a> {
    pub id: PeerId,
    pub name: String,
    pub me: &'a PeerId,
    pub ice: &'a [IceServer],
    /// Our DTLS certificate ([`crate::Identity`]).
    pub certificate: rtc::peer_connection::certificate::RTCCertificate,
    pub bind: &'a [String],
    /// Only relay candidates ([`crate::CallOptions::relay_only`]).
    pub relay_only: bool,
    pub controls: Arc<Controls>,
    pub share_controls: Arc<Controls>,
    /// What the user asked to send: where the bandwidth estimate starts.
    pub send_kbps: u32,
    /// The most the estimate may reach: everything we could send at once (a share too).
    pub max_send_kbps: u32,
    /// Where to record what this peer sends, if anywhere.
    pub record: Option<&'a Path>,
    pub video: &'a broadcast::Sender<Arc<EncodedVideo>>,
    pub share: &'a broadcast::Sender<Arc<EncodedVideo>>,
    pub audio: &'a broadcast::Sender<Arc<EncodedAudio>>,
    pub inputs: mpsc::UnboundedSender<PeerInput>,
    pub events: mpsc::Sender<CallEvent>,
    pub frames: mpsc::Sender<MediaFrame>,
    pub transfers: Arc<Transfers>,
}

impl PeerSession {
    pub async fn new(new: NewPeer<'_>) -> Result<Self, CallError> {
        let start_bps = f64::from(new.send_kbps) * 1000.0;
        let max_bps = f64::from(new.max_send_kbps.max(new.send_kbps)) * 1000.0 * ESTIMATE_HEADROOM;
        let (media_engine, registry, measured) =
            engine::media_engine_and_interceptors(start_bps, max_bps)?;
        let engine::Measured {
            estimate,
            sent: rtx,
            reports,
        } = measured;
        let counters = Arc::new(Counters::default());
        if let Ok(mut started) = counters.started.lock() {
            *started = Some(Instant::now());
        }
        let chat: Arc<Chat> = Arc::default();
        let (refresh, refresh_rx) = mpsc::unbounded_channel();
        let audio = Arc::new(PeerAudio {
            buffer: Mutex::new(AudioJitterBuffer::new()?),
            counters: Arc::clone(&counters),
            recorder: Mutex::new(new.record.map(|dir| AudioRecorder::new(dir, &new.id))),
            tape: Arc::default(),
        });
        let decoder_thread: DecoderThread = Arc::default();
        let share = Share::default();
        let tasks = Arc::new(Tasks::default());
        let handler = Arc::new(Handler::new(Wiring {
            peer: new.id.clone(),
            relay_only: new.relay_only,
            tasks: Arc::clone(&tasks),
            refresh: Mutex::new(Some(refresh_rx)),
            inputs: new.inputs,
            events: new.events,
            frames: new.frames,
            counters: Arc::clone(&counters),
            audio: Arc::clone(&audio),
            chat: Arc::clone(&chat),
            transfers: new.transfers,
            record: new.record.map(Path::to_path_buf),
            decoder_thread: Arc::clone(&decoder_thread),
            share_counters: Arc::clone(&share.counters),
            share_decoder_thread: Arc::clone(&share.decoder_thread),
            pc: Mutex::default(),
        }));
        let pc = PeerConnectionBuilder::new()
            .with_configuration(engine::configuration(
                new.ice,
                new.relay_only,
                Some(new.certificate),
            ))
            .with_setting_engine(engine::settings(new.relay_only))
            .with_media_engine(media_engine)
            .with_interceptor_registry(registry)
            .with_handler(Arc::clone(&handler) as Arc<dyn PeerConnectionEventHandler>)
            .with_udp_addrs(new.bind.to_vec())
            .with_runtime(crate::runtime::shared())
            // A file's sender waits while this much is unacknowledged (crate::files).
            .with_data_channel_send_buffer_limit(SEND_BUFFER_BYTES)
            .build()
            .await
            .map_err(webrtc)?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        MADE.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::downgrade(&pc));
        handler.know_connection(&pc);

        // One stream for both tracks: a browser plays audio and video of one stream in sync
        // (the msid in the SDP), and tracks of different streams independently.
        let shown: Arc<Shown> = Arc::default();
        let stream = format!("tincan-{:08x}", random_u32());
        let video_ssrc = add_video_track(
            &pc,
            &stream,
            &tasks,
            new.video.subscribe(),
            (Arc::clone(&new.controls), Some(Arc::clone(&shown))),
            Arc::clone(&counters),
        )
        .await?;
        let audio_track = local_track(&stream, RtpCodecKind::Audio, engine::opus_codec())?;
        let audio_ssrc = audio_track.ssrcs().await.first().copied().unwrap_or(0);
        let audio_sender = pc
            .add_track(Arc::clone(&audio_track) as Arc<dyn TrackLocal>)
            .await
            .map_err(webrtc)?;
        tasks.spawn(send_audio(
            audio_track,
            audio_sender,
            new.audio.subscribe(),
            Arc::clone(&counters),
        ));
        // The share's track comes after the camera's and the microphone's, so it is the
        // second video m-section of every offer we make (docs/protocol.md, "Screen sharing").
        add_video_track(
            &pc,
            &format!("tincan-share-{:08x}", random_u32()),
            &tasks,
            new.share.subscribe(),
            (Arc::clone(&new.share_controls), None),
            Arc::clone(&share.counters),
        )
        .await?;

        Ok(Self {
            // The smaller id is the polite one (docs/protocol.md).
            negotiation: Negotiation::new(new.me < &new.id),
            id: new.id,
            name: new.name,
            pc,
            counters,
            ice_restarts: 0,
            offer_held: None,
            chat,
            security_code: None,
            remote_candidate_types: Vec::new(),
            refresh,
            estimate,
            rtx,
            rtx_kbps: 0.0,
            rtx_counted: None,
            loss_based: LossBased::new(start_bps, start_bps * ESTIMATE_HEADROOM),
            reports,
            video_ssrc,
            audio_ssrc,
            audio,
            remote_audio_processing: None,
            remote_recording: false,
            shown,
            path: PathStats::default(),
            known_pair: None,
            rates: RateWindow::default(),
            controls: new.controls,
            decoder_thread,
            share,
            share_controls: new.share_controls,
            tasks,
            handler,
        })
    }

    /// Opens the chat channel (the offering side creates it; the other receives it).
    pub async fn open_chat(&self, events: mpsc::Sender<CallEvent>) -> Result<(), CallError> {
        let channel = self
            .pc
            .create_data_channel(CHAT_LABEL, None)
            .await
            .map_err(webrtc)?;
        self.tasks.spawn(read_chat(
            self.id.clone(),
            channel,
            Arc::clone(&self.chat),
            Arc::clone(&self.counters),
            events,
        ));
        Ok(())
    }

    /// Starts sending a file to this peer on a channel of its own: it is offered as soon
    /// as the connection can carry it, and sent if the peer accepts ([`crate::files`]).
    pub fn send_file(
        &self,
        outgoing: Outgoing,
        control: mpsc::Receiver<Control>,
        report: Reporting,
    ) {
        let (pc, chat) = (Arc::clone(&self.pc), Arc::clone(&self.chat));
        self.tasks.spawn(async move {
            let open = || async {
                // A channel made while the SCTP association is still being set up never
                // opens (docs/traps.md, trap 20): the chat channel opens with the
                // association, so its opening says the association is up.
                let ready = tokio::time::Instant::now() + ASSOCIATION_WITHIN;
                while !chat.is_open().await && tokio::time::Instant::now() < ready {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                pc.create_data_channel(FILE_LABEL, None)
                    .await
                    .map_err(|e| webrtc(e).to_string())
            };
            send_file(open, outgoing, control, report).await;
        });
    }

    /// Sends a chat message, or queues it until the chat channel opens.
    pub async fn send_chat(&self, text: &str) -> Result<(), CallError> {
        self.chat.send(&self.name, text).await
    }

    /// Reads webrtc-rs's statistics about the path (the round trip, for the receiver's
    /// repairs and the retransmission budget); also done as soon as the peer connects, so
    /// the first frames know the round trip.
    pub async fn refresh_path(&mut self) {
        let path = path_stats(self.pc.as_ref()).await;
        if let Some(pair) = &path.pair {
            if self.known_pair.as_ref().is_some_and(|known| known != pair) {
                tracing::debug!(from = ?self.known_pair, to = %pair, "the path moved");
                self.counters.path_changes.fetch_add(1, Ordering::Relaxed);
            }
            self.known_pair = Some(pair.clone());
        }
        self.path = path;
        if let Some(rtt_ms) = self.path.rtt_ms {
            let us = (rtt_ms * 1000.0) as u64;
            self.counters.rtt_us.store(us, Ordering::Relaxed);
            self.rtx.rtt_us.store(us, Ordering::Relaxed);
        }
        self.share.follow(&self.counters);
    }

    /// Reads webrtc-rs's statistics and turns the counters into rates: once a second.
    pub async fn refresh_stats(&mut self) {
        self.refresh_path().await;
        self.follow_reported_loss();
        let now = Instant::now();
        let rtx_bytes = self.rtx.rtx_bytes.load(Ordering::Relaxed);
        if let Some((at, bytes)) = self.rtx_counted.replace((now, rtx_bytes)) {
            let secs = now.saturating_duration_since(at).as_secs_f64();
            if secs > 0.0 {
                self.rtx_kbps = rtx_bytes.saturating_sub(bytes) as f64 * 8.0 / 1000.0 / secs;
            }
        }
        let c = &self.counters;
        let load = |v: &AtomicU64| v.load(Ordering::Relaxed);
        self.rates.sample(
            Instant::now(),
            Totals {
                // Everything that left as RTP, retransmissions included.
                bytes_sent: load(&self.rtx.media_bytes) + load(&self.rtx.rtx_bytes),
                bytes_received: load(&c.bytes_received),
                frames_sent: load(&c.video_frames_sent),
                frames_decoded: load(&c.video_frames_decoded),
            },
        );
        self.share.sample(now);
    }

    /// Marks the connection up or down, for the camera's tasks and the share's.
    pub fn set_connected(&self, connected: bool) {
        self.counters.connected.store(connected, Ordering::Relaxed);
        self.share.follow(&self.counters);
    }

    /// The loss-based part of the estimate follows the far end's receiver reports (the only
    /// part a far end without transport-wide feedback gives).
    fn follow_reported_loss(&mut self) {
        if let Some(reported) = self.reports.get(self.video_ssrc) {
            if let Some(bps) = self.loss_based.on_counts(reported.highest, reported.lost) {
                self.estimate.set_loss_bps(bps);
            }
        }
    }

    /// Notes the kind of a candidate this peer sent (`typ` in its SDP line).
    pub fn note_remote_candidate(&mut self, candidate: &str) {
        let typ = candidate_type(candidate).unwrap_or("unknown");
        // Bounded by the four kinds ICE has (and "unknown").
        if !self.remote_candidate_types.iter().any(|t| t == typ)
            && self.remote_candidate_types.len() < 5
        {
            self.remote_candidate_types.push(typ.to_owned());
            self.remote_candidate_types.sort();
        }
    }

    /// Retransmissions sent this peer over the last second, kbit/s.
    pub fn rtx_kbps(&self) -> f64 {
        self.rtx_kbps
    }

    /// Share of our audio the far end's last report says it lost, in percent.
    pub fn audio_loss_percent(&self) -> Option<f64> {
        self.reports
            .get(self.audio_ssrc)
            .map(|r| f64::from(r.fraction_lost) * 100.0 / 256.0)
    }

    pub fn stats(&self) -> PeerStats {
        let c = &self.counters;
        let load = |v: &AtomicU64| v.load(Ordering::Relaxed);
        let load32 = |v: &AtomicU32| v.load(Ordering::Relaxed);
        let rates = self.rates.rates();
        let sending = load(&c.video_frames_sent) > 0;
        PeerStats {
            peer_id: self.id.0.clone(),
            name: self.name.clone(),
            setup_ms: c.setup_ms(),
            connected: c.connected.load(Ordering::Relaxed),
            rtt_ms: self.path.rtt_ms,
            local_candidate: self.path.local_candidate.clone(),
            remote_candidate: self.path.remote_candidate.clone(),
            kbps_out: rates.kbps_out,
            kbps_in: rates.kbps_in,
            available_send_kbps: match self.estimate.bps() {
                0 => None,
                bps => Some(bps / 1000),
            },
            fps_sent: rates.fps_sent,
            fps_received: rates.fps_received,
            sent_size: match (load32(&self.controls.sent_width), sending) {
                (0, _) | (_, false) => None,
                (width, true) => Some((width, load32(&self.controls.sent_height))),
            },
            received_size: match (load32(&c.received_width), load32(&c.received_height)) {
                (0, _) | (_, 0) => None,
                size => Some(size),
            },
            audio_jitter_ms: self.path.audio_jitter_ms,
            audio_buffer_ms: self
                .audio
                .buffer
                .lock()
                .map(|b| b.target_frames() as u64 * 20)
                .unwrap_or(0),
            video_jitter_ms: self.path.video_jitter_ms,
            freezes: load(&c.freezes),
            freeze_ms: load(&c.freeze_ms),
            video_frames_sent: load(&c.video_frames_sent),
            video_frames_received: load(&c.video_frames_received),
            video_frames_decoded: load(&c.video_frames_decoded),
            keyframes_requested: load(&c.keyframes_requested),
            keyframes_asked_of_us: load(&c.keyframes_asked_of_us),
            audio_frames_sent: load(&c.audio_frames_sent),
            audio_frames_received: load(&c.audio_frames_received),
            audio_frames_concealed: load(&c.audio_frames_concealed),
            speaking_level: c.speaking_level(),
            packets_lost: load(&c.packets_lost),
            bytes_sent: load(&c.bytes_sent),
            bytes_received: load(&c.bytes_received),
            chat_received: load(&c.chat_received),
            chat_dropped: load(&c.chat_dropped),
            video_delay_ms: load(&c.video_delay_ms),
            nacks_sent: load(&c.nacks_sent),
            rtx_packets_sent: load(&self.rtx.rtx_packets),
            rtx_bytes_sent: load(&self.rtx.rtx_bytes),
            rtx_refused: load(&self.rtx.refused),
            keyframe_waits_ms: c
                .keyframe_waits_ms
                .lock()
                .map(|w| w.clone())
                .unwrap_or_default(),
            security_code: self.security_code.clone(),
            remote_candidate_types: self.remote_candidate_types.clone(),
            ice_restarts: self.ice_restarts,
            // The session fills in our own processing: it is the call's, not the peer's.
            audio_processing: Default::default(),
            remote_audio_processing: self.remote_audio_processing,
            share: self.share.stats(&self.share_controls),
        }
    }

    pub async fn close(self) {
        self.handler.detach();
        self.chat.detach().await;
        self.tasks.abort_all();
        if let Err(e) = self.pc.close().await {
            tracing::debug!(error = %e, "closing a peer connection");
        }
        // The receive task is gone, so the decoder's queue is closed and its thread ends once
        // it has written out what it had.
        for slot in [&self.decoder_thread, &self.share.decoder_thread] {
            let thread = slot.lock().ok().and_then(|mut t| t.take());
            if let Some(thread) = thread {
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }
        }
        let recorder = self.audio.recorder.lock().ok().and_then(|mut r| r.take());
        if let Some(Err(e)) = recorder.map(AudioRecorder::finish) {
            tracing::warn!(error = %e, "the audio recording did not close cleanly");
        }
    }
}

/// The `typ` of an ICE candidate line (RFC 8839: `… typ host …`), if it is one ICE knows.
fn candidate_type(candidate: &str) -> Option<&'static str> {
    let mut words = candidate.split_whitespace();
    words.find(|w| *w == "typ")?;
    let typ = words.next()?;
    ["host", "srflx", "prflx", "relay"]
        .into_iter()
        .find(|known| *known == typ)
}

#[cfg(test)]
mod tests {
    use super::candidate_type;

    #[test]
    fn a_candidates_type_is_read_from_its_line() {
        let relay = "candidate:1 1 udp 16777215 10.0.0.1 40000 typ relay raddr 0.0.0.0 rport 0";
        assert_eq!(candidate_type(relay), Some("relay"));
        let host = "candidate:2 1 udp 2130706431 192.168.1.2 5000 typ host";
        assert_eq!(candidate_type(host), Some("host"));
        assert_eq!(candidate_type("candidate:3 1 udp 1 x 1 typ"), None);
        assert_eq!(candidate_type("candidate:4 1 udp 1 x 1 typ weird"), None);
        assert_eq!(candidate_type("garbage"), None);
    }
}
