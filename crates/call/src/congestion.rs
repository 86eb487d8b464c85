//! Send-side bandwidth estimation: webrtc-rs's Google Congestion Control, fed by the far end's
//! transport-wide congestion control (TWCC) feedback, with its estimate made visible to the call
//! so the encoder can follow it. [`crate::queue_guard`] limits GCC's estimate where it does not
//! see a standing queue.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::queue_guard::QueueGuard;
use rtc::interceptor::{
    BandwidthEstimator, CongestionControlBuilder, EstimatorStats, Gcc, PacketReport, Registry,
    Slot, TwccSenderBuilder,
};

/// The estimate never goes below this (bits per second): under it a call is audio only in all
/// but name, and GCC's own floor is the same.
pub const MIN_BPS: f64 = 100_000.0;

/// What the bandwidth estimate for one peer connection says, shared with the call: the least
/// of its two parts, transport-wide feedback (GCC's delay-based half under [`QueueGuard`])
/// and the far end's receiver reports ([`LossBased`]). A far end that sends no transport-wide
/// feedback (nor REMB) has only the second.
#[derive(Debug, Default)]
pub struct Estimate {
    feedback_bps: AtomicU64,
    loss_bps: AtomicU64,
}

impl Estimate {
    /// The available send bitrate in bits per second, 0 before the first report of either kind.
    pub fn bps(&self) -> u64 {
        let parts = [&self.feedback_bps, &self.loss_bps].map(|p| p.load(Ordering::Relaxed));
        parts.into_iter().filter(|&bps| bps > 0).min().unwrap_or(0)
    }

    /// Sets the part the receiver reports' loss allows.
    pub fn set_loss_bps(&self, bps: f64) {
        self.loss_bps.store(bps as u64, Ordering::Relaxed);
    }
}

/// The loss-based part of the estimate: GCC's rule on the loss the far end's reception reports
/// count (RFC 3550's extended highest sequence number and cumulative loss, before any repair),
/// taken over at least [`LOSS_MIN_PACKETS`] packets. Under 2 % it grows 8 %, over 10 % it drops by half the
/// loss, in between it holds (draft-ietf-rmcat-gcc-02 §6). Fed once a second; no clock.
#[derive(Debug)]
pub struct LossBased {
    bps: f64,
    max_bps: f64,
    /// (Extended highest sequence number, cumulative lost) at the last figure taken.
    counted: Option<(u32, u32)>,
}

/// The fewest packets a loss figure is made from.
pub const LOSS_MIN_PACKETS: u32 = 30;

impl LossBased {
    pub fn new(start_bps: f64, max_bps: f64) -> Self {
        Self {
            bps: start_bps.clamp(MIN_BPS, max_bps.max(MIN_BPS)),
            max_bps: max_bps.max(MIN_BPS),
            counted: None,
        }
    }

    /// Takes a reception report's extended highest sequence number and cumulative loss;
    /// returns the estimate once they cover enough packets since the last figure (None
    /// before).
    pub fn on_counts(&mut self, highest: u32, lost: u32) -> Option<f64> {
        let Some((was_highest, was_lost)) = self.counted else {
            self.counted = Some((highest, lost));
            return None;
        };
        let expected = highest.wrapping_sub(was_highest);
        if expected < LOSS_MIN_PACKETS || expected > 1 << 30 {
            return None; // too few to say, or the counter went back
        }
        self.counted = Some((highest, lost));
        let loss =
            (f64::from(lost.wrapping_sub(was_lost) as i32) / f64::from(expected)).clamp(0.0, 1.0);
        Some(self.on_report(loss))
    }

    /// Takes a receiver report's loss (0.0 to 1.0); returns the estimate, bits per second.
    pub fn on_report(&mut self, loss: f64) -> f64 {
        if loss < 0.02 {
            self.bps *= 1.08;
        } else if loss > 0.10 {
            self.bps *= 1.0 - 0.5 * loss;
        }
        self.bps = self.bps.clamp(MIN_BPS, self.max_bps);
        self.bps
    }
}

/// GCC's delay-based half and [`QueueGuard`]'s limit, publishing the lesser as the
/// feedback-based part of the [`Estimate`].
///
/// GCC's own loss-based half is not used: webrtc-rs applies it to each TWCC batch of 8–25
/// packets, and over a path with 5 % random loss a batch (or a second of them) often showed
/// over 10 % — the estimate fell from 830 to 200 kbit/s in 20 s while the delay-based half held
/// 1.6 Mbit/s. The loss rule runs on the far end's receiver reports instead ([`LossBased`],
/// as draft-ietf-rmcat-gcc-02 has it).
struct Published {
    gcc: Gcc,
    guard: QueueGuard,
    estimate: f64,
    out: Arc<Estimate>,
    logged: Option<Instant>,
}

impl BandwidthEstimator for Published {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        self.gcc.on_reports(now, reports);
        let limit = self.guard.update(now, reports);
        let delay_bps = self
            .gcc
            .stats()
            .delay_based_bitrate
            .unwrap_or_else(|| self.gcc.target_bitrate());
        let estimate = delay_bps.min(limit.unwrap_or(f64::INFINITY)).max(MIN_BPS);
        self.estimate = estimate;
        if self
            .logged
            .is_none_or(|at| now.saturating_duration_since(at).as_secs() >= 1)
        {
            self.logged = Some(now);
            let stats = self.gcc.stats();
            tracing::debug!(
                estimate_kbps = estimate / 1000.0,
                gcc_kbps = self.gcc.target_bitrate() / 1000.0,
                queue_ms = self.guard.queue_ms(),
                delay_kbps = delay_bps / 1000.0,
                gcc_batch_loss = stats.packet_loss.unwrap_or(0.0),
                reports = reports.len(),
                "estimate"
            );
        }
        self.out
            .feedback_bps
            .store(estimate as u64, Ordering::Relaxed);
    }

    fn target_bitrate(&self) -> f64 {
        self.estimate
    }

    fn stats(&self) -> EstimatorStats {
        self.gcc.stats()
    }
}

/// Adds the sending half of congestion control to a connection's interceptors: transport-wide
/// sequence numbers on what leaves, and GCC fed by the far end's TWCC feedback. (The receiving
/// half, TWCC feedback for the far end, is webrtc-rs's default.)
///
/// Unlike webrtc-rs's `configure_congestion_control` this adds no pacer. Its pacer releases at
/// exactly the estimate from a queue of up to 4096 packets with no limit on queueing time: on
/// a 600 kbit/s link a 720p call built a backlog of 8 to 16 seconds there (frames arrived that
/// late) while the estimate fell, where without it the encoder follows the estimate within a
/// quarter of a second and the network's own queue stays short. See docs/calls.md.
///
/// The estimate starts at `start_bps` (what the user asked to send) and is capped at `max_bps`.
pub fn configure(registry: Registry, start_bps: f64, max_bps: f64) -> (Registry, Arc<Estimate>) {
    let out = Arc::new(Estimate::default());
    let max_bps = max_bps.max(MIN_BPS);
    let start_bps = start_bps.clamp(MIN_BPS, max_bps);
    let estimator = Published {
        gcc: Gcc::new(start_bps, MIN_BPS, max_bps),
        guard: QueueGuard::default(),
        estimate: start_bps,
        out: Arc::clone(&out),
        logged: None,
    };
    let registry = registry
        .with(
            Slot::CongestionControl,
            CongestionControlBuilder::new(estimator).build(),
        )
        .with(Slot::TwccSender, TwccSenderBuilder::new().build());
    (registry, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_is_taken_over_enough_packets_from_cumulative_counts() {
        let mut lb = LossBased::new(800_000.0, 1_600_000.0);
        assert_eq!(lb.on_counts(100, 5), None, "the first counts are the base");
        assert_eq!(lb.on_counts(110, 6), None, "10 packets say nothing yet");
        // 100 packets expected since the base, 5 lost: 5 %, which holds the estimate.
        assert_eq!(lb.on_counts(200, 10), Some(800_000.0));
        // 100 more, 20 lost: 20 %, down by a tenth.
        assert_eq!(lb.on_counts(300, 30), Some(720_000.0));
        // Across the sequence number's wrap.
        let mut lb = LossBased::new(800_000.0, 1_600_000.0);
        lb.on_counts(u32::MAX - 10, 0);
        assert_eq!(lb.on_counts(89, 0), Some(864_000.0));
    }

    #[test]
    fn without_feedback_the_estimate_follows_reported_loss() {
        let mut lb = LossBased::new(800_000.0, 1_600_000.0);
        // A clean path: up 8 % a report, to the ceiling.
        let clean: Vec<f64> = (0..20).map(|_| lb.on_report(0.0)).collect();
        assert!((clean[0] - 864_000.0).abs() < 1.0);
        assert_eq!(*clean.last().unwrap(), 1_600_000.0);
        // Moderate loss holds it; heavy loss brings it down, never under the floor.
        assert_eq!(lb.on_report(0.05), 1_600_000.0);
        assert!((lb.on_report(0.2) - 1_440_000.0).abs() < 1.0);
        for _ in 0..100 {
            lb.on_report(0.5);
        }
        assert_eq!(lb.on_report(0.5), MIN_BPS);
    }
}
