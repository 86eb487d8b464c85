//! The audio jitter buffer: Opus packets in as the network delivers them, one 20 ms frame out
//! per playout tick, with the gaps filled — from the next packet's FEC when it is there, by
//! Opus's concealment when not.
//!
//! It holds a target number of frames before playing and adapts that target: a tick that finds
//! nothing to play (the network was later than the buffer) raises it by one frame; a long calm
//! lowers it again, and a buffer that has grown well past the target drops a frame to catch up.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tincan_media::codec::OpusDecoder;
use tincan_media::{now_us, AudioFrame, MediaError};

/// Frames held before playing at first (60 ms), and the bounds of the adaptive target.
const START_TARGET: usize = 3;
const MIN_TARGET: usize = 2;
const MAX_TARGET: usize = 10;
/// A target that has not needed raising for this long is lowered by one frame.
const CALM_BEFORE_LOWERING: Duration = Duration::from_secs(10);
/// Frames above the target at which one is dropped to bring the delay down.
const EXCESS_TO_DROP: usize = 3;
/// A gap this many frames long is not concealed frame by frame: the sender paused (muted
/// sources still send, so this is an outage or a restart) and playback starts over.
const RESTART_GAP: u64 = 50;

/// What a tick produced, for the statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Played {
    /// The packet that was due.
    Packet,
    /// The due packet was missing; rebuilt from the next one's FEC.
    Recovered,
    /// Nothing to rebuild it from: made up by concealment.
    Concealed,
    /// Not playing (yet): buffering, or nothing has arrived.
    Silence,
}

pub struct AudioJitterBuffer {
    decoder: OpusDecoder,
    /// By extended sequence number.
    held: BTreeMap<u64, Bytes>,
    highest: Option<u64>,
    /// The sequence number due at the next tick, once playing.
    next: Option<u64>,
    target: usize,
    last_raise: Option<Instant>,
}

impl AudioJitterBuffer {
    pub fn new() -> Result<Self, MediaError> {
        Ok(Self {
            decoder: OpusDecoder::new()?,
            held: BTreeMap::new(),
            highest: None,
            next: None,
            target: START_TARGET,
            last_raise: None,
        })
    }

    /// Frames held before playing now (20 ms each).
    pub fn target_frames(&self) -> usize {
        self.target
    }

    /// Takes a packet as it arrives; one that is too late or a duplicate is dropped.
    pub fn push(&mut self, seq: u16, payload: Bytes) {
        let seq = self.extend(seq);
        if self.next.is_some_and(|next| seq < next) {
            return;
        }
        self.held.entry(seq).or_insert(payload);
    }

    fn extend(&mut self, seq: u16) -> u64 {
        let extended = match self.highest {
            None => (1 << 32) + u64::from(seq),
            Some(highest) => {
                highest.saturating_add_signed(i64::from(seq.wrapping_sub(highest as u16) as i16))
            }
        };
        if self.highest.is_none_or(|h| extended > h) {
            self.highest = Some(extended);
        }
        extended
    }

    /// The next 20 ms to play, at `now`.
    pub fn pop(&mut self, now: Instant) -> (AudioFrame, Played) {
        let Some(next) = self.next else {
            // Buffering: start once the target is held.
            if self.held.len() >= self.target {
                self.next = self.held.keys().next().copied();
                return self.pop(now);
            }
            return (AudioFrame::silence(now_us()), Played::Silence);
        };
        if self
            .held
            .keys()
            .next()
            .is_some_and(|&first| first > next + RESTART_GAP)
        {
            self.next = None;
            return self.pop(now);
        }
        if self.held.len() > self.target + EXCESS_TO_DROP {
            // Catch up: drop the oldest due frame rather than play it.
            self.held.remove(&next);
            self.next = Some(next + 1);
            return self.pop_due(now, next + 1);
        }
        self.pop_due(now, next)
    }

    fn pop_due(&mut self, now: Instant, due: u64) -> (AudioFrame, Played) {
        self.next = Some(due + 1);
        let capture = now_us();
        if let Some(packet) = self.held.remove(&due) {
            self.calm(now);
            return match self.decoder.decode(&packet, capture) {
                Ok(frame) => (frame, Played::Packet),
                Err(_) => self.conceal(capture),
            };
        }
        if self.held.is_empty() {
            // Late: the network fell behind the buffer. Hold more from now on.
            self.raise(now);
        }
        if let Some(following) = self.held.get(&(due + 1)) {
            if let Ok(frame) = self.decoder.recover(following, capture) {
                return (frame, Played::Recovered);
            }
        }
        self.conceal(capture)
    }

    fn conceal(&mut self, capture: u64) -> (AudioFrame, Played) {
        match self.decoder.conceal(capture) {
            Ok(frame) => (frame, Played::Concealed),
            Err(_) => (AudioFrame::silence(capture), Played::Concealed),
        }
    }

    fn raise(&mut self, now: Instant) {
        self.target = (self.target + 1).min(MAX_TARGET);
        self.last_raise = Some(now);
    }

    fn calm(&mut self, now: Instant) {
        let since = *self.last_raise.get_or_insert(now);
        if now.saturating_duration_since(since) >= CALM_BEFORE_LOWERING && self.target > MIN_TARGET
        {
            self.target -= 1;
            self.last_raise = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tincan_media::audio::AudioSource;
    use tincan_media::audio::ToneSource;
    use tincan_media::codec::OpusEncoder;

    fn packets(n: usize) -> Vec<Bytes> {
        let mut tone = ToneSource::tone(440.0);
        let mut encoder = OpusEncoder::new(32_000).unwrap();
        encoder.set_fec(true).unwrap();
        encoder.set_expected_loss(20).unwrap();
        (0..n)
            .map(|_| {
                let frame = tone.read().unwrap().unwrap();
                Bytes::from(encoder.encode(&frame).unwrap())
            })
            .collect()
    }

    const TICK: Duration = Duration::from_millis(20);

    #[test]
    fn buffers_to_the_target_then_plays_in_order() {
        let p = packets(10);
        let mut buffer = AudioJitterBuffer::new().unwrap();
        let t = Instant::now();
        buffer.push(0, p[0].clone());
        assert_eq!(
            buffer.pop(t).1,
            Played::Silence,
            "one frame is not enough to start"
        );
        // Out of order is fine.
        buffer.push(2, p[2].clone());
        buffer.push(1, p[1].clone());
        let played: Vec<Played> = (1..4).map(|i| buffer.pop(t + TICK * i).1).collect();
        assert_eq!(played, vec![Played::Packet; 3]);
    }

    #[test]
    fn a_lost_packet_is_rebuilt_from_the_next_ones_fec() {
        let p = packets(10);
        let mut buffer = AudioJitterBuffer::new().unwrap();
        let t = Instant::now();
        for seq in [0u16, 1, 3, 4, 5] {
            buffer.push(seq, p[seq as usize].clone());
        }
        let played: Vec<Played> = (0..5).map(|i| buffer.pop(t + TICK * i).1).collect();
        assert_eq!(
            played,
            vec![
                Played::Packet,
                Played::Packet,
                Played::Recovered,
                Played::Packet,
                Played::Packet
            ]
        );
    }

    #[test]
    fn running_dry_conceals_and_raises_the_target() {
        let p = packets(10);
        let mut buffer = AudioJitterBuffer::new().unwrap();
        let t = Instant::now();
        for seq in 0..3u16 {
            buffer.push(seq, p[seq as usize].clone());
        }
        for i in 0..3 {
            assert_eq!(buffer.pop(t + TICK * i).1, Played::Packet);
        }
        assert_eq!(buffer.pop(t + TICK * 3).1, Played::Concealed);
        assert_eq!(buffer.target_frames(), START_TARGET + 1);
        // The late packet for that slot is dropped; the next one plays.
        buffer.push(3, p[3].clone());
        buffer.push(4, p[4].clone());
        assert_eq!(buffer.pop(t + TICK * 4).1, Played::Packet);
    }

    #[test]
    fn a_backlog_is_worked_off_by_dropping_frames() {
        let p = packets(10);
        let mut buffer = AudioJitterBuffer::new().unwrap();
        let t = Instant::now();
        for seq in 0..10u16 {
            buffer.push(seq, p[seq as usize].clone());
        }
        // 10 held, target 3: one dropped per tick until within 3 of the target.
        buffer.pop(t);
        buffer.pop(t + TICK);
        assert!(
            buffer.held.len() <= START_TARGET + EXCESS_TO_DROP,
            "{}",
            buffer.held.len()
        );
    }
}
