//! The audio jitter buffer: Opus packets in as the network delivers them, one 20 ms frame out
//! per playout tick, with the gaps filled — from the next packet's FEC when it is there, by
//! Opus's concealment when not.
//!
//! How much it holds follows the jitter it measures: each packet's arrival is compared with when
//! its sequence number says it should have come, and the target covers the spread of the last
//! couple of seconds (95th percentile above the earliest). A tick that finds nothing at all to
//! play conceals without moving on, so the buffer grows by that frame; one that has grown well
//! past the target drops a frame to catch up.

use std::collections::BTreeMap;
use std::time::Instant;

use bytes::Bytes;
use tincan_media::codec::OpusDecoder;

use crate::sequence::SequenceExtender;
use tincan_media::{now_us, AudioFrame, MediaError};

/// Frames held before playing at first (60 ms), and the bounds of the adaptive target.
const START_TARGET: usize = 3;
const MIN_TARGET: usize = 2;
const MAX_TARGET: usize = 10;
/// Ticks in a row with nothing at all to play after which the stream counts as stopped (the
/// peer left, or muted its sending): concealment ends and buffering starts over.
const DRY_TICKS_TO_STOP: usize = 5;
/// Arrivals the jitter is measured over (100 packets: two seconds).
const JITTER_WINDOW: usize = 100;
const FRAME_MS: f64 = 20.0;
/// Frames above the target at which one is dropped to bring the delay down.
const EXCESS_TO_DROP: usize = 3;
/// A gap this many frames long is not concealed frame by frame: the sender paused (muted
/// sources still send, so this is an outage or a restart) and playback starts over.
const RESTART_GAP: u64 = 50;
/// Packets held at most (2 s): a peer sending faster than it plays, or far-ahead sequence
/// numbers, cannot make us hold more; the oldest go first.
const MAX_HELD: usize = 100;

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
    sequence: SequenceExtender,
    /// The sequence number due at the next tick, once playing.
    next: Option<u64>,
    target: usize,
    /// Ticks in a row that found nothing held.
    dry: usize,
    /// The first packet's arrival and sequence number: the clock lateness is measured on.
    anchor: Option<(Instant, u64)>,
    /// How late each recent packet came relative to the anchor's schedule, in ms.
    lateness: std::collections::VecDeque<f64>,
    /// Room to sort `lateness` in, kept so a packet costs no allocation.
    sorted: Vec<f64>,
}

impl AudioJitterBuffer {
    pub fn new() -> Result<Self, MediaError> {
        Ok(Self {
            decoder: OpusDecoder::new()?,
            held: BTreeMap::new(),
            sequence: SequenceExtender::default(),
            next: None,
            target: START_TARGET,
            dry: 0,
            anchor: None,
            lateness: std::collections::VecDeque::with_capacity(JITTER_WINDOW),
            sorted: Vec::with_capacity(JITTER_WINDOW),
        })
    }

    /// Frames held before playing now (20 ms each).
    pub fn target_frames(&self) -> usize {
        self.target
    }

    /// How long a packet arriving now waits before it is played: what is held.
    pub fn delay(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.held.len() as u64 * FRAME_MS as u64)
    }

    /// Takes a packet as it arrives at `now`; one that is too late or a duplicate is dropped.
    pub fn push(&mut self, seq: u16, payload: Bytes, now: Instant) {
        let seq = self.sequence.extend(seq);
        self.measure(seq, now);
        if self.next.is_some_and(|next| seq < next) {
            return;
        }
        self.held.entry(seq).or_insert(payload);
        while self.held.len() > MAX_HELD {
            self.held.pop_first();
        }
    }

    /// Records how late this packet is against the schedule and re-aims the target.
    fn measure(&mut self, seq: u64, now: Instant) {
        let (at, first) = *self.anchor.get_or_insert((now, seq));
        let expected_ms = (seq as f64 - first as f64) * FRAME_MS;
        let late_ms = now.saturating_duration_since(at).as_secs_f64() * 1000.0 - expected_ms;
        // The window in arrival order, and the same values kept sorted: one removal and one
        // insertion per packet rather than a sort.
        if self.lateness.len() == JITTER_WINDOW {
            if let Some(oldest) = self.lateness.pop_front() {
                if let Ok(i) = self.sorted.binary_search_by(|v| v.total_cmp(&oldest)) {
                    self.sorted.remove(i);
                }
            }
        }
        self.lateness.push_back(late_ms);
        let at = self
            .sorted
            .partition_point(|v| v.total_cmp(&late_ms).is_lt());
        self.sorted.insert(at, late_ms);
        let sorted = &self.sorted;
        let spread = sorted[(sorted.len() - 1) * 95 / 100] - sorted[0];
        self.target = ((spread / FRAME_MS).ceil() as usize + 1).clamp(MIN_TARGET, MAX_TARGET);
    }

    /// The next 20 ms to play.
    pub fn pop(&mut self) -> (AudioFrame, Played) {
        let capture = now_us();
        match self.next_step() {
            Step::Play(packet) => match self.decoder.decode(&packet, capture) {
                Ok(frame) => (frame, Played::Packet),
                Err(_) => self.conceal(capture),
            },
            Step::Recover(following) => match self.decoder.recover(&following, capture) {
                Ok(frame) => (frame, Played::Recovered),
                Err(_) => self.conceal(capture),
            },
            Step::Conceal => self.conceal(capture),
            Step::Silence => (AudioFrame::silence(capture), Played::Silence),
        }
    }

    /// What the next 20 ms are made of: the decision, without the decoding (which
    /// [`AudioJitterBuffer::pop`] does).
    pub(crate) fn next_step(&mut self) -> Step {
        let Some(next) = self.next else {
            // Buffering: start once the target is held.
            if self.held.len() >= self.target {
                self.next = self.held.keys().next().copied();
                return self.next_step();
            }
            return Step::Silence;
        };
        if self
            .held
            .keys()
            .next()
            .is_some_and(|&first| first > next + RESTART_GAP)
        {
            self.next = None;
            return self.next_step();
        }
        if self.held.len() > self.target + EXCESS_TO_DROP {
            // Catch up: drop the oldest due frame rather than play it.
            self.held.remove(&next);
            self.next = Some(next + 1);
            return self.step_due(next + 1);
        }
        self.step_due(next)
    }

    fn step_due(&mut self, due: u64) -> Step {
        if let Some(packet) = self.held.remove(&due) {
            self.next = Some(due + 1);
            self.dry = 0;
            return Step::Play(packet);
        }
        if self.held.is_empty() {
            // Nothing newer either: the network is later than the buffer. Conceal and wait for
            // the same packet next tick, which holds one frame more from now on — unless the
            // stream has stopped, when there is nothing to conceal.
            self.dry += 1;
            if self.dry > DRY_TICKS_TO_STOP {
                self.next = None;
                self.dry = 0;
                return Step::Silence;
            }
            return Step::Conceal;
        }
        self.dry = 0;
        // Lost: newer packets are here. Rebuild it from the next one's FEC if it has any.
        self.next = Some(due + 1);
        match self.held.get(&(due + 1)) {
            Some(following) => Step::Recover(following.clone()),
            None => Step::Conceal,
        }
    }

    fn conceal(&mut self, capture: u64) -> (AudioFrame, Played) {
        match self.decoder.conceal(capture) {
            Ok(frame) => (frame, Played::Concealed),
            Err(_) => (AudioFrame::silence(capture), Played::Concealed),
        }
    }
}

/// What the buffer decided the next 20 ms are made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// This packet, decoded.
    Play(Bytes),
    /// The due packet is lost and this one follows it: rebuild it from this one's FEC.
    Recover(Bytes),
    /// Lost with nothing to rebuild it from: the decoder's concealment.
    Conceal,
    /// Nothing to play (buffering, or the stream stopped).
    Silence,
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

    const TICK: std::time::Duration = std::time::Duration::from_millis(20);

    #[test]
    fn buffers_to_the_target_then_plays_in_order() {
        let p = packets(10);
        let mut buffer = AudioJitterBuffer::new().unwrap();
        let t = Instant::now();
        buffer.push(0, p[0].clone(), t);
        assert_eq!(
            buffer.pop().1,
            Played::Silence,
            "one frame is not enough to start"
        );
        // Out of order is fine.
        buffer.push(2, p[2].clone(), t + TICK * 2);
        buffer.push(1, p[1].clone(), t + TICK * 2);
        let played: Vec<Played> = (1..4).map(|_| buffer.pop().1).collect();
        assert_eq!(played, vec![Played::Packet; 3]);
    }

    #[test]
    fn a_lost_packet_is_rebuilt_from_the_next_ones_fec() {
        let p = packets(10);
        let mut buffer = AudioJitterBuffer::new().unwrap();
        let t = Instant::now();
        for seq in [0u16, 1, 3, 4, 5] {
            buffer.push(seq, p[seq as usize].clone(), t + TICK * u32::from(seq));
        }
        let played: Vec<Played> = (0..5).map(|_| buffer.pop().1).collect();
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
    fn running_dry_conceals_waits_and_the_target_covers_the_lateness() {
        let p = packets(10);
        let mut buffer = AudioJitterBuffer::new().unwrap();
        let t = Instant::now();
        for seq in 0..3u16 {
            buffer.push(seq, p[seq as usize].clone(), t + TICK * u32::from(seq));
        }
        for _ in 0..3 {
            assert_eq!(buffer.pop().1, Played::Packet);
        }
        assert_eq!(buffer.pop().1, Played::Concealed);
        // The schedule slipped a frame, so the late packet still plays, in its turn. It came
        // 60 ms after its time and the next 40 ms: the 95th percentile of five arrivals is the
        // fourth, 40 ms, so the target is two frames plus one.
        buffer.push(3, p[3].clone(), t + TICK * 6);
        buffer.push(4, p[4].clone(), t + TICK * 6);
        assert_eq!(buffer.target_frames(), 3);
        assert_eq!(buffer.pop().1, Played::Packet);
        assert_eq!(buffer.next, Some((1 << 32) + 4), "3 was played, 4 is next");
    }

    #[test]
    fn a_stream_that_stops_is_not_concealed_for_ever() {
        let p = packets(4);
        let mut buffer = AudioJitterBuffer::new().unwrap();
        let t = Instant::now();
        for seq in 0..3u16 {
            buffer.push(seq, p[seq as usize].clone(), t + TICK * u32::from(seq));
        }
        let played: Vec<Played> = (0..12).map(|_| buffer.pop().1).collect();
        assert_eq!(&played[..3], &[Played::Packet; 3]);
        assert_eq!(
            &played[3..3 + DRY_TICKS_TO_STOP],
            &[Played::Concealed; DRY_TICKS_TO_STOP]
        );
        assert!(played[3 + DRY_TICKS_TO_STOP..]
            .iter()
            .all(|p| *p == Played::Silence));
    }

    #[test]
    fn a_backlog_is_worked_off_by_dropping_frames() {
        let p = packets(10);
        let mut buffer = AudioJitterBuffer::new().unwrap();
        let t = Instant::now();
        for seq in 0..10u16 {
            buffer.push(seq, p[seq as usize].clone(), t + TICK * u32::from(seq));
        }
        // 10 held, target 2 (no jitter): one dropped per tick until within 3 of the target.
        buffer.pop();
        buffer.pop();
        buffer.pop();
        assert!(
            buffer.held.len() <= START_TARGET + EXCESS_TO_DROP,
            "{}",
            buffer.held.len()
        );
    }

    #[test]
    fn a_peer_cannot_make_it_hold_more_than_two_seconds() {
        let p = packets(1);
        let mut buffer = AudioJitterBuffer::new().unwrap();
        let t = Instant::now();
        // A burst far faster than playout, with sequence numbers running far ahead.
        for i in 0..5_000u32 {
            buffer.push((i * 7) as u16, p[0].clone(), t);
        }
        assert!(buffer.held.len() <= MAX_HELD, "{} held", buffer.held.len());
        assert_eq!(buffer.delay(), std::time::Duration::from_secs(2));
    }
}
