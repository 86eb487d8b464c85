//! What the fuzz targets run (tests/fuzz, docs/fuzzing.md), and what replays their committed
//! corpus in every test run (tests/tests/server/fuzz_corpus.rs): both jitter buffers, with
//! their sequence extender, fed whatever a peer could send, in any order and at any times.
//! Each must return without panicking and without holding more than its bound.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::audio_jitter::AudioJitterBuffer;
use crate::receive::video::VideoReceiver;

/// Reads the input as a script of small steps.
struct Script<'a>(&'a [u8]);

impl Script<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.byte()?, self.byte()?]))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes([
            self.byte()?,
            self.byte()?,
            self.byte()?,
            self.byte()?,
        ]))
    }

    fn bytes(&mut self, n: usize) -> Bytes {
        let n = n.min(self.0.len());
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        Bytes::copy_from_slice(taken)
    }
}

/// The audio jitter buffer's decisions: packets (any sequence number, any payload), bursts of
/// them (a sender that keeps going while nothing plays), and playout ticks, with the clock
/// moving by the script.
pub fn audio_jitter(data: &[u8]) {
    let Ok(mut buffer) = AudioJitterBuffer::new() else {
        return;
    };
    let mut script = Script(data);
    let mut now = Instant::now();
    while let Some(op) = script.byte() {
        now += Duration::from_millis(u64::from(op >> 3));
        match op & 3 {
            0 => {
                let Some(seq) = script.u16() else { break };
                let len = script.byte().unwrap_or(0);
                buffer.push(seq, script.bytes(usize::from(len)), now);
            }
            2 => {
                let (Some(seq), Some(count)) = (script.u16(), script.byte()) else {
                    break;
                };
                for i in 0..u16::from(count) {
                    let silence = Bytes::from_static(&[0xf8, 0xff, 0xfe]);
                    buffer.push(seq.wrapping_add(i), silence, now);
                }
            }
            _ => {
                // The decision only: decoding is libopus's, and would take most of the time.
                let _ = buffer.next_step();
            }
        }
        assert!(
            buffer.delay() <= Duration::from_secs(2),
            "held past its bound"
        );
    }
}

/// The video receiver: RTP packets (any sequence number, timestamp, marker, VP8 payload
/// descriptor or garbage) and polls, with the round trip and the clock moved by the script.
pub fn video_jitter(data: &[u8]) {
    let mut receiver = VideoReceiver::default();
    let mut script = Script(data);
    let mut now = Instant::now();
    while let Some(op) = script.byte() {
        now += Duration::from_millis(u64::from(op >> 2));
        match op & 3 {
            0 | 1 => {
                let (Some(seq), Some(timestamp)) = (script.u16(), script.u32()) else {
                    break;
                };
                let len = script.byte().unwrap_or(0);
                let mut packet = rtc::rtp::Packet::default();
                packet.header.sequence_number = seq;
                packet.header.timestamp = timestamp;
                packet.header.marker = op & 1 == 1;
                packet.payload = script.bytes(usize::from(len));
                receiver.on_packet(&packet, now);
            }
            2 => {
                let _ = receiver.poll(now);
                let _ = receiver.next_wake();
            }
            _ => {
                let ms = script.byte().unwrap_or(0);
                receiver.set_rtt(Duration::from_millis(u64::from(ms) * 4));
            }
        }
        assert!(
            receiver.delay() <= crate::receive::timing::MAX_DELAY,
            "a playout delay past its cap"
        );
    }
}
