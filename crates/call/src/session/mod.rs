//! The call's session: one task that owns the signaling connection, every peer connection
//! and the local media, and serves the handle's commands. Who to call, answer or drop is
//! decided by the [`Roster`]; negotiating with one peer is in [`negotiate`].

mod files;
mod ice;
mod negotiate;
mod network;
mod record;
mod share;
mod showing;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tincan_protocol::{AudioProcessing, Commitment, IceServer, PeerId, PeerInfo, Signal};
use tincan_signaling::{Event, Joined, Signaling};
use tokio::sync::mpsc;

use crate::call::Command;
use crate::events::{CallEvent, MediaFrame, PeerStats};
use crate::files::Transfers;
use crate::identity::Identity;
use crate::media::LocalMedia;
use crate::options::CallOptions;
use crate::peer::{PeerInput, PeerSession};
use crate::playout::Playout;
use crate::roster::{Roster, Step};

/// How often the video bitrate is brought in line with the bandwidth estimate.
const FOLLOW_ESTIMATE_EVERY: Duration = Duration::from_millis(250);

/// Share of the estimate the media may fill; the rest is left for RTP and SRTP headers,
/// retransmissions and RTCP.
const MEDIA_SHARE: f64 = 0.85;

/// The video encoder never aims lower than this (kbps): VP8 below it is mush, and GCC's floor
/// is 100 kbps anyway.
const MIN_VIDEO_KBPS: u32 = 50;

/// The video bitrate for an estimate of `bps`: the media share less the audio (and whatever
/// else shares it: retransmissions), between the floor and what the user asked for.
fn video_share_kbps(bps: u64, others_kbps: u32, asked_kbps: u32) -> u32 {
    let media_kbps = (bps as f64 * MEDIA_SHARE / 1000.0) as u32;
    media_kbps
        .saturating_sub(others_kbps)
        .clamp(MIN_VIDEO_KBPS.min(asked_kbps), asked_kbps)
}

/// How long leaving waits for the file channels of ended transfers to close.
const LAST_WORDS_WITHIN: Duration = Duration::from_secs(3);

/// How long a leaving peer keeps receiving after announcing it: media already in flight.
const LEAVE_DRAIN: Duration = Duration::from_millis(250);

/// With the server unreachable this long and nobody connected, the call is over.
const SERVER_GONE_ENDS_AN_EMPTY_CALL: Duration = Duration::from_secs(60);

/// Commitments kept for peers we have no connection with (yet), at most: a commitment may
/// arrive before the server announces its sender, but only a broken or hostile server sends
/// many.
const MAX_UNKNOWN_COMMITMENTS: usize = 32;

pub(crate) struct Session {
    me: PeerId,
    /// The room's code as the server names it (part of every security code).
    room: String,
    /// Our certificate, the same for every connection of this call.
    identity: Identity,
    /// Each peer's commitment to its fingerprints, the first it sent, kept until it leaves:
    /// nothing it shows later may differ (docs/calls.md, "The security code").
    commitments: HashMap<PeerId, Commitment>,
    /// Peers that broke their commitment, told to the person once each.
    distrusted: HashSet<PeerId>,
    /// The same id, for [`crate::Call::peer_id`].
    me_shared: Arc<Mutex<PeerId>>,
    ice: Vec<IceServer>,
    bind: Vec<String>,
    /// Only relay candidates ([`CallOptions::relay_only`]).
    relay_only: bool,
    /// What the user asked the video encoder for; the network may allow less.
    video_kbps: u32,
    /// The most a screen share may send ([`CallOptions::share_kbps`]), and whether we share.
    share_kbps: u32,
    sharing: bool,
    record: Option<PathBuf>,
    /// The recording people play, while we record (`Call::start_recording`).
    recording: Option<record::Recording>,
    /// How big we show each peer's camera, to tell them ([`crate::wanted`]), and the size
    /// every peer is shown at when the caller fixed one (`CallOptions::show_video`).
    showing: crate::wanted::Showing,
    show_everyone: Option<(u32, u32)>,
    audio_kbps: u32,
    media: LocalMedia,
    playout: Playout,
    signaling: Signaling,
    roster: Roster,
    peers: HashMap<PeerId, PeerSession>,
    /// Since when the server has been unreachable, if it is.
    server_lost: Option<Instant>,
    /// When to ask for fresh TURN credentials ([`crate::ice_renewal`]), and whether an ask
    /// is under way.
    ice_renew_at: Option<Instant>,
    ice_renewing: bool,
    events: mpsc::Sender<CallEvent>,
    /// Where the peers' pictures go (their decoders send them).
    frames: mpsc::Sender<MediaFrame>,
    inputs_tx: mpsc::UnboundedSender<PeerInput>,
    /// Files on their way, both ways (shared with [`crate::Call`], which answers them).
    transfers: Arc<Transfers>,
}

impl Session {
    /// Calls everyone already in the room and runs the session in a task of its own.
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        options: &CallOptions,
        identity: Identity,
        joined: Joined,
        me_shared: Arc<Mutex<PeerId>>,
        media: LocalMedia,
        playout: Playout,
        signaling: Signaling,
        signals: mpsc::Receiver<Event>,
        events: mpsc::Sender<CallEvent>,
        frames: mpsc::Sender<MediaFrame>,
        commands: mpsc::Receiver<Command>,
        transfers: Arc<Transfers>,
    ) {
        let (inputs_tx, inputs) = mpsc::unbounded_channel();
        let mut session = Session {
            me: joined.peer_id.clone(),
            room: joined.room.to_string(),
            identity,
            commitments: HashMap::new(),
            distrusted: HashSet::new(),
            me_shared,
            ice: joined.ice_servers.clone(),
            bind: options.bind.clone(),
            relay_only: options.relay_only,
            video_kbps: options.video_kbps,
            share_kbps: options.share_kbps,
            sharing: options.share.is_some(),
            record: options.record.clone(),
            recording: None,
            showing: Default::default(),
            show_everyone: options.show_video,
            audio_kbps: (options.audio_bps / 1000).max(0) as u32,
            media,
            playout,
            signaling,
            roster: Roster::new(joined.peer_id.clone()),
            peers: HashMap::new(),
            server_lost: None,
            ice_renew_at: None,
            ice_renewing: false,
            events,
            frames,
            inputs_tx,
            transfers,
        };
        session.schedule_ice_renewal();
        let steps = session.roster.joined(joined.peers);
        session.apply(steps).await;
        let network = network::watch();
        tokio::spawn(session.run(signals, inputs, commands, network));
    }

    async fn run(
        mut self,
        mut signals: mpsc::Receiver<Event>,
        mut inputs: mpsc::UnboundedReceiver<PeerInput>,
        mut commands: mpsc::Receiver<Command>,
        mut network: mpsc::Receiver<()>,
    ) {
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        let mut bitrate_ticks = tokio::time::interval(FOLLOW_ESTIMATE_EVERY);
        let reason = loop {
            tokio::select! {
                event = signals.recv() => match event {
                    Some(event) => {
                        if let Some(reason) = self.on_signaling(event).await {
                            break reason;
                        }
                    }
                    None => break "the signaling connection closed".to_owned(),
                },
                Some(input) = inputs.recv() => self.on_peer_input(input).await,
                Some(()) = network.recv() => {
                    tracing::info!("the network changed: reconnecting and restarting every path");
                    // The server connection may be bound to an address that is gone: make a
                    // new one first, so the restart offers go out on it.
                    self.signaling.reconnect().await;
                    let steps = self.roster.network_changed(Instant::now());
                    self.apply(steps).await;
                }
                command = commands.recv() => match command {
                    Some(Command::Chat(text)) => {
                        for peer in self.peers.values() {
                            if let Err(e) = peer.send_chat(&text).await {
                                self.emit(CallEvent::Error { message: e.to_string() }).await;
                            }
                        }
                    }
                    Some(Command::SendFile { file, to, reply }) => {
                        let _ = reply.send(self.send_file(&file, to.as_ref()).await);
                    }
                    Some(Command::AudioProcessing(settings)) => {
                        let ids: Vec<PeerId> = self.peers.keys().cloned().collect();
                        for id in ids {
                            self.tell_audio_processing(id, settings).await;
                        }
                    }
                    Some(Command::Speaker(output, reply)) => {
                        let _ = reply.send(self.playout.switch(output));
                    }
                    Some(Command::Sharing(on)) => self.set_sharing(on).await,
                    Some(Command::Record(Some(dir), reply)) => {
                        let _ = reply.send(self.start_recording(&dir).await.map(|()| Vec::new()));
                    }
                    Some(Command::Record(None, reply)) => {
                        let _ = reply.send(self.stop_recording().await);
                    }
                    Some(Command::ShowVideo(peer, size)) => self.show_video(&peer, size),
                    Some(Command::RefreshVideo) => {
                        for peer in self.peers.values() {
                            let _ = peer.refresh.send(());
                        }
                    }
                    Some(Command::Stats(reply)) => {
                        // As of the last tick: refreshing here would also cut the rates'
                        // one-second window short.
                        let _ = reply.send(self.all_stats());
                    }
                    Some(Command::Leave(reply)) => {
                        // A transfer that just ended says its last word before anyone is
                        // told we go (they close their connection to us when they hear it).
                        if tokio::time::timeout(LAST_WORDS_WITHIN, self.transfers.settled()).await.is_err() {
                            tracing::debug!("left with a file channel still closing");
                        }
                        // Tell the room first so the others stop sending at once, then let
                        // what is already in flight arrive before closing the connections.
                        if let Err(e) = self.signaling.leave().await {
                            tracing::debug!(error = %e, "leave not acknowledged");
                        }
                        tokio::time::sleep(LEAVE_DRAIN).await;
                        let stats = self.all_stats();
                        self.shutdown().await;
                        let _ = reply.send(stats);
                        return;
                    }
                    None => break "left".to_owned(),
                },
                _ = ticks.tick() => {
                    if let Some(reason) = self.server_gone_for_good() {
                        break reason;
                    }
                    let steps = self.roster.tick(Instant::now());
                    self.apply(steps).await;
                    self.renew_ice_if_due();
                    for peer in self.peers.values_mut() {
                        peer.refresh_stats().await;
                    }
                    self.follow_audio_loss();
                    let stats: Vec<PeerStats> = self.all_stats();
                    for s in stats {
                        self.emit(CallEvent::Stats(s)).await;
                    }
                }
                _ = bitrate_ticks.tick() => {
                    self.end_a_lost_share().await;
                    self.follow_sizes().await;
                    self.follow_estimates();
                }
            }
        };
        self.shutdown().await;
        self.emit(CallEvent::Ended { reason }).await;
    }

    /// Every peer's statistics, with what our own microphone processing does now.
    fn all_stats(&self) -> Vec<PeerStats> {
        let processing = self.media.processor.stats();
        self.peers
            .values()
            .map(|peer| PeerStats {
                audio_processing: processing,
                ..peer.stats()
            })
            .collect()
    }

    /// Tells `to` how we process our microphone (it shows in its statistics).
    async fn tell_audio_processing(&self, to: PeerId, settings: AudioProcessing) {
        if let Err(e) = self
            .signaling
            .send_signal(to, Signal::AudioProcessing(settings))
            .await
        {
            tracing::debug!(error = %e, "could not tell a peer our audio processing");
        }
    }

    /// Aims the video encoder at what the tightest connection allows: one encoding goes to
    /// every peer, so the slowest path sets the pace (a mesh without simulcast).
    fn follow_estimates(&self) {
        // Retransmissions come out of the same estimate: what a peer's repairs took in the
        // last second is left for them (libwebrtc's "protection bitrate").
        let kbps = self
            .peers
            .values()
            .filter(|p| p.counters.connected.load(Ordering::Relaxed))
            .filter(|p| p.estimate.bps() > 0)
            .map(|p| {
                let others = self.audio_kbps.saturating_add(p.rtx_kbps() as u32);
                video_share_kbps(p.estimate.bps(), others, self.video_asked_kbps())
            })
            .min()
            .unwrap_or(self.video_asked_kbps());
        let (camera, share) = share::split_video(kbps, self.video_kbps, self.share_plan());
        self.media
            .controls
            .video_kbps
            .store(camera, Ordering::Relaxed);
        if self.sharing {
            self.media
                .share_controls
                .video_kbps
                .store(share, Ordering::Relaxed);
        }
    }

    /// Sizes Opus's in-band FEC to the worst audio loss any peer reports.
    fn follow_audio_loss(&self) {
        let worst = self
            .peers
            .values()
            .filter_map(PeerSession::audio_loss_percent)
            .fold(0.0f64, f64::max);
        self.media
            .controls
            .audio_loss_percent
            .store(worst.round() as u32, Ordering::Relaxed);
    }

    async fn shutdown(&mut self) {
        if self.recording.is_some() {
            match self.stop_recording().await {
                Ok(files) => tracing::info!(files = files.len(), "recording ended with the call"),
                Err(e) => tracing::warn!(error = %e, "the recording did not end cleanly"),
            }
        }
        for (_, peer) in self.peers.drain() {
            peer.close().await;
        }
        self.playout.stop();
        self.media.stop();
        self.signaling.close().await;
    }

    async fn emit(&self, event: CallEvent) {
        let _ = self.events.send(event).await;
    }

    /// Carries out what the roster decided.
    async fn apply(&mut self, steps: Vec<Step>) {
        for step in steps {
            match step {
                Step::Offer { peer, announce } => {
                    if announce {
                        self.emit(CallEvent::PeerJoined(peer.clone())).await;
                    }
                    self.call_peer(peer).await;
                }
                Step::Await { peer, announce } => {
                    if announce {
                        self.emit(CallEvent::PeerJoined(peer.clone())).await;
                    }
                    let id = peer.id.clone();
                    if let Err(e) = self.new_peer(peer).await {
                        self.roster.forget(&id);
                        self.emit(CallEvent::Error {
                            message: e.to_string(),
                        })
                        .await;
                    }
                }
                Step::Remove { peer } => {
                    self.close_peer(&peer).await;
                    self.commitments.remove(&peer);
                    self.distrusted.remove(&peer);
                    self.emit(CallEvent::PeerLeft { peer }).await;
                }
                Step::RestartIce { peer } => {
                    if let Err(e) = self.restart_ice(&peer).await {
                        tracing::info!(%peer, error = %e, "ICE restart failed");
                    }
                }
                Step::Redo { peer } => {
                    let Some(info) = self.peers.get(&peer).map(|p| PeerInfo {
                        id: p.id.clone(),
                        name: p.name.clone(),
                    }) else {
                        continue;
                    };
                    tracing::info!(%peer, "connection down after a reconnect: setting it up again");
                    self.close_peer(&peer).await;
                    self.call_peer(info).await;
                }
            }
        }
    }

    async fn close_peer(&mut self, peer: &PeerId) {
        self.playout.remove(peer);
        if let Some(session) = self.peers.remove(peer) {
            self.end_tape(&session);
            self.showing.forget(&peer.0);
            let name = session.name.clone();
            session.close().await;
            self.end_transfers_with(peer, &name).await;
        }
    }

    /// Returns a reason when the call must end.
    async fn on_signaling(&mut self, event: Event) -> Option<String> {
        match event {
            Event::PeerJoined(info) => {
                let steps = self.roster.peer_joined(info);
                self.apply(steps).await;
            }
            Event::PeerLeft { peer_id, .. } => {
                let steps = self.roster.peer_left(&peer_id);
                self.apply(steps).await;
            }
            Event::PeerAway { peer_id } => {
                let steps = self.roster.peer_away(&peer_id);
                self.apply(steps).await;
            }
            Event::Signal { from, signal } => {
                if let Err(e) = self.on_signal(from.clone(), signal).await {
                    self.emit(CallEvent::Error {
                        message: format!("negotiating with {from}: {e}"),
                    })
                    .await;
                }
            }
            Event::Error { message, .. } => self.emit(CallEvent::Error { message }).await,
            Event::Reconnecting { reason, .. } => {
                if self.server_lost.is_none() {
                    self.server_lost = Some(Instant::now());
                    self.emit(CallEvent::ServerLost { reason }).await;
                }
            }
            Event::Reconnected { joined } => {
                self.server_lost = None;
                match joined {
                    Some(joined) if joined.resumed => {
                        self.emit(CallEvent::ServerBack).await;
                        self.use_ice(joined.ice_servers, false).await;
                        let steps = self.roster.resumed(joined.peers);
                        self.apply(steps).await;
                    }
                    Some(joined) => {
                        // The place was given up: a new id, and every connection starts again.
                        self.emit(CallEvent::ServerBack).await;
                        self.use_ice(joined.ice_servers, false).await;
                        let steps = self
                            .roster
                            .rejoined_as_new(joined.peer_id.clone(), joined.peers.clone());
                        let (removals, offers): (Vec<Step>, Vec<Step>) = steps
                            .into_iter()
                            .partition(|s| matches!(s, Step::Remove { .. }));
                        self.apply(removals).await;
                        self.set_me(joined.peer_id.clone());
                        self.emit(CallEvent::Joined {
                            room: joined.room,
                            peer_id: joined.peer_id,
                            peers: joined.peers,
                        })
                        .await;
                        self.apply(offers).await;
                    }
                    None if self.peers.is_empty() => {
                        return Some("the room ended while the connection was down".into());
                    }
                    None => {
                        self.emit(CallEvent::Error {
                            message: "the server no longer has this room (it restarted without \
                                      its room key?): the call goes on, but nobody new can join"
                                .into(),
                        })
                        .await;
                    }
                }
            }
            Event::Disconnected { reason } if self.peers.is_empty() => return Some(reason),
            Event::Disconnected { reason } => {
                // Connected calls go on without the server.
                self.emit(CallEvent::ServerLost { reason }).await;
            }
        }
        None
    }

    fn set_me(&mut self, id: PeerId) {
        *self
            .me_shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = id.clone();
        self.me = id;
    }

    /// The server has been unreachable for a long time and nobody is connected: the call is
    /// over (checked once a second).
    fn server_gone_for_good(&self) -> Option<String> {
        let since = self.server_lost?;
        (since.elapsed() > SERVER_GONE_ENDS_AN_EMPTY_CALL && !self.roster.any_connected()).then(
            || {
                format!(
                    "the server has been unreachable for over {} s and nobody is connected",
                    SERVER_GONE_ENDS_AN_EMPTY_CALL.as_secs()
                )
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_gets_the_estimate_less_audio_and_overhead_within_the_ask() {
        // 1 Mbps estimate: 850 kbps for media, 32 of them audio.
        assert_eq!(video_share_kbps(1_000_000, 32, 1500), 818);
        // Plenty: never above what the user asked for.
        assert_eq!(video_share_kbps(10_000_000, 32, 1500), 1500);
        // Starved: the floor.
        assert_eq!(video_share_kbps(60_000, 32, 1500), MIN_VIDEO_KBPS);
    }
}
