//! Negotiating with one peer: commitments, offers, answers and candidates (perfect
//! negotiation), and what its connection reports.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tincan_protocol::{
    fingerprints, security_code, Commitment, IceCandidate, PeerId, PeerInfo, Side, Signal,
};
use webrtc::peer_connection::{RTCIceCandidateInit, RTCPeerConnectionState, RTCSessionDescription};

use super::Session;
use crate::error::{webrtc, CallError};
use crate::events::CallEvent;
use crate::negotiation::Act;
use crate::peer::{NewPeer, PeerInput, PeerSession};
use crate::roster::Step;

impl Session {
    pub(super) async fn new_peer(&mut self, info: PeerInfo) -> Result<(), CallError> {
        if self.peers.contains_key(&info.id) {
            return Ok(());
        }
        let session = PeerSession::new(NewPeer {
            id: info.id.clone(),
            name: info.name,
            me: &self.me,
            ice: &self.ice,
            certificate: self.identity.certificate(),
            bind: &self.bind,
            relay_only: self.relay_only,
            controls: Arc::clone(&self.media.controls),
            share_controls: Arc::clone(&self.media.share_controls),
            send_kbps: self.video_asked_kbps() + self.audio_kbps,
            max_send_kbps: self.video_kbps + self.share_kbps + self.audio_kbps,
            record: self.record.as_deref(),
            video: &self.media.video,
            share: &self.media.share,
            audio: &self.media.audio,
            inputs: self.inputs_tx.clone(),
            events: self.events.clone(),
            frames: self.frames.clone(),
            transfers: Arc::clone(&self.transfers),
        })
        .await?;
        self.playout
            .add(info.id.clone(), Arc::clone(&session.audio));
        let id = info.id;
        self.peers.insert(id.clone(), session);
        self.start_tape(&id);
        // Our commitment goes first, before anything that shows our fingerprint; a peer whose
        // own we do not have yet is asked for it.
        let reply = !self.commitments.contains_key(&id);
        self.send_commitment(id, reply).await;
        Ok(())
    }

    async fn send_commitment(&self, to: PeerId, reply: bool) {
        let commit = Signal::Commit {
            hash: self.identity.commitment().clone(),
            reply,
        };
        if let Err(e) = self.signaling.send_signal(to, commit).await {
            tracing::debug!(error = %e, "cannot send our commitment");
        }
    }

    /// A peer's commitment: kept if it is the first, refused if it differs from the first
    /// (only someone in the middle would change it), answered with ours when asked; an offer
    /// that waited for it goes out.
    async fn on_commitment(&mut self, from: PeerId, hash: Commitment, reply: bool) {
        match self.commitments.get(&from) {
            Some(known) if *known == hash => {}
            Some(_) => {
                let message = format!(
                    "{from} sent a different security commitment mid-call: ignored (someone may \
                     be trying to sit between you; compare the security codes)"
                );
                self.distrust(&from, message).await;
                return;
            }
            None => {
                let unknown = self
                    .commitments
                    .keys()
                    .filter(|id| !self.peers.contains_key(*id))
                    .count();
                if !self.peers.contains_key(&from) && unknown >= super::MAX_UNKNOWN_COMMITMENTS {
                    tracing::debug!(peer = %from, "commitment from an unknown peer dropped");
                    return;
                }
                self.commitments.insert(from.clone(), hash);
            }
        }
        if reply {
            self.send_commitment(from.clone(), false).await;
        }
        let held = self.peers.get_mut(&from).and_then(|p| p.offer_held.take());
        if let Some(restart) = held {
            if let Err(e) = self.send_offer(&from, restart).await {
                self.emit(CallEvent::Error {
                    message: format!("cannot call {from}: {e}"),
                })
                .await;
            }
        }
    }

    /// Says why `peer` is not trusted, to the log each time and to the person the first time
    /// (a hostile peer could send many).
    async fn distrust(&mut self, peer: &PeerId, message: String) {
        tracing::warn!(%peer, "{message}");
        if self.distrusted.insert(peer.clone()) {
            self.emit(CallEvent::Error { message }).await;
        }
    }

    /// Whether a description from `from` shows the fingerprints it committed to; says why
    /// not when it does not.
    async fn keeps_its_commitment(&mut self, from: &PeerId, sdp: &str) -> bool {
        let message = match self.commitments.get(from) {
            Some(c) if c.matches(sdp) => return true,
            Some(_) => format!(
                "{from}'s certificate is not the one it committed to: the connection is refused \
                 (someone may be trying to sit between you)"
            ),
            None => format!(
                "{from} sent an offer or answer before its security commitment: refused (is it \
                 an older version of Tincan?)"
            ),
        };
        self.distrust(from, message).await;
        false
    }

    /// Sets up a connection to a peer already in the room and sends it an offer.
    pub(super) async fn call_peer(&mut self, info: PeerInfo) {
        let id = info.id.clone();
        if let Err(e) = self.offer(info).await {
            self.roster.forget(&id);
            self.close_peer(&id).await;
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
        self.send_offer(&id, false).await
    }

    /// Makes an offer (with new ICE credentials when `restart`), sets it and sends it, unless
    /// one of ours still waits for its answer.
    async fn send_offer(&mut self, id: &PeerId, restart: bool) -> Result<(), CallError> {
        let committed = self.commitments.contains_key(id);
        let Some(peer) = self.peers.get_mut(id) else {
            return Ok(());
        };
        if !committed {
            // Our offer shows our fingerprint: not before we hold the peer's commitment.
            peer.offer_held = Some(restart || peer.offer_held.unwrap_or(false));
            return Ok(());
        }
        let now = Instant::now();
        if !peer.negotiation.can_offer(now) {
            tracing::debug!(peer = %id, "an offer is already waiting for its answer");
            return Ok(());
        }
        if restart {
            tracing::info!(peer = %id, at_ms = peer.counters.since_start_ms(), "restarting ICE");
            peer.ice_restarts += 1;
            peer.pc.restart_ice().await.map_err(webrtc)?;
        }
        let made = async {
            let offer = peer.pc.create_offer(None).await.map_err(webrtc)?;
            peer.pc
                .set_local_description(offer.clone())
                .await
                .map_err(webrtc)?;
            Ok::<_, CallError>(offer)
        }
        .await;
        let offer = match made {
            Ok(offer) => offer,
            Err(e) => {
                peer.negotiation.offer_failed();
                return Err(e);
            }
        };
        peer.negotiation.offer_sent(now);
        tracing::debug!(peer = %id, at_ms = peer.counters.since_start_ms(), "offer sent");
        self.signaling
            .send_signal(id.clone(), Signal::Offer { sdp: offer.sdp })
            .await?;
        // Every description is followed by our processing, so a peer that starts over (a
        // new connection, a restart) hears it again.
        self.tell_audio_processing(id.clone(), self.media.processor.settings())
            .await;
        self.tell_sharing_if_on(id.clone()).await;
        self.tell_recording_if_on(id.clone()).await;
        self.tell_shown_again(id.clone()).await;
        Ok(())
    }

    pub(super) async fn on_signal(
        &mut self,
        from: PeerId,
        signal: Signal,
    ) -> Result<(), CallError> {
        let acts = match signal {
            Signal::Commit { hash, reply } => {
                self.on_commitment(from, hash, reply).await;
                return Ok(());
            }
            Signal::Offer { sdp } => {
                if !self.keeps_its_commitment(&from, &sdp).await {
                    return Ok(());
                }
                if !self.roster.contains(&from) {
                    let steps = self.roster.offer_from_stranger(PeerInfo {
                        id: from.clone(),
                        name: from.0.clone(),
                    });
                    self.apply(steps).await;
                }
                match self.peers.get_mut(&from) {
                    Some(peer) => peer.negotiation.on_offer(sdp),
                    None => return Ok(()),
                }
            }
            Signal::Answer { sdp } => {
                if !self.keeps_its_commitment(&from, &sdp).await {
                    return Ok(());
                }
                match self.peers.get_mut(&from) {
                    Some(peer) => peer.negotiation.on_answer(sdp),
                    None => return Ok(()),
                }
            }
            Signal::Candidate { candidate } => match self.peers.get_mut(&from) {
                Some(peer) => {
                    peer.note_remote_candidate(&candidate.candidate);
                    peer.negotiation.on_candidate(candidate)
                }
                None => return Ok(()),
            },
            // The W3C form of "no more candidates" is an empty one. webrtc-rs accepts it, but
            // its ICE agent has no use for it (it never concludes anything from it).
            Signal::AudioProcessing(settings) => {
                if let Some(peer) = self.peers.get_mut(&from) {
                    peer.remote_audio_processing = Some(settings);
                }
                return Ok(());
            }
            Signal::Sharing { on } => {
                self.on_remote_sharing(from, on).await;
                return Ok(());
            }
            Signal::Recording { on } => {
                self.on_remote_recording(from, on).await;
                return Ok(());
            }
            Signal::VideoWanted { width, height } => {
                if let Some(peer) = self.peers.get(&from) {
                    peer.shown.set(width, height);
                    tracing::debug!(peer = %from, width, height, "the peer shows our camera");
                }
                return Ok(());
            }
            Signal::EndOfCandidates => match self.peers.get_mut(&from) {
                Some(peer) => peer.negotiation.on_candidate(IceCandidate {
                    candidate: String::new(),
                    sdp_mid: None,
                    sdp_mline_index: None,
                    username_fragment: None,
                }),
                None => return Ok(()),
            },
        };
        self.carry_out(&from, acts).await
    }

    /// Does what the negotiation decided with `from`'s connection.
    async fn carry_out(&mut self, from: &PeerId, acts: Vec<Act>) -> Result<(), CallError> {
        let mut acts: VecDeque<Act> = acts.into();
        while let Some(act) = acts.pop_front() {
            match act {
                Act::Answer { sdp, rollback } => {
                    let Some(peer) = self.peers.get_mut(from) else {
                        return Ok(());
                    };
                    if rollback {
                        tracing::debug!(peer = %from, "both offered: ours rolled back");
                        let back = RTCSessionDescription::rollback(None).map_err(webrtc)?;
                        peer.pc.set_local_description(back).await.map_err(webrtc)?;
                    }
                    let offer = RTCSessionDescription::offer(sdp).map_err(webrtc)?;
                    peer.pc
                        .set_remote_description(offer)
                        .await
                        .map_err(webrtc)?;
                    let answer = peer.pc.create_answer(None).await.map_err(webrtc)?;
                    peer.pc
                        .set_local_description(answer.clone())
                        .await
                        .map_err(webrtc)?;
                    tracing::debug!(peer = %from, at_ms = peer.counters.since_start_ms(), "answer sent");
                    self.signaling
                        .send_signal(from.clone(), Signal::Answer { sdp: answer.sdp })
                        .await?;
                    self.tell_audio_processing(from.clone(), self.media.processor.settings())
                        .await;
                    self.tell_sharing_if_on(from.clone()).await;
                    self.tell_recording_if_on(from.clone()).await;
                    self.tell_shown_again(from.clone()).await;
                }
                Act::ApplyAnswer { sdp } => {
                    let Some(peer) = self.peers.get_mut(from) else {
                        return Ok(());
                    };
                    let answer = RTCSessionDescription::answer(sdp).map_err(webrtc)?;
                    peer.pc
                        .set_remote_description(answer)
                        .await
                        .map_err(webrtc)?;
                    tracing::debug!(peer = %from, at_ms = peer.counters.since_start_ms(), "answer applied");
                }
                Act::AddCandidates(candidates) => {
                    let Some(peer) = self.peers.get_mut(from) else {
                        return Ok(());
                    };
                    for candidate in candidates {
                        let init = RTCIceCandidateInit {
                            candidate: candidate.candidate,
                            sdp_mid: candidate.sdp_mid,
                            sdp_mline_index: candidate.sdp_mline_index,
                            username_fragment: candidate.username_fragment,
                            ..Default::default()
                        };
                        if let Err(e) = peer.pc.add_ice_candidate(init).await {
                            tracing::debug!(error = %e, "remote candidate refused");
                        }
                    }
                }
                Act::Replace { sdp } => {
                    // The far end set up a new connection (it restarted, or came back after
                    // we had given up on it): answer from a new one of ours.
                    tracing::info!(peer = %from, "the far end started over: a new connection");
                    let name = self.peers.get(from).map(|p| p.name.clone());
                    self.close_peer(from).await;
                    self.new_peer(PeerInfo {
                        id: from.clone(),
                        name: name.unwrap_or_else(|| from.0.clone()),
                    })
                    .await?;
                    if let Some(peer) = self.peers.get_mut(from) {
                        acts.extend(peer.negotiation.on_offer(sdp));
                    }
                }
                Act::Redo => {
                    tracing::info!(peer = %from, "our offer was answered by a new connection");
                    self.apply(vec![Step::Redo { peer: from.clone() }]).await;
                    return Ok(());
                }
                Act::Ignore(why) => tracing::debug!(peer = %from, why, "negotiation"),
            }
        }
        Ok(())
    }

    pub(super) async fn on_peer_input(&mut self, input: PeerInput) {
        match input {
            PeerInput::IceServers(fresh) => self.on_fresh_ice(fresh).await,
            PeerInput::Candidate(peer, init) => {
                // webrtc-rs leaves the mid empty and the ufrag out; the W3C rules reject a mid
                // that names no media section, so say which one (we bundle everything on the
                // first) and which ICE generation the candidate belongs to.
                let (mid, ufrag) = match self.peers.get(&peer) {
                    Some(p) => match p.pc.pending_local_description().await {
                        Some(d) => bundle_mid_and_ufrag(&d.sdp),
                        None => match p.pc.local_description().await {
                            Some(d) => bundle_mid_and_ufrag(&d.sdp),
                            None => (None, None),
                        },
                    },
                    None => return,
                };
                let candidate = IceCandidate {
                    candidate: init.candidate,
                    sdp_mid: init.sdp_mid.filter(|m| !m.is_empty()).or(mid),
                    sdp_mline_index: init.sdp_mline_index.or(Some(0)),
                    username_fragment: init.username_fragment.or(ufrag),
                };
                if let Err(e) = self
                    .signaling
                    .send_signal(peer, Signal::Candidate { candidate })
                    .await
                {
                    tracing::debug!(error = %e, "cannot send a candidate");
                }
            }
            PeerInput::GatheringDone(peer) => {
                if let Err(e) = self
                    .signaling
                    .send_signal(peer, Signal::EndOfCandidates)
                    .await
                {
                    tracing::debug!(error = %e, "cannot send end of candidates");
                }
            }
            PeerInput::State(id, state) => {
                let up = match state {
                    RTCPeerConnectionState::Connected => Some(true),
                    RTCPeerConnectionState::Failed | RTCPeerConnectionState::Disconnected => {
                        Some(false)
                    }
                    _ => None,
                };
                if let Some(up) = up {
                    let steps = self.roster.media(&id, up, Instant::now());
                    self.apply(steps).await;
                }
                let Some(peer) = self.peers.get_mut(&id) else {
                    return;
                };
                match state {
                    RTCPeerConnectionState::Connected => {
                        peer.set_connected(true);
                        peer.refresh_path().await;
                        // The new peer's stream must start on a keyframe: ask now rather than
                        // when the next frame reaches the sender, which costs a frame interval.
                        self.media
                            .controls
                            .keyframe_wanted
                            .store(true, Ordering::Relaxed);
                        // The far end's fingerprints as its description showed them (and as it
                        // committed to); DTLS has checked its certificate against them.
                        let remote = peer
                            .pc
                            .remote_description()
                            .await
                            .map(|d| fingerprints(&d.sdp))
                            .unwrap_or_default();
                        let code = if remote.is_empty() {
                            "unavailable".to_owned()
                        } else {
                            security_code(
                                &self.room,
                                self.identity.side(&self.me.0),
                                Side {
                                    peer: &id.0,
                                    fingerprints: &remote,
                                },
                            )
                        };
                        peer.security_code = Some(code.clone());
                        self.emit(CallEvent::Connected {
                            peer: id,
                            security_code: code,
                        })
                        .await;
                    }
                    RTCPeerConnectionState::Failed | RTCPeerConnectionState::Disconnected => {
                        peer.set_connected(false);
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

    /// Restarts ICE with `peer`: a new offer with new credentials, over candidates gathered
    /// again (on sockets bound again, so a changed address is picked up).
    pub(super) async fn restart_ice(&mut self, id: &PeerId) -> Result<(), CallError> {
        self.send_offer(id, true).await
    }
}

/// The first media section's mid (everything is bundled on it) and the ICE ufrag of an SDP.
fn bundle_mid_and_ufrag(sdp: &str) -> (Option<String>, Option<String>) {
    let value = |prefix: &str| {
        sdp.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .map(|v| v.trim().to_owned())
    };
    (value("a=mid:"), value("a=ice-ufrag:"))
}

#[cfg(test)]
mod tests {
    use super::bundle_mid_and_ufrag;

    #[test]
    fn candidates_name_the_bundled_section_and_the_ice_generation() {
        let sdp = "v=0\r\na=group:BUNDLE 0 1 2\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n\
                   a=ice-ufrag:AbCd\r\na=mid:0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
                   a=ice-ufrag:AbCd\r\na=mid:1\r\n";
        assert_eq!(
            bundle_mid_and_ufrag(sdp),
            (Some("0".into()), Some("AbCd".into()))
        );
        assert_eq!(bundle_mid_and_ufrag("v=0\r\n"), (None, None));
    }
}
