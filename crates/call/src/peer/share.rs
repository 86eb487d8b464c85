//! The screen share's half of a peer connection: a video track each way on the connection's
//! second video m-section (docs/protocol.md, "Screen sharing"), its own counters, and how a
//! received track is known to be the share.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::DecoderThread;
use crate::counters::Counters;
use crate::media::Controls;
use crate::stats::{RateWindow, Totals};

/// A peer's screen share as seen from here: what we send it of ours, what it sends us of its.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ShareStats {
    /// The peer says it shares its screen now (`Signal::Sharing`).
    pub sharing: bool,
    /// Share pictures sent to this peer and decoded from it, and their rates over the last
    /// second.
    pub frames_sent: u64,
    pub frames_decoded: u64,
    pub fps_sent: f64,
    pub fps_received: f64,
    pub kbps_in: f64,
    /// Sizes of the share we send now and of the last share picture decoded from the peer.
    pub sent_size: Option<(u32, u32)>,
    pub received_size: Option<(u32, u32)>,
}

/// The share's state in one peer's session.
#[derive(Default)]
pub(crate) struct Share {
    /// Counters of the share's own tracks; `connected`, the round trip and path changes are
    /// copied from the camera's, which the session keeps.
    pub counters: Arc<Counters>,
    pub decoder_thread: DecoderThread,
    rates: RateWindow,
    /// What the peer last said with `Signal::Sharing`.
    pub remote_on: bool,
}

impl Share {
    /// Takes what the share's tasks need to know from the connection's main counters.
    pub fn follow(&self, main: &Counters) {
        let copy = |from: &AtomicU64, to: &AtomicU64| {
            to.store(from.load(Ordering::Relaxed), Ordering::Relaxed)
        };
        self.counters
            .connected
            .store(main.connected.load(Ordering::Relaxed), Ordering::Relaxed);
        copy(&main.rtt_us, &self.counters.rtt_us);
        copy(&main.path_changes, &self.counters.path_changes);
    }

    pub fn sample(&mut self, now: Instant) {
        let c = &self.counters;
        let load = |v: &AtomicU64| v.load(Ordering::Relaxed);
        self.rates.sample(
            now,
            Totals {
                bytes_sent: load(&c.bytes_sent),
                bytes_received: load(&c.bytes_received),
                frames_sent: load(&c.video_frames_sent),
                frames_decoded: load(&c.video_frames_decoded),
            },
        );
    }

    pub fn stats(&self, ours: &Controls) -> ShareStats {
        let c = &self.counters;
        let load = |v: &AtomicU64| v.load(Ordering::Relaxed);
        let size = |w: &AtomicU32, h: &AtomicU32| match (
            w.load(Ordering::Relaxed),
            h.load(Ordering::Relaxed),
        ) {
            (0, _) | (_, 0) => None,
            size => Some(size),
        };
        let rates = self.rates.rates();
        ShareStats {
            sharing: self.remote_on,
            frames_sent: load(&c.video_frames_sent),
            frames_decoded: load(&c.video_frames_decoded),
            fps_sent: rates.fps_sent,
            fps_received: rates.fps_received,
            kbps_in: rates.kbps_in,
            sent_size: size(&ours.sent_width, &ours.sent_height)
                .filter(|_| load(&c.video_frames_sent) > 0),
            received_size: size(&c.received_width, &c.received_height),
        }
    }
}

/// Whether a received track is the far end's share: the track its SDP (`sdp`, the remote
/// description) puts in the second video m-section, found by its msid (`stream_id`,
/// `track_id`) or one of its SSRCs. A track found nowhere is taken for the camera.
pub(crate) fn is_share(sdp: &str, stream_id: &str, track_id: &str, ssrcs: &[u32]) -> bool {
    let msid = format!("a=msid:{stream_id} {track_id}");
    let any_stream = format!(" {track_id}");
    let mut video = None::<usize>;
    let mut in_video = false;
    for line in sdp.lines().map(str::trim_end) {
        if let Some(media) = line.strip_prefix("m=") {
            in_video = media.starts_with("video ");
            if in_video {
                video = Some(video.map_or(0, |n| n + 1));
            }
            continue;
        }
        if !in_video {
            continue;
        }
        let named = !track_id.is_empty()
            && (line == msid || (line.starts_with("a=msid:") && line.ends_with(&any_stream)));
        let by_ssrc = line
            .strip_prefix("a=ssrc:")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| ssrcs.contains(&n));
        if named || by_ssrc {
            return video.is_some_and(|n| n >= 1);
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=msid:cam-stream cam-track\r\n\
        a=ssrc:111 cname:x\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\na=msid:cam-stream mic-track\r\n\
        a=ssrc:222 cname:x\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=msid:- share-track\r\n\
        a=ssrc:333 cname:x\r\n\
        m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:3\r\n";

    #[test]
    fn the_second_video_section_is_the_share() {
        assert!(!is_share(OFFER, "cam-stream", "cam-track", &[]));
        assert!(is_share(OFFER, "-", "share-track", &[]));
        // A browser's stream id the engine does not know, the track id alone.
        assert!(is_share(OFFER, "0f3e-uuid", "share-track", &[]));
    }

    #[test]
    fn an_ssrc_finds_a_track_without_a_name() {
        assert!(is_share(OFFER, "", "", &[333]));
        assert!(!is_share(OFFER, "", "", &[111]));
        // The audio's SSRC is in no video section.
        assert!(!is_share(OFFER, "", "", &[222]));
    }

    #[test]
    fn a_track_found_nowhere_is_the_camera() {
        assert!(!is_share(OFFER, "other", "other", &[999]));
        assert!(!is_share("", "s", "t", &[1]));
    }
}
