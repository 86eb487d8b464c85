//! The figures behind [`PeerStats`](crate::PeerStats) that are not plain counters: rates over
//! the last second, video freezes, and what webrtc-rs knows about the path (round trip time,
//! jitter, the selected candidate pair).

use std::time::{Duration, Instant};

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use webrtc::peer_connection::{PeerConnection, RTCStatsReportEntry, StatsSelector};

/// Counter values at one moment, for turning totals into rates.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub frames_sent: u64,
    pub frames_decoded: u64,
}

/// Rates over the interval between the last two samples.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rates {
    pub kbps_out: f64,
    pub kbps_in: f64,
    pub fps_sent: f64,
    pub fps_received: f64,
}

/// Turns counter totals sampled about once a second into rates.
#[derive(Debug, Default)]
pub struct RateWindow {
    last: Option<(Instant, Totals)>,
    rates: Rates,
}

impl RateWindow {
    /// Takes a sample; the rates cover the time since the previous one.
    pub fn sample(&mut self, now: Instant, totals: Totals) -> Rates {
        if let Some((at, before)) = self.last {
            let seconds = now.saturating_duration_since(at).as_secs_f64();
            if seconds > 0.0 {
                let per_second = |a: u64, b: u64| a.saturating_sub(b) as f64 / seconds;
                self.rates = Rates {
                    kbps_out: per_second(totals.bytes_sent, before.bytes_sent) * 8.0 / 1000.0,
                    kbps_in: per_second(totals.bytes_received, before.bytes_received) * 8.0
                        / 1000.0,
                    fps_sent: per_second(totals.frames_sent, before.frames_sent),
                    fps_received: per_second(totals.frames_decoded, before.frames_decoded),
                };
            }
        }
        self.last = Some((now, totals));
        self.rates
    }

    pub fn rates(&self) -> Rates {
        self.rates
    }
}

/// Counts video freezes the way the W3C stats do (`freezeCount`): a gap between two decoded
/// frames longer than three times the average gap, and at least 150 ms longer than it.
#[derive(Debug, Default)]
pub struct FreezeDetector {
    last: Option<Instant>,
    /// Running average of the gap between frames, in seconds.
    average: Option<f64>,
    pub count: u64,
    pub total: Duration,
}

/// Weight of a new gap in the running average: about the last 30 frames.
const AVERAGE_WEIGHT: f64 = 1.0 / 30.0;

impl FreezeDetector {
    /// A frame was decoded at `now`.
    pub fn frame(&mut self, now: Instant) {
        if let Some(last) = self.last.replace(now) {
            let gap = now.saturating_duration_since(last).as_secs_f64();
            match self.average {
                Some(average) => {
                    if gap > (3.0 * average).max(average + 0.150) {
                        self.count += 1;
                        self.total += Duration::from_secs_f64(gap);
                    } else {
                        // A freeze is not part of the rhythm it interrupted.
                        self.average = Some(average + (gap - average) * AVERAGE_WEIGHT);
                    }
                }
                None => self.average = Some(gap),
            }
        }
    }
}

/// What webrtc-rs's own statistics say about one connection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PathStats {
    /// Round trip time on the selected candidate pair (STUN consent checks), in ms.
    pub rtt_ms: Option<f64>,
    /// Interarrival jitter of what we receive (RFC 3550), in ms.
    pub audio_jitter_ms: Option<f64>,
    pub video_jitter_ms: Option<f64>,
    /// Types of the selected pair's candidates: host, srflx, prflx or relay.
    pub local_candidate: Option<String>,
    pub remote_candidate: Option<String>,
    /// The selected pair itself (both candidates' addresses): when it changes, the path did.
    pub pair: Option<String>,
}

pub async fn path_stats(pc: &dyn PeerConnection) -> PathStats {
    let report = pc.get_stats(Instant::now(), StatsSelector::None).await;
    let mut out = PathStats::default();
    for entry in report.iter() {
        match entry {
            RTCStatsReportEntry::Transport(t) if !t.selected_candidate_pair_id.is_empty() => {
                if let Some(RTCStatsReportEntry::IceCandidatePair(pair)) =
                    report.get(&t.selected_candidate_pair_id)
                {
                    if pair.current_round_trip_time > 0.0 {
                        out.rtt_ms = Some(pair.current_round_trip_time * 1000.0);
                    }
                }
            }
            RTCStatsReportEntry::InboundRtp(s) => {
                let received = &s.received_rtp_stream_stats;
                if received.packets_received == 0 {
                    continue;
                }
                // webrtc-rs 0.21 documents this in seconds but stores the receiver report's
                // value, which RFC 3550 gives in RTP timestamp units.
                let ms = |clock_rate: f64| Some(received.jitter / clock_rate * 1000.0);
                match received.rtp_stream_stats.kind {
                    RtpCodecKind::Audio => out.audio_jitter_ms = ms(48_000.0),
                    RtpCodecKind::Video => out.video_jitter_ms = ms(90_000.0),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    // The stats report names the pair's candidates by ids its candidate entries do not use
    // (webrtc-rs 0.21), so the types come from the ICE transport's selected pair instead.
    if let Some(sctp) = pc.sctp().await {
        let ice = sctp.transport().ice_transport();
        if let Ok(Some(pair)) = ice.get_selected_candidate_pair().await {
            out.local_candidate = Some(pair.local().typ.to_string());
            out.remote_candidate = Some(pair.remote().typ.to_string());
            out.pair = Some(pair.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_cover_the_interval_between_samples() {
        let start = Instant::now();
        let mut window = RateWindow::default();
        assert_eq!(window.sample(start, Totals::default()), Rates::default());
        let rates = window.sample(
            start + Duration::from_millis(500),
            Totals {
                bytes_sent: 50_000,
                bytes_received: 25_000,
                frames_sent: 15,
                frames_decoded: 14,
            },
        );
        assert_eq!(rates.kbps_out, 800.0);
        assert_eq!(rates.kbps_in, 400.0);
        assert_eq!(rates.fps_sent, 30.0);
        assert_eq!(rates.fps_received, 28.0);
    }

    #[test]
    fn a_long_gap_is_a_freeze_and_a_steady_stream_is_not() {
        let mut t = Instant::now();
        let mut freezes = FreezeDetector::default();
        let step = Duration::from_millis(33);
        for _ in 0..60 {
            freezes.frame(t);
            t += step;
        }
        assert_eq!(freezes.count, 0, "a steady 30 fps stream froze");
        // 400 ms without a frame: more than 3 × 33 ms and more than 33 + 150 ms.
        t += Duration::from_millis(400) - step;
        freezes.frame(t);
        assert_eq!(freezes.count, 1);
        assert_eq!(freezes.total, Duration::from_millis(400));
        // A 120 ms gap is over three frames but under the 150 ms margin: not a freeze.
        t += Duration::from_millis(120);
        freezes.frame(t);
        assert_eq!(freezes.count, 1);
    }
}
