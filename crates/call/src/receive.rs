//! Remote media: VP8 frames (put back together by [`crate::jitter`]) decoded on a thread of
//! their own, and Opus decoded with loss concealment.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tincan_media::codec::{OpusDecoder, Vp8Decoder};
use tincan_media::now_us;
use tincan_protocol::PeerId;
use tokio::sync::mpsc;

use crate::events::CallEvent;
use crate::jitter::Assembled;
use crate::peer::Counters;
use crate::stats::FreezeDetector;

/// Decodes a peer's video on a thread; asks for a keyframe (through `pli`) whenever the
/// decoder cannot go on.
pub(crate) fn spawn_video_decoder(
    peer: PeerId,
    counters: Arc<Counters>,
    events: mpsc::Sender<CallEvent>,
    pli: mpsc::UnboundedSender<()>,
) -> std::sync::mpsc::SyncSender<Assembled> {
    // A few frames of slack; a decoder that falls further behind drops frames and recovers
    // from the next keyframe.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Assembled>(8);
    let spawned = std::thread::Builder::new()
        .name("video-decode".into())
        .spawn(move || {
            let mut decoder = match Vp8Decoder::new() {
                Ok(decoder) => decoder,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the video decoder");
                    return;
                }
            };
            let mut freezes = FreezeDetector::default();
            // After a damaged frame every delta refers to a picture we do not have: decoding
            // them would show garbage, so they are skipped until a keyframe.
            let mut need_keyframe = false;
            while let Ok(frame) = rx.recv() {
                let keyframe = !frame.damaged && is_keyframe(&frame.data);
                if frame.damaged {
                    need_keyframe = true;
                }
                if need_keyframe && !keyframe {
                    let _ = pli.send(());
                    continue;
                }
                need_keyframe = false;
                match decoder.decode(&frame.data, now_us()) {
                    Ok(picture) => {
                        counters
                            .video_frames_decoded
                            .fetch_add(1, Ordering::Relaxed);
                        freezes.frame(Instant::now());
                        counters.freezes.store(freezes.count, Ordering::Relaxed);
                        counters
                            .freeze_ms
                            .store(freezes.total.as_millis() as u64, Ordering::Relaxed);
                        counters
                            .received_width
                            .store(picture.width(), Ordering::Relaxed);
                        counters
                            .received_height
                            .store(picture.height(), Ordering::Relaxed);
                        counters.mark_first_frame();
                        if events
                            .blocking_send(CallEvent::Video {
                                peer: peer.clone(),
                                frame: picture,
                            })
                            .is_err()
                        {
                            return;
                        }
                    }
                    Err(_) => {
                        need_keyframe = true;
                        let _ = pli.send(());
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the video decoder thread");
    }
    tx
}

/// RFC 6386 §9.1: bit 0 of a VP8 frame's first byte is 0 on a keyframe.
pub(crate) fn is_keyframe(data: &[u8]) -> bool {
    data.first().is_some_and(|b| b & 1 == 0)
}

/// Decodes a peer's audio: concealment for packets that never came, FEC when the next one
/// carries it.
pub(crate) struct AudioReceiver {
    decoder: OpusDecoder,
    next_seq: Option<u16>,
}

impl AudioReceiver {
    pub fn new() -> Result<Self, tincan_media::MediaError> {
        Ok(Self {
            decoder: OpusDecoder::new()?,
            next_seq: None,
        })
    }

    /// The frames this packet yields: rebuilt or concealed ones for a gap before it, then its own.
    pub fn push(
        &mut self,
        packet: &rtc::rtp::Packet,
        counters: &Counters,
    ) -> Vec<tincan_media::AudioFrame> {
        let seq = packet.header.sequence_number;
        let mut frames = Vec::new();
        let now = now_us();
        if let Some(expected) = self.next_seq {
            let gap = seq.wrapping_sub(expected);
            if gap >= 0x8000 {
                return frames; // late: its time has passed
            }
            if gap > 0 {
                counters
                    .packets_lost
                    .fetch_add(u64::from(gap), Ordering::Relaxed);
                // Conceal all but the last missing packet; rebuild that one from this packet's FEC.
                for _ in 1..gap.min(10) {
                    if let Ok(frame) = self.decoder.conceal(now) {
                        frames.push(frame);
                    }
                }
                if let Ok(frame) = self.decoder.recover(&packet.payload, now) {
                    frames.push(frame);
                }
                counters
                    .audio_frames_concealed
                    .fetch_add(u64::from(gap.min(10)), Ordering::Relaxed);
            }
        }
        self.next_seq = Some(seq.wrapping_add(1));
        match self.decoder.decode(&packet.payload, now) {
            Ok(frame) => {
                counters
                    .audio_frames_received
                    .fetch_add(1, Ordering::Relaxed);
                frames.push(frame);
            }
            Err(e) => tracing::debug!(error = %e, "undecodable audio packet"),
        }
        frames
    }
}
