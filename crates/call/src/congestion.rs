//! Send-side bandwidth estimation: webrtc-rs's Google Congestion Control, fed by the far end's
//! transport-wide congestion control (TWCC) feedback, with its estimate made visible to the call
//! so the encoder can follow it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rtc::interceptor::{
    BandwidthEstimator, CongestionControlBuilder, EstimatorStats, Gcc, PacerBuilder, PacketReport,
    Registry, Slot, TwccSenderBuilder,
};

/// The pacer releases packets at this multiple of the estimate, as libwebrtc's does: pacing at
/// exactly the estimate would hold every keyframe back for most of a second while the encoder
/// is already aiming at the estimate on average.
const PACING_FACTOR: f64 = 2.5;

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

/// GCC, publishing its estimate and asking the pacer for headroom above it.
struct Published {
    gcc: Gcc,
    out: Arc<Estimate>,
}

impl BandwidthEstimator for Published {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        self.gcc.on_reports(now, reports);
        self.out
            .bps
            .store(self.gcc.target_bitrate() as u64, Ordering::Relaxed);
    }

    /// What the pacer is asked for (the chain reads it here), not the estimate itself.
    fn target_bitrate(&self) -> f64 {
        self.gcc.target_bitrate() * PACING_FACTOR
    }

    fn stats(&self) -> EstimatorStats {
        self.gcc.stats()
    }
}

/// Adds the sending half of congestion control to a connection's interceptors: transport-wide
/// sequence numbers on what leaves, GCC fed by the far end's TWCC feedback, and the pacer.
/// (The receiving half, TWCC feedback for the far end, is webrtc-rs's default; together they
/// are what its `configure_congestion_control` sets up, except that the pacer starts at the
/// estimate's pace here rather than at a fixed 1 Mbps until the first feedback.)
///
/// The estimate starts at `start_bps` (what the user asked to send) and is capped at `max_bps`.
pub fn configure(registry: Registry, start_bps: f64, max_bps: f64) -> (Registry, Arc<Estimate>) {
    let out = Arc::new(Estimate::default());
    let max_bps = max_bps.max(MIN_BPS);
    let start_bps = start_bps.clamp(MIN_BPS, max_bps);
    let estimator = Published {
        gcc: Gcc::new(start_bps, MIN_BPS, max_bps),
        out: Arc::clone(&out),
    };
    let registry = registry
        .with(
            Slot::CongestionControl,
            CongestionControlBuilder::new(estimator).build(),
        )
        .with(Slot::TwccSender, TwccSenderBuilder::new().build())
        .with(
            Slot::Pacer,
            PacerBuilder::new()
                .with_target_bitrate(start_bps * PACING_FACTOR)
                .build(),
        );
    (registry, out)
}
