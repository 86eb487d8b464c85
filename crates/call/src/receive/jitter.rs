//! The video jitter buffer: VP8 frames put back together from RTP packets that may arrive out
//! of order or, after a NACK, late as retransmissions.
//!
//! A frame is complete as soon as all its packets are in (it ends at the marker bit, so no
//! frame interval is spent waiting for the next one — docs/traps.md, trap 8). A frame with a hole
//! waits up to the hold the caller passes (long enough for the rounds of NACK the round trip
//! allows, [`super::VideoReceiver`]); then it is given up, reported as damaged so the decoder
//! asks for a keyframe, and the frames after it go on.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtc::rtp::codec::vp8::Vp8Packet;
use rtc::rtp::packetizer::Depacketizer;

/// Packets held at most: past this the oldest hole is given up whatever its age (a sender
/// that keeps going during a long outage must not grow the buffer without bound).
const MAX_HELD: usize = 2048;

/// One VP8 frame put back together, and whether any of it went missing. A frame given up
/// entirely has no data.
#[derive(Debug)]
pub(crate) struct Assembled {
    pub data: Bytes,
    pub damaged: bool,
    /// Whether any packet of it came by retransmission.
    pub repaired: bool,
    /// Its RTP timestamp.
    pub timestamp: u32,
    /// When the frame's first packet arrived: the base its presentation time is counted from.
    pub arrived: Instant,
}

struct Held {
    timestamp: u32,
    marker: bool,
    repaired: bool,
    payload: Bytes,
    arrived: Instant,
}

#[derive(Default)]
pub(crate) struct VideoJitterBuffer {
    depacketizer: Vp8Packet,
    /// By extended (wrap-free) sequence number.
    held: BTreeMap<u64, Held>,
    /// Extended sequence number of the next frame's first packet.
    next: Option<u64>,
    highest: Option<u64>,
}

impl VideoJitterBuffer {
    /// Adds a packet (by its extended sequence number) that arrived at `now`; `repaired` says
    /// it came by retransmission. Frames come out of [`VideoJitterBuffer::pop`].
    pub fn push(&mut self, seq: u64, packet: &rtc::rtp::Packet, now: Instant, repaired: bool) {
        let next = *self.next.get_or_insert(seq);
        if seq < next || self.held.contains_key(&seq) {
            return; // too late, or a duplicate
        }
        self.highest = Some(self.highest.map_or(seq, |h| h.max(seq)));
        self.held.insert(
            seq,
            Held {
                timestamp: packet.header.timestamp,
                marker: packet.header.marker,
                repaired,
                payload: packet.payload.clone(),
                arrived: now,
            },
        );
    }

    /// The next frame: complete, or given up because its hole has waited `hold`. `lost`
    /// counts packets given up for good.
    pub fn pop(&mut self, now: Instant, hold: Duration, lost: &mut u64) -> Option<Assembled> {
        if let Some(frame) = self.take_complete() {
            return Some(frame);
        }
        if self.overdue(now, hold) {
            return Some(self.give_up(now, lost));
        }
        None
    }

    /// Extended sequence number of the first packet still waited for.
    pub fn next(&self) -> Option<u64> {
        self.next
    }

    /// When the frame at the head will have waited `hold` for what it lacks.
    pub fn deadline(&self, hold: Duration) -> Option<Instant> {
        self.held
            .values()
            .next()
            .map(|oldest| oldest.arrived + hold)
    }

    /// The next frame, if every packet of it is in.
    fn take_complete(&mut self) -> Option<Assembled> {
        let next = self.next?;
        let timestamp = self.held.get(&next)?.timestamp;
        let mut last = next;
        loop {
            let packet = self.held.get(&last)?;
            if packet.timestamp != timestamp {
                return None; // the frame's end went missing; give_up deals with it
            }
            if packet.marker {
                break;
            }
            last += 1;
        }
        let mut data = BytesMut::new();
        let mut damaged = false;
        let mut repaired = false;
        let mut arrived: Option<Instant> = None;
        for seq in next..=last {
            let Some(packet) = self.held.remove(&seq) else {
                damaged = true;
                continue;
            };
            repaired |= packet.repaired;
            arrived = Some(arrived.map_or(packet.arrived, |a| a.min(packet.arrived)));
            if seq == next && !self.depacketizer.is_partition_head(&packet.payload) {
                damaged = true; // joined mid-frame
            }
            match self.depacketizer.depacketize(&packet.payload) {
                Ok(payload) => data.extend_from_slice(&payload),
                Err(_) => damaged = true,
            }
        }
        self.next = Some(last + 1);
        Some(Assembled {
            data: data.freeze(),
            damaged,
            repaired,
            timestamp,
            arrived: arrived.unwrap_or_else(Instant::now),
        })
    }

    /// Whether the frame at the head has waited long enough for what it lacks.
    fn overdue(&self, now: Instant, hold: Duration) -> bool {
        self.held.len() > MAX_HELD || self.deadline(hold).is_some_and(|deadline| now >= deadline)
    }

    /// Drops the incomplete frame at the head (every held packet of its timestamp) and moves
    /// on to the first packet of a later frame.
    fn give_up(&mut self, now: Instant, lost: &mut u64) -> Assembled {
        let stuck = self.held.values().next().map(|p| p.timestamp);
        let given_up = Assembled {
            data: Bytes::new(),
            damaged: true,
            repaired: false,
            timestamp: stuck.unwrap_or(0),
            arrived: now,
        };
        let Some(next) = self.next else {
            return given_up;
        };
        let mut dropped = 0u64;
        while let Some(entry) = self.held.first_entry() {
            if Some(entry.get().timestamp) != stuck {
                break;
            }
            entry.remove();
            dropped += 1;
        }
        let resume = self
            .held
            .keys()
            .next()
            .copied()
            .unwrap_or_else(|| self.highest.map_or(next, |h| h + 1));
        *lost += resume.saturating_sub(next).saturating_sub(dropped);
        self.next = Some(resume);
        given_up
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

    // VP8 payload descriptor: 0x10 = S bit (start of partition), no extensions.
    const START: u8 = 0x10;
    const MIDDLE: u8 = 0x00;

    /// The hold the tests give a hole.
    const HOLD: Duration = Duration::from_millis(200);

    struct Feed {
        buffer: VideoJitterBuffer,
        sequence: crate::sequence::SequenceExtender,
        lost: u64,
        t: Instant,
    }

    impl Feed {
        fn new() -> Self {
            Self {
                buffer: VideoJitterBuffer::default(),
                sequence: Default::default(),
                lost: 0,
                t: Instant::now(),
            }
        }
        fn at(&mut self, ms: u64, p: rtc::rtp::Packet) -> Vec<Assembled> {
            let now = self.t + Duration::from_millis(ms);
            let seq = self.sequence.extend(p.header.sequence_number);
            self.buffer.push(seq, &p, now, false);
            std::iter::from_fn(|| self.buffer.pop(now, HOLD, &mut self.lost)).collect()
        }
    }

    #[test]
    fn a_frame_is_complete_at_its_marker() {
        let mut f = Feed::new();
        assert!(f
            .at(0, packet(1, 90, false, &[START, 1, 2, 3, 4]))
            .is_empty());
        let frames = f.at(0, packet(2, 90, true, &[MIDDLE, 5, 6, 7]));
        assert_eq!(frames.len(), 1);
        assert_eq!(&frames[0].data[..], &[1, 2, 3, 4, 5, 6, 7]);
        assert!(!frames[0].damaged);
        assert_eq!(f.lost, 0);
    }

    #[test]
    fn reordered_packets_are_put_back_in_order() {
        let mut f = Feed::new();
        f.at(0, packet(10, 90, false, &[START, 1, 1, 1]));
        assert!(f.at(1, packet(12, 90, true, &[MIDDLE, 3, 3, 3])).is_empty());
        let frames = f.at(2, packet(11, 90, false, &[MIDDLE, 2, 2, 2]));
        assert_eq!(frames.len(), 1);
        assert_eq!(&frames[0].data[..], &[1, 1, 1, 2, 2, 2, 3, 3, 3]);
        assert!(!frames[0].damaged);
    }

    #[test]
    fn a_retransmission_in_time_completes_the_frame_and_releases_the_ones_behind_it() {
        let mut f = Feed::new();
        f.at(0, packet(1, 90, false, &[START, 1, 1, 1]));
        // 2 is lost; the frame after it arrives whole, and must wait its turn.
        f.at(1, packet(3, 90, true, &[MIDDLE, 3, 3, 3]));
        assert!(f.at(33, packet(4, 180, true, &[START, 4, 4, 4])).is_empty());
        let frames = f.at(120, packet(2, 90, false, &[MIDDLE, 2, 2, 2]));
        assert_eq!(frames.len(), 2);
        assert_eq!(&frames[0].data[..], &[1, 1, 1, 2, 2, 2, 3, 3, 3]);
        assert!(!frames[0].damaged && !frames[1].damaged);
        assert_eq!(f.lost, 0);
        // The retransmission of something already handed on is ignored.
        assert!(f
            .at(130, packet(2, 90, false, &[MIDDLE, 2, 2, 2]))
            .is_empty());
    }

    #[test]
    fn a_hole_never_filled_is_given_up_after_the_wait() {
        let mut f = Feed::new();
        f.at(0, packet(1, 90, false, &[START, 1, 1, 1]));
        f.at(1, packet(3, 90, true, &[MIDDLE, 3, 3, 3]));
        assert!(f.at(33, packet(4, 180, true, &[START, 4, 4, 4])).is_empty());
        let frames = f.at(
            66 + HOLD.as_millis() as u64,
            packet(5, 270, true, &[START, 5, 5, 5]),
        );
        assert_eq!(frames.len(), 3, "{frames:?}");
        assert!(
            frames[0].damaged && frames[0].data.is_empty(),
            "the broken frame"
        );
        assert_eq!(&frames[1].data[..], &[4, 4, 4]);
        assert_eq!(&frames[2].data[..], &[5, 5, 5]);
        assert_eq!(f.lost, 1);
    }

    #[test]
    fn a_lost_first_packet_damages_the_frame() {
        let mut f = Feed::new();
        f.at(0, packet(1, 90, true, &[START, 1, 1, 1]));
        // 2 (the start of frame 180) never comes; 3 is its end.
        f.at(30, packet(3, 180, true, &[MIDDLE, 2, 2, 2]));
        let frames = f.at(300, packet(4, 270, true, &[START, 4, 4, 4]));
        assert!(frames[0].damaged);
        assert_eq!(&frames.last().unwrap().data[..], &[4, 4, 4]);
        assert_eq!(f.lost, 1);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut f = Feed::new();
        let mut out = Vec::new();
        for (i, seq) in [65534u16, 65535, 0, 1].into_iter().enumerate() {
            out.extend(f.at(
                i as u64,
                packet(seq, 90 * i as u32, true, &[START, i as u8, 0, 0]),
            ));
        }
        let firsts: Vec<u8> = out.iter().map(|f| f.data[0]).collect();
        assert_eq!(firsts, vec![0, 1, 2, 3]);
        assert_eq!(f.lost, 0);
    }
}
