//! The event handler webrtc-rs calls for one peer connection: it forwards what happens to
//! the session ([`PeerInput`]) and starts the receive and chat tasks, and owns nothing else.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tincan_protocol::PeerId;
use tokio::sync::mpsc;
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceCandidateInit, RTCIceCandidateType,
    RTCIceConnectionState, RTCIceGatheringState, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
};

use crate::chat::{read_chat, Chat, CHAT_LABEL};
use crate::counters::Counters;
use crate::events::{CallEvent, MediaFrame};
use crate::files::{receive_file, Transfers, FILE_LABEL};
use crate::playout::PeerAudio;
use crate::receive::{receive_audio, receive_video};

/// What a peer connection's handler reports to the session.
#[derive(Debug)]
pub(crate) enum PeerInput {
    Candidate(PeerId, RTCIceCandidateInit),
    /// Every local candidate of this ICE generation has been given.
    GatheringDone(PeerId),
    State(PeerId, RTCPeerConnectionState),
    /// Fresh ICE servers (TURN credentials) the server sent for the whole call, or why not
    /// (asked by the session before the old ones expire: [`crate::ice_renewal`]).
    IceServers(Result<Vec<tincan_protocol::IceServer>, String>),
}

/// Every task a peer's session starts, so closing the session ends them all (a task left
/// waiting on a closed track would outlive the call).
#[derive(Default)]
pub(crate) struct Tasks(Mutex<Vec<tokio::task::JoinHandle<()>>>);

impl Tasks {
    pub fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(task);
        if let Ok(mut tasks) = self.0.lock() {
            tasks.retain(|t| !t.is_finished());
            tasks.push(handle);
        }
    }

    pub fn abort_all(&self) {
        if let Ok(mut tasks) = self.0.lock() {
            for task in tasks.drain(..) {
                task.abort();
            }
        }
    }
}

/// What a peer connection's callbacks need. The session detaches it when the peer closes.
///
/// Why: the handler holds the chat data channel, the data channel holds the connection's
/// internals, and those hold the handler — a cycle that kept every closed connection's state
/// (and the call's event queue) alive. The repeat test found it: after 22 calls all 44
/// handlers were alive and RSS had grown 25 MiB; with the detach, none are and it grew 7 MiB.
pub(super) struct Wiring {
    pub(super) peer: PeerId,
    pub(super) relay_only: bool,
    pub(super) tasks: Arc<Tasks>,
    /// Taken by the video receive task when the remote video track arrives.
    pub(super) refresh: Mutex<Option<mpsc::UnboundedReceiver<()>>>,
    pub(super) inputs: mpsc::UnboundedSender<PeerInput>,
    pub(super) events: mpsc::Sender<CallEvent>,
    /// Where the peer's pictures go.
    pub(super) frames: mpsc::Sender<MediaFrame>,
    pub(super) counters: Arc<Counters>,
    pub(super) audio: Arc<PeerAudio>,
    pub(super) chat: Arc<Chat>,
    pub(super) transfers: Arc<Transfers>,
    /// Where to record what this peer sends, if anywhere.
    pub(super) record: Option<PathBuf>,
    pub(super) decoder_thread: DecoderThread,
    /// The screen share's counters and decoder thread ([`super::Share`]).
    pub(super) share_counters: Arc<Counters>,
    pub(super) share_decoder_thread: DecoderThread,
    /// The connection, weakly (a strong one would be a cycle), to read the remote
    /// description when a track arrives: it says which track is the share.
    pub(super) pc: Mutex<Option<std::sync::Weak<dyn PeerConnection>>>,
}

impl Wiring {
    /// Whether a remote video track is the peer's screen share ([`super::share::is_share`]).
    async fn is_share(&self, track: &Arc<dyn TrackRemote>) -> bool {
        let pc = self.pc.lock().ok().and_then(|pc| pc.as_ref()?.upgrade());
        let Some(pc) = pc else { return false };
        let Some(remote) = pc.remote_description().await else {
            return false;
        };
        super::share::is_share(
            &remote.sdp,
            &track.stream_id().await,
            &track.track_id().await,
            &track.ssrcs().await,
        )
    }
}

/// The video decoder's thread, joined when the peer closes so its recording is complete.
pub(crate) type DecoderThread = Arc<Mutex<Option<std::thread::JoinHandle<()>>>>;

/// Event handlers not yet freed: a diagnostic for reference cycles through webrtc-rs (see
/// [`Wiring`]); after a call ends it should return to zero.
static HANDLERS_ALIVE: AtomicU64 = AtomicU64::new(0);

/// Peer connection event handlers not yet freed (0 once every call has ended).
pub fn peer_connection_handlers_alive() -> u64 {
    HANDLERS_ALIVE.load(Ordering::Relaxed)
}

pub(crate) struct Handler {
    wiring: Mutex<Option<Arc<Wiring>>>,
}

impl Handler {
    pub(super) fn new(wiring: Wiring) -> Self {
        HANDLERS_ALIVE.fetch_add(1, Ordering::Relaxed);
        Self {
            wiring: Mutex::new(Some(Arc::new(wiring))),
        }
    }

    fn wiring(&self) -> Option<Arc<Wiring>> {
        self.wiring.lock().ok()?.clone()
    }

    /// Lets the callbacks read the connection's descriptions (weakly held).
    pub fn know_connection(&self, pc: &Arc<dyn PeerConnection>) {
        if let Some(w) = self.wiring() {
            if let Ok(mut slot) = w.pc.lock() {
                *slot = Some(Arc::downgrade(pc));
            }
        }
    }

    /// Drops everything the callbacks could reach; later callbacks do nothing.
    pub fn detach(&self) {
        if let Ok(mut wiring) = self.wiring.lock() {
            *wiring = None;
        }
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        HANDLERS_ALIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        let Some(w) = self.wiring() else { return };
        // With relay only, webrtc-rs gathers relay candidates alone; this makes sure no other
        // kind ever leaves.
        if w.relay_only && event.candidate.typ != RTCIceCandidateType::Relay {
            tracing::debug!(typ = %event.candidate.typ, "not a relay candidate: kept back");
            return;
        }
        match event.candidate.to_json() {
            Ok(init) => {
                let _ = w.inputs.send(PeerInput::Candidate(w.peer.clone(), init));
            }
            Err(e) => tracing::debug!(error = %e, "unusable local candidate"),
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        let Some(w) = self.wiring() else { return };
        if state == RTCIceGatheringState::Complete {
            let _ = w.inputs.send(PeerInput::GatheringDone(w.peer.clone()));
        }
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        let Some(w) = self.wiring() else { return };
        tracing::debug!(peer = %w.peer, at_ms = w.counters.since_start_ms(), %state, "ICE");
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let Some(w) = self.wiring() else { return };
        tracing::debug!(peer = %w.peer, at_ms = w.counters.since_start_ms(), %state, "connection");
        let _ = w.inputs.send(PeerInput::State(w.peer.clone(), state));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let Some(w) = self.wiring() else { return };
        let kind = track.kind().await;
        tracing::debug!(peer = %w.peer, at_ms = w.counters.since_start_ms(), %kind, "track");
        let (peer, counters, events) = (w.peer.clone(), Arc::clone(&w.counters), w.events.clone());
        // The read loop runs in its own task, never inline in the callback (docs/traps.md, trap 11).
        match kind {
            RtpCodecKind::Video if w.is_share(&track).await => {
                tracing::debug!(peer = %w.peer, "the track is the peer's screen share");
                w.tasks.spawn(receive_video(
                    peer,
                    true,
                    track,
                    Arc::clone(&w.share_counters),
                    (events, w.frames.clone()),
                    None,
                    w.record.clone(),
                    None,
                    Arc::clone(&w.share_decoder_thread),
                ));
            }
            RtpCodecKind::Video => {
                let refresh = w.refresh.lock().ok().and_then(|mut r| r.take());
                w.tasks.spawn(receive_video(
                    peer,
                    false,
                    track,
                    counters,
                    (events, w.frames.clone()),
                    refresh,
                    w.record.clone(),
                    Some(Arc::clone(&w.audio.tape)),
                    Arc::clone(&w.decoder_thread),
                ));
            }
            RtpCodecKind::Audio => {
                w.tasks.spawn(receive_audio(track, Arc::clone(&w.audio)));
            }
            _ => {}
        }
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let Some(w) = self.wiring() else { return };
        match channel.label().await.unwrap_or_default().as_str() {
            CHAT_LABEL => w.tasks.spawn(read_chat(
                w.peer.clone(),
                channel,
                Arc::clone(&w.chat),
                Arc::clone(&w.counters),
                w.events.clone(),
            )),
            FILE_LABEL => w.tasks.spawn(receive_file(
                w.peer.clone(),
                channel,
                Arc::clone(&w.transfers),
                w.events.clone(),
            )),
            other => {
                tracing::debug!(peer = %w.peer, label = other, "a data channel nobody reads: closed");
                let _ = channel.close().await;
            }
        }
    }
}
