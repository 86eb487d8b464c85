//! The WebRTC configuration every peer connection shares: codecs, feedback, interceptors.

use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{NackResponderBuilder, Registry, Slot};
use rtc::peer_connection::certificate::RTCCertificate;
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_rtcp_reports, configure_twcc_receiver_only,
};
use rtc::peer_connection::configuration::media_engine::{
    MediaEngine, MIME_TYPE_OPUS, MIME_TYPE_RTX, MIME_TYPE_VP8,
};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind,
};
use std::time::Duration;
use tincan_protocol::IceServer;

use webrtc::peer_connection::{
    RTCConfiguration, RTCConfigurationBuilder, RTCIceServer, RTCIceTransportPolicy, SettingEngine,
    SettingEngineBuilder,
};

use std::sync::Arc;

use crate::congestion::{self, Estimate};
use crate::error::{webrtc, CallError};
use crate::inbound_rtcp::{self, InboundRtcp, ReceptionReports};
use crate::retransmit_budget::{self, RetransmitBudget, RetransmitStats};

/// What a peer connection's own interceptors measure, shared with the call.
pub struct Measured {
    /// The bandwidth estimate for what we send.
    pub estimate: Arc<Estimate>,
    /// What leaves (media and retransmissions); the round trip goes in here.
    pub sent: Arc<RetransmitStats>,
    /// The far end's reception reports about our streams.
    pub reports: Arc<ReceptionReports>,
}

pub const VP8_PAYLOAD_TYPE: u8 = 96;
pub const RTX_PAYLOAD_TYPE: u8 = 97;
pub const OPUS_PAYLOAD_TYPE: u8 = 111;

pub fn vp8_codec() -> RTCRtpCodec {
    let feedback = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.into(),
        parameter: parameter.into(),
    };
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![
            feedback("ccm", "fir"),
            feedback("nack", ""),
            feedback("nack", "pli"),
        ],
    }
}

pub fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// Only VP8 (with RTX) and Opus: what the media engine can encode and decode. Offering more
/// would let a browser pick a codec we cannot decode. The bandwidth estimate starts at
/// `start_bps` and stays under `max_bps`; [`Measured`] shares what the interceptors measure.
pub fn media_engine_and_interceptors(
    start_bps: f64,
    max_bps: f64,
) -> Result<(MediaEngine, Registry, Measured), CallError> {
    let mut engine = MediaEngine::default();
    engine
        .register_codec(
            RTCRtpCodecParameters {
                rtp_codec: vp8_codec(),
                payload_type: VP8_PAYLOAD_TYPE,
                ..Default::default()
            },
            RtpCodecKind::Video,
        )
        .map_err(webrtc)?;
    engine
        .register_codec(
            RTCRtpCodecParameters {
                rtp_codec: RTCRtpCodec {
                    mime_type: MIME_TYPE_RTX.to_owned(),
                    clock_rate: 90_000,
                    channels: 0,
                    sdp_fmtp_line: format!("apt={VP8_PAYLOAD_TYPE}"),
                    rtcp_feedback: vec![],
                },
                payload_type: RTX_PAYLOAD_TYPE,
                ..Default::default()
            },
            RtpCodecKind::Video,
        )
        .map_err(webrtc)?;
    engine
        .register_codec(
            RTCRtpCodecParameters {
                rtp_codec: opus_codec(),
                payload_type: OPUS_PAYLOAD_TYPE,
                ..Default::default()
            },
            RtpCodecKind::Audio,
        )
        .map_err(webrtc)?;
    // Answering the far end's NACKs (RTX) within a budget, RTCP reports, TWCC feedback for
    // the far end, our own bandwidth estimate, and the far end's keyframe requests. Our own
    // NACKs are not webrtc-rs's generator's (a fixed 100 ms tick, no idea of the round trip):
    // the video receiver sends them (crate::receive).
    let registry = Registry::new().with(Slot::NackResponder, NackResponderBuilder::new().build());
    let registry = configure_rtcp_reports(registry);
    let registry = configure_twcc_receiver_only(registry, &mut engine).map_err(webrtc)?;
    let (registry, estimate) = congestion::configure(registry, start_bps, max_bps);
    let rtx_stats = Arc::new(RetransmitStats::default());
    let reports = Arc::new(ReceptionReports::default());
    let registry = registry
        .with(
            Slot::from(retransmit_budget::SLOT),
            RetransmitBudget::new(Arc::clone(&estimate), start_bps, Arc::clone(&rtx_stats)),
        )
        .with(
            Slot::from(inbound_rtcp::SLOT),
            InboundRtcp::new(Arc::clone(&reports)),
        );
    Ok((
        engine,
        registry,
        Measured {
            estimate,
            sent: rtx_stats,
            reports,
        },
    ))
}

/// A connection's configuration: the signaling server's ICE servers, as webrtc-rs takes them
/// (with `relay_only`, only relay candidates are gathered: no host or server-reflexive address
/// is ever revealed), and its certificate (None when updating a running connection's ICE
/// servers: its certificate cannot change).
pub fn configuration(
    ice: &[IceServer],
    relay_only: bool,
    certificate: Option<RTCCertificate>,
) -> RTCConfiguration {
    let servers = ice
        .iter()
        .map(|s| RTCIceServer {
            urls: s.urls.clone(),
            username: s.username.clone().unwrap_or_default(),
            credential: s.credential.clone().unwrap_or_default(),
            ..Default::default()
        })
        .collect();
    let policy = if relay_only {
        RTCIceTransportPolicy::Relay
    } else {
        RTCIceTransportPolicy::All
    };
    RTCConfigurationBuilder::new()
        .with_ice_servers(servers)
        .with_ice_transport_policy(policy)
        .with_certificates(certificate.into_iter().collect())
        .build()
}

/// How often ICE sends a connectivity check: RFC 8445's pacing (Ta) of 50 ms, which browsers
/// use too. webrtc-rs defaults to 200 ms and only checks on that tick, so a remote candidate
/// that arrives just after a tick waited up to 200 ms for its first check.
const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// Checks per candidate pair before it fails: with the pacing above, 2 s, enough for a slow
/// path's first answer (webrtc-rs's default is 7 checks at 200 ms, 1.4 s).
const ICE_MAX_BINDING_REQUESTS: u16 = 40;

/// How long the controlling side waits before nominating a pair through a peer-reflexive
/// candidate (one learned from a check that arrived before the candidate's signaling message).
/// With checks paced at 50 ms that is the usual case on a LAN, and webrtc-rs's default of
/// 1 s made every such call wait a second; the path works, so take it at once.
const PRFLX_ACCEPTANCE_MIN_WAIT: Duration = Duration::ZERO;

/// ICE consent: a path silent this long is disconnected (RFC 7675 checks every keepalive, so
/// a crashed peer is noticed in about this time; webrtc-rs's default is 5 s), and failed
/// this long after that. Media and keepalives keep a working path far from it.
const ICE_DISCONNECTED_AFTER: Duration = Duration::from_millis(2500);
const ICE_FAILED_AFTER: Duration = Duration::from_secs(10);
const ICE_KEEPALIVE: Duration = Duration::from_secs(1);

/// Whether the mDNS socket (port 5353, joined to 224.0.0.251) can be opened here. It cannot
/// on a machine with no route for multicast (a LAN with no internet and no default route:
/// ENODEV), and webrtc-rs then fails the whole connection rather than go without it.
fn mdns_usable() -> bool {
    match rtc::mdns::MulticastSocket::new().into_std() {
        Ok(_) => true,
        Err(e) => {
            tracing::info!(
                error = %e,
                "no mDNS here (no route for multicast?): calling without it; \
                 browsers' .local candidates cannot be resolved"
            );
            false
        }
    }
}

/// How long the controlling side waits before nominating a pair through a TURN relay, hoping
/// for a direct one (webrtc-rs's default, 2 s, as pion's), and with relay only: nothing better
/// can come, so at once. That wait was half of the ~4.2 s a relay-only call took to set up.
const RELAY_ACCEPTANCE_MIN_WAIT: Duration = Duration::from_secs(2);

/// Timing settings every peer connection shares; `relay_only` as in
/// [`crate::CallOptions::relay_only`].
pub fn settings(relay_only: bool) -> SettingEngine {
    // webrtc-rs's default: resolve peers' `.local` host candidates, offer our own as they are.
    let mdns = if mdns_usable() {
        MulticastDnsMode::QueryOnly
    } else {
        MulticastDnsMode::Disabled
    };
    SettingEngineBuilder::new()
        .with_multicast_dns_mode(mdns)
        .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(ICE_MAX_BINDING_REQUESTS))
        .with_prflx_acceptance_min_wait(Some(PRFLX_ACCEPTANCE_MIN_WAIT))
        .with_relay_acceptance_min_wait(Some(if relay_only {
            Duration::ZERO
        } else {
            RELAY_ACCEPTANCE_MIN_WAIT
        }))
        .with_ice_timeouts(
            Some(ICE_DISCONNECTED_AFTER),
            Some(ICE_FAILED_AFTER),
            Some(ICE_KEEPALIVE),
        )
        // An ICE restart binds its sockets again and gathers afresh, so an address that went
        // away is dropped and a new one is used (webrtc-rs re-reads the interfaces then).
        .with_discard_local_candidates_during_ice_restart(true)
        .build()
}
