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
    /// The gradient laid out once, long enough that every luma row is a window onto it.
    luma_strip: Vec<u8>,
    /// The colour bars: every chroma row starts as these.
    u_bars: Vec<u8>,
    v_bars: Vec<u8>,
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
        let (w, cw) = (format.width as usize, format.width as usize / 2);
        let bars = |base: u8, step: i16| -> Vec<u8> {
            (0..cw)
                .map(|x| (base as i16 + step * (x * 8 / cw) as i16) as u8)
                .collect()
        };
        Ok(Self {
            format,
            frame_number: 0,
            luma_strip: (0..WAVE + w).map(|i| gradient(i % WAVE)).collect(),
            u_bars: bars(96, 8),
            v_bars: bars(160, -8),
        })
    }

    /// Draws frame `n` into `frame`, a picture of this source's size.
    ///
    /// Every luma row is a window onto one repeating gradient, and every chroma row is the same
    /// bars, so rows are copied from the strips [`PatternSource::new`] built and only the box is
    /// painted over. (Computing each pixel cost a tenth of a 720p call's CPU.)
    fn draw(&self, n: u32, frame: &mut VideoFrame) {
        let (w, h) = (frame.width() as usize, frame.height() as usize);
        let (y_plane, u_plane, v_plane) = frame.planes_mut();
        let shift = (n as usize * 2) % WAVE;
        // Box bounces across the picture, a quarter of its height square.
        let side = h / 4;
        let t = n as usize * 6;
        let bx = bounce(t, w - side);
        let by = bounce(t / 2 + side, h - side);
        for (y, row) in y_plane.chunks_exact_mut(w).take(h).enumerate() {
            let start = (y + shift) % WAVE;
            row.copy_from_slice(&self.luma_strip[start..start + w]);
            if y >= by && y < by + side {
                row[bx..bx + side].fill(BOX_Y);
            }
        }
        let cw = w / 2;
        // Chroma samples whose luma position (twice theirs) is inside the box.
        let inside =
            |c: usize, from: usize| (from.div_ceil(2)..(from + side).div_ceil(2)).contains(&c);
        for (y, (u_row, v_row)) in u_plane
            .chunks_exact_mut(cw)
            .zip(v_plane.chunks_exact_mut(cw))
            .take(h / 2)
            .enumerate()
        {
            u_row.copy_from_slice(&self.u_bars);
            v_row.copy_from_slice(&self.v_bars);
            if inside(y, by) {
                let xs = bx.div_ceil(2)..(bx + side).div_ceil(2);
                u_row[xs.clone()].fill(BOX_U);
                v_row[xs].fill(BOX_V);
            }
        }
    }
}

/// The gradient's period in pixels: it ramps up over half and down over the other half.
const WAVE: usize = 512;
const BOX_Y: u8 = 200;
const BOX_U: u8 = 90;
const BOX_V: u8 = 200;

/// Luma of the drifting gradient at phase `wave` (0..WAVE).
fn gradient(wave: usize) -> u8 {
    let ramp = if wave < WAVE / 2 {
        wave
    } else {
        WAVE - 1 - wave
    };
    (48 + ramp * 128 / 255) as u8
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

    /// The picture computed pixel by pixel, as the strips in `draw` must reproduce it.
    fn reference(n: u32, w: usize, h: usize) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let shift = (n as usize * 2) % WAVE;
        let side = h / 4;
        let t = n as usize * 6;
        let (bx, by) = (bounce(t, w - side), bounce(t / 2 + side, h - side));
        let in_box = |x: usize, y: usize| y >= by && y < by + side && x >= bx && x < bx + side;
        let mut luma = Vec::new();
        for y in 0..h {
            for x in 0..w {
                luma.push(if in_box(x, y) {
                    BOX_Y
                } else {
                    gradient((x + y + shift) % WAVE)
                });
            }
        }
        let (mut u, mut v) = (Vec::new(), Vec::new());
        let cw = w / 2;
        for y in 0..h / 2 {
            for x in 0..cw {
                let bar = (x * 8 / cw) as u8;
                let boxed = in_box(x * 2, y * 2);
                u.push(if boxed { BOX_U } else { 96 + bar * 8 });
                v.push(if boxed { BOX_V } else { 160 - bar * 8 });
            }
        }
        (luma, u, v)
    }

    #[test]
    fn strips_draw_the_same_picture_as_pixel_by_pixel() {
        for (w, h) in [(640, 360), (1280, 720), (258, 66)] {
            let source = PatternSource::new(VideoFormat {
                width: w,
                height: h,
                fps: 30,
            })
            .unwrap();
            for n in [0, 1, 7, 100, 333, 1001] {
                let mut frame = VideoFrame::black(w, h).unwrap();
                source.draw(n, &mut frame);
                let (y, u, v) = reference(n, w as usize, h as usize);
                let (fy, fu, fv) = frame.planes_mut();
                assert!(
                    *fy == *y && *fu == *u && *fv == *v,
                    "{w}x{h} frame {n} differs"
                );
            }
        }
    }

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
