//! What arrives from one remote peer: its video (put back together, repaired, held to a
//! playout time, decoded) and its audio packets (decoded at playout: [`crate::audio_jitter`]).
//!
//! - [`video::VideoReceiver`] decides, without sockets or clocks: the jitter buffer
//!   ([`jitter`]), when to ask for a lost packet ([`nack`]) and when each frame plays
//!   ([`timing`]).
//! - [`receive_video`] is the task that feeds it packets and the round trip and carries out
//!   what it decides: NACKs and keyframe requests to the sender, frames to the decoder thread
//!   ([`decoder`]).

mod decoder;
pub(crate) mod jitter;
mod nack;
pub(crate) mod timing;
pub(crate) mod video;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::{
    nack_pairs_from_sequence_numbers, TransportLayerNack,
};
use tincan_protocol::PeerId;
use tokio::sync::mpsc;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use crate::counters::Counters;
use crate::events::{CallEvent, MediaFrame};
use crate::peer::DecoderThread;
use crate::playout::PeerAudio;
use crate::recording::{Tape, VideoRecorder};
use decoder::{is_keyframe, spawn_video_decoder};
use video::VideoReceiver;

/// How long the receiver waits for a keyframe it asked for before asking again, at least: a
/// keyframe needs a round trip to be asked for and arrive, and on a slow link a keyframe
/// every 100 ms was itself what kept the link lossy.
const PLI_REPEAT_AFTER: Duration = Duration::from_millis(250);

/// The wait before asking for a keyframe again over a round trip of `rtt`.
fn pli_repeat_after(rtt: Duration) -> Duration {
    PLI_REPEAT_AFTER.max(rtt + Duration::from_millis(150))
}

/// Receives a peer's video (its camera, or with `screen` its screen share): packets through
/// [`VideoReceiver`] to the decoder thread, NACKs and keyframe requests back. Ends when the
/// track does.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn receive_video(
    peer: PeerId,
    screen: bool,
    track: Arc<dyn TrackRemote>,
    counters: Arc<Counters>,
    (events, frames): (mpsc::Sender<CallEvent>, mpsc::Sender<MediaFrame>),
    refresh: Option<mpsc::UnboundedReceiver<()>>,
    record: Option<PathBuf>,
    tape: Option<Arc<Tape>>,
    decoder_thread: DecoderThread,
) {
    let media_ssrc = track.ssrcs().await.first().copied().unwrap_or(0);
    let (pli_tx, mut pli_rx) = mpsc::unbounded_channel();
    let recorder = record
        .as_deref()
        .map(|dir| VideoRecorder::new(dir, &peer, screen));
    let (decoder, thread) = spawn_video_decoder(
        peer.clone(),
        screen,
        Arc::clone(&counters),
        (events.clone(), frames),
        pli_tx,
        recorder,
        tape,
    );
    if let (Some(thread), Ok(mut slot)) = (thread, decoder_thread.lock()) {
        *slot = Some(thread);
    }
    let mut receiver = VideoReceiver::default();
    // A frame the decoder had no room for leaves the next ones without their reference.
    let mut dropped_one = false;
    let mut last_pli: Option<Instant> = None;
    // While set, frames are thrown away until a keyframe, whose wait is measured from here.
    let mut refreshing: Option<Instant> = None;
    let (_keep_open, mut refresh) = match refresh {
        Some(rx) => (None, rx),
        None => {
            let (tx, rx) = mpsc::unbounded_channel();
            (Some(tx), rx)
        }
    };
    let send_pli = |track: Arc<dyn TrackRemote>, counters: Arc<Counters>| async move {
        counters.keyframes_requested.fetch_add(1, Ordering::Relaxed);
        let pli = PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc,
        };
        if let Err(e) = track.write_rtcp(vec![Box::new(pli)]).await {
            tracing::debug!(error = %e, "cannot send a PLI");
        }
    };
    let mut paths_seen = counters.path_changes.load(Ordering::Relaxed);
    loop {
        let rtt = counters.rtt();
        if let Some(rtt) = rtt {
            receiver.set_rtt(rtt);
        }
        let paths = counters.path_changes.load(Ordering::Relaxed);
        if paths != paths_seen {
            paths_seen = paths;
            receiver.path_changed(Instant::now());
        }
        let wake = receiver
            .next_wake()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(1));
        tokio::select! {
            event = track.poll() => {
                let Some(event) = event else { return };
                let TrackRemoteEvent::OnRtpPacket(packet) = event else { continue };
                counters.bytes_received.fetch_add(packet.payload.len() as u64, Ordering::Relaxed);
                receiver.on_packet(&packet, Instant::now());
            }
            _ = tokio::time::sleep_until(wake) => {}
            Some(()) = refresh.recv() => {
                refreshing = Some(Instant::now());
                last_pli = Some(Instant::now());
                send_pli(Arc::clone(&track), Arc::clone(&counters)).await;
            }
            Some(()) = pli_rx.recv() => {
                // One PLI, then time for the keyframe to come before asking again.
                let wait = pli_repeat_after(rtt.unwrap_or_default());
                if last_pli.is_none_or(|at| at.elapsed() >= wait) {
                    last_pli = Some(Instant::now());
                    send_pli(Arc::clone(&track), Arc::clone(&counters)).await;
                }
            }
        }
        let polled = receiver.poll(Instant::now());
        counters
            .packets_lost
            .store(receiver.lost, Ordering::Relaxed);
        counters
            .video_delay_ms
            .store(receiver.delay().as_millis() as u64, Ordering::Relaxed);
        if !polled.nacks.is_empty() {
            counters
                .nacks_sent
                .fetch_add(polled.nacks.len() as u64, Ordering::Relaxed);
            let nack = TransportLayerNack {
                sender_ssrc: 0,
                media_ssrc,
                nacks: nack_pairs_from_sequence_numbers(&polled.nacks),
            };
            if let Err(e) = track.write_rtcp(vec![Box::new(nack)]).await {
                tracing::debug!(error = %e, "cannot send a NACK");
            }
        }
        for mut frame in polled.frames {
            if counters
                .video_frames_received
                .fetch_add(1, Ordering::Relaxed)
                == 0
            {
                tracing::debug!(%peer, at_ms = counters.since_start_ms(), keyframe = is_keyframe(&frame.data), "first remote frame assembled");
            }
            if let Some(asked) = refreshing {
                if frame.damaged || !is_keyframe(&frame.data) {
                    continue;
                }
                refreshing = None;
                let waited = asked.elapsed().as_millis() as u64;
                if let Ok(mut waits) = counters.keyframe_waits_ms.lock() {
                    waits.push(waited);
                }
                let _ = events
                    .send(CallEvent::KeyframeArrived {
                        peer: peer.clone(),
                        after_ms: waited,
                    })
                    .await;
            }
            frame.damaged |= std::mem::take(&mut dropped_one);
            if decoder.try_send(frame).is_err() {
                tracing::debug!("video decoder behind; frame dropped");
                dropped_one = true;
            }
        }
    }
}

/// Moves a peer's audio packets into its jitter buffer; the playout thread decodes them.
pub(crate) async fn receive_audio(track: Arc<dyn TrackRemote>, audio: Arc<PeerAudio>) {
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            continue;
        };
        let counters = &audio.counters;
        counters
            .bytes_received
            .fetch_add(packet.payload.len() as u64, Ordering::Relaxed);
        counters
            .audio_frames_received
            .fetch_add(1, Ordering::Relaxed);
        if let Ok(mut buffer) = audio.buffer.lock() {
            buffer.push(
                packet.header.sequence_number,
                packet.payload.clone(),
                Instant::now(),
            );
        }
    }
}
