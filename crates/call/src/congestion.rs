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

/// What one peer connection's estimator last said, shared with the call.
#[derive(Debug, Default)]
pub struct Estimate {
    bps: AtomicU64,
}

impl Estimate {
    /// The available send bitrate in bits per second, 0 before the first feedback.
    pub fn bps(&self) -> u64 {
        self.bps.load(Ordering::Relaxed)
    }
}

/// GCC, publishing its estimate.
struct Published {
    gcc: Gcc,
    guard: QueueGuard,
    out: Arc<Estimate>,
    logged: Option<Instant>,
}

impl BandwidthEstimator for Published {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        self.gcc.on_reports(now, reports);
        let limit = self.guard.update(now, reports);
        let estimate = limit.map_or(self.gcc.target_bitrate(), |l| {
            self.gcc.target_bitrate().min(l).max(MIN_BPS)
        });
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
                delay_kbps = stats.delay_based_bitrate.unwrap_or(0.0) / 1000.0,
                loss_kbps = stats.loss_based_bitrate.unwrap_or(0.0) / 1000.0,
                loss = stats.packet_loss.unwrap_or(0.0),
                reports = reports.len(),
                "estimate"
            );
        }
        self.out.bps.store(estimate as u64, Ordering::Relaxed);
    }

    fn target_bitrate(&self) -> f64 {
        self.gcc.target_bitrate()
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
