//! A synthetic moving picture with a stamp: what tests, benchmarks and bots send when there
//! is no camera.

use super::stamp::{self, Stamp};
use super::{VideoFormat, VideoSource};
use crate::{now_us, MediaError, VideoFrame};

/// A moving test pattern: a drifting gradient, a bouncing box and colour bars, with each
/// frame's number and capture time stamped in ([`stamp`]).
pub struct PatternSource {
    format: VideoFormat,
    frame_number: u32,
}

impl PatternSource {
    pub fn new(format: VideoFormat) -> Result<Self, MediaError> {
        VideoFrame::black(format.width, format.height)?;
        if format.width < 256 || format.height < 64 || format.fps == 0 {
            return Err(MediaError::Format(format!(
                "a test pattern needs at least 256x64 at 1 fps or more, not {}x{} at {}",
                format.width, format.height, format.fps
            )));
        }
        Ok(Self {
            format,
            frame_number: 0,
        })
    }

    /// Draws frame `n` into `frame` (used by benchmarks that reuse one buffer).
    pub fn draw(&self, n: u32, frame: &mut VideoFrame) {
        let (w, h) = (frame.width() as usize, frame.height() as usize);
        let (y_plane, u_plane, v_plane) = frame.planes_mut();
        let shift = (n as usize * 2) % 512;
        // Box bounces across the picture, a quarter of its height square.
        let side = h / 4;
        let span_x = w - side;
        let span_y = h - side;
        let t = n as usize * 6;
        let bx = bounce(t, span_x);
        let by = bounce(t / 2 + side, span_y);
        for y in 0..h {
            let row = &mut y_plane[y * w..(y + 1) * w];
            let in_box_row = y >= by && y < by + side;
            for (x, px) in row.iter_mut().enumerate() {
                let wave = (x + y + shift) % 512;
                let ramp = if wave < 256 { wave } else { 511 - wave };
                *px = if in_box_row && x >= bx && x < bx + side {
                    200
                } else {
                    (48 + ramp * 128 / 255) as u8
                };
            }
        }
        let (cw, ch) = (w / 2, h / 2);
        for y in 0..ch {
            for x in 0..cw {
                let bar = (x * 8 / cw) as u8;
                let i = y * cw + x;
                let in_box = y * 2 >= by && y * 2 < by + side && x * 2 >= bx && x * 2 < bx + side;
                if in_box {
                    u_plane[i] = 90;
                    v_plane[i] = 200;
                } else {
                    u_plane[i] = 96 + bar * 8;
                    v_plane[i] = 160 - bar * 8;
                }
            }
        }
    }
}

fn bounce(t: usize, span: usize) -> usize {
    if span == 0 {
        return 0;
    }
    let p = t % (2 * span);
    if p < span {
        p
    } else {
        2 * span - p
    }
}

impl VideoSource for PatternSource {
    fn format(&self) -> VideoFormat {
        self.format
    }

    fn read(&mut self) -> Result<VideoFrame, MediaError> {
        let mut frame = VideoFrame::black(self.format.width, self.format.height)?;
        self.draw(self.frame_number, &mut frame);
        let capture_us = now_us();
        frame.capture_us = capture_us;
        stamp::write(
            &mut frame,
            Stamp {
                frame_number: self.frame_number,
                capture_us,
            },
        )?;
        self.frame_number = self.frame_number.wrapping_add(1);
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_move_and_carry_their_number() {
        let mut source = PatternSource::new(VideoFormat {
            width: 640,
            height: 360,
            fps: 30,
        })
        .unwrap();
        let a = source.read().unwrap();
        let b = source.read().unwrap();
        assert_ne!(a.y(), b.y(), "the picture moves");
        assert_eq!(stamp::read(&a).unwrap().frame_number, 0);
        assert_eq!(stamp::read(&b).unwrap().frame_number, 1);
        let t = stamp::read(&b).unwrap().capture_us_near(now_us());
        assert!(now_us() - t < 1_000_000);
    }
}
