//! Picture downscaling: halving for when the network cannot carry the captured size, and
//! scaling to any size for showing a picture as large as its tile and no larger.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use crate::{MediaError, VideoFrame};

/// Scales I420 pictures to another size, plane by plane (bilinear, SIMD where the CPU has
/// it). Keeps its working buffers between pictures, so one per stream of pictures.
#[derive(Default)]
pub struct Scaler {
    resizer: Resizer,
}

impl Scaler {
    /// Writes `frame` scaled to `width`×`height` (even, at most 8192) into `out` as tightly
    /// packed I420; `out` must be [`VideoFrame::i420_len`] bytes long.
    pub fn scale_into(
        &mut self,
        frame: &VideoFrame,
        width: u32,
        height: u32,
        out: &mut [u8],
    ) -> Result<(), MediaError> {
        let want = VideoFrame::i420_len(width, height);
        if width == 0
            || height == 0
            || !width.is_multiple_of(2)
            || !height.is_multiple_of(2)
            || out.len() != want
        {
            return Err(MediaError::Format(format!(
                "cannot scale to {width}x{height} into {} bytes (I420 needs even sizes and {want} bytes)",
                out.len()
            )));
        }
        let luma = (width * height) as usize;
        let (y, chroma) = out.split_at_mut(luma);
        let (u, v) = chroma.split_at_mut(luma / 4);
        let (sw, sh) = (frame.width(), frame.height());
        let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
        for (src, (pw, ph), dst, (dw, dh)) in [
            (frame.y(), (sw, sh), y, (width, height)),
            (frame.u(), (sw / 2, sh / 2), u, (width / 2, height / 2)),
            (frame.v(), (sw / 2, sh / 2), v, (width / 2, height / 2)),
        ] {
            let src = ImageRef::new(pw, ph, src, PixelType::U8)
                .map_err(|e| MediaError::Format(format!("scaling from {sw}x{sh}: {e}")))?;
            let mut dst = Image::from_slice_u8(dw, dh, dst, PixelType::U8)
                .map_err(|e| MediaError::Format(format!("scaling to {width}x{height}: {e}")))?;
            self.resizer.resize(&src, &mut dst, &options).map_err(|e| {
                MediaError::Format(format!("scaling {sw}x{sh} to {width}x{height}: {e}"))
            })?;
        }
        Ok(())
    }
}

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
    fn scaling_keeps_flat_planes_flat_and_follows_a_gradient() {
        let mut frame = VideoFrame::black(64, 32).unwrap();
        {
            let (y, u, v) = frame.planes_mut();
            // Luma rises left to right: 0, 4, 8 … 252.
            for (i, px) in y.iter_mut().enumerate() {
                *px = ((i % 64) * 4) as u8;
            }
            u.fill(90);
            v.fill(200);
        }
        let mut out = vec![0u8; VideoFrame::i420_len(48, 24)];
        Scaler::default()
            .scale_into(&frame, 48, 24, &mut out)
            .unwrap();
        let (y, chroma) = out.split_at(48 * 24);
        let (u, v) = chroma.split_at(24 * 12);
        assert!(u.iter().all(|&p| p == 90), "U stays flat");
        assert!(v.iter().all(|&p| p == 200), "V stays flat");
        for row in y.chunks_exact(48) {
            assert!(
                row.windows(2).all(|w| w[0] <= w[1]),
                "luma still rises: {row:?}"
            );
            assert!(
                row[0] < 10 && row[47] > 240,
                "ends kept: {} … {}",
                row[0],
                row[47]
            );
        }
    }

    #[test]
    fn scaling_refuses_odd_sizes_and_short_buffers() {
        let frame = VideoFrame::black(64, 32).unwrap();
        let mut scaler = Scaler::default();
        let mut out = vec![0u8; VideoFrame::i420_len(48, 24)];
        assert!(scaler.scale_into(&frame, 47, 24, &mut out).is_err());
        assert!(scaler.scale_into(&frame, 48, 24, &mut out[1..]).is_err());
        assert!(scaler.scale_into(&frame, 0, 24, &mut out).is_err());
    }

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
