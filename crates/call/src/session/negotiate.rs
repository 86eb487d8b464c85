//! Negotiating with one peer: offers, answers and candidates (perfect negotiation), and what
//! its connection reports.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tincan_protocol::{IceCandidate, PeerId, PeerInfo, Signal};
use webrtc::peer_connection::{RTCIceCandidateInit, RTCPeerConnectionState, RTCSessionDescription};

use super::Session;
use crate::error::{webrtc, CallError};
use crate::events::CallEvent;
use crate::peer::{NewPeer, PeerInput, PeerSession};
use crate::security::{fingerprints, security_code};

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

    pub(super) async fn on_signal(
        &mut self,
        from: PeerId,
        signal: Signal,
    ) -> Result<(), CallError> {
        match signal {
            Signal::Offer { sdp } => {
                if !self.roster.contains(&from) {
                    let steps = self.roster.offer_from_stranger(PeerInfo {
                        id: from.clone(),
                        name: from.0.clone(),
                    });
                    self.apply(steps).await;
                } else if self.started_over(&from, &sdp).await {
                    // The far end set up a new connection (it restarted, or came back after
                    // we had given up on it): ours cannot carry on, so answer from a new one.
                    tracing::info!(peer = %from, "the far end started over: a new connection");
                    let name = self.peers.get(&from).map(|p| p.name.clone());
                    self.close_peer(&from).await;
                    self.new_peer(PeerInfo {
                        id: from.clone(),
                        name: name.unwrap_or_else(|| from.0.clone()),
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
            Signal::EndOfCandidates => {
                // The W3C form of "no more candidates" is an empty one. webrtc-rs accepts it
                // but its ICE agent has no use for it (it never concludes from it).
                let Some(peer) = self.peers.get_mut(&from) else {
                    return Ok(());
                };
                let end = RTCIceCandidateInit::default();
                if peer.pc.remote_description().await.is_none() {
                    peer.pending_candidates.push(end);
                } else if let Err(e) = peer.pc.add_ice_candidate(end).await {
                    tracing::debug!(error = %e, "end of candidates refused");
                }
            }
        }
        Ok(())
    }

    pub(super) async fn on_peer_input(&mut self, input: PeerInput) {
        match input {
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

    /// Restarts ICE with `peer`: a new offer with new credentials, over candidates gathered
    /// again (on sockets bound again, so a changed address is picked up).
    pub(super) async fn restart_ice(&mut self, id: &PeerId) -> Result<(), CallError> {
        let Some(peer) = self.peers.get_mut(id) else {
            return Ok(());
        };
        if peer.making_offer {
            return Ok(());
        }
        tracing::info!(peer = %id, at_ms = peer.counters.since_start_ms(), "restarting ICE");
        peer.ice_restarts += 1;
        peer.pc.restart_ice().await.map_err(webrtc)?;
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
        self.signaling
            .send_signal(id.clone(), Signal::Offer { sdp: offer.sdp })
            .await?;
        Ok(())
    }

    /// Whether an offer comes from a new connection at the far end: its DTLS certificate is
    /// not the one our connection to that peer negotiated.
    async fn started_over(&self, from: &PeerId, sdp: &str) -> bool {
        let Some(peer) = self.peers.get(from) else {
            return false;
        };
        let Some(current) = peer.pc.remote_description().await else {
            return false;
        };
        let (now, offered) = (fingerprints(&current.sdp), fingerprints(sdp));
        !offered.is_empty() && !now.is_empty() && now != offered
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
