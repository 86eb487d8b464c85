//! Remote media: VP8 frames reassembled from RTP (a frame ends at the marker bit, so no
//! frame interval is added waiting for the next one — DESIGN.md trap 8), decoded on a thread
//! of their own, and Opus decoded with loss concealment.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use rtc::rtp::codec::vp8::Vp8Packet;
use rtc::rtp::packetizer::Depacketizer;
use tincan_media::codec::{OpusDecoder, Vp8Decoder};
use tincan_media::now_us;
use tincan_protocol::PeerId;
use tokio::sync::mpsc;

use crate::events::CallEvent;
use crate::peer::Counters;
use crate::stats::FreezeDetector;

/// One VP8 frame put back together, and whether any of it went missing.
#[derive(Debug)]
pub(crate) struct Assembled {
    pub data: Bytes,
    pub damaged: bool,
}

/// Puts VP8 frames back together from RTP packets.
#[derive(Default)]
pub(crate) struct FrameAssembler {
    depacketizer: Vp8Packet,
    timestamp: Option<u32>,
    next_seq: Option<u16>,
    buffer: BytesMut,
    damaged: bool,
}

impl FrameAssembler {
    /// Adds a packet; returns a frame when its last packet (marker bit) arrives. `lost` counts
    /// packets that never came (sequence gaps).
    pub fn push(&mut self, packet: &rtc::rtp::Packet, lost: &mut u64) -> Option<Assembled> {
        let seq = packet.header.sequence_number;
        if let Some(expected) = self.next_seq {
            let gap = seq.wrapping_sub(expected);
            if gap != 0 && gap < 0x8000 {
                *lost += u64::from(gap);
                self.damaged = true;
            } else if gap >= 0x8000 {
                return None; // late or duplicate: already past it
            }
        }
        self.next_seq = Some(seq.wrapping_add(1));
        if self.timestamp != Some(packet.header.timestamp) {
            // A new frame; whatever was collected of the last one without its end is lost.
            if !self.buffer.is_empty() {
                self.damaged = true;
            }
            self.buffer.clear();
            self.timestamp = Some(packet.header.timestamp);
            if !self.depacketizer.is_partition_head(&packet.payload) {
                self.damaged = true;
            }
        }
        match self.depacketizer.depacketize(&packet.payload) {
            Ok(payload) => self.buffer.extend_from_slice(&payload),
            Err(_) => self.damaged = true,
        }
        if !packet.header.marker {
            return None;
        }
        let frame = Assembled {
            data: self.buffer.split().freeze(),
            damaged: self.damaged,
        };
        self.damaged = false;
        self.timestamp = None;
        Some(frame)
    }
}

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
            while let Ok(frame) = rx.recv() {
                if frame.damaged {
                    // Decoding a damaged delta would show garbage; wait for a keyframe instead.
                    if !is_keyframe(&frame.data) {
                        let _ = pli.send(());
                        continue;
                    }
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtp::header::Header;

    fn packet(seq: u16, ts: u32, marker: bool, payload: &[u8]) -> rtc::rtp::Packet {
        rtc::rtp::Packet {
            header: Header {
                sequence_number: seq,
                timestamp: ts,
                marker,
                ..Default::default()
            },
            payload: Bytes::copy_from_slice(payload),
        }
    }

    // VP8 payload descriptor: 0x10 = S bit (start of partition), no extensions. The
    // depacketizer wants at least four bytes per packet.
    const START: u8 = 0x10;
    const MIDDLE: u8 = 0x00;

    #[test]
    fn a_frame_is_complete_at_its_marker() {
        let mut a = FrameAssembler::default();
        let mut lost = 0;
        assert!(a
            .push(&packet(1, 90, false, &[START, 1, 2, 3, 4]), &mut lost)
            .is_none());
        let frame = a
            .push(&packet(2, 90, true, &[MIDDLE, 5, 6, 7]), &mut lost)
            .unwrap();
        assert_eq!(&frame.data[..], &[1, 2, 3, 4, 5, 6, 7]);
        assert!(!frame.damaged);
        assert_eq!(lost, 0);
    }

    #[test]
    fn a_missing_packet_damages_the_frame() {
        let mut a = FrameAssembler::default();
        let mut lost = 0;
        a.push(&packet(1, 90, false, &[START, 1, 1, 1]), &mut lost);
        let frame = a
            .push(&packet(3, 90, true, &[MIDDLE, 3, 3, 3]), &mut lost)
            .unwrap();
        assert!(frame.damaged);
        assert_eq!(lost, 1);
        // The next frame is whole again.
        let frame = a
            .push(&packet(4, 180, true, &[START, 4, 4, 4]), &mut lost)
            .unwrap();
        assert!(!frame.damaged);
    }

    #[test]
    fn a_lost_first_packet_damages_the_frame() {
        let mut a = FrameAssembler::default();
        let mut lost = 0;
        a.push(&packet(1, 90, true, &[START, 1, 1, 1]), &mut lost);
        let frame = a
            .push(&packet(3, 180, true, &[MIDDLE, 2, 2, 2]), &mut lost)
            .unwrap();
        assert!(frame.damaged);
    }
}
