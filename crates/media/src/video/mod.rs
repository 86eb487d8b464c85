//! Video sources: camera, screen, test pattern, y4m file; and conversion to I420.

mod camera;
pub mod convert;
mod pattern;
pub mod scale;
pub mod screen;
pub mod shareable;
pub mod stamp;
pub(crate) mod y4m_file;

pub use camera::{list_cameras, CameraInfo, CameraMode, CameraSource, PixelFormat};
pub use pattern::PatternSource;
pub use screen::{ScreenSource, ScreenTarget};
pub use shareable::{shareable, thumbnail, Shareable};
pub use y4m_file::{Y4mSource, Y4mWriter};

use crate::{MediaError, VideoFrame};

/// Peak signal-to-noise ratio of the luma planes of two same-sized pictures, in dB
/// (infinite for identical planes).
pub fn y_psnr(a: &VideoFrame, b: &VideoFrame) -> f64 {
    let (ya, yb) = (a.y(), b.y());
    if ya.len() != yb.len() || ya.is_empty() {
        return 0.0;
    }
    let sse: u64 = ya
        .iter()
        .zip(yb)
        .map(|(&p, &q)| {
            let d = i64::from(p) - i64::from(q);
            (d * d) as u64
        })
        .sum();
    if sse == 0 {
        return f64::INFINITY;
    }
    let mse = sse as f64 / ya.len() as f64;
    10.0 * (255.0 * 255.0 / mse).log10()
}

/// Size and rate of a video source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoFormat {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

/// Anything that produces pictures. `read` returns the next one, blocking for a camera until
/// it has one; synthetic sources return at once, and the caller paces them at `format().fps`.
pub trait VideoSource: Send {
    fn format(&self) -> VideoFormat;
    fn read(&mut self) -> Result<VideoFrame, MediaError>;
    /// A shared screen (text, mostly still) rather than a camera: encoded for sharpness.
    fn is_screen(&self) -> bool {
        false
    }
}
