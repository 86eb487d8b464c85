//! What the far end's reception reports say about the streams we send it: RFC 3550 report
//! blocks, whether they come in a receiver report or piggybacked on a sender report.
//!
//! webrtc-rs 0.21's statistics miss both kinds: they read report blocks only from receiver
//! reports, and only after the interceptor chain — whose terminus drops every inbound RTCP
//! packet no interceptor marked for the application (DESIGN.md trap 1). Its remote-inbound
//! loss therefore never moved, so neither Opus FEC (sized by the audio's reported loss) nor a
//! loss-based estimate could follow the path. This interceptor reads the blocks on the way in.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rtc::interceptor::{Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;

/// Next to the keyframe-request interceptor (14,000), after every built-in one.
pub const SLOT: usize = 14_100;

/// Streams remembered at most: we send two; a peer naming more is not believed.
const MAX_STREAMS: usize = 8;

/// The far end's latest report block about one of our streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reported {
    /// Extended highest sequence number received.
    pub highest: u32,
    /// Cumulative number of packets lost.
    pub lost: u32,
    /// Fraction lost since its previous report, out of 256.
    pub fraction_lost: u8,
}

/// The latest report block per stream of ours, shared with the call.
#[derive(Debug, Default)]
pub struct ReceptionReports(Mutex<HashMap<u32, Reported>>);

impl ReceptionReports {
    /// What the far end last said about our stream `ssrc`.
    pub fn get(&self, ssrc: u32) -> Option<Reported> {
        self.0.lock().ok()?.get(&ssrc).copied()
    }

    fn record(&self, blocks: &[ReceptionReport]) {
        let Ok(mut streams) = self.0.lock() else {
            return;
        };
        for block in blocks {
            if streams.len() >= MAX_STREAMS && !streams.contains_key(&block.ssrc) {
                continue;
            }
            streams.insert(
                block.ssrc,
                Reported {
                    highest: block.last_sequence_number,
                    lost: block.total_lost,
                    fraction_lost: block.fraction_lost,
                },
            );
        }
    }
}

/// The interceptor that fills [`ReceptionReports`]; it passes everything on unchanged.
pub struct Collector {
    out: Arc<ReceptionReports>,
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl Collector {
    pub fn new(out: Arc<ReceptionReports>) -> Self {
        Self {
            out,
            read: VecDeque::new(),
            write: VecDeque::new(),
        }
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for Collector {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            for packet in packets {
                if let Some(rr) = packet.as_any().downcast_ref::<ReceiverReport>() {
                    self.out.record(&rr.reports);
                } else if let Some(sr) = packet.as_any().downcast_ref::<SenderReport>() {
                    self.out.record(&sr.reports);
                }
            }
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write.pop_front()
    }
}

impl Interceptor for Collector {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::interceptor::AttributedPacket;

    fn block(ssrc: u32, highest: u32, lost: u32) -> ReceptionReport {
        ReceptionReport {
            ssrc,
            last_sequence_number: highest,
            total_lost: lost,
            fraction_lost: 13,
            ..Default::default()
        }
    }

    fn tagged(packets: Vec<Box<dyn rtc::rtcp::Packet>>) -> TaggedPacket {
        TaggedPacket {
            now: Instant::now(),
            transport: Default::default(),
            message: AttributedPacket::new(Packet::Rtcp(packets)),
        }
    }

    #[test]
    fn blocks_from_receiver_and_sender_reports_are_kept_and_passed_on() {
        let out = Arc::new(ReceptionReports::default());
        let mut c = Collector::new(Arc::clone(&out));
        c.handle_read(tagged(vec![Box::new(ReceiverReport {
            reports: vec![block(7, 100, 5)],
            ..Default::default()
        })]))
        .unwrap();
        c.handle_read(tagged(vec![Box::new(SenderReport {
            reports: vec![block(8, 200, 1)],
            ..Default::default()
        })]))
        .unwrap();
        assert_eq!(out.get(7).map(|r| (r.highest, r.lost)), Some((100, 5)));
        assert_eq!(out.get(8).map(|r| (r.highest, r.lost)), Some((200, 1)));
        assert!(c.poll_read().is_some() && c.poll_read().is_some());
    }

    #[test]
    fn a_peer_cannot_make_it_remember_many_streams() {
        let out = ReceptionReports::default();
        let blocks: Vec<ReceptionReport> = (0..100).map(|s| block(s, 1, 0)).collect();
        out.record(&blocks);
        assert_eq!(out.0.lock().unwrap().len(), MAX_STREAMS);
    }
}
