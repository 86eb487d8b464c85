//! Picture downscaling for when the network cannot carry the captured size.

use crate::{MediaError, VideoFrame};

/// Halves a picture in both directions, each output sample the rounded mean of a 2×2 block.
/// The result keeps the capture time; its sizes are rounded down to even numbers, as I420
/// needs.
pub fn half(frame: &VideoFrame) -> Result<VideoFrame, MediaError> {
    let w = frame.width() as usize;
    let (ow, oh) = half_size(frame.width(), frame.height());
    let (ow, oh) = (ow as usize, oh as usize);
    let mut out = VideoFrame::black(ow as u32, oh as u32)?;
    out.capture_us = frame.capture_us;
    let (y, u, v) = out.planes_mut();
    halve_plane(frame.y(), w, y, ow, oh);
    halve_plane(frame.u(), w / 2, u, ow / 2, oh / 2);
    halve_plane(frame.v(), w / 2, v, ow / 2, oh / 2);
    Ok(out)
}

/// The size [`half`] gives a `width`×`height` picture: halved, rounded down to even.
pub fn half_size(width: u32, height: u32) -> (u32, u32) {
    ((width / 2) & !1, (height / 2) & !1)
}

fn halve_plane(src: &[u8], stride: usize, dst: &mut [u8], width: usize, height: usize) {
    for (y, row) in dst.chunks_exact_mut(width).take(height).enumerate() {
        let top = &src[2 * y * stride..];
        let bottom = &src[(2 * y + 1) * stride..];
        for (x, out) in row.iter_mut().enumerate() {
            let sum = u16::from(top[2 * x])
                + u16::from(top[2 * x + 1])
                + u16::from(bottom[2 * x])
                + u16::from(bottom[2 * x + 1]);
            *out = ((sum + 2) / 4) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_sizes_and_averages_blocks() {
        let mut frame = VideoFrame::black(8, 4).unwrap();
        frame.capture_us = 42;
        {
            let (y, u, _) = frame.planes_mut();
            // Luma: rows alternate 10 and 20, columns alternate +0 and +1.
            for (i, px) in y.iter_mut().enumerate() {
                let (row, col) = (i / 8, i % 8);
                *px = if row % 2 == 0 { 10 } else { 20 } + (col % 2) as u8;
            }
            u.fill(200);
        }
        let small = half(&frame).unwrap();
        assert_eq!(
            (small.width(), small.height(), small.capture_us),
            (4, 2, 42)
        );
        // (10 + 11 + 20 + 21) / 4 = 15.5, rounded to 16.
        assert!(small.y().iter().all(|&p| p == 16), "{:?}", small.y());
        assert!(small.u().iter().all(|&p| p == 200));
        assert!(small.v().iter().all(|&p| p == 128));
    }

    #[test]
    fn odd_halves_round_down_to_even() {
        let frame = VideoFrame::black(640, 180).unwrap();
        let small = half(&frame).unwrap();
        assert_eq!((small.width(), small.height()), (320, 90));
        let smaller = half(&small).unwrap();
        assert_eq!((smaller.width(), smaller.height()), (160, 44));
    }
}
