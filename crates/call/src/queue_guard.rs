//! A limit on the bandwidth estimate from what the far end actually received and how long it
//! queued on the way.
//!
//! Why this exists: webrtc-rs 0.21's GCC does not see a standing queue. Over a 600 kbit/s link
//! with a 200 ms buffer its delay-based half climbed to its ceiling (3 Mbit/s) and only the
//! loss-based half ever cut, in a sawtooth: +5 % every 200 ms until a fifth of the packets were
//! dropped, then halve (measured with the test in tests/tests/network.rs). Its increase is also
//! not bounded by the rate that got through, as libwebrtc's is. This guard adds both from the
//! same TWCC reports GCC reads:
//!
//! - never more than 1.5 × the acknowledged rate (libwebrtc's bound on an increase), that rate
//!   being what the far end received per second by its own clock — so feedback that comes
//!   late, or many reports at once, changes nothing (timed by when the feedback reached us, a
//!   first report held back for 1.1 s made the rate look like nothing and floored the
//!   estimate for ~25 s);
//! - when the one-way delay rises more than [`QUEUE_LIMIT`] above the lowest seen lately, a
//!   queue is building: cut to 0.85 × the acknowledged rate (GCC's own decrease), then grow
//!   back slowly while the queue stays short.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rtc::interceptor::PacketReport;

/// Queueing delay (one-way delay above the recent minimum) taken as congestion.
pub const QUEUE_LIMIT: Duration = Duration::from_millis(50);
/// The window the acknowledged rate is measured over (by the far end's arrival times).
const ACKED_WINDOW: Duration = Duration::from_secs(1);
/// The acknowledged rate means something only once the reports cover this much time.
const MIN_ACKED_SPAN: Duration = Duration::from_millis(500);
/// The window the base (uncongested) one-way delay is the minimum of.
const BASE_WINDOW: Duration = Duration::from_secs(10);
/// After a cut, the next waits at least this long: the queue needs a moment to drain.
const CUT_INTERVAL: Duration = Duration::from_millis(500);
const DECREASE: f64 = 0.85;
const MAX_OVER_ACKED: f64 = 1.5;
/// Growth of the limit per second while the queue is short.
const GROWTH_PER_SECOND: f64 = 1.08;
/// Weight of one packet's delay in the smoothed queueing delay.
const SMOOTHING: f64 = 0.1;

#[derive(Debug, Default)]
pub struct QueueGuard {
    /// Departure instant the one-way delays are measured from (any fixed point will do: only
    /// their differences matter, so the two clocks' offset cancels).
    epoch: Option<Instant>,
    /// (arrival at the far end, bytes) of packets acknowledged, over the last
    /// [`ACKED_WINDOW`] of the far end's clock.
    acked: VecDeque<(Duration, usize)>,
    /// Per-second minima of the one-way delay (ms) over the last [`BASE_WINDOW`].
    base: VecDeque<(Instant, f64)>,
    queue_ms: f64,
    limit: Option<f64>,
    last_cut: Option<Instant>,
    last_update: Option<Instant>,
}

impl QueueGuard {
    /// Takes a batch of reports received at `now`; returns the limit on the estimate (bits per
    /// second), or None while there is nothing to limit by yet.
    pub fn update(&mut self, now: Instant, reports: &[PacketReport]) -> Option<f64> {
        for report in reports.iter().filter(|r| r.arrived) {
            let Some(arrival) = report.arrival else {
                continue;
            };
            let epoch = *self.epoch.get_or_insert(report.departure);
            let sent_ms = report
                .departure
                .saturating_duration_since(epoch)
                .as_secs_f64()
                * 1000.0;
            self.delay_sample(now, arrival.as_secs_f64() * 1000.0 - sent_ms);
            self.acked.push_back((arrival, report.size));
        }
        let newest = self.acked.iter().map(|(at, _)| *at).max();
        if let Some(newest) = newest {
            self.acked
                .retain(|(at, _)| newest.saturating_sub(*at) < ACKED_WINDOW);
        }
        let elapsed = self
            .last_update
            .replace(now)
            .map_or(Duration::ZERO, |at| now.saturating_duration_since(at));
        // Until the reports cover enough of the far end's time the rate means nothing (the
        // first feedback may acknowledge only the last few packets).
        let oldest = self.acked.iter().map(|(at, _)| *at).min();
        let span = match (oldest, newest) {
            (Some(oldest), Some(newest)) => newest.saturating_sub(oldest),
            _ => Duration::ZERO,
        };
        if span < MIN_ACKED_SPAN {
            return self.limit;
        }
        let acked_bps = self.acked.iter().map(|(_, size)| *size).sum::<usize>() as f64 * 8.0
            / span.max(ACKED_WINDOW / 2).as_secs_f64();
        let congested = self.queue_ms > QUEUE_LIMIT.as_secs_f64() * 1000.0;
        let may_cut = self
            .last_cut
            .is_none_or(|at| now.saturating_duration_since(at) >= CUT_INTERVAL);
        let limit = if congested && may_cut {
            self.last_cut = Some(now);
            acked_bps * DECREASE
        } else {
            let grown = self.limit.map_or(f64::INFINITY, |l| {
                l * GROWTH_PER_SECOND.powf(elapsed.as_secs_f64())
            });
            grown.min(acked_bps * MAX_OVER_ACKED)
        };
        self.limit = Some(limit);
        self.limit
    }

    /// Smoothed queueing delay now, in ms.
    pub fn queue_ms(&self) -> f64 {
        self.queue_ms
    }

    fn delay_sample(&mut self, now: Instant, delay_ms: f64) {
        match self.base.back_mut() {
            Some((at, min)) if now.saturating_duration_since(*at) < Duration::from_secs(1) => {
                *min = min.min(delay_ms);
            }
            _ => self.base.push_back((now, delay_ms)),
        }
        while self
            .base
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > BASE_WINDOW)
        {
            self.base.pop_front();
        }
        let base = self
            .base
            .iter()
            .map(|(_, m)| *m)
            .fold(f64::INFINITY, f64::min);
        let queue = (delay_ms - base).max(0.0);
        self.queue_ms += (queue - self.queue_ms) * SMOOTHING;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::interceptor::PacketReport;

    /// Packet `i`, 1000 bytes, sent at `departure`, arrived at `arrival_ms` on the far end's
    /// clock.
    fn report(i: u64, departure: Instant, arrival_ms: f64) -> PacketReport {
        PacketReport {
            ssrc: 1,
            id: i,
            rtp_sequence_number: i as u16,
            is_twcc: true,
            twcc_sequence_number: i as u16,
            size: 1000,
            arrived: true,
            departure,
            arrival: Some(Duration::from_secs_f64(arrival_ms / 1000.0)),
            ecn: Default::default(),
        }
    }

    /// Packets of 1000 bytes sent every `gap` ms for `ms` ms, each arriving after a delay that
    /// `delay(i)` gives; fed in batches of 10 like TWCC feedback.
    fn run(
        guard: &mut QueueGuard,
        start: Instant,
        (from, to): (u64, u64),
        gap: u64,
        delay: impl Fn(u64) -> f64,
    ) -> Option<f64> {
        let mut limit = None;
        let mut batch = Vec::new();
        for t in (from..to).step_by(gap as usize) {
            let i = t / gap;
            let departure = start + Duration::from_millis(t);
            // The far end's clock is 500 ms off ours: only differences may matter.
            let arrival_ms = t as f64 + 500.0 + delay(t);
            batch.push(report(i, departure, arrival_ms));
            if batch.len() == 10 {
                let now = departure + Duration::from_millis(delay(t) as u64 + 10);
                limit = guard.update(now, &batch);
                batch.clear();
            }
        }
        limit
    }

    #[test]
    fn a_clear_path_is_limited_only_to_half_again_what_got_through() {
        let mut guard = QueueGuard::default();
        // 1000 bytes every 10 ms = 800 kbit/s, constant delay.
        let limit = run(&mut guard, Instant::now(), (0, 5000), 10, |_| 20.0).unwrap();
        assert!((limit - 1.5 * 800_000.0).abs() < 60_000.0, "{limit}");
        assert!(guard.queue_ms() < 1.0);
    }

    /// 1000 bytes every 10 ms (800 kbit/s) on a clean path. The far end sends feedback every
    /// 100 ms, but everything it sent in the first `hold_ms` reaches us at once, `hold_ms` in
    /// (as when a forwarder holds it back), starting with the batch covering the last
    /// `first_covers_ms` only when that is less. Returns every limit the guard gave.
    fn held_back(hold_ms: u64, first_covers_ms: u64) -> Vec<f64> {
        let mut guard = QueueGuard::default();
        let start = Instant::now();
        let mut limits = Vec::new();
        let report = |i: u64| {
            report(
                i,
                start + Duration::from_millis(i * 10),
                (i * 10 + 520) as f64,
            )
        };
        let burst_at = start + Duration::from_millis(hold_ms);
        let first = (hold_ms - first_covers_ms) / 100;
        for batch in first..hold_ms / 100 {
            let reports: Vec<PacketReport> = (batch * 10..(batch + 1) * 10).map(report).collect();
            limits.extend(guard.update(burst_at, &reports));
        }
        // Then feedback every 100 ms as usual.
        for batch in hold_ms / 100..60 {
            let reports: Vec<PacketReport> = (batch * 10..(batch + 1) * 10).map(report).collect();
            let now = start + Duration::from_millis((batch + 1) * 100 + 30);
            limits.extend(guard.update(now, &reports));
        }
        limits
    }

    #[test]
    fn feedback_that_comes_late_and_at_once_does_not_cut_the_limit() {
        for (hold, covers) in [
            (1200, 1200),
            (1200, 100),
            (500, 500),
            (1100, 1100),
            (800, 300),
        ] {
            let limits = held_back(hold, covers);
            assert!(limits.len() > 40, "{limits:?}");
            let lowest = limits.iter().copied().fold(f64::INFINITY, f64::min);
            assert!(
                lowest >= 0.8 * 800_000.0,
                "feedback held {hold} ms (the first covering {covers} ms): the limit fell to {lowest}"
            );
        }
    }

    #[test]
    fn a_growing_queue_cuts_below_what_got_through() {
        let mut guard = QueueGuard::default();
        let start = Instant::now();
        run(&mut guard, start, (0, 3000), 10, |_| 20.0);
        // Then the delay climbs 100 ms per second: a queue filling.
        let limit = run(&mut guard, start, (3000, 5000), 10, |t| {
            20.0 + (t - 3000) as f64 / 10.0
        })
        .unwrap();
        assert!(guard.queue_ms() > QUEUE_LIMIT.as_secs_f64() * 1000.0);
        assert!(limit < 800_000.0, "{limit}");
    }
}
