//! When each complete video frame goes to the decoder: a playout delay that covers what the
//! path does to frames, so a frame repaired by a retransmission is still on time.
//!
//! Every frame has an expected arrival: its RTP timestamp on the clock of the earliest
//! arrivals seen lately (the fastest the path has carried a frame). It is released
//! [`PlayoutTiming::target`] after that. The target is the larger of
//! - the path's jitter: the 95th percentile of how late unrepaired frames complete, and
//! - while packets are being lost (or in the first seconds of a call over a long round trip,
//!   before loss has had a chance to show): time for [`REPAIR_ROUNDS`] rounds of NACK and
//!   retransmission, or the latest a repaired frame was seen to complete, whichever is more;
//!
//! capped at [`MAX_DELAY`]. Without the repair term a frame that waited a 200 ms round trip for
//! its retransmission held every frame behind it, and the picture stopped for that long at
//! each lost packet. The target grows at most [`MAX_GROWTH_PER_SECOND`] and shrinks at most
//! [`MAX_SHRINK_PER_SECOND`], so playback slows or speeds up a little instead of jumping. On a clean path it comes down to the jitter alone
//! once no packet has been lost for [`LOSS_MEMORY`].
//!
//! Time is passed in; nothing here reads a clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::nack::{retry_after, DEFAULT_RTT};

/// The most video is held back for repairs and jitter.
pub(crate) const MAX_DELAY: Duration = Duration::from_millis(700);
/// Rounds of NACK and retransmission the delay covers while packets are being lost: one lost
/// repair (its request or the retransmission) is about as likely as the loss itself.
pub(crate) const REPAIR_ROUNDS: u32 = 2;
/// How long after the last lost packet the delay still covers repairs.
pub(crate) const LOSS_MEMORY: Duration = Duration::from_secs(10);
/// A new call's first seconds, before loss has had a chance to show: over a round trip of at
/// least [`STARTUP_RTT`] the delay covers repairs from the first frame, or the first lost
/// packet would freeze the picture while the delay grows. Over a shorter one a repair comes
/// within a frame or two, and the first frame is not held for it.
const STARTUP: Duration = Duration::from_secs(2);
const STARTUP_RTT: Duration = Duration::from_millis(60);
/// How fast the target may grow and shrink, in seconds of delay per second: growing, the
/// picture plays up to 10 % slow; shrinking (once the path is clean), up to 25 % fast.
const MAX_GROWTH_PER_SECOND: f64 = 0.1;
const MAX_SHRINK_PER_SECOND: f64 = 0.25;
/// The window of the earliest-arrival clock and of the lateness samples.
const WINDOW: Duration = Duration::from_secs(10);
/// A frame this much later than the earliest-arrival clock, or any earlier, starts a new
/// timeline (the sender's timestamps jumped: camera off and on, a new source).
const TIMELINE_JUMP: Duration = Duration::from_secs(2);
const CLOCK_RATE: f64 = 90_000.0;

#[derive(Debug)]
pub(crate) struct PlayoutTiming {
    /// Instant the seconds below count from.
    origin: Option<Instant>,
    /// Last RTP timestamp and its extended (wrap-free) value.
    last_ts: Option<(u32, i64)>,
    /// Per-second minima of (arrival − media time), seconds.
    offsets: VecDeque<(Instant, f64)>,
    /// How late unrepaired and repaired frames completed, with when.
    jitter: VecDeque<(Instant, f64)>,
    repairs: VecDeque<(Instant, f64)>,
    /// Smoothed frame interval, seconds.
    frame_interval: f64,
    started: Option<Instant>,
    last_loss: Option<Instant>,
    target: f64,
    last_update: Option<Instant>,
}

impl Default for PlayoutTiming {
    fn default() -> Self {
        Self {
            origin: None,
            last_ts: None,
            offsets: VecDeque::new(),
            jitter: VecDeque::new(),
            repairs: VecDeque::new(),
            frame_interval: 1.0 / 30.0,
            started: None,
            last_loss: None,
            target: 0.0,
            last_update: None,
        }
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn percentile(values: impl Iterator<Item = f64>, p: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = values.collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    Some(sorted[((sorted.len() - 1) as f64 * p).round() as usize])
}

impl PlayoutTiming {
    /// A packet went missing at `now`.
    pub fn loss(&mut self, now: Instant) {
        self.last_loss = Some(now);
    }

    /// The path changed (a new candidate pair, noticed up to a second late): the earliest
    /// arrivals, lateness and repairs seen so far describe the old path, and the outage of
    /// the change itself (frames late by its gap, repairs of what was lost in it) is no
    /// measure of the new one. They start over; the target then follows the new path at
    /// its usual pace. (Before, one change over a relay raised the delay from 12 to 405 ms
    /// for the ten seconds losses are remembered.)
    pub fn path_changed(&mut self, _now: Instant) {
        self.offsets.clear();
        self.jitter.clear();
        self.repairs.clear();
        self.last_loss = None;
    }

    /// The delay aimed at now.
    pub fn target(&self) -> Duration {
        Duration::from_secs_f64(self.target)
    }

    /// A frame with RTP timestamp `ts` completed at `now`; its first packet arrived at
    /// `arrived`, and `repaired` says whether any of it came by retransmission; `rtt` is the
    /// round trip, if measured yet. Returns when it should go to the decoder (possibly
    /// already past).
    pub fn frame(
        &mut self,
        ts: u32,
        arrived: Instant,
        repaired: bool,
        now: Instant,
        rtt: Option<Duration>,
    ) -> Instant {
        let origin = *self.origin.get_or_insert(arrived);
        let started = *self.started.get_or_insert(now);
        let ext = match self.last_ts {
            None => i64::from(ts),
            Some((last, ext)) => ext + i64::from(ts.wrapping_sub(last) as i32),
        };
        if let Some((_, last_ext)) = self.last_ts {
            let step = (ext - last_ext) as f64 / CLOCK_RATE;
            if step > 0.0 && step < 0.5 {
                self.frame_interval += (step - self.frame_interval) / 16.0;
            }
        }
        self.last_ts = Some((ts, ext));
        let media = ext as f64 / CLOCK_RATE;
        let offset = secs(arrived.saturating_duration_since(origin)) - media;
        if let Some(base) = self.base() {
            if offset < base - secs(TIMELINE_JUMP) || offset > base + secs(TIMELINE_JUMP) {
                self.offsets.clear();
                self.jitter.clear();
                self.repairs.clear();
            }
        }
        match self.offsets.back_mut() {
            Some((at, min)) if now.saturating_duration_since(*at) < Duration::from_secs(1) => {
                *min = min.min(offset);
            }
            _ => self.offsets.push_back((now, offset)),
        }
        let base = self.base().unwrap_or(offset);
        let completed = secs(now.saturating_duration_since(origin));
        let late = (completed - (media + base)).max(0.0);
        if repaired {
            self.repairs.push_back((now, late));
        } else {
            self.jitter.push_back((now, late));
        }
        for samples in [&mut self.offsets, &mut self.jitter, &mut self.repairs] {
            while samples
                .front()
                .is_some_and(|(at, _)| now.saturating_duration_since(*at) > WINDOW)
            {
                samples.pop_front();
            }
        }
        self.aim(now, started, rtt);
        origin + Duration::from_secs_f64((media + base + self.target).max(0.0))
    }

    /// The earliest-arrival clock: the least offset seen in the window.
    fn base(&self) -> Option<f64> {
        self.offsets.iter().map(|(_, o)| *o).reduce(f64::min)
    }

    fn aim(&mut self, now: Instant, started: Instant, rtt: Option<Duration>) {
        let jitter = percentile(self.jitter.iter().map(|(_, l)| *l), 0.95).unwrap_or(0.0);
        let starting = now.saturating_duration_since(started) < STARTUP
            && rtt.is_some_and(|rtt| rtt >= STARTUP_RTT);
        let losing = self
            .last_loss
            .is_some_and(|at| now.saturating_duration_since(at) < LOSS_MEMORY);
        let repair = if starting || losing {
            let rtt = rtt.unwrap_or(DEFAULT_RTT);
            let rounds = f64::from(REPAIR_ROUNDS) * secs(retry_after(rtt)) + self.frame_interval;
            let seen = self.repairs.iter().map(|(_, l)| *l).fold(0.0, f64::max);
            rounds.max(seen)
        } else {
            0.0
        };
        let wanted = jitter.max(repair).min(secs(MAX_DELAY));
        match self.last_update.replace(now) {
            // The first frame starts at the target it needs.
            None => self.target = wanted,
            Some(last) => {
                let elapsed = secs(now.saturating_duration_since(last));
                self.target += (wanted - self.target).clamp(
                    -MAX_SHRINK_PER_SECOND * elapsed,
                    MAX_GROWTH_PER_SECOND * elapsed,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTT: Option<Duration> = Some(Duration::from_millis(200));

    /// Feeds 30 fps frames from `from` to `to` seconds; `late(i)` is how long after its
    /// expected arrival frame i completes and whether it was repaired. Returns each frame's
    /// release time minus its expected arrival, in ms.
    fn run(
        timing: &mut PlayoutTiming,
        t0: Instant,
        frames: std::ops::Range<u32>,
        late: impl Fn(u32) -> (u64, bool),
    ) -> Vec<i64> {
        frames
            .map(|i| {
                let expected = t0 + Duration::from_micros(u64::from(i) * 33_333);
                let (late_ms, repaired) = late(i);
                let now = expected + Duration::from_millis(late_ms);
                let arrived = if repaired { expected } else { now };
                let release = timing.frame(i * 3000, arrived, repaired, now, RTT);
                release.duration_since(expected).as_millis() as i64
            })
            .collect()
    }

    #[test]
    fn a_clean_path_settles_on_its_jitter() {
        let mut timing = PlayoutTiming::default();
        let t0 = Instant::now();
        let delays = run(&mut timing, t0, 0..900, |i| (u64::from(i % 3) * 5, false));
        // At first the repair allowance (two round trips) holds; without loss it goes.
        assert!(delays[0] >= 500, "{}", delays[0]);
        assert!(*delays.last().unwrap() <= 15, "{delays:?}");
    }

    #[test]
    fn a_lossy_path_keeps_frames_repaired_once_or_twice_on_time() {
        let mut timing = PlayoutTiming::default();
        let t0 = Instant::now();
        // Every tenth frame waits one round trip for a repair, every 50th two.
        let late = |i: u32| match i {
            i if i % 50 == 0 => (480, true),
            i if i % 10 == 0 => (240, true),
            i => (u64::from(i % 3) * 5, false),
        };
        let mut t = t0;
        for second in 0..15 {
            timing.loss(t);
            let frames = second * 30..(second + 1) * 30;
            for (i, delay) in frames.clone().zip(run(&mut timing, t0, frames, late)) {
                let (late_ms, _) = late(i);
                assert!(
                    delay >= late_ms as i64,
                    "frame {i} completed {late_ms} ms late but was due after {delay} ms"
                );
            }
            t += Duration::from_secs(1);
        }
        assert!(timing.target() <= MAX_DELAY);
    }

    #[test]
    fn over_a_short_round_trip_the_first_frame_is_not_held_for_repairs() {
        for rtt in [None, Some(Duration::from_millis(5))] {
            let mut timing = PlayoutTiming::default();
            let t0 = Instant::now();
            let release = timing.frame(0, t0, false, t0, rtt);
            assert_eq!(release, t0, "{rtt:?}");
        }
    }

    #[test]
    fn the_target_moves_gradually() {
        let mut timing = PlayoutTiming::default();
        let t0 = Instant::now();
        let delays = run(&mut timing, t0, 0..300, |_| (0, false));
        let steps: Vec<i64> = delays.windows(2).map(|w| w[0] - w[1]).collect();
        // 33 ms per frame at 0.25 s/s: at most ~8.4 ms from one frame to the next.
        assert!(steps.iter().all(|s| s.abs() <= 9), "{steps:?}");
    }

    #[test]
    fn a_jump_in_the_senders_timestamps_starts_a_new_timeline() {
        let mut timing = PlayoutTiming::default();
        let t0 = Instant::now();
        run(&mut timing, t0, 0..300, |_| (0, false));
        // Ten seconds of camera off: the timestamps carry on from where they were.
        let now = t0 + Duration::from_secs(20);
        let release = timing.frame(300 * 3000, now, false, now, RTT);
        assert!(release.saturating_duration_since(now) < Duration::from_millis(100));
    }

    #[test]
    fn after_a_path_change_the_old_paths_outage_does_not_hold_the_delay() {
        let rtt = Some(Duration::from_millis(5));
        let run = |change: bool| {
            let mut timing = PlayoutTiming::default();
            let t0 = Instant::now();
            let mut last = Duration::ZERO;
            for i in 0..450u32 {
                let expected = t0 + Duration::from_micros(u64::from(i) * 33_333);
                // At 5 s the path moves: nothing for 260 ms, then the frames of the gap
                // complete at once, repaired.
                let (now, repaired) = match i {
                    150..=157 => (t0 + Duration::from_millis(5_260 + 10), true),
                    _ => (expected, false),
                };
                if i == 150 {
                    timing.loss(now);
                }
                if change && i == 180 {
                    // Noticed at the next statistics, a second later.
                    timing.path_changed(expected);
                }
                let arrived = if repaired { expected } else { now };
                let release = timing.frame(i * 3000, arrived, repaired, now, rtt);
                last = release.saturating_duration_since(expected);
            }
            (last, timing.target())
        };
        let (kept, _) = run(false);
        let (started_over, target) = run(true);
        // Ten seconds after the change, without starting over, the gap still holds it.
        assert!(kept >= Duration::from_millis(200), "{kept:?}");
        assert!(
            target <= Duration::from_millis(50),
            "{target:?} ({started_over:?})"
        );
    }
}
