//! Video sources: camera, test pattern, y4m file; and conversion to I420.

mod camera;
pub mod convert;
mod pattern;
pub mod stamp;
mod y4m_file;

pub use camera::{list_cameras, CameraInfo, CameraMode, CameraSource, PixelFormat};
pub use pattern::PatternSource;
pub use y4m_file::Y4mSource;

use crate::{MediaError, VideoFrame};

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
}
