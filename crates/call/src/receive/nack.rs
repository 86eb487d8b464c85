//! When to ask the sender again for a missing video packet (a NACK), given the round trip.
//!
//! A gap in the sequence numbers is asked for at once — not on a timer tick — and asked again
//! a few milliseconds later, since on a lossy path the request itself may be the packet that
//! is lost. If the packet still has not come a round trip (plus a margin for jitter) after an
//! ask, it is asked for again, up to [`MAX_ASKS`] rounds; after that, or once the jitter buffer
//! has moved past it, it is forgotten. Time and the round trip are passed in: no clock here.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Rounds of asking for one packet. A round is one request plus its duplicate.
pub(crate) const MAX_ASKS: u8 = 3;

/// The duplicate of a round's request goes this long after it.
const DUPLICATE_AFTER: Duration = Duration::from_millis(15);

/// A gap this large is an outage or a restart of the stream, not loss to repair packet by
/// packet: the receiver waits for a keyframe instead. Also bounds what a sender's sequence
/// jump can make us hold.
pub(crate) const MAX_MISSING: u64 = 500;

/// The round trip assumed before one is measured.
pub(crate) const DEFAULT_RTT: Duration = Duration::from_millis(100);

/// How long after an ask the repair should have come: a round trip, plus an eighth of it and
/// 15 ms for jitter and the sender's own work.
pub(crate) fn retry_after(rtt: Duration) -> Duration {
    rtt + rtt / 8 + Duration::from_millis(15)
}

#[derive(Debug, Clone, Copy)]
struct Missing {
    /// Rounds asked so far.
    asked: u8,
    /// When the current round's request went, and whether its duplicate has gone too.
    last: Option<Instant>,
    duplicated: bool,
}

#[derive(Debug, Default)]
pub(crate) struct NackScheduler {
    /// By extended sequence number.
    missing: BTreeMap<u64, Missing>,
    highest: Option<u64>,
}

impl NackScheduler {
    /// A packet arrived (an original or a repair). Returns false when it opened a gap too
    /// large to repair (see [`MAX_MISSING`]).
    pub fn on_packet(&mut self, seq: u64) -> bool {
        let Some(highest) = self.highest else {
            self.highest = Some(seq);
            return true;
        };
        if seq <= highest {
            self.missing.remove(&seq);
            return true;
        }
        self.highest = Some(seq);
        if seq - highest > MAX_MISSING {
            self.missing.clear();
            return false;
        }
        for gap in highest + 1..seq {
            self.missing.insert(
                gap,
                Missing {
                    asked: 0,
                    last: None,
                    duplicated: false,
                },
            );
        }
        // Bounded: a long run of gaps keeps only the newest.
        while self.missing.len() as u64 > MAX_MISSING {
            self.missing.pop_first();
        }
        true
    }

    /// Whether `seq` is being waited for (so its arrival is a repair).
    pub fn is_missing(&self, seq: u64) -> bool {
        self.missing.contains_key(&seq)
    }

    /// Forgets every packet before `seq`: the jitter buffer no longer waits for them.
    pub fn forget_before(&mut self, seq: u64) {
        self.missing = self.missing.split_off(&seq);
    }

    /// The sequence numbers to ask for at `now`.
    pub fn due(&mut self, now: Instant, rtt: Duration) -> Vec<u16> {
        let retry = retry_after(rtt);
        let mut asks = Vec::new();
        self.missing.retain(|&seq, m| {
            let ask = match m.last {
                None => true,
                Some(last) if !m.duplicated && now >= last + DUPLICATE_AFTER => {
                    m.duplicated = true;
                    asks.push(seq as u16);
                    return true;
                }
                Some(last) => now >= last + retry,
            };
            if !ask {
                return true;
            }
            if m.asked >= MAX_ASKS {
                return false; // hopeless: the jitter buffer gives the frame up
            }
            m.asked += 1;
            m.last = Some(now);
            m.duplicated = false;
            asks.push(seq as u16);
            true
        });
        asks
    }

    /// When [`NackScheduler::due`] next has something to ask.
    pub fn next_due(&self, rtt: Duration) -> Option<Instant> {
        let retry = retry_after(rtt);
        self.missing
            .values()
            .filter_map(|m| match m.last {
                None => None, // due at once; the caller polls after every packet
                Some(last) if !m.duplicated => Some(last + DUPLICATE_AFTER),
                Some(last) => Some(last + retry),
            })
            .min()
    }

    /// Packets being waited for.
    pub fn missing(&self) -> usize {
        self.missing.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTT: Duration = Duration::from_millis(200);

    fn ms(t: Instant, ms: u64) -> Instant {
        t + Duration::from_millis(ms)
    }

    #[test]
    fn a_gap_is_asked_for_at_once_then_duplicated_then_again_after_a_round_trip() {
        let t = Instant::now();
        let mut n = NackScheduler::default();
        n.on_packet(10);
        n.on_packet(13);
        assert_eq!(n.due(t, RTT), vec![11, 12]);
        assert!(n.due(ms(t, 5), RTT).is_empty());
        assert_eq!(n.next_due(RTT), Some(ms(t, 15)));
        assert_eq!(n.due(ms(t, 15), RTT), vec![11, 12]);
        assert_eq!(n.next_due(RTT), Some(t + retry_after(RTT)));
        n.on_packet(11); // repaired
        assert!(n.due(ms(t, 200), RTT).is_empty());
        assert_eq!(n.due(t + retry_after(RTT), RTT), vec![12]);
    }

    #[test]
    fn a_packet_is_asked_for_a_bounded_number_of_rounds() {
        let t = Instant::now();
        let mut n = NackScheduler::default();
        n.on_packet(1);
        n.on_packet(3);
        let mut asks = 0;
        for step in 0..200 {
            asks += n.due(ms(t, step * 10), RTT).len();
        }
        assert_eq!(asks, 2 * MAX_ASKS as usize);
        assert_eq!(n.missing(), 0);
    }

    #[test]
    fn late_and_forgotten_packets_are_not_asked_for() {
        let t = Instant::now();
        let mut n = NackScheduler::default();
        n.on_packet(100);
        n.on_packet(105);
        n.on_packet(102); // reordered, not lost
        n.forget_before(104);
        assert_eq!(n.due(t, RTT), vec![104]);
    }

    #[test]
    fn a_jump_too_large_to_repair_is_not_asked_for() {
        let t = Instant::now();
        let mut n = NackScheduler::default();
        n.on_packet(1);
        assert!(!n.on_packet(2 + MAX_MISSING));
        assert!(n.due(t, RTT).is_empty());
    }
}
