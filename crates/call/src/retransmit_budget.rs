//! A budget for retransmissions: which of the far end's NACKed packets are worth sending again.
//!
//! webrtc-rs's NACK responder resends every packet it is asked for, every time. Toward a
//! receiver that asks for each missing packet again and again (webrtc-rs's own NACK generator,
//! with default settings, does) through a 600 kbit/s link it sent 30,519 retransmissions
//! against 2,123 original packets in 22 s, and the video behind them arrived seconds late.
//! This interceptor sits just below the responder on the read path and strikes from each NACK
//! what the budget does not allow:
//!
//! - a packet older than [`MAX_AGE`] (the receiver has given it up by then);
//! - a packet already resent [`MAX_RESENDS`] times, or resent less than
//!   [`resend_interval`] ago (the repair is still on its way);
//! - anything past the bytes allowed: retransmissions may use [`RTX_SHARE`] of the bandwidth
//!   estimate, with a burst of [`BURST`] of it.
//!
//! On the write path it counts the original media and the retransmissions that leave, so the
//! call's bitrates include both. Time comes with each packet; there is no clock here.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::transport_feedbacks::transport_layer_nack::{
    nack_pairs_from_sequence_numbers, TransportLayerNack,
};
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use rtc::shared::marshal::MarshalSize;

use crate::congestion::Estimate;

/// Between the pacer (3,000) and the NACK responder (4,000): NACKs reach it before the
/// responder, and the responder's retransmissions pass it on their way out.
pub const SLOT: usize = 3_500;

/// Share of the bandwidth estimate retransmissions may use.
pub const RTX_SHARE: f64 = 0.25;
/// The budget saved up at most, as time at [`RTX_SHARE`] of the estimate.
const BURST: Duration = Duration::from_millis(250);
/// Saved up at least this many bytes, so a low estimate can still repair a packet or two.
const MIN_BURST_BYTES: f64 = 2_400.0;
/// A packet is not resent once this old: the receiver's jitter buffer has moved on.
pub const MAX_AGE: Duration = Duration::from_millis(1_000);
/// Times one packet may be resent.
pub const MAX_RESENDS: u8 = 3;
/// From this round trip on, each allowed retransmission goes twice (see the module's
/// documentation).
pub const DUPLICATE_FROM_RTT: Duration = Duration::from_millis(80);
/// Original packets remembered per stream (about 3 s of 720p video).
const LOG_SIZE: usize = 1_024;

/// The least time between two resends of one packet: the first repair needs most of a round
/// trip to arrive, and a duplicate ask (receivers send one in case the first is lost) must not
/// send it twice.
pub fn resend_interval(rtt: Duration) -> Duration {
    (rtt * 3 / 4).max(Duration::from_millis(30))
}

/// What the budget saw, shared with the call's statistics; the round trip comes in here.
#[derive(Debug, Default)]
pub struct RetransmitStats {
    /// Round trip to the far end in µs (0 until measured); set by the call.
    pub rtt_us: AtomicU64,
    pub media_bytes: AtomicU64,
    pub rtx_packets: AtomicU64,
    pub rtx_bytes: AtomicU64,
    /// Packets asked for and not resent.
    pub refused: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct Sent {
    seq: u16,
    at: Instant,
    size: usize,
    resends: u8,
    last_resend: Option<Instant>,
}

/// The budget's decisions, without the interceptor plumbing (unit tested on its own).
#[derive(Debug)]
pub struct Budget {
    /// Per media SSRC, the last [`LOG_SIZE`] originals by sequence number.
    sent: HashMap<u32, Vec<Option<Sent>>>,
    tokens: f64,
    refilled: Option<Instant>,
}

impl Budget {
    fn new() -> Self {
        Self {
            sent: HashMap::new(),
            tokens: MIN_BURST_BYTES,
            refilled: None,
        }
    }

    /// An original packet of `size` bytes left at `now`.
    pub fn sent(&mut self, ssrc: u32, seq: u16, size: usize, now: Instant) {
        let log = self
            .sent
            .entry(ssrc)
            .or_insert_with(|| vec![None; LOG_SIZE]);
        log[usize::from(seq) % LOG_SIZE] = Some(Sent {
            seq,
            at: now,
            size,
            resends: 0,
            last_resend: None,
        });
    }

    /// Of the packets `asked` for at `now`, those to resend, given the estimate (bps) and
    /// the round trip; each listed twice when it is to be sent twice.
    pub fn allow(
        &mut self,
        ssrc: u32,
        asked: &[u16],
        now: Instant,
        estimate_bps: f64,
        rtt: Duration,
    ) -> Vec<u16> {
        let rate = estimate_bps * RTX_SHARE / 8.0; // bytes per second
        let cap = (rate * BURST.as_secs_f64()).max(MIN_BURST_BYTES);
        if let Some(last) = self.refilled {
            self.tokens += rate * now.saturating_duration_since(last).as_secs_f64();
        }
        self.tokens = self.tokens.min(cap);
        self.refilled = Some(now);
        let Some(log) = self.sent.get_mut(&ssrc) else {
            return Vec::new();
        };
        let mut allowed = Vec::new();
        for &seq in asked {
            let Some(entry) = log[usize::from(seq) % LOG_SIZE].as_mut() else {
                continue;
            };
            let fresh = entry.seq == seq && now.saturating_duration_since(entry.at) <= MAX_AGE;
            let due = entry
                .last_resend
                .is_none_or(|at| now.saturating_duration_since(at) >= resend_interval(rtt));
            if !fresh || entry.resends >= MAX_RESENDS || !due {
                continue;
            }
            if self.tokens < entry.size as f64 {
                continue;
            }
            self.tokens -= entry.size as f64;
            entry.resends += 1;
            entry.last_resend = Some(now);
            allowed.push(seq);
            if rtt >= DUPLICATE_FROM_RTT && self.tokens >= entry.size as f64 {
                self.tokens -= entry.size as f64;
                allowed.push(seq);
            }
        }
        allowed
    }
}

/// The interceptor: [`Budget`] between the far end's NACKs and webrtc-rs's responder.
pub struct RetransmitBudget {
    budget: Budget,
    estimate: Arc<Estimate>,
    /// The estimate to assume before the first one (what the user asked to send).
    start_bps: f64,
    stats: Arc<RetransmitStats>,
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl RetransmitBudget {
    pub fn new(estimate: Arc<Estimate>, start_bps: f64, stats: Arc<RetransmitStats>) -> Self {
        Self {
            budget: Budget::new(),
            estimate,
            start_bps,
            stats,
            read: VecDeque::new(),
            write: VecDeque::new(),
        }
    }

    fn rtt(&self) -> Duration {
        Duration::from_micros(self.stats.rtt_us.load(Ordering::Relaxed))
    }

    /// The NACK with only what the budget allows, or None when nothing is left of it.
    fn trim(&mut self, nack: &TransportLayerNack, now: Instant) -> Option<TransportLayerNack> {
        let asked: Vec<u16> = nack.nacks.iter().flat_map(|p| p.packet_list()).collect();
        let estimate = match self.estimate.bps() {
            0 => self.start_bps,
            bps => bps as f64,
        };
        let allowed = self
            .budget
            .allow(nack.media_ssrc, &asked, now, estimate, self.rtt());
        let mut once = allowed.clone();
        once.dedup();
        let refused = asked.len().saturating_sub(once.len());
        self.stats
            .refused
            .fetch_add(refused as u64, Ordering::Relaxed);
        // The responder resends every sequence number of every pair: a packet allowed twice
        // is named in two pairs.
        let twice: Vec<u16> = allowed
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0])
            .collect();
        let mut nacks = nack_pairs_from_sequence_numbers(&once);
        nacks.extend(nack_pairs_from_sequence_numbers(&twice));
        (!once.is_empty()).then(|| TransportLayerNack {
            sender_ssrc: nack.sender_ssrc,
            media_ssrc: nack.media_ssrc,
            nacks,
        })
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for RetransmitBudget {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &mut msg.message.packet {
            if packets
                .iter()
                .any(|p| p.as_any().is::<TransportLayerNack>())
            {
                let now = msg.now;
                let mut kept: Vec<Box<dyn rtc::rtcp::Packet>> = Vec::with_capacity(packets.len());
                for packet in packets.drain(..) {
                    match packet.as_any().downcast_ref::<TransportLayerNack>() {
                        Some(nack) => {
                            if let Some(trimmed) = self.trim(nack, now) {
                                kept.push(Box::new(trimmed));
                            }
                        }
                        None => kept.push(packet),
                    }
                }
                if kept.is_empty() {
                    return Ok(()); // nothing left for anyone further on
                }
                *packets = kept;
            }
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtp(packet) = &msg.message.packet {
            let size = packet.marshal_size();
            if msg.message.has(&Attribute::Retransmission) {
                self.stats.rtx_packets.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .rtx_bytes
                    .fetch_add(size as u64, Ordering::Relaxed);
            } else {
                self.stats
                    .media_bytes
                    .fetch_add(size as u64, Ordering::Relaxed);
                self.budget.sent(
                    packet.header.ssrc,
                    packet.header.sequence_number,
                    size,
                    msg.now,
                );
            }
        }
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write.pop_front()
    }
}

impl Interceptor for RetransmitBudget {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.budget.sent.remove(&info.ssrc);
    }
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTT: Duration = Duration::from_millis(200);

    fn ms(t: Instant, ms: u64) -> Instant {
        t + Duration::from_millis(ms)
    }

    #[test]
    fn a_packet_asked_for_again_and_again_is_resent_a_few_times_a_round_trip_apart() {
        let t = Instant::now();
        let mut b = Budget::new();
        b.sent(1, 7, 1000, t);
        let mut resent = Vec::new();
        // Asked every 10 ms for a second.
        for step in 0..100 {
            let now = ms(t, step * 10);
            let allowed = b.allow(1, &[7], now, 10e6, RTT);
            if !allowed.is_empty() {
                assert_eq!(
                    allowed,
                    vec![7, 7],
                    "a long round trip sends each repair twice"
                );
                resent.push(step * 10);
            }
        }
        assert_eq!(resent.len(), usize::from(MAX_RESENDS), "{resent:?}");
        assert!(resent.windows(2).all(|w| w[1] - w[0] >= 150), "{resent:?}");
    }

    #[test]
    fn the_far_end_gets_each_repair_twice_over_a_long_round_trip_only() {
        let mut i = RetransmitBudget::new(Arc::new(Estimate::default()), 1e6, Arc::default());
        let t = Instant::now();
        i.budget.sent(9, 1, 500, t);
        i.budget.sent(9, 2, 500, t);
        let nack = TransportLayerNack {
            sender_ssrc: 0,
            media_ssrc: 9,
            nacks: nack_pairs_from_sequence_numbers(&[1, 2]),
        };
        let resent = |n: &TransportLayerNack| -> Vec<u16> {
            n.nacks.iter().flat_map(|p| p.packet_list()).collect()
        };
        assert_eq!(resent(&i.trim(&nack, t).unwrap()), vec![1, 2]);
        i.stats.rtt_us.store(200_000, Ordering::Relaxed);
        let later = t + Duration::from_millis(200);
        assert_eq!(resent(&i.trim(&nack, later).unwrap()), vec![1, 2, 1, 2]);
    }

    #[test]
    fn a_packet_too_old_to_help_or_never_sent_is_not_resent() {
        let t = Instant::now();
        let mut b = Budget::new();
        b.sent(1, 7, 1000, t);
        assert!(b
            .allow(1, &[7], t + MAX_AGE + Duration::from_millis(1), 10e6, RTT)
            .is_empty());
        assert!(b.allow(1, &[8], t, 10e6, RTT).is_empty());
        assert!(b.allow(2, &[7], t, 10e6, RTT).is_empty());
        // A newer packet that took the old one's place in the log is not the one asked for.
        b.sent(1, 7 + LOG_SIZE as u16, 1000, t);
        assert!(b.allow(1, &[7], t, 10e6, RTT).is_empty());
    }

    #[test]
    fn retransmissions_stay_within_their_share_of_the_estimate() {
        let t = Instant::now();
        let mut b = Budget::new();
        let estimate = 600_000.0;
        let mut bytes = 0usize;
        // 10 s of 1000-byte packets at 600 kbit/s, every one asked for at once (on a short
        // path, so one copy each, and on a long one, two).
        for (rtt, from) in [(Duration::from_millis(20), 0u32), (RTT, 750)] {
            for i in from..from + 750 {
                let now = t + Duration::from_micros(u64::from(i) * 13_333);
                b.sent(1, i as u16, 1000, now);
                bytes += 1000 * b.allow(1, &[i as u16], now, estimate, rtt).len();
            }
        }
        let allowed =
            estimate * RTX_SHARE / 8.0 * 20.0 + estimate * RTX_SHARE / 8.0 * BURST.as_secs_f64();
        assert!(
            bytes as f64 <= allowed,
            "{bytes} bytes resent, {allowed} allowed"
        );
        assert!(
            bytes as f64 >= 0.9 * estimate * RTX_SHARE / 8.0 * 20.0,
            "{bytes}"
        );
    }
}
