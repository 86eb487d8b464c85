//! Another implementation to call: a webrtc-rs peer with webrtc-rs's own receive-side defaults
//! instead of Tincan's engine. It joins a room through `tincan-server`, answers the offer of
//! whoever comes in, and reads (and throws away) what it receives.
//!
//! Its NACK generator is webrtc-rs's with no limit, on a 100 ms tick: it asks for every
//! missing packet again and again until it sees the packet on the media SSRC — and since it
//! sits before RTX is unwrapped it does not see retransmissions, so it keeps asking for
//! repaired packets too. That is the receiver a sender's retransmission budget must
//! withstand. With `twcc: false` it also negotiates no transport-wide congestion control, so
//! the sender gets no TWCC feedback (and no REMB) at all, only receiver reports.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rtc::interceptor::{NackGeneratorBuilder, NackResponderBuilder, Registry, Slot};
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_rtcp_reports, configure_twcc_receiver_only,
};
use rtc::peer_connection::configuration::media_engine::{
    MediaEngine, MIME_TYPE_OPUS, MIME_TYPE_RTX, MIME_TYPE_VP8,
};
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind,
};
use tincan_call::Identity;
use tincan_protocol::{IceCandidate, Signal};
use tincan_signaling::{connect, ClientOptions, Event};
use tokio::sync::{mpsc, oneshot};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceCandidateInit,
    RTCPeerConnectionIceEvent, RTCSessionDescription,
};

/// What the plain peer received.
#[derive(Debug, Default)]
pub struct Received {
    pub rtp_packets: AtomicU64,
    pub rtp_bytes: AtomicU64,
}

/// A plain webrtc-rs peer in a room (see the module's documentation).
pub struct PlainPeer {
    /// The room it created.
    pub room: String,
    pub received: Arc<Received>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

fn codecs(engine: &mut MediaEngine) {
    let fb = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.into(),
        parameter: parameter.into(),
    };
    let register = |engine: &mut MediaEngine,
                    mime: &str,
                    pt: u8,
                    rate: u32,
                    ch: u16,
                    fmtp: &str,
                    kind,
                    fbs| {
        engine
            .register_codec(
                RTCRtpCodecParameters {
                    rtp_codec: RTCRtpCodec {
                        mime_type: mime.to_owned(),
                        clock_rate: rate,
                        channels: ch,
                        sdp_fmtp_line: fmtp.to_owned(),
                        rtcp_feedback: fbs,
                    },
                    payload_type: pt,
                    ..Default::default()
                },
                kind,
            )
            .expect("a codec registers");
    };
    let video_fb = vec![fb("nack", ""), fb("nack", "pli"), fb("ccm", "fir")];
    register(
        engine,
        MIME_TYPE_VP8,
        96,
        90_000,
        0,
        "",
        RtpCodecKind::Video,
        video_fb,
    );
    register(
        engine,
        MIME_TYPE_RTX,
        97,
        90_000,
        0,
        "apt=96",
        RtpCodecKind::Video,
        vec![],
    );
    register(
        engine,
        MIME_TYPE_OPUS,
        111,
        48_000,
        2,
        "minptime=10;useinbandfec=1",
        RtpCodecKind::Audio,
        vec![],
    );
}

struct Handler {
    candidates: mpsc::UnboundedSender<RTCIceCandidateInit>,
    received: Arc<Received>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.candidates.send(init);
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let received = Arc::clone(&self.received);
        tokio::spawn(async move {
            while let Some(event) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(packet) = event {
                    received.rtp_packets.fetch_add(1, Ordering::Relaxed);
                    received
                        .rtp_bytes
                        .fetch_add(packet.payload.len() as u64, Ordering::Relaxed);
                }
            }
        });
    }
}

/// A peer connection with webrtc-rs's receive-side defaults (see the module's documentation)
/// that has answered `offer`; returns it and the answer's SDP.
async fn answer(
    offer: &str,
    bind: &str,
    twcc: bool,
    identity: &Identity,
    handler: Arc<Handler>,
) -> (Arc<dyn PeerConnection>, String) {
    let mut engine = MediaEngine::default();
    codecs(&mut engine);
    let registry = Registry::new()
        .with(Slot::NackGenerator, NackGeneratorBuilder::new().build())
        .with(Slot::NackResponder, NackResponderBuilder::new().build());
    let registry = configure_rtcp_reports(registry);
    let registry = if twcc {
        configure_twcc_receiver_only(registry, &mut engine).expect("twcc")
    } else {
        registry
    };
    let configuration = RTCConfigurationBuilder::new()
        .with_certificates(vec![identity.certificate()])
        .build();
    let built = PeerConnectionBuilder::new()
        .with_configuration(configuration)
        .with_media_engine(engine)
        .with_interceptor_registry(registry)
        .with_handler(handler as Arc<dyn PeerConnectionEventHandler>)
        .with_udp_addrs(vec![bind.to_owned()])
        .build()
        .await
        .expect("a peer connection");
    let conn: Arc<dyn PeerConnection> = Arc::new(built);
    conn.set_remote_description(RTCSessionDescription::offer(offer.to_owned()).expect("an offer"))
        .await
        .expect("the offer applies");
    let answer = conn.create_answer(None).await.expect("an answer");
    conn.set_local_description(answer.clone())
        .await
        .expect("set local");
    (conn, answer.sdp)
}

impl PlainPeer {
    /// Creates a room on `server` (host:port) and waits there; media binds to `bind`.
    pub async fn create(server: &str, bind: &str, twcc: bool) -> Self {
        let (signaling, mut events) = connect(server, ClientOptions::default())
            .await
            .expect("the plain peer reaches the server");
        let room = signaling.create_room().await.expect("a room");
        signaling
            .join(&room.to_string(), "plain")
            .await
            .expect("joins its room");
        let received = Arc::new(Received::default());
        let (stop, mut stopped) = oneshot::channel();
        let bind = bind.to_owned();
        let counts = Arc::clone(&received);
        // Tincan's engine offers only once it holds our commitment (docs/calls.md).
        let identity = Identity::generate().expect("a certificate");
        let task = tokio::spawn(async move {
            let (cand_tx, mut cand_rx) = mpsc::unbounded_channel::<RTCIceCandidateInit>();
            let mut pc: Option<(Arc<dyn PeerConnection>, tincan_protocol::PeerId)> = None;
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    Some(init) = cand_rx.recv() => {
                        if let Some((_, to)) = &pc {
                            let candidate = IceCandidate {
                                candidate: init.candidate,
                                sdp_mid: init.sdp_mid,
                                sdp_mline_index: init.sdp_mline_index,
                                username_fragment: init.username_fragment,
                            };
                            let _ = signaling.send_signal(to.clone(), Signal::Candidate { candidate }).await;
                        }
                    }
                    event = events.recv() => {
                        let Some(Event::Signal { from, signal }) = event else {
                            if event.is_none() { break } else { continue }
                        };
                        match signal {
                            Signal::Commit { reply: true, .. } => {
                                let hash = identity.commitment().clone();
                                let _ = signaling.send_signal(from, Signal::Commit { hash, reply: false }).await;
                            }
                            Signal::Offer { sdp } => {
                                let handler = Arc::new(Handler {
                                    candidates: cand_tx.clone(),
                                    received: Arc::clone(&counts),
                                });
                                let (conn, answer) = answer(&sdp, &bind, twcc, &identity, handler).await;
                                let _ = signaling.send_signal(from.clone(), Signal::Answer { sdp: answer }).await;
                                pc = Some((conn, from));
                            }
                            Signal::Candidate { candidate } => {
                                if let Some((conn, _)) = &pc {
                                    let init = RTCIceCandidateInit {
                                        candidate: candidate.candidate,
                                        sdp_mid: candidate.sdp_mid,
                                        sdp_mline_index: candidate.sdp_mline_index,
                                        username_fragment: candidate.username_fragment,
                                        ..Default::default()
                                    };
                                    let _ = conn.add_ice_candidate(init).await;
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            if let Some((conn, _)) = pc {
                let _ = conn.close().await;
            }
            let _ = signaling.leave().await;
            signaling.close().await;
        });
        Self {
            room: room.to_string(),
            received,
            stop: Some(stop),
            task,
        }
    }

    /// Leaves and closes.
    pub async fn finish(mut self) -> Arc<Received> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
        self.received
    }
}
