//! Picking the size and frame rate to send from the bitrate the network allows.
//!
//! The bandwidth estimate sets the encoder's bitrate directly; when it falls far below what the
//! captured size needs, more bits per pixel at a smaller size look better than a smeared full
//! size, so the sender steps down a ladder — half size, then half the frame rate too, then a
//! quarter size — and climbs back when the estimate has stayed high for a while. A shared
//! screen is text, which a smaller size blurs: its ladder halves the frame rate twice before
//! it gives up any size ([`Adapter::for_screen`]).

use std::time::{Duration, Instant};

/// Bits per pixel per frame at which VP8 video looks acceptable (720p30 ≈ 1.4 Mbps,
/// 360p30 ≈ 350 kbps): the yardstick for "what a size needs".
const BITS_PER_PIXEL: f64 = 0.05;

/// Step down when the bitrate is under this share of what the current step needs.
const DOWN_BELOW: f64 = 0.5;

/// Step up when the bitrate has been at least this share of what the step above needs...
const UP_FROM: f64 = 0.8;

/// ...for this long (climbing too eagerly makes the picture pump up and down).
const UP_AFTER: Duration = Duration::from_secs(5);

/// No two changes closer than this: each one costs a keyframe.
const MIN_DWELL: Duration = Duration::from_secs(2);

/// Narrowest picture worth sending.
const MIN_WIDTH: u32 = 160;

/// One rung: the captured size divided by `scale`, the captured rate by `fps_divisor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub scale: u32,
    pub fps_divisor: u32,
}

const LADDER: [Step; 4] = [
    Step {
        scale: 1,
        fps_divisor: 1,
    },
    Step {
        scale: 2,
        fps_divisor: 1,
    },
    Step {
        scale: 2,
        fps_divisor: 2,
    },
    Step {
        scale: 4,
        fps_divisor: 2,
    },
];

/// A screen's ladder: sharpness first (the frame rate goes first), half size last.
const SCREEN_LADDER: [Step; 4] = [
    Step {
        scale: 1,
        fps_divisor: 1,
    },
    Step {
        scale: 1,
        fps_divisor: 2,
    },
    Step {
        scale: 1,
        fps_divisor: 4,
    },
    Step {
        scale: 2,
        fps_divisor: 4,
    },
];

/// Where the sender is on the ladder, and since when.
#[derive(Debug)]
pub struct Adapter {
    ladder: &'static [Step; 4],
    width: u32,
    height: u32,
    fps: u32,
    /// Rungs usable for this capture size (the narrowest is at least [`MIN_WIDTH`]).
    rungs: usize,
    level: usize,
    changed: Option<Instant>,
    high_since: Option<Instant>,
}

impl Adapter {
    pub fn new(width: u32, height: u32, fps: u32) -> Self {
        Self::with_ladder(&LADDER, width, height, fps)
    }

    /// For a shared screen: the frame rate goes down before the size does.
    pub fn for_screen(width: u32, height: u32, fps: u32) -> Self {
        Self::with_ladder(&SCREEN_LADDER, width, height, fps)
    }

    fn with_ladder(ladder: &'static [Step; 4], width: u32, height: u32, fps: u32) -> Self {
        let rungs = ladder
            .iter()
            .take_while(|s| width / s.scale >= MIN_WIDTH)
            .count()
            .max(1);
        Self {
            ladder,
            width,
            height,
            fps: fps.max(1),
            rungs,
            level: 0,
            changed: None,
            high_since: None,
        }
    }

    pub fn step(&self) -> Step {
        self.ladder[self.level]
    }

    /// What a rung needs, in kbps.
    fn needs_kbps(&self, level: usize) -> f64 {
        let s = self.ladder[level];
        let pixels = (self.width / s.scale) as f64 * (self.height / s.scale) as f64;
        let fps = (self.fps / s.fps_divisor).max(1) as f64;
        pixels * fps * BITS_PER_PIXEL / 1000.0
    }

    /// Takes the bitrate allowed now; returns the new step when it changes.
    pub fn update(&mut self, now: Instant, kbps: u32) -> Option<Step> {
        let kbps = f64::from(kbps);
        let settled = self
            .changed
            .is_none_or(|at| now.saturating_duration_since(at) >= MIN_DWELL);
        let can_climb = self.level > 0 && kbps >= self.needs_kbps(self.level - 1) * UP_FROM;
        if !can_climb {
            self.high_since = None;
        }
        if settled && self.level + 1 < self.rungs && kbps < self.needs_kbps(self.level) * DOWN_BELOW
        {
            self.level += 1;
        } else if can_climb {
            let since = *self.high_since.get_or_insert(now);
            if !settled || now.saturating_duration_since(since) < UP_AFTER {
                return None;
            }
            self.level -= 1;
        } else {
            return None;
        }
        self.changed = Some(now);
        self.high_since = None;
        Some(self.step())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_screen_gives_up_frame_rate_before_size() {
        // 1080p at 10 fps needs ~1037 kbps.
        let mut adapter = Adapter::for_screen(1920, 1080, 10);
        let t = Instant::now();
        let mut steps = Vec::new();
        for i in 0..12 {
            if let Some(step) = adapter.update(t + SECOND * i, 100) {
                steps.push((step.scale, step.fps_divisor));
            }
        }
        assert_eq!(steps, [(1, 2), (1, 4), (2, 4)]);
    }

    #[test]
    fn enough_bitrate_keeps_the_full_picture() {
        let mut adapter = Adapter::new(1280, 720, 30);
        let t = Instant::now();
        for i in 0..30 {
            assert_eq!(adapter.update(t + SECOND * i, 1500), None);
        }
        assert_eq!(
            adapter.step(),
            Step {
                scale: 1,
                fps_divisor: 1
            }
        );
    }

    #[test]
    fn steps_down_one_rung_at_a_time_and_climbs_back_slowly() {
        let mut adapter = Adapter::new(1280, 720, 30);
        let t = Instant::now();
        // 720p30 needs ~1382 kbps; 300 is far below half of it.
        assert_eq!(
            adapter.update(t, 300),
            Some(Step {
                scale: 2,
                fps_divisor: 1
            })
        );
        // 360p30 needs ~346: 300 is not under half, so it stays, even after the dwell.
        assert_eq!(adapter.update(t + SECOND * 3, 300), None);
        // 100 kbps: the next rung, but only once the dwell is over.
        assert_eq!(adapter.update(t + SECOND, 100), None);
        assert_eq!(
            adapter.update(t + SECOND * 5, 100),
            Some(Step {
                scale: 2,
                fps_divisor: 2
            })
        );
        // Back to plenty: up one rung only after it has lasted UP_AFTER.
        let back = t + SECOND * 10;
        assert_eq!(adapter.update(back, 2000), None);
        assert_eq!(adapter.update(back + SECOND * 4, 2000), None);
        assert_eq!(
            adapter.update(back + SECOND * 5, 2000),
            Some(Step {
                scale: 2,
                fps_divisor: 1
            })
        );
        assert_eq!(adapter.update(back + SECOND * 6, 2000), None);
        assert_eq!(
            adapter.update(back + SECOND * 11, 2000),
            Some(Step {
                scale: 1,
                fps_divisor: 1
            })
        );
    }

    #[test]
    fn a_dip_resets_the_climb() {
        let mut adapter = Adapter::new(640, 360, 30);
        let t = Instant::now();
        assert!(adapter.update(t, 100).is_some());
        assert_eq!(adapter.update(t + SECOND * 3, 500), None);
        assert_eq!(
            adapter.update(t + SECOND * 6, 200),
            None,
            "a dip below the climb line"
        );
        assert_eq!(adapter.update(t + SECOND * 7, 500), None);
        assert_eq!(
            adapter.update(t + SECOND * 11, 500),
            None,
            "4 s since the dip: not yet"
        );
        assert!(adapter.update(t + SECOND * 12, 500).is_some());
    }

    #[test]
    fn never_narrower_than_the_minimum() {
        let mut adapter = Adapter::new(320, 180, 30);
        let t = Instant::now();
        for i in 0..20 {
            adapter.update(t + SECOND * 3 * i, 1);
        }
        assert_eq!(
            adapter.step(),
            Step {
                scale: 2,
                fps_divisor: 2
            }
        );
    }
}
