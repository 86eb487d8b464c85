//! One remote video stream's receive logic, without sockets or clocks: packets in, frames (at
//! their playout time) and NACKs out. The receive task ([`super::receive_video`]) feeds it
//! packets and the round trip, and wakes it at [`VideoReceiver::next_wake`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::jitter::{Assembled, VideoJitterBuffer};
use super::nack::{retry_after, NackScheduler, DEFAULT_RTT, MAX_ASKS};
use super::timing::PlayoutTiming;
use crate::sequence::SequenceExtender;

/// The least a hole is waited for, whatever the round trip.
const MIN_HOLD: Duration = Duration::from_millis(200);
/// The most: past it a frame's hole is given up and a keyframe asked for.
const MAX_HOLD: Duration = Duration::from_millis(1200);

/// How long a frame with a hole waits for it: every round of NACK the scheduler makes, and the
/// frame interval it can take to notice a lost last packet.
pub(crate) fn hold_for(rtt: Duration) -> Duration {
    (retry_after(rtt) * u32::from(MAX_ASKS) + Duration::from_millis(50)).clamp(MIN_HOLD, MAX_HOLD)
}

/// What [`VideoReceiver::poll`] has for the caller now.
#[derive(Debug, Default)]
pub(crate) struct Polled {
    /// Frames due at the decoder, in order.
    pub frames: Vec<Assembled>,
    /// Sequence numbers to ask the sender for.
    pub nacks: Vec<u16>,
}

#[derive(Default)]
pub(crate) struct VideoReceiver {
    sequence: SequenceExtender,
    jitter: VideoJitterBuffer,
    nacks: NackScheduler,
    timing: PlayoutTiming,
    /// Frames assembled, each with when it goes to the decoder.
    waiting: VecDeque<(Instant, Assembled)>,
    rtt: Option<Duration>,
    /// Packets given up for good.
    pub lost: u64,
}

impl VideoReceiver {
    /// The round trip to the sender, as last measured.
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = Some(rtt);
    }

    fn rtt(&self) -> Duration {
        self.rtt.unwrap_or(DEFAULT_RTT)
    }

    /// The path to the sender changed at about `now` (a new candidate pair): what was
    /// learnt of the old one's timing no longer holds.
    pub fn path_changed(&mut self, now: Instant) {
        self.timing.path_changed(now);
    }

    /// The playout delay aimed at now.
    pub fn delay(&self) -> Duration {
        self.timing.target()
    }

    /// A packet arrived at `now` (original or retransmission: webrtc-rs has already unwrapped
    /// RTX).
    pub fn on_packet(&mut self, packet: &rtc::rtp::Packet, now: Instant) {
        let seq = self.sequence.extend(packet.header.sequence_number);
        let before = self.nacks.missing();
        let repaired = self.nacks.is_missing(seq);
        self.nacks.on_packet(seq);
        if self.nacks.missing() > before {
            self.timing.loss(now);
        }
        self.jitter.push(seq, packet, now, repaired);
        self.assemble(now);
    }

    /// Frames due and NACKs to send at `now`; gives up holes that waited too long.
    pub fn poll(&mut self, now: Instant) -> Polled {
        self.assemble(now);
        let mut frames = Vec::new();
        while self.waiting.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, frame)) = self.waiting.pop_front() {
                frames.push(frame);
            }
        }
        Polled {
            frames,
            nacks: self.nacks.due(now, self.rtt()),
        }
    }

    /// When [`VideoReceiver::poll`] next has something to do (besides after a packet).
    pub fn next_wake(&self) -> Option<Instant> {
        [
            self.waiting.front().map(|(at, _)| *at),
            self.jitter.deadline(hold_for(self.rtt())),
            self.nacks.next_due(self.rtt()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn assemble(&mut self, now: Instant) {
        let hold = hold_for(self.rtt());
        while let Some(frame) = self.jitter.pop(now, hold, &mut self.lost) {
            let release = if frame.data.is_empty() {
                now // given up: the decoder learns at once, behind what is already waiting
            } else {
                self.timing.frame(
                    frame.timestamp,
                    frame.arrived,
                    frame.repaired,
                    now,
                    self.rtt,
                )
            };
            self.waiting.push_back((release, frame));
        }
        if let Some(next) = self.jitter.next() {
            self.nacks.forget_before(next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use rtc::rtp::header::Header;

    const RTT: Duration = Duration::from_millis(200);

    /// Frame `n` of a 30 fps stream in three packets (sequence numbers 3n, 3n+1, 3n+2).
    fn packets(n: u16) -> Vec<rtc::rtp::Packet> {
        (0..3)
            .map(|i| rtc::rtp::Packet {
                header: Header {
                    sequence_number: n * 3 + i,
                    timestamp: u32::from(n) * 3000,
                    marker: i == 2,
                    ..Default::default()
                },
                // VP8 payload descriptor: S bit on the first packet of the frame.
                payload: Bytes::from(vec![if i == 0 { 0x10 } else { 0 }, n as u8, i as u8, 0, 0]),
            })
            .collect()
    }

    /// Sends 30 fps for `frames` frames over a path of `rtt`/2 each way that loses the
    /// packets `lose` picks (NACKs are never lost here). Returns, per frame decoded, when it
    /// was released relative to when it was sent, and all NACKs sent.
    fn call(frames: u16, lose: impl Fn(u16) -> bool) -> (Vec<(u16, Duration)>, usize, u64) {
        let t0 = Instant::now();
        let one_way = RTT / 2;
        let mut r = VideoReceiver::default();
        r.set_rtt(RTT);
        // (arrival, packet) in flight to the receiver.
        let mut in_flight: Vec<(Instant, rtc::rtp::Packet)> = Vec::new();
        let mut sent: Vec<rtc::rtp::Packet> = Vec::new();
        for n in 0..frames {
            let at = t0 + Duration::from_micros(u64::from(n) * 33_333);
            for p in packets(n) {
                if !lose(p.header.sequence_number) {
                    in_flight.push((at + one_way, p.clone()));
                }
                sent.push(p);
            }
        }
        let mut released = Vec::new();
        let mut nacks = 0;
        let mut now = t0;
        let end = t0 + Duration::from_micros(u64::from(frames) * 33_333) + Duration::from_secs(2);
        while now < end {
            in_flight.sort_by_key(|(at, _)| *at);
            let arriving: Vec<_> = in_flight
                .iter()
                .filter(|(at, _)| *at <= now)
                .cloned()
                .collect();
            in_flight.retain(|(at, _)| *at > now);
            for (_, p) in arriving {
                r.on_packet(&p, now);
            }
            let polled = r.poll(now);
            for seq in polled.nacks {
                nacks += 1;
                // The sender resends; the repair arrives a round trip after the ask.
                let p = sent[usize::from(seq)].clone();
                in_flight.push((now + RTT, p));
            }
            for f in polled.frames {
                assert!(!f.damaged, "a frame was given up");
                let n = (f.timestamp / 3000) as u16;
                let sent_at = t0 + Duration::from_micros(u64::from(n) * 33_333);
                released.push((n, now.duration_since(sent_at)));
            }
            now += Duration::from_millis(1);
        }
        (released, nacks, r.lost)
    }

    #[test]
    fn a_lost_packet_is_repaired_in_time_and_frames_keep_their_rhythm() {
        // Every 7th packet is lost (one in ~2.3 frames), but not the last frame's: nothing
        // after it would show it missing.
        let (released, nacks, lost) = call(300, |seq| seq % 7 == 3 && seq < 897);
        assert_eq!(lost, 0);
        assert_eq!(released.len(), 300, "every frame decoded");
        assert!(
            released.windows(2).all(|w| w[0].0 + 1 == w[1].0),
            "in order"
        );
        // Each lost packet asked for once and its duplicate: no more.
        assert_eq!(nacks, 2 * (0..897).filter(|s| s % 7 == 3).count());
        // Released at a steady delay: no frame more than 20 ms off the one before (no freeze).
        let worst = released
            .windows(2)
            .map(|w| w[1].1.as_millis() as i64 - w[0].1.as_millis() as i64)
            .map(i64::abs)
            .max()
            .unwrap();
        assert!(worst <= 20, "delay jumped {worst} ms between frames");
    }

    #[test]
    fn a_clean_path_is_released_without_a_repair_allowance_once_known() {
        let (released, nacks, _) = call(600, |_| false);
        assert_eq!(nacks, 0);
        let last = released.last().unwrap().1;
        // One way is 100 ms; after the first seconds nothing is added for repairs.
        assert!(last < Duration::from_millis(130), "{last:?}");
    }

    #[test]
    fn a_hole_never_repaired_is_given_up_after_the_hold() {
        let t0 = Instant::now();
        let mut r = VideoReceiver::default();
        r.set_rtt(RTT);
        let f0 = packets(0);
        let f1 = packets(1);
        r.on_packet(&f0[0], t0);
        r.on_packet(&f0[2], t0); // f0[1] never comes
        for p in &f1 {
            r.on_packet(p, t0 + Duration::from_millis(33));
        }
        let mut out = Vec::new();
        let mut now = t0;
        while now < t0 + Duration::from_secs(3) {
            out.extend(r.poll(now).frames);
            now += Duration::from_millis(5);
        }
        assert_eq!(out.len(), 2);
        assert!(out[0].damaged && out[0].data.is_empty());
        assert!(!out[1].damaged);
        assert_eq!(r.lost, 1);
        assert!(hold_for(RTT) > 3 * RTT, "the hold covers three rounds");
    }
}
