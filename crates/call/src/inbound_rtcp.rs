//! Inbound RTCP the engine needs from webrtc-rs's interceptor chain, read on the way in:
//!
//! - **Keyframe requests** (PLI, FIR) are delivered to the application, each on its own.
//!   webrtc-rs 0.21's chain ends in a terminus that drops inbound RTCP unless an interceptor
//!   marks a packet `DeliverToApplication` (docs/traps.md, trap 1). None of the default
//!   interceptors marks PLI or FIR, so without this a receiver's keyframe requests vanish and
//!   its video stays frozen after any loss. And a delivered compound packet goes to the track
//!   its *first* part names (docs/traps.md, trap 19): Chromium's `[receiver report, PLI]` went to our audio
//!   track when the report named the audio stream first, and the video never heard the
//!   request. So each request leaves here as a packet of its own, routed by the stream it
//!   names; the compound it came in goes on unmarked. Measured: the keyframe asked for
//!   arrives in about one frame interval (see BENCHMARKS.md / the keyframe test).
//! - **Reception reports** about the streams we send (RFC 3550 report blocks, in receiver
//!   reports or piggybacked on sender reports) are kept in [`ReceptionReports`]. webrtc-rs's
//!   statistics miss both kinds: they read report blocks only from receiver reports, and only
//!   after the terminus that drops them — its remote-inbound loss never moved, so neither
//!   Opus FEC (sized by the audio's reported loss) nor a loss-based estimate could follow
//!   the path.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rtc::interceptor::{
    Attribute, AttributedPacket, Interceptor, Packet, StreamInfo, TaggedPacket,
};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;

/// Where it sits in the chain: after every built-in interceptor (the highest is the jitter
/// buffer at 13,000), so they all still see the packet, and before the terminus.
pub const SLOT: usize = 14_000;

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

/// The interceptor (see the module's documentation); it passes everything on.
pub struct InboundRtcp {
    reports: Arc<ReceptionReports>,
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl InboundRtcp {
    pub fn new(reports: Arc<ReceptionReports>) -> Self {
        Self {
            reports,
            read: VecDeque::new(),
            write: VecDeque::new(),
        }
    }
}

fn asks_for_keyframe(packet: &dyn rtc::rtcp::Packet) -> bool {
    packet
        .as_any()
        .downcast_ref::<PictureLossIndication>()
        .is_some()
        || packet.as_any().downcast_ref::<FullIntraRequest>().is_some()
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for InboundRtcp {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        let mut requests = Vec::new();
        if let Packet::Rtcp(packets) = &mut msg.message.packet {
            for packet in packets.iter() {
                if let Some(rr) = packet.as_any().downcast_ref::<ReceiverReport>() {
                    self.reports.record(&rr.reports);
                } else if let Some(sr) = packet.as_any().downcast_ref::<SenderReport>() {
                    self.reports.record(&sr.reports);
                }
            }
            if packets.iter().any(|p| asks_for_keyframe(p.as_ref())) {
                let (asks, rest): (Vec<_>, Vec<_>) = packets
                    .drain(..)
                    .partition(|p| asks_for_keyframe(p.as_ref()));
                *packets = rest;
                requests = asks;
            }
        }
        if requests.is_empty() {
            self.read.push_back(msg);
            return Ok(());
        }
        let (now, transport) = (msg.now, msg.transport.clone());
        let emptied = matches!(&msg.message.packet, Packet::Rtcp(p) if p.is_empty());
        if !emptied || !msg.message.attributes.is_empty() {
            self.read.push_back(msg);
        }
        for request in requests {
            self.read.push_back(TaggedPacket {
                now,
                transport: transport.clone(),
                message: AttributedPacket::new(Packet::Rtcp(vec![request]))
                    .with(Attribute::DeliverToApplication),
            });
        }
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

impl Interceptor for InboundRtcp {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::interceptor::AttributedPacket;

    fn tagged(packets: Vec<Box<dyn rtc::rtcp::Packet>>) -> TaggedPacket {
        TaggedPacket {
            now: Instant::now(),
            transport: Default::default(),
            message: AttributedPacket::new(Packet::Rtcp(packets)),
        }
    }

    fn block(ssrc: u32, highest: u32, lost: u32) -> ReceptionReport {
        ReceptionReport {
            ssrc,
            last_sequence_number: highest,
            total_lost: lost,
            fraction_lost: 13,
            ..Default::default()
        }
    }

    #[test]
    fn pli_and_fir_are_marked_for_the_application_and_reports_are_not() {
        let mut i = InboundRtcp::new(Arc::default());
        i.handle_read(tagged(vec![Box::new(PictureLossIndication {
            sender_ssrc: 1,
            media_ssrc: 2,
        })]))
        .unwrap();
        assert!(i
            .poll_read()
            .unwrap()
            .message
            .has(&Attribute::DeliverToApplication));
        i.handle_read(tagged(vec![Box::new(ReceiverReport::default())]))
            .unwrap();
        assert!(!i
            .poll_read()
            .unwrap()
            .message
            .has(&Attribute::DeliverToApplication));
    }

    #[test]
    fn a_request_behind_a_report_leaves_on_its_own_so_it_reaches_the_video() {
        // Chromium's compound: a receiver report naming our audio stream (5) first, then a
        // PLI for our video (6). Delivered whole, it would go to the audio track.
        let reports = Arc::new(ReceptionReports::default());
        let mut i = InboundRtcp::new(Arc::clone(&reports));
        i.handle_read(tagged(vec![
            Box::new(ReceiverReport {
                reports: vec![block(5, 10, 0), block(6, 20, 0)],
                ..Default::default()
            }),
            Box::new(PictureLossIndication {
                sender_ssrc: 1,
                media_ssrc: 6,
            }),
        ]))
        .unwrap();
        let rest = i.poll_read().unwrap();
        assert!(!rest.message.has(&Attribute::DeliverToApplication));
        assert!(matches!(&rest.message.packet, Packet::Rtcp(p) if p.len() == 1));
        let request = i.poll_read().unwrap();
        assert!(request.message.has(&Attribute::DeliverToApplication));
        let Packet::Rtcp(alone) = &request.message.packet else {
            panic!("an RTCP packet");
        };
        assert_eq!(alone.len(), 1);
        assert_eq!(
            alone[0].destination_ssrc(),
            vec![6],
            "routed by the video's ssrc"
        );
        assert!(i.poll_read().is_none());
        assert_eq!(reports.get(5).map(|r| r.highest), Some(10));
    }

    #[test]
    fn report_blocks_from_receiver_and_sender_reports_are_kept_and_passed_on() {
        let reports = Arc::new(ReceptionReports::default());
        let mut i = InboundRtcp::new(Arc::clone(&reports));
        i.handle_read(tagged(vec![Box::new(ReceiverReport {
            reports: vec![block(7, 100, 5)],
            ..Default::default()
        })]))
        .unwrap();
        i.handle_read(tagged(vec![Box::new(SenderReport {
            reports: vec![block(8, 200, 1)],
            ..Default::default()
        })]))
        .unwrap();
        assert_eq!(reports.get(7).map(|r| (r.highest, r.lost)), Some((100, 5)));
        assert_eq!(reports.get(8).map(|r| (r.highest, r.lost)), Some((200, 1)));
        assert!(i.poll_read().is_some() && i.poll_read().is_some());
    }

    #[test]
    fn a_peer_cannot_make_it_remember_many_streams() {
        let reports = ReceptionReports::default();
        let blocks: Vec<ReceptionReport> = (0..100).map(|s| block(s, 1, 0)).collect();
        reports.record(&blocks);
        assert_eq!(reports.0.lock().unwrap().len(), MAX_STREAMS);
    }
}
