//! Cameras through nokhwa (V4L2 on Linux, Media Foundation on Windows, AVFoundation on macOS).
//! nokhwa's decoding is off: frames arrive raw and [`super::convert`] makes I420 of them.

use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use nokhwa::Camera;
use serde::Serialize;

use super::{convert, VideoFormat, VideoSource};
use crate::{now_us, MediaError, VideoFrame};

/// Pixel formats Tincan can take from a camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelFormat {
    Nv12,
    Yuyv,
    Mjpeg,
}

impl PixelFormat {
    fn from_nokhwa(format: FrameFormat) -> Option<Self> {
        match format {
            FrameFormat::NV12 => Some(Self::Nv12),
            FrameFormat::YUYV => Some(Self::Yuyv),
            FrameFormat::MJPEG => Some(Self::Mjpeg),
            _ => None,
        }
    }

    fn to_nokhwa(self) -> FrameFormat {
        match self {
            Self::Nv12 => FrameFormat::NV12,
            Self::Yuyv => FrameFormat::YUYV,
            Self::Mjpeg => FrameFormat::MJPEG,
        }
    }

    /// Cheaper conversions first: NV12 is a copy, YUYV a repack, MJPEG a full decode.
    fn cost(self) -> u32 {
        match self {
            Self::Nv12 => 0,
            Self::Yuyv => 1,
            Self::Mjpeg => 2,
        }
    }
}

/// One way a camera can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CameraMode {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub format: PixelFormat,
}

/// A camera as the device pickers show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CameraInfo {
    /// Stable for as long as the camera stays plugged in the same port.
    pub id: String,
    pub name: String,
    pub modes: Vec<CameraMode>,
}

fn index_id(index: &CameraIndex) -> String {
    match index {
        CameraIndex::Index(i) => i.to_string(),
        CameraIndex::String(s) => s.clone(),
    }
}

fn any_raw_format() -> RequestedFormat<'static> {
    RequestedFormat::with_formats(
        RequestedFormatType::None,
        &[FrameFormat::NV12, FrameFormat::YUYV, FrameFormat::MJPEG],
    )
}

/// Every camera with the modes Tincan can use. No camera is an empty list, not an error; a
/// camera that cannot be opened to ask (busy) is listed without modes.
pub fn list_cameras() -> Vec<CameraInfo> {
    let cameras = match nokhwa::query(ApiBackend::Auto) {
        Ok(cameras) => cameras,
        Err(e) => {
            tracing::debug!(error = %e, "camera query failed; treating as no cameras");
            return Vec::new();
        }
    };
    cameras
        .into_iter()
        .map(|info| {
            let modes = Camera::new(info.index().clone(), any_raw_format())
                .and_then(|mut camera| camera.compatible_camera_formats())
                .map(|formats| usable_modes(&formats))
                .unwrap_or_default();
            CameraInfo {
                id: index_id(info.index()),
                name: info.human_name(),
                modes,
            }
        })
        .collect()
}

fn usable_modes(formats: &[CameraFormat]) -> Vec<CameraMode> {
    let mut modes: Vec<CameraMode> = formats
        .iter()
        .filter_map(|f| {
            Some(CameraMode {
                width: f.resolution().width_x,
                height: f.resolution().height_y,
                fps: f.frame_rate(),
                format: PixelFormat::from_nokhwa(f.format())?,
            })
        })
        .filter(|m| m.width % 2 == 0 && m.height % 2 == 0)
        .collect();
    modes.sort_by_key(|m| {
        (
            std::cmp::Reverse(m.width * m.height),
            std::cmp::Reverse(m.fps),
            m.format.cost(),
        )
    });
    modes.dedup();
    modes
}

/// The mode closest to what was asked: nearest size (by pixel count, preferring at least the
/// asked size), then nearest frame rate at or above the asked one, then the cheapest format.
pub fn pick_mode(modes: &[CameraMode], wanted: VideoFormat) -> Option<CameraMode> {
    let want_area = i64::from(wanted.width) * i64::from(wanted.height);
    modes.iter().copied().min_by_key(|m| {
        let area = i64::from(m.width) * i64::from(m.height);
        let size_miss = if area >= want_area {
            area - want_area
        } else {
            (want_area - area) * 4
        };
        let fps_miss = if m.fps >= wanted.fps {
            i64::from(m.fps - wanted.fps)
        } else {
            i64::from(wanted.fps - m.fps) * 10
        };
        (size_miss, fps_miss, m.format.cost())
    })
}

/// Frames from a camera, converted to I420.
///
/// nokhwa's `Camera` may not cross threads, so a thread of its own opens it, reads it and
/// converts its frames; `read` takes them from a short queue.
pub struct CameraSource {
    frames: mpsc::Receiver<Result<VideoFrame, MediaError>>,
    mode: CameraMode,
    stop: Arc<AtomicBool>,
}

/// Frames waiting for the reader; a slow reader makes the camera thread drop frames rather
/// than build up delay.
const QUEUED_FRAMES: usize = 2;

impl CameraSource {
    /// Opens a camera by id (or the first one) in the mode closest to `wanted`.
    pub fn open(id: Option<&str>, wanted: VideoFormat) -> Result<Self, MediaError> {
        let (opened_tx, opened) = mpsc::channel();
        let (frames_tx, frames) = mpsc::sync_channel(QUEUED_FRAMES);
        let stop = Arc::new(AtomicBool::new(false));
        let id = id.map(str::to_owned);
        let stop_thread = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("camera".into())
            .spawn(move || {
                let (mut camera, mode) = match open_camera(id.as_deref(), wanted) {
                    Ok(opened) => opened,
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        return;
                    }
                };
                let _ = opened_tx.send(Ok(mode));
                while !stop_thread.load(Ordering::Relaxed) {
                    let frame = read_frame(&mut camera);
                    let failed = frame.is_err();
                    match frames_tx.try_send(frame) {
                        Ok(()) | Err(mpsc::TrySendError::Full(_)) => {}
                        Err(mpsc::TrySendError::Disconnected(_)) => break,
                    }
                    if failed {
                        break;
                    }
                }
                let _ = camera.stop_stream();
            })
            .map_err(|e| MediaError::CameraUnavailable(e.to_string()))?;
        let mode = opened
            .recv()
            .map_err(|_| MediaError::CameraUnavailable("the camera thread ended".into()))??;
        Ok(Self { frames, mode, stop })
    }

    pub fn mode(&self) -> CameraMode {
        self.mode
    }
}

impl Drop for CameraSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn open_camera(id: Option<&str>, wanted: VideoFormat) -> Result<(Camera, CameraMode), MediaError> {
    let cameras = nokhwa::query(ApiBackend::Auto).unwrap_or_default();
    if cameras.is_empty() {
        return Err(MediaError::NoCamera);
    }
    let info = match id {
        Some(id) => cameras
            .iter()
            .find(|c| index_id(c.index()) == id)
            .ok_or_else(|| MediaError::CameraNotFound(id.to_owned()))?,
        None => &cameras[0],
    };
    let unavailable = |e: nokhwa::NokhwaError| MediaError::CameraUnavailable(e.to_string());
    let mut camera = Camera::new(info.index().clone(), any_raw_format()).map_err(unavailable)?;
    let formats = camera.compatible_camera_formats().map_err(unavailable)?;
    let mode = pick_mode(&usable_modes(&formats), wanted).ok_or_else(|| {
        MediaError::CameraUnavailable(format!(
            "{} offers no NV12, YUYV or MJPEG mode",
            info.human_name()
        ))
    })?;
    camera
        .set_camera_requset(RequestedFormat::with_formats(
            RequestedFormatType::Exact(CameraFormat::new_from(
                mode.width,
                mode.height,
                mode.format.to_nokhwa(),
                mode.fps,
            )),
            &[mode.format.to_nokhwa()],
        ))
        .map_err(unavailable)?;
    camera.open_stream().map_err(unavailable)?;
    tracing::info!(camera = %info.human_name(), ?mode, "camera open");
    Ok((camera, mode))
}

fn read_frame(camera: &mut Camera) -> Result<VideoFrame, MediaError> {
    let buffer = camera
        .frame()
        .map_err(|e| MediaError::CameraUnavailable(format!("the camera stopped: {e}")))?;
    let at = now_us();
    let (w, h) = (buffer.resolution().width_x, buffer.resolution().height_y);
    match PixelFormat::from_nokhwa(buffer.source_frame_format()) {
        Some(PixelFormat::Nv12) => convert::nv12_to_i420(buffer.buffer(), w, h, at),
        Some(PixelFormat::Yuyv) => convert::yuyv_to_i420(buffer.buffer(), w, h, at),
        Some(PixelFormat::Mjpeg) => convert::mjpeg_to_i420(buffer.buffer(), at),
        None => Err(MediaError::Format(format!(
            "the camera sent {} frames",
            buffer.source_frame_format()
        ))),
    }
}

impl VideoSource for CameraSource {
    fn format(&self) -> VideoFormat {
        VideoFormat {
            width: self.mode.width,
            height: self.mode.height,
            fps: self.mode.fps,
        }
    }

    fn read(&mut self) -> Result<VideoFrame, MediaError> {
        self.frames
            .recv_timeout(Duration::from_secs(3))
            .map_err(|_| {
                MediaError::CameraUnavailable(
                    "the camera sends no frames; was it unplugged?".into(),
                )
            })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(width: u32, height: u32, fps: u32, format: PixelFormat) -> CameraMode {
        CameraMode {
            width,
            height,
            fps,
            format,
        }
    }

    #[test]
    fn picks_the_closest_mode() {
        let modes = [
            mode(1920, 1080, 30, PixelFormat::Mjpeg),
            mode(1280, 720, 30, PixelFormat::Mjpeg),
            mode(1280, 720, 10, PixelFormat::Yuyv),
            mode(640, 480, 30, PixelFormat::Yuyv),
        ];
        let want = |w, h, fps| VideoFormat {
            width: w,
            height: h,
            fps,
        };
        assert_eq!(
            pick_mode(&modes, want(1280, 720, 30)),
            Some(modes[1]),
            "exact size and rate"
        );
        assert_eq!(
            pick_mode(&modes, want(640, 360, 30)),
            Some(modes[3]),
            "nearest larger size"
        );
        assert_eq!(
            pick_mode(&modes, want(1280, 720, 5)),
            Some(modes[2]),
            "cheaper format when rate allows"
        );
        assert_eq!(pick_mode(&[], want(1280, 720, 30)), None);
    }
}
