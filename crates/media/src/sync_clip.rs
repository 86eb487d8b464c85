//! The flash-and-beep clip: a picture and a sound that mark the same instants, so lip sync
//! can be measured end to end (docs/calls.md, "Audio and video in sync").
//!
//! Both follow the wall clock, not each other: at every whole second of UNIX time the
//! [`FlashSource`] sends one white picture (the test pattern otherwise) and the
//! [`BeepSource`] starts a [`BEEP`]-long tone (silence otherwise). A receiver that notes when
//! it shows each flash and plays each beep reads the offset between picture and sound from
//! the pair, whatever path each took. The two sources may run in different processes, as long
//! as their clocks agree.

use std::f64::consts::TAU;
use std::time::Duration;

use crate::audio::AudioSource;
use crate::video::{stamp, PatternSource, VideoFormat, VideoSource};
use crate::{now_us, AudioFrame, MediaError, VideoFrame, FRAME_SAMPLES, SAMPLE_RATE};

/// The marks come once a second, on the second.
pub const PERIOD: Duration = Duration::from_secs(1);
/// How long each beep lasts.
pub const BEEP: Duration = Duration::from_millis(100);
/// The luma of a flash picture (video white).
pub const FLASH_LUMA: u8 = 235;

const PERIOD_US: u64 = PERIOD.as_micros() as u64;

/// The test pattern, taken on a grid of the wall clock (every `1/fps` s of UNIX time, so one
/// picture is taken on each whole second) and white on those whole seconds. It paces itself:
/// `read` waits for the next point of the grid, as a camera waits for its next picture.
pub struct FlashSource {
    pattern: PatternSource,
    interval_us: u64,
    fps: u64,
}

impl FlashSource {
    pub fn new(format: VideoFormat) -> Result<Self, MediaError> {
        Ok(Self {
            pattern: PatternSource::new(format)?,
            interval_us: PERIOD_US / u64::from(format.fps.max(1)),
            fps: u64::from(format.fps.max(1)),
        })
    }
}

/// The next point after `now_us` of a grid that starts afresh on each whole second (`fps`
/// points a second, `interval_us` apart; the last gap of a second takes the remainder), and
/// whether it is a whole second (a flash).
fn next_tick(now_us: u64, interval_us: u64, fps: u64) -> (u64, bool) {
    let (second, into) = (now_us / PERIOD_US, now_us % PERIOD_US);
    let point = into.div_ceil(interval_us);
    match point {
        0 => (now_us, true),
        p if p >= fps => ((second + 1) * PERIOD_US, true),
        p => (second * PERIOD_US + p * interval_us, false),
    }
}

impl VideoSource for FlashSource {
    fn format(&self) -> VideoFormat {
        self.pattern.format()
    }

    fn read(&mut self) -> Result<VideoFrame, MediaError> {
        let (tick, flash) = next_tick(now_us(), self.interval_us, self.fps);
        let wait = tick.saturating_sub(now_us());
        std::thread::sleep(Duration::from_micros(wait));
        let mut frame = self.pattern.read()?;
        if flash {
            // White all over but for the stamp, which goes back on top.
            let mark = stamp::read(&frame);
            frame.planes_mut().0.fill(FLASH_LUMA);
            if let Some(mark) = mark {
                stamp::write(&mut frame, mark)?;
            }
        }
        Ok(frame)
    }
}

/// Silence with a tone of `hz` for [`BEEP`] at each whole second of UNIX time. Each frame
/// holds the 20 ms before it is read, as a microphone's does, and each sample is placed by
/// its own time: the beep starts on the second to the sample however the reads are paced.
pub struct BeepSource {
    hz: f64,
    /// The time of the next sample, in µs since the epoch (fractional: 48 kHz is 20.83 µs).
    next_us: Option<f64>,
}

impl BeepSource {
    pub fn new(hz: f64) -> Self {
        Self { hz, next_us: None }
    }

    /// The frame whose last sample comes just before `now_us`.
    fn frame_ending(&mut self, now_us: u64) -> AudioFrame {
        let sample_us = 1e6 / f64::from(SAMPLE_RATE);
        let frame_us = sample_us * FRAME_SAMPLES as f64;
        let expected = now_us as f64 - frame_us;
        // Carry on from the last frame unless the reads drifted off the clock (a stall);
        // then start afresh from the clock.
        let start = match self.next_us {
            Some(next) if (next - expected).abs() < 5_000.0 => next,
            _ => expected,
        };
        let samples = (0..FRAME_SAMPLES)
            .map(|i| {
                let t = start + i as f64 * sample_us;
                beep_sample(t, self.hz)
            })
            .collect();
        self.next_us = Some(start + frame_us);
        AudioFrame {
            samples,
            capture_us: now_us,
        }
    }
}

/// The clip's sound at `t_us` (µs since the epoch).
fn beep_sample(t_us: f64, hz: f64) -> i16 {
    let into_second = t_us.rem_euclid(PERIOD_US as f64);
    if into_second >= BEEP.as_micros() as f64 {
        return 0;
    }
    let phase = TAU * hz * into_second / 1e6;
    (phase.sin() * 0.5 * 32767.0).round() as i16
}

impl AudioSource for BeepSource {
    fn read(&mut self) -> Result<Option<AudioFrame>, MediaError> {
        Ok(Some(self.frame_ending(now_us())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_falls_on_every_whole_second_once() {
        let interval = PERIOD_US / 30;
        // 1_000_000 is not a multiple of 33_333: the grid starts again on each second.
        assert_eq!(
            next_tick(5 * PERIOD_US - 10, interval, 30),
            (5 * PERIOD_US, true)
        );
        assert_eq!(
            next_tick(5 * PERIOD_US, interval, 30),
            (5 * PERIOD_US, true)
        );
        assert_eq!(
            next_tick(5 * PERIOD_US + 1, interval, 30),
            (5 * PERIOD_US + interval, false)
        );
        let ticks: Vec<(u64, bool)> = (0..3 * 30)
            .scan(7 * PERIOD_US, |t, _| {
                let tick = next_tick(*t + 1, interval, 30);
                *t = tick.0;
                Some(tick)
            })
            .collect();
        let flashes: Vec<u64> = ticks.iter().filter(|t| t.1).map(|t| t.0).collect();
        assert_eq!(
            flashes,
            [8, 9, 10].map(|s| s * PERIOD_US),
            "one flash a second, on it"
        );
        assert!(ticks.windows(2).all(|w| w[1].0 - w[0].0 < interval + 20));
    }

    #[test]
    fn a_flash_is_white_and_keeps_its_stamp() {
        let format = VideoFormat {
            width: 640,
            height: 360,
            fps: 30,
        };
        let mut source = FlashSource::new(format).unwrap();
        let mut flashes = 0;
        // Up to a second and a bit of pictures: exactly one flash among them.
        for _ in 0..32 {
            let frame = source.read().unwrap();
            let mean =
                frame.y().iter().map(|&y| u64::from(y)).sum::<u64>() / frame.y().len() as u64;
            assert!(stamp::read(&frame).is_some(), "stamped");
            if mean > 200 {
                flashes += 1;
                assert!(frame.capture_us % PERIOD_US < 20_000, "taken on the second");
            } else {
                assert!(mean < 160, "the pattern otherwise (mean {mean})");
            }
        }
        assert_eq!(flashes, 1);
    }

    #[test]
    fn the_beep_starts_on_the_second_to_the_sample() {
        let mut source = BeepSource::new(1000.0);
        let second = 1_700_000_000 * PERIOD_US;
        // Frames read 20 ms apart, the last of them 3 ms late (paced reads wobble).
        let mut samples = Vec::new();
        let mut first_us = None;
        for k in 0..10u64 {
            let read_at = second - 60_000 + k * 20_000 + if k == 9 { 3_000 } else { 0 };
            let frame = source.frame_ending(read_at);
            first_us.get_or_insert(read_at - 20_000);
            samples.extend(frame.samples);
        }
        let onset = samples
            .iter()
            .position(|s| s.unsigned_abs() > 1000)
            .unwrap();
        let onset_us = first_us.unwrap() as f64 + onset as f64 * 1e6 / 48_000.0;
        let late = onset_us - second as f64;
        // The first loud sample comes within a quarter period of 1 kHz of the second.
        assert!(
            (0.0..300.0).contains(&late),
            "onset {late:.0} µs after the second"
        );
        let loud = samples.iter().filter(|s| s.unsigned_abs() > 1000).count();
        // 100 ms of a sine above 1000 of 16384 for most of each period; 60 ms of silence before.
        assert!(loud > 4_000 && loud < 4_800, "{loud} loud samples");
        assert!(samples[..onset].iter().all(|&s| s == 0));
    }
}
