//! Camera and screen pixel formats to I420. Cameras deliver MJPEG, YUYV (YUY2) or NV12, an
//! X11 screen BGRX; the encoder wants I420 (BT.601, limited range).

use yuvutils_rs::{
    BufferStoreMut, YuvConversionMode, YuvPlanarImageMut, YuvRange, YuvStandardMatrix,
};

use crate::{MediaError, VideoFrame};

fn check(width: u32, height: u32, got: usize, want: usize, what: &str) -> Result<(), MediaError> {
    if got < want {
        return Err(MediaError::Format(format!(
            "{what} {width}x{height} needs {want} bytes, got {got}"
        )));
    }
    Ok(())
}

/// Checks the input is big enough and allocates the output frame.
fn output_for(
    width: u32,
    height: u32,
    got: usize,
    want: usize,
    what: &str,
    capture_us: u64,
) -> Result<VideoFrame, MediaError> {
    check(width, height, got, want, what)?;
    let mut frame = VideoFrame::black(width, height)?;
    frame.capture_us = capture_us;
    Ok(frame)
}

fn planar(frame: &mut VideoFrame) -> YuvPlanarImageMut<'_, u8> {
    let (w, h) = (frame.width(), frame.height());
    let (y, u, v) = frame.planes_mut();
    YuvPlanarImageMut {
        y_plane: BufferStoreMut::Borrowed(y),
        y_stride: w,
        u_plane: BufferStoreMut::Borrowed(u),
        u_stride: w / 2,
        v_plane: BufferStoreMut::Borrowed(v),
        v_stride: w / 2,
        width: w,
        height: h,
    }
}

/// Packed YUYV 4:2:2 (Y0 U Y1 V) to I420. Each output chroma sample averages the two rows it
/// covers (yuvutils-rs takes only the top row's, which aliases on colour edges).
pub fn yuyv_to_i420(
    data: &[u8],
    width: u32,
    height: u32,
    capture_us: u64,
) -> Result<VideoFrame, MediaError> {
    let mut frame = output_for(
        width,
        height,
        data.len(),
        (width * height * 2) as usize,
        "YUYV",
        capture_us,
    )?;
    let (w, h) = (width as usize, height as usize);
    let (y_plane, u_plane, v_plane) = frame.planes_mut();
    for (row, line) in data.chunks_exact(w * 2).take(h).enumerate() {
        for (x, px) in line.chunks_exact(2).enumerate() {
            y_plane[row * w + x] = px[0];
        }
    }
    for pair in 0..h / 2 {
        let top = &data[pair * 2 * w * 2..][..w * 2];
        let bottom = &data[(pair * 2 + 1) * w * 2..][..w * 2];
        for (i, (t, b)) in top.chunks_exact(4).zip(bottom.chunks_exact(4)).enumerate() {
            let at = pair * (w / 2) + i;
            u_plane[at] = ((u16::from(t[1]) + u16::from(b[1]) + 1) / 2) as u8;
            v_plane[at] = ((u16::from(t[3]) + u16::from(b[3]) + 1) / 2) as u8;
        }
    }
    Ok(frame)
}

/// NV12 (a Y plane, then interleaved U V at half size) to I420: the chroma is de-interleaved.
pub fn nv12_to_i420(
    data: &[u8],
    width: u32,
    height: u32,
    capture_us: u64,
) -> Result<VideoFrame, MediaError> {
    let luma = (width * height) as usize;
    let mut frame = output_for(
        width,
        height,
        data.len(),
        luma + luma / 2,
        "NV12",
        capture_us,
    )?;
    let (y, u, v) = frame.planes_mut();
    y.copy_from_slice(&data[..luma]);
    for (i, pair) in data[luma..luma + luma / 2].chunks_exact(2).enumerate() {
        u[i] = pair[0];
        v[i] = pair[1];
    }
    Ok(frame)
}

/// A yuvutils-rs conversion from packed pixels to planar I420 (picture, pixels, stride, …).
type PackedToYuv = fn(
    &mut YuvPlanarImageMut<'_, u8>,
    &[u8],
    u32,
    YuvRange,
    YuvStandardMatrix,
    YuvConversionMode,
) -> Result<(), yuvutils_rs::YuvError>;

/// Packed pixels of `bytes_per_pixel` bytes, tightly packed rows, to I420 by `convert`.
fn packed_to_i420(
    pixels: &[u8],
    (width, height, bytes_per_pixel): (u32, u32, u32),
    what: &str,
    convert: PackedToYuv,
    capture_us: u64,
) -> Result<VideoFrame, MediaError> {
    let want = (width * height * bytes_per_pixel) as usize;
    let mut frame = output_for(width, height, pixels.len(), want, what, capture_us)?;
    convert(
        &mut planar(&mut frame),
        &pixels[..want],
        width * bytes_per_pixel,
        YuvRange::Limited,
        YuvStandardMatrix::Bt601,
        YuvConversionMode::Balanced,
    )
    .map_err(|e| MediaError::Format(format!("{what}: {e}")))?;
    Ok(frame)
}

/// Packed RGB (8 bits each) to I420.
pub fn rgb_to_i420(
    rgb: &[u8],
    width: u32,
    height: u32,
    capture_us: u64,
) -> Result<VideoFrame, MediaError> {
    packed_to_i420(
        rgb,
        (width, height, 3),
        "RGB",
        yuvutils_rs::rgb_to_yuv420,
        capture_us,
    )
}

/// Packed BGRX (blue, green, red, padding: an X11 ZPixmap of depth 24 on a little-endian
/// display) to I420.
pub fn bgrx_to_i420(
    bgrx: &[u8],
    width: u32,
    height: u32,
    capture_us: u64,
) -> Result<VideoFrame, MediaError> {
    packed_to_i420(
        bgrx,
        (width, height, 4),
        "BGRX",
        yuvutils_rs::bgra_to_yuv420,
        capture_us,
    )
}

/// Packed RGBX (red, green, blue, padding; or RGBA) to I420.
pub fn rgbx_to_i420(
    rgbx: &[u8],
    width: u32,
    height: u32,
    capture_us: u64,
) -> Result<VideoFrame, MediaError> {
    packed_to_i420(
        rgbx,
        (width, height, 4),
        "RGBX",
        yuvutils_rs::rgba_to_yuv420,
        capture_us,
    )
}

/// One MJPEG frame (a JPEG picture) to I420. The picture's own size wins over the expected
/// one: cameras sometimes send a different size than they announced.
pub fn mjpeg_to_i420(jpeg: &[u8], capture_us: u64) -> Result<VideoFrame, MediaError> {
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(jpeg, options);
    let rgb = decoder
        .decode()
        .map_err(|e| MediaError::Format(format!("MJPEG frame: {e:?}")))?;
    let (w, h) = decoder
        .dimensions()
        .ok_or_else(|| MediaError::Format("MJPEG frame without dimensions".into()))?;
    // I420 needs even sizes: drop a last odd column or row.
    let (even_w, even_h) = ((w & !1) as u32, (h & !1) as u32);
    if even_w as usize == w && even_h as usize == h {
        return rgb_to_i420(&rgb, even_w, even_h, capture_us);
    }
    let mut cropped = Vec::with_capacity((even_w * even_h * 3) as usize);
    for row in rgb.chunks_exact(w * 3).take(even_h as usize) {
        cropped.extend_from_slice(&row[..even_w as usize * 3]);
    }
    rgb_to_i420(&cropped, even_w, even_h, capture_us)
}
