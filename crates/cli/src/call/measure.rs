//! What `tincan-cli call` measures about each remote peer while the call runs, and the JSON
//! summary (`--stats-json`) made of it at the end.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Serialize;
use tincan_call::{MediaFrame, PeerStats};
use tincan_media::audio::analysis::{dominant_frequency, rms};
use tincan_media::video::stamp;
use tincan_media::{now_us, SAMPLE_RATE};

/// What this peer measured about one remote peer.
#[derive(Default)]
pub(super) struct Received {
    pub(super) latencies_us: Vec<u64>,
    /// Capture → the frame's `show_at` (decoded, then held to line up with the audio).
    pub(super) shown_latencies_us: Vec<u64>,
    pub(super) last_number: Option<u32>,
    pub(super) out_of_order: u64,
    pub(super) stamps_read: u64,
    pub(super) stamps_unreadable: u64,
    /// The last [`AUDIO_KEPT`] samples heard: a ring, so keeping it costs nothing per frame.
    pub(super) audio: VecDeque<i16>,
    pub(super) chat: Vec<String>,
    /// When each video frame of the last [`FPS_WINDOW`] was decoded.
    pub(super) decoded_at: VecDeque<Instant>,
    /// The longest wait between two decoded video frames (after the first).
    pub(super) max_gap: Duration,
    /// The once-a-second statistics, the last [`SERIES_KEPT`] of them.
    pub(super) series: VecDeque<Sample>,
    /// When the peer said it started or stopped sharing its screen (seconds since we
    /// started, and on or off), in order; bounded by [`SERIES_KEPT`].
    pub(super) sharing: Vec<(f64, bool)>,
}

const AUDIO_KEPT: usize = SAMPLE_RATE as usize * 2;
/// The frame rate at the end is measured over this long.
const FPS_WINDOW: Duration = Duration::from_secs(10);
/// Seconds of statistics kept for the summary's series (an hour).
pub(super) const SERIES_KEPT: usize = 3600;

/// One second's statistics about a peer, in the summary's `series`.
#[derive(Serialize)]
pub(super) struct Sample {
    /// Seconds since this peer started.
    pub(super) t: f64,
    pub(super) kbps_out: f64,
    pub(super) kbps_in: f64,
    pub(super) available_send_kbps: Option<u64>,
    pub(super) fps_received: f64,
    /// Share pictures decoded from this peer in the last second.
    pub(super) share_fps_received: f64,
    pub(super) sent_size: Option<(u32, u32)>,
    pub(super) video_delay_ms: u64,
    pub(super) rtt_ms: Option<f64>,
    /// The echo canceller's delay estimate (our microphone's, the same for every peer).
    pub(super) echo_delay_ms: Option<i32>,
}

#[derive(Serialize)]
struct PeerSummary {
    #[serde(flatten)]
    stats: PeerStats,
    stamps_read: u64,
    stamps_unreadable: u64,
    stamps_out_of_order: u64,
    latency_p50_ms: Option<f64>,
    latency_p95_ms: Option<f64>,
    shown_latency_p50_ms: Option<f64>,
    /// Frames decoded a second over the last 10 s of the call.
    fps_last_10s: f64,
    /// The longest wait between two decoded frames from this peer, ms: how long the worst
    /// outage (a freeze, a network change) left the picture still.
    max_frame_gap_ms: u64,
    audio_hz: Option<f64>,
    audio_level: f64,
    bitrate_in_kbps: f64,
    bitrate_out_kbps: f64,
    chat: Vec<String>,
    sharing_changes: Vec<(f64, bool)>,
    series: Vec<Sample>,
}

#[derive(Serialize)]
pub(super) struct Summary {
    room: String,
    peer_id: String,
    seconds: f64,
    cpu_seconds: f64,
    /// Times fresh TURN credentials came and the relayed paths moved onto them.
    ice_renewals: u32,
    peers: Vec<PeerSummary>,
    /// Every file transfer, sent and received.
    files: Vec<super::files::FileRecord>,
}

/// Reads stamps from video and keeps the last two seconds of audio.
pub(super) fn measure(received: &mut HashMap<String, Received>, frame: MediaFrame) {
    match frame {
        // The share's pictures are counted in the statistics (`share`); these measures are
        // the camera's.
        MediaFrame::Video { screen: true, .. } => {}
        MediaFrame::Video {
            peer,
            frame,
            show_at,
            ..
        } => {
            let r = received.entry(peer.0).or_default();
            let decoded = Instant::now();
            if let Some(last) = r.decoded_at.back() {
                r.max_gap = r.max_gap.max(decoded.duration_since(*last));
            }
            while r
                .decoded_at
                .front()
                .is_some_and(|at| decoded.duration_since(*at) > FPS_WINDOW)
            {
                r.decoded_at.pop_front();
            }
            r.decoded_at.push_back(decoded);
            if let Some(s) = stamp::read(&frame) {
                r.stamps_read += 1;
                let now = now_us();
                let latency = now.saturating_sub(s.capture_us_near(now));
                r.latencies_us.push(latency);
                let wait = show_at.saturating_duration_since(Instant::now());
                r.shown_latencies_us.push(latency + wait.as_micros() as u64);
                if r.last_number.is_some_and(|last| s.frame_number <= last) {
                    r.out_of_order += 1;
                }
                r.last_number = Some(s.frame_number);
            } else {
                r.stamps_unreadable += 1;
            }
        }
        MediaFrame::Audio { peer, frame } => {
            let r = received.entry(peer.0).or_default();
            for sample in frame.samples {
                if r.audio.len() == AUDIO_KEPT {
                    r.audio.pop_front();
                }
                r.audio.push_back(sample);
            }
        }
        _ => {}
    }
}

fn percentile_ms(sorted: &[u64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    Some(sorted[i] as f64 / 1000.0)
}

/// User and system CPU time of this process, from Windows' own count.
#[cfg(windows)]
fn cpu_seconds() -> f64 {
    use windows_sys::Win32::Foundation::FILETIME;
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, GetProcessTimes};
    let zero = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
    // SAFETY: this process's pseudo-handle, and four FILETIMEs the call writes.
    let ok = unsafe {
        GetProcessTimes(
            GetCurrentProcess(),
            &mut created,
            &mut exited,
            &mut kernel,
            &mut user,
        )
    } != 0;
    // Counted in 100 ns.
    let ticks = |t: FILETIME| ((u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime));
    if ok {
        (ticks(kernel) + ticks(user)) as f64 / 1e7
    } else {
        0.0
    }
}

/// User and system CPU time of this process, from /proc (Linux; 0 on macOS).
#[cfg(not(windows))]
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start at the last ')'.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the ')'.
    (ticks(11) + ticks(12)) / 100.0
}

/// How the call stood when it ended: what [`summarize`] makes the summary of.
pub(super) struct Ending {
    pub files: Vec<super::files::FileRecord>,
    pub room: String,
    pub me: String,
    pub seconds: f64,
    pub ended: Instant,
    pub ice_renewals: u32,
    pub received: HashMap<String, Received>,
    pub last_stats: HashMap<String, PeerStats>,
}

/// The summary `--stats-json` writes.
pub(super) fn summarize(end: Ending) -> Summary {
    let Ending {
        files,
        room,
        me,
        seconds,
        ended,
        ice_renewals,
        mut received,
        last_stats,
    } = end;
    Summary {
        room,
        peer_id: me,
        seconds,
        cpu_seconds: cpu_seconds(),
        ice_renewals,
        files,
        peers: last_stats
            .into_values()
            .map(|stats| {
                let mut r = received.remove(&stats.peer_id).unwrap_or_default();
                let mut sorted = r.latencies_us.clone();
                sorted.sort_unstable();
                let mut shown = r.shown_latencies_us.clone();
                shown.sort_unstable();
                let window = FPS_WINDOW.as_secs_f64().min(seconds);
                let recent = r
                    .decoded_at
                    .iter()
                    .filter(|at| ended.duration_since(**at) <= FPS_WINDOW)
                    .count();
                let heard = r.audio.make_contiguous();
                let tail = &heard[heard.len().saturating_sub(SAMPLE_RATE as usize)..];
                PeerSummary {
                    stamps_read: r.stamps_read,
                    stamps_unreadable: r.stamps_unreadable,
                    stamps_out_of_order: r.out_of_order,
                    latency_p50_ms: percentile_ms(&sorted, 0.5),
                    latency_p95_ms: percentile_ms(&sorted, 0.95),
                    shown_latency_p50_ms: percentile_ms(&shown, 0.5),
                    fps_last_10s: recent as f64 / window,
                    max_frame_gap_ms: r.max_gap.as_millis() as u64,
                    audio_hz: dominant_frequency(tail, SAMPLE_RATE),
                    audio_level: rms(tail),
                    bitrate_in_kbps: stats.bytes_received as f64 * 8.0 / 1000.0 / seconds,
                    bitrate_out_kbps: stats.bytes_sent as f64 * 8.0 / 1000.0 / seconds,
                    chat: r.chat,
                    sharing_changes: r.sharing,
                    series: r.series.into(),
                    stats,
                }
            })
            .collect(),
    }
}
