//! What we send one peer: the local tracks (VP8 and Opus, fanned out from the call's one
//! encoder per kind) and their sender loops, which also take the peer's keyframe requests.

use crate::wanted::{take, Shown, Take};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::broadcast;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::Track;
use webrtc::rtp_transceiver::RtpSender;

use crate::counters::Counters;
use crate::error::{webrtc, CallError};
use crate::media::{Controls, EncodedAudio, EncodedVideo};

/// A local track of `kind` in `stream`, with an SSRC and a track id of its own.
pub(crate) fn local_track(
    stream: &str,
    kind: RtpCodecKind,
    codec: rtc::rtp_transceiver::rtp_sender::RTCRtpCodec,
) -> Result<Arc<TrackLocalStaticSample>, CallError> {
    let ssrc = random_u32();
    // Track ids must differ from every track the far end sends: webrtc-rs routes inbound
    // RTCP by track id and looks at received tracks first, so a shared id ("video") sends the
    // far end's keyframe requests to the wrong track.
    let id = format!("tincan-{kind}-{:08x}", random_u32());
    let track = MediaStreamTrack::new(
        stream.to_owned(),
        id.clone(),
        id,
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec,
            ..Default::default()
        }],
    );
    Ok(Arc::new(
        TrackLocalStaticSample::new(Instant::now(), track).map_err(webrtc)?,
    ))
}

/// A random 32-bit value (SSRCs, track ids): RandomState is seeded from the OS per instance.
pub(crate) fn random_u32() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now()) as u32
}

async fn payload_type(sender: &Arc<dyn RtpSender>) -> Option<u8> {
    let params = sender.get_parameters().await.ok()?;
    params.rtp_parameters.codecs.first().map(|c| c.payload_type)
}

pub(crate) async fn send_video(
    track: Arc<TrackLocalStaticSample>,
    sender: Arc<dyn RtpSender>,
    mut frames: broadcast::Receiver<Arc<EncodedVideo>>,
    (controls, shown): (Arc<Controls>, Option<Arc<Shown>>),
    counters: Arc<Counters>,
) {
    let ssrc = track.ssrcs().await.first().copied().unwrap_or(0);
    let mut pt = None;
    let mut was_connected = false;
    loop {
        let frame = tokio::select! {
            // The far end's keyframe requests (PLI, FIR) arrive as RTCP on our track.
            event = track.poll() => {
                let Some(TrackLocalEvent::OnRtcpPacket(packets)) = event else { break };
                let wants_keyframe = packets.iter().any(|p| {
                    p.as_any().downcast_ref::<PictureLossIndication>().is_some()
                        || p.as_any().downcast_ref::<FullIntraRequest>().is_some()
                });
                if wants_keyframe {
                    counters.keyframes_asked_of_us.fetch_add(1, Ordering::Relaxed);
                    controls.keyframe_wanted.store(true, Ordering::Relaxed);
                }
                continue;
            }
            frame = frames.recv() => match frame {
                Ok(frame) => frame,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    controls.keyframe_wanted.store(true, Ordering::Relaxed);
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
        };
        let sent = (
            controls.sent_width.load(Ordering::Relaxed),
            controls.sent_height.load(Ordering::Relaxed),
        );
        let takes = shown.as_ref().map_or(Take::All, |s| take(s.get(), sent));
        let connected = counters.connected.load(Ordering::Relaxed);
        // A peer that shows none of our pictures gets none, and a fresh start (from a
        // keyframe) when it shows them again.
        if !connected || takes == Take::Nothing {
            was_connected = false;
            continue;
        }
        // Half the rate: layer 1 stays here, and the layer-0 picture before it lasts as long
        // as both (the RTP timestamps follow the durations).
        let mut duration = frame.duration;
        if takes == Take::HalfRate && frame.layered {
            if frame.layer > 0 {
                continue;
            }
            duration *= 2;
        }
        if !was_connected {
            // Start the stream on a keyframe, or the far end can decode nothing until one.
            was_connected = true;
            controls.keyframe_wanted.store(true, Ordering::Relaxed);
            if !frame.keyframe {
                continue;
            }
        }
        if pt.is_none() {
            pt = payload_type(&sender).await;
        }
        let Some(pt) = pt else { continue };
        let sample = Sample {
            data: frame.data.clone(),
            duration,
            ..Sample::new(Instant::now())
        };
        match track.sample_writer(ssrc, pt).write_sample(&sample).await {
            Ok(()) => {
                counters.video_frames_sent.fetch_add(1, Ordering::Relaxed);
                counters
                    .bytes_sent
                    .fetch_add(frame.data.len() as u64, Ordering::Relaxed);
            }
            Err(e) => tracing::debug!(error = %e, "video sample not sent"),
        }
    }
}

pub(crate) async fn send_audio(
    track: Arc<TrackLocalStaticSample>,
    sender: Arc<dyn RtpSender>,
    mut packets: broadcast::Receiver<Arc<EncodedAudio>>,
    counters: Arc<Counters>,
) {
    let ssrc = track.ssrcs().await.first().copied().unwrap_or(0);
    let mut pt = None;
    loop {
        let packet = match packets.recv().await {
            Ok(packet) => packet,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => break,
        };
        if !counters.connected.load(Ordering::Relaxed) {
            continue;
        }
        if pt.is_none() {
            pt = payload_type(&sender).await;
        }
        let Some(pt) = pt else { continue };
        let sample = Sample {
            data: packet.data.clone(),
            duration: Duration::from_millis(20),
            ..Sample::new(Instant::now())
        };
        match track.sample_writer(ssrc, pt).write_sample(&sample).await {
            Ok(()) => {
                counters.audio_frames_sent.fetch_add(1, Ordering::Relaxed);
                counters
                    .bytes_sent
                    .fetch_add(packet.data.len() as u64, Ordering::Relaxed);
            }
            Err(e) => tracing::debug!(error = %e, "audio sample not sent"),
        }
    }
}
