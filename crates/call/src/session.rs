//! The call: signaling in, peer sessions out, controls from the handle.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tincan_media::video::VideoFormat;
use tincan_protocol::{IceCandidate, IceServer, PeerId, PeerInfo, RoomCode, Signal};
use tincan_signaling::{connect, Event, Signaling};
use tokio::sync::{mpsc, oneshot};
use webrtc::peer_connection::{RTCIceCandidateInit, RTCPeerConnectionState, RTCSessionDescription};

use crate::error::{webrtc, CallError};
use crate::events::{CallEvent, PeerStats};
use crate::media::{open_audio, open_video, Controls, LocalMedia};
use crate::options::{AudioInput, CallOptions, RoomChoice, VideoInput};
use crate::peer::{NewPeer, PeerInput, PeerSession};
use crate::playout::{AudioOutput, Playout};
use crate::security::{fingerprints, security_code};

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

/// Whether any of the ICE servers is a TURN relay (with credentials).
fn offers_turn(servers: &[IceServer]) -> bool {
    servers.iter().any(|s| {
        s.credential.is_some()
            && s.urls
                .iter()
                .any(|u| u.starts_with("turn:") || u.starts_with("turns:"))
    })
}

/// How long a leaving peer keeps receiving after announcing it: media already in flight.
const LEAVE_DRAIN: Duration = Duration::from_millis(250);

enum Command {
    Chat(String),
    Speaker(AudioOutput, oneshot::Sender<Result<(), CallError>>),
    RefreshVideo,
    Stats(oneshot::Sender<Vec<PeerStats>>),
    Leave(oneshot::Sender<Vec<PeerStats>>),
}

/// A call in progress. Dropping it leaves the call.
pub struct Call {
    room: RoomCode,
    peer_id: PeerId,
    /// The size and rate asked of video sources, for switching to another.
    format: VideoFormat,
    /// The video input chosen, kept while the camera is off (which closes it) to open again
    /// when it comes on. Holding the lock also orders camera on/off against switches.
    video_input: Mutex<VideoInput>,
    controls: Arc<Controls>,
    commands: mpsc::Sender<Command>,
}

impl Call {
    /// Connects, creates or joins the room, starts the local media and calls everyone there.
    pub async fn join(
        options: CallOptions,
    ) -> Result<(Call, mpsc::Receiver<CallEvent>), CallError> {
        if let Some(dir) = &options.record {
            std::fs::create_dir_all(dir).map_err(|e| {
                CallError::Media(tincan_media::MediaError::File {
                    path: dir.display().to_string(),
                    reason: format!("cannot record there: {e}"),
                })
            })?;
        }
        let (events_tx, events) = mpsc::channel(256);
        let media = LocalMedia::start(&options, events_tx.clone())?;
        let playout = Playout::start(&options.output, events_tx.clone())?;
        let (signaling, signals) = connect(&options.server, options.signaling.clone()).await?;
        let room = match &options.room {
            RoomChoice::Create => signaling.create_room().await?.to_string(),
            RoomChoice::Join(code) => code.clone(),
        };
        let joined = signaling.join(&room, &options.name).await?;
        if options.relay_only && !offers_turn(&joined.ice_servers) {
            if let Err(e) = signaling.leave().await {
                tracing::debug!(error = %e, "leave not acknowledged");
            }
            signaling.close().await;
            return Err(CallError::NoRelay {
                server: options.server.clone(),
            });
        }
        let (commands, commands_rx) = mpsc::channel(16);
        let controls = Arc::clone(&media.controls);
        let _ = events_tx
            .send(CallEvent::Joined {
                room: joined.room.clone(),
                peer_id: joined.peer_id.clone(),
                peers: joined.peers.clone(),
            })
            .await;
        let (inputs_tx, inputs) = mpsc::unbounded_channel();
        let mut session = Session {
            me: joined.peer_id.clone(),
            ice: joined.ice_servers.clone(),
            bind: options.bind.clone(),
            relay_only: options.relay_only,
            video_kbps: options.video_kbps,
            record: options.record.clone(),
            audio_kbps: (options.audio_bps / 1000).max(0) as u32,
            media,
            playout,
            signaling,
            peers: HashMap::new(),
            events: events_tx,
            inputs_tx,
        };
        // The newcomer offers to everyone already there: they wait, so offers cannot collide.
        for peer in joined.peers.clone() {
            session.call_peer(peer).await;
        }
        tokio::spawn(session.run(signals, inputs, commands_rx));
        Ok((
            Call {
                room: joined.room,
                peer_id: joined.peer_id,
                format: options.format,
                video_input: Mutex::new(options.video.clone()),
                controls,
                commands,
            },
            events,
        ))
    }

    pub fn room(&self) -> &RoomCode {
        &self.room
    }

    pub fn peer_id(&self) -> &PeerId {
        &self.peer_id
    }

    /// Mutes or unmutes the microphone (muted sends silence).
    pub fn set_mic_muted(&self, muted: bool) {
        self.controls.mic_muted.store(muted, Ordering::Relaxed);
    }

    /// Turns the camera off or back on. Off sends no video and closes the video input, so a
    /// camera's light goes out; on opens it again and starts with a keyframe. Turning on
    /// fails, and the camera stays off, when the input cannot be opened (unplugged, or taken
    /// by another app meanwhile). Opening a camera can take a moment.
    pub fn set_camera_off(&self, off: bool) -> Result<(), CallError> {
        let input = self
            .video_input
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.controls.camera_off.load(Ordering::Relaxed) == off {
            return Ok(());
        }
        if off {
            // The flag stops sending at once; the capture thread drops the source at its
            // next picture.
            self.controls.camera_off.store(true, Ordering::Relaxed);
            self.controls.next_video.put(None);
        } else {
            let source = open_video(&input, self.format)?;
            self.controls.next_video.put(source);
            self.controls.keyframe_wanted.store(true, Ordering::Relaxed);
            self.controls.camera_off.store(false, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Sends video from another source (another camera, a file, the pattern, or none) on the
    /// same track: nothing is renegotiated, and the far end gets a keyframe at the new size.
    /// The new source is opened here, so a camera that is missing or busy fails this call and
    /// the old one keeps sending. Opening a camera can take a moment. With the camera off the
    /// choice is only remembered: it is opened when the camera is turned on.
    pub fn set_video_input(&self, input: VideoInput) -> Result<(), CallError> {
        let mut chosen = self
            .video_input
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !self.controls.camera_off.load(Ordering::Relaxed) {
            let source = open_video(&input, self.format)?;
            self.controls.next_video.put(source);
            self.controls.keyframe_wanted.store(true, Ordering::Relaxed);
        }
        *chosen = input;
        Ok(())
    }

    /// Sends audio from another source (another microphone, a file, a tone, or none) on the
    /// same track. A microphone that cannot be opened fails this call; the old one goes on.
    pub fn set_audio_input(&self, input: AudioInput) -> Result<(), CallError> {
        let source = open_audio(&input)?;
        self.controls.next_audio.put(source);
        Ok(())
    }

    /// Plays the others on another speaker, or on none, from now on. Fails (and changes
    /// nothing) when that speaker cannot be opened.
    pub async fn set_speaker(&self, output: AudioOutput) -> Result<(), CallError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Speaker(output, tx))
            .await
            .map_err(|_| CallError::Ended)?;
        rx.await.map_err(|_| CallError::Ended)?
    }

    /// Sends a chat message to everyone.
    pub async fn send_chat(&self, text: &str) -> Result<(), CallError> {
        self.commands
            .send(Command::Chat(text.to_owned()))
            .await
            .map_err(|_| CallError::Ended)
    }

    /// Throws away the video arriving from every peer until each sends a fresh keyframe,
    /// which is asked for at once (a PLI): what a "refresh video" button does. Each arrival
    /// is reported as [`CallEvent::KeyframeArrived`] with how long it took.
    pub async fn refresh_video(&self) -> Result<(), CallError> {
        self.commands
            .send(Command::RefreshVideo)
            .await
            .map_err(|_| CallError::Ended)
    }

    /// Statistics for every peer, as sampled at the last one-second tick.
    pub async fn stats(&self) -> Result<Vec<PeerStats>, CallError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Stats(tx))
            .await
            .map_err(|_| CallError::Ended)?;
        rx.await.map_err(|_| CallError::Ended)
    }

    /// Leaves the call; returns every peer's final statistics. Every control fails with
    /// [`CallError::Ended`] afterwards.
    pub async fn leave(&self) -> Result<Vec<PeerStats>, CallError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Leave(tx))
            .await
            .map_err(|_| CallError::Ended)?;
        rx.await.map_err(|_| CallError::Ended)
    }
}

struct Session {
    me: PeerId,
    ice: Vec<IceServer>,
    bind: Vec<String>,
    /// Only relay candidates ([`CallOptions::relay_only`]).
    relay_only: bool,
    /// What the user asked the video encoder for; the network may allow less.
    video_kbps: u32,
    record: Option<PathBuf>,
    audio_kbps: u32,
    media: LocalMedia,
    playout: Playout,
    signaling: Signaling,
    peers: HashMap<PeerId, PeerSession>,
    events: mpsc::Sender<CallEvent>,
    inputs_tx: mpsc::UnboundedSender<PeerInput>,
}

impl Session {
    async fn run(
        mut self,
        mut signals: mpsc::Receiver<Event>,
        mut inputs: mpsc::UnboundedReceiver<PeerInput>,
        mut commands: mpsc::Receiver<Command>,
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
                command = commands.recv() => match command {
                    Some(Command::Chat(text)) => {
                        for peer in self.peers.values() {
                            if let Err(e) = peer.send_chat(&text).await {
                                self.emit(CallEvent::Error { message: e.to_string() }).await;
                            }
                        }
                    }
                    Some(Command::Speaker(output, reply)) => {
                        let _ = reply.send(self.playout.switch(output));
                    }
                    Some(Command::RefreshVideo) => {
                        for peer in self.peers.values() {
                            let _ = peer.refresh.send(());
                        }
                    }
                    Some(Command::Stats(reply)) => {
                        // As of the last tick: refreshing here would also cut the rates'
                        // one-second window short.
                        let _ = reply.send(self.peers.values().map(PeerSession::stats).collect());
                    }
                    Some(Command::Leave(reply)) => {
                        // Tell the room first so the others stop sending at once, then let
                        // what is already in flight arrive before closing the connections.
                        if let Err(e) = self.signaling.leave().await {
                            tracing::debug!(error = %e, "leave not acknowledged");
                        }
                        tokio::time::sleep(LEAVE_DRAIN).await;
                        let stats = self.peers.values().map(PeerSession::stats).collect();
                        self.shutdown().await;
                        let _ = reply.send(stats);
                        return;
                    }
                    None => break "left".to_owned(),
                },
                _ = ticks.tick() => {
                    for peer in self.peers.values_mut() {
                        peer.refresh_stats().await;
                    }
                    self.follow_audio_loss();
                    let stats: Vec<PeerStats> = self.peers.values().map(PeerSession::stats).collect();
                    for s in stats {
                        self.emit(CallEvent::Stats(s)).await;
                    }
                }
                _ = bitrate_ticks.tick() => self.follow_estimates(),
            }
        };
        self.shutdown().await;
        self.emit(CallEvent::Ended { reason }).await;
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
                video_share_kbps(p.estimate.bps(), others, self.video_kbps)
            })
            .min()
            .unwrap_or(self.video_kbps);
        self.media
            .controls
            .video_kbps
            .store(kbps, Ordering::Relaxed);
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

    async fn new_peer(&mut self, info: PeerInfo) -> Result<(), CallError> {
        if self.peers.contains_key(&info.id) {
            return Ok(());
        }
        let session = PeerSession::new(NewPeer {
            id: info.id.clone(),
            name: info.name,
            me: &self.me,
            ice: &self.ice,
            bind: &self.bind,
            relay_only: self.relay_only,
            controls: Arc::clone(&self.media.controls),
            send_kbps: self.video_kbps + self.audio_kbps,
            record: self.record.as_deref(),
            video: &self.media.video,
            audio: &self.media.audio,
            inputs: self.inputs_tx.clone(),
            events: self.events.clone(),
        })
        .await?;
        self.playout
            .add(info.id.clone(), Arc::clone(&session.audio));
        self.peers.insert(info.id, session);
        Ok(())
    }

    /// Sets up a connection to a peer already in the room and sends it an offer.
    async fn call_peer(&mut self, info: PeerInfo) {
        let id = info.id.clone();
        if let Err(e) = self.offer(info).await {
            self.emit(CallEvent::Error {
                message: format!("cannot call {id}: {e}"),
            })
            .await;
        }
    }

    async fn offer(&mut self, info: PeerInfo) -> Result<(), CallError> {
        let id = info.id.clone();
        self.new_peer(info).await?;
        let Some(peer) = self.peers.get_mut(&id) else {
            return Ok(());
        };
        peer.open_chat(self.events.clone()).await?;
        peer.making_offer = true;
        let offer = peer.pc.create_offer(None).await.map_err(webrtc);
        let result = match offer {
            Ok(offer) => peer
                .pc
                .set_local_description(offer.clone())
                .await
                .map_err(webrtc)
                .map(|_| offer),
            Err(e) => Err(e),
        };
        peer.making_offer = false;
        let offer = result?;
        tracing::debug!(peer = %id, at_ms = peer.counters.since_start_ms(), "offer sent");
        self.signaling
            .send_signal(id, Signal::Offer { sdp: offer.sdp })
            .await?;
        Ok(())
    }

    /// Returns a reason when the call must end.
    async fn on_signaling(&mut self, event: Event) -> Option<String> {
        match event {
            Event::PeerJoined(info) => {
                self.emit(CallEvent::PeerJoined(info.clone())).await;
                if let Err(e) = self.new_peer(info).await {
                    self.emit(CallEvent::Error {
                        message: e.to_string(),
                    })
                    .await;
                }
            }
            Event::PeerLeft { peer_id, .. } => {
                self.playout.remove(&peer_id);
                if let Some(peer) = self.peers.remove(&peer_id) {
                    peer.close().await;
                }
                self.emit(CallEvent::PeerLeft { peer: peer_id }).await;
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
            Event::Reconnecting { .. } => {}
            Event::Reconnected { joined } => match joined {
                Some(joined) if joined.resumed => {}
                Some(joined) => {
                    // A new place in the room: every connection starts again.
                    for (id, peer) in self.peers.drain() {
                        self.playout.remove(&id);
                        peer.close().await;
                    }
                    self.me = joined.peer_id;
                    self.ice = joined.ice_servers;
                    for peer in joined.peers {
                        self.call_peer(peer).await;
                    }
                }
                None => return Some("the room ended while the connection was down".into()),
            },
            Event::Disconnected { reason } => return Some(reason),
        }
        None
    }

    async fn on_signal(&mut self, from: PeerId, signal: Signal) -> Result<(), CallError> {
        match signal {
            Signal::Offer { sdp } => {
                if !self.peers.contains_key(&from) {
                    self.new_peer(PeerInfo {
                        id: from.clone(),
                        name: from.0.clone(),
                    })
                    .await?;
                }
                let Some(peer) = self.peers.get_mut(&from) else {
                    return Ok(());
                };
                // Perfect negotiation: on a collision the impolite peer keeps its own offer.
                let collision = peer.making_offer;
                if collision && !peer.polite {
                    return Ok(());
                }
                peer.set_remote(RTCSessionDescription::offer(sdp).map_err(webrtc)?)
                    .await?;
                let answer = peer.pc.create_answer(None).await.map_err(webrtc)?;
                peer.pc
                    .set_local_description(answer.clone())
                    .await
                    .map_err(webrtc)?;
                tracing::debug!(peer = %from, at_ms = peer.counters.since_start_ms(), "answer sent");
                self.signaling
                    .send_signal(from, Signal::Answer { sdp: answer.sdp })
                    .await?;
            }
            Signal::Answer { sdp } => {
                let Some(peer) = self.peers.get_mut(&from) else {
                    return Ok(());
                };
                peer.set_remote(RTCSessionDescription::answer(sdp).map_err(webrtc)?)
                    .await?;
                tracing::debug!(peer = %from, at_ms = peer.counters.since_start_ms(), "answer applied");
            }
            Signal::Candidate { candidate } => {
                let Some(peer) = self.peers.get_mut(&from) else {
                    return Ok(());
                };
                peer.note_remote_candidate(&candidate.candidate);
                let init = RTCIceCandidateInit {
                    candidate: candidate.candidate,
                    sdp_mid: candidate.sdp_mid,
                    sdp_mline_index: candidate.sdp_mline_index,
                    username_fragment: candidate.username_fragment,
                    ..Default::default()
                };
                if peer.pc.remote_description().await.is_none() {
                    peer.pending_candidates.push(init);
                } else if let Err(e) = peer.pc.add_ice_candidate(init).await {
                    tracing::debug!(error = %e, "remote candidate refused");
                }
            }
            Signal::EndOfCandidates => {}
        }
        Ok(())
    }

    async fn on_peer_input(&mut self, input: PeerInput) {
        match input {
            PeerInput::Candidate(peer, init) => {
                let candidate = IceCandidate {
                    candidate: init.candidate,
                    sdp_mid: init.sdp_mid,
                    sdp_mline_index: init.sdp_mline_index,
                    username_fragment: init.username_fragment,
                };
                if let Err(e) = self
                    .signaling
                    .send_signal(peer, Signal::Candidate { candidate })
                    .await
                {
                    tracing::debug!(error = %e, "cannot send a candidate");
                }
            }
            PeerInput::State(id, state) => {
                let Some(peer) = self.peers.get_mut(&id) else {
                    return;
                };
                match state {
                    RTCPeerConnectionState::Connected => {
                        peer.counters.connected.store(true, Ordering::Relaxed);
                        peer.refresh_path().await;
                        // The new peer's stream must start on a keyframe: ask now rather than
                        // when the next frame reaches the sender, which costs a frame interval.
                        self.media
                            .controls
                            .keyframe_wanted
                            .store(true, Ordering::Relaxed);
                        let local = peer
                            .pc
                            .local_description()
                            .await
                            .map(|d| fingerprints(&d.sdp))
                            .unwrap_or_default();
                        let remote = peer
                            .pc
                            .remote_description()
                            .await
                            .map(|d| fingerprints(&d.sdp))
                            .unwrap_or_default();
                        let code = match (local.first(), remote.first()) {
                            (Some(l), Some(r)) => security_code(l, r),
                            _ => "unavailable".to_owned(),
                        };
                        peer.security_code = Some(code.clone());
                        self.emit(CallEvent::Connected {
                            peer: id,
                            security_code: code,
                        })
                        .await;
                    }
                    RTCPeerConnectionState::Failed | RTCPeerConnectionState::Disconnected => {
                        peer.counters.connected.store(false, Ordering::Relaxed);
                        self.emit(CallEvent::Disconnected {
                            peer: id,
                            reason: format!("connection {state}"),
                        })
                        .await;
                    }
                    _ => {}
                }
            }
        }
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
