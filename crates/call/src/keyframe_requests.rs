//! Lets the far end's keyframe requests reach us.
//!
//! webrtc-rs 0.21's interceptor chain ends in a terminus that drops inbound RTCP unless an
//! interceptor marks a packet `DeliverToApplication` (DESIGN.md trap 1). None of the default
//! interceptors marks PLI or FIR, so without this one a receiver's keyframe requests vanish
//! and its video stays frozen after any loss. Measured: with it, the keyframe asked for
//! arrives in about one frame interval (see BENCHMARKS.md / the keyframe test).

use std::collections::VecDeque;
use std::time::Instant;

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;

/// Where it sits in the chain: after every built-in interceptor (the highest is the jitter
/// buffer at 13,000), so they all still see the packet, and before the terminus.
pub const SLOT: usize = 14_000;

/// Marks inbound RTCP that carries a PLI or FIR for delivery to the application.
#[derive(Default)]
pub struct KeyframeRequests {
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

fn asks_for_keyframe(packets: &[Box<dyn rtc::rtcp::Packet>]) -> bool {
    packets.iter().any(|p| {
        p.as_any().downcast_ref::<PictureLossIndication>().is_some()
            || p.as_any().downcast_ref::<FullIntraRequest>().is_some()
    })
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequests {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            if asks_for_keyframe(packets) {
                msg.message.add(Attribute::DeliverToApplication);
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

impl Interceptor for KeyframeRequests {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::interceptor::AttributedPacket;
    use rtc::rtcp::receiver_report::ReceiverReport;

    fn tagged(packets: Vec<Box<dyn rtc::rtcp::Packet>>) -> TaggedPacket {
        TaggedPacket {
            now: Instant::now(),
            transport: Default::default(),
            message: AttributedPacket::new(Packet::Rtcp(packets)),
        }
    }

    #[test]
    fn pli_and_fir_are_marked_for_the_application_and_reports_are_not() {
        let mut i = KeyframeRequests::default();
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
}
