//! The screen as a video source: an X11 display's root window, or one window on it, read
//! with the X protocol's GetImage (x11rb, no Xlib) and converted to I420 at most 1920x1080.
//!
//! Built and tested: X11 (Xvfb in the tests). Not built: Wayland (its ScreenCast portal and
//! PipeWire), Windows and macOS capture; `open` says so there. GetImage copies each picture
//! through the X socket (8 MB for 1080p); the shared-memory extension would save that copy
//! and is the next step when the CPU figure asks for it (BENCHMARKS.md, "Screen sharing").

#[cfg(target_os = "linux")]
use super::scale::Scaler;
use super::{VideoFormat, VideoSource};
#[cfg(target_os = "linux")]
use crate::now_us;
use crate::{MediaError, VideoFrame};

/// The largest picture a share sends; a bigger screen is scaled down to fit.
pub const MAX_SHARE: (u32, u32) = (1920, 1080);

/// What to share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScreenTarget {
    /// A whole display, by X display name (`:0`; None: `$DISPLAY`).
    Display(Option<String>),
    /// One window, by its X id, on a display (None: `$DISPLAY`).
    Window { display: Option<String>, id: u32 },
}

impl ScreenTarget {
    /// One window on `$DISPLAY`, by id.
    pub fn window(id: u32) -> Self {
        Self::Window { display: None, id }
    }

    /// `:0`, `:1.0` and the like are displays; a decimal or `0x…` number is a window id on
    /// `$DISPLAY`, and `:1/0x…` one on that display.
    pub fn parse(text: &str) -> Result<Self, MediaError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Self::Display(None));
        }
        let (display, window) = match text.split_once('/') {
            Some((display, window)) if display.contains(':') => (Some(display.to_owned()), window),
            _ if text.contains(':') => return Ok(Self::Display(Some(text.to_owned()))),
            _ => (None, text),
        };
        let id = match window.strip_prefix("0x") {
            Some(hex) => u32::from_str_radix(hex, 16),
            None => window.parse(),
        };
        id.map(|id| Self::Window { display, id }).map_err(|_| {
            MediaError::Format(format!(
                "'{text}' is neither an X display (like :0) nor a window id (like 0x3a00007)"
            ))
        })
    }
}

/// The form [`ScreenTarget::parse`] reads: the display's name (empty for `$DISPLAY`), or the
/// window's id in hex.
impl std::fmt::Display for ScreenTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Display(name) => f.write_str(name.as_deref().unwrap_or("")),
            Self::Window { display: None, id } => write!(f, "{id:#x}"),
            Self::Window {
                display: Some(display),
                id,
            } => write!(f, "{display}/{id:#x}"),
        }
    }
}

/// The size a share of a `width`×`height` screen is sent at: the screen's own, scaled down
/// (keeping its shape) to fit [`MAX_SHARE`], even in both directions.
pub fn share_size(width: u32, height: u32) -> (u32, u32) {
    let (max_w, max_h) = MAX_SHARE;
    let scale = (f64::from(max_w) / f64::from(width.max(1)))
        .min(f64::from(max_h) / f64::from(height.max(1)))
        .min(1.0);
    let even = |v: f64| ((v as u32) & !1).max(2);
    (
        even(f64::from(width) * scale),
        even(f64::from(height) * scale),
    )
}

#[cfg(target_os = "linux")]
pub use x11::ScreenSource;

#[cfg(target_os = "linux")]
mod x11 {
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{ConnectionExt, ImageFormat, ImageOrder};
    use x11rb::rust_connection::RustConnection;

    use super::*;
    use crate::video::convert::bgrx_to_i420;

    /// Pictures of a display or a window. `read` returns at once; the caller paces it at
    /// `format().fps`.
    pub struct ScreenSource {
        conn: RustConnection,
        drawable: u32,
        /// What is read (the window's size when it was opened, made even).
        width: u32,
        height: u32,
        format: VideoFormat,
        scaler: Scaler,
    }

    impl ScreenSource {
        pub fn open(target: &ScreenTarget, fps: u32) -> Result<Self, MediaError> {
            let display = match target {
                ScreenTarget::Display(name) | ScreenTarget::Window { display: name, .. } => {
                    name.as_deref()
                }
            };
            let shown = display.map_or_else(
                || std::env::var("DISPLAY").unwrap_or_else(|_| "(no $DISPLAY)".into()),
                str::to_owned,
            );
            let failed = |reason: String| MediaError::Screen {
                what: shown.clone(),
                reason,
            };
            let (conn, screen) = RustConnection::connect(display).map_err(|e| {
                failed(format!(
                    "cannot connect to the X display ({e}); a Wayland session needs the \
                     ScreenCast portal, which is not built yet"
                ))
            })?;
            let setup = conn.setup();
            let root = setup
                .roots
                .get(screen)
                .ok_or_else(|| failed(format!("the display has no screen {screen}")))?;
            if setup.image_byte_order != ImageOrder::LSB_FIRST {
                return Err(failed(
                    "the display sends pixels most significant byte first".into(),
                ));
            }
            let bpp = setup
                .pixmap_formats
                .iter()
                .find(|f| f.depth == root.root_depth)
                .map(|f| f.bits_per_pixel);
            if root.root_depth < 24 || bpp != Some(32) {
                return Err(failed(format!(
                    "a screen of depth {} ({bpp:?} bits a pixel) cannot be shared; 24-bit colour is needed",
                    root.root_depth
                )));
            }
            let drawable = match target {
                ScreenTarget::Display(_) => root.root,
                ScreenTarget::Window { id, .. } => *id,
            };
            let geometry = conn
                .get_geometry(drawable)
                .map_err(|e| failed(e.to_string()))?
                .reply()
                .map_err(|e| failed(format!("no window {drawable:#x} to share: {e}")))?;
            let (width, height) = (
                u32::from(geometry.width) & !1,
                u32::from(geometry.height) & !1,
            );
            if width < 2 || height < 2 {
                return Err(failed(format!("{width}x{height} is too small to share")));
            }
            let (out_w, out_h) = share_size(width, height);
            Ok(Self {
                conn,
                drawable,
                width,
                height,
                format: VideoFormat {
                    width: out_w,
                    height: out_h,
                    fps: fps.max(1),
                },
                scaler: Scaler::default(),
            })
        }

        /// One picture at the screen's own size.
        fn grab(&mut self) -> Result<VideoFrame, MediaError> {
            let capture_us = now_us();
            let failed = |reason: String| MediaError::Screen {
                what: format!("window {:#x}", self.drawable),
                reason,
            };
            let (w, h) = (self.width, self.height);
            let reply = self
                .conn
                .get_image(
                    ImageFormat::Z_PIXMAP,
                    self.drawable,
                    0,
                    0,
                    w as u16,
                    h as u16,
                    !0,
                )
                .map_err(|e| failed(format!("the display went away: {e}")))?
                .reply()
                .map_err(|e| failed(format!("it closed or changed size: {e}")))?;
            let stride = w as usize * 4;
            if reply.data.len() < stride * h as usize {
                return Err(failed(format!(
                    "the display sent {} bytes for a {w}x{h} picture",
                    reply.data.len()
                )));
            }
            bgrx_to_i420(&reply.data, w, h, capture_us)
        }
    }

    impl VideoSource for ScreenSource {
        fn format(&self) -> VideoFormat {
            self.format
        }

        fn is_screen(&self) -> bool {
            true
        }

        fn read(&mut self) -> Result<VideoFrame, MediaError> {
            let full = self.grab()?;
            let VideoFormat { width, height, .. } = self.format;
            if (width, height) == (full.width(), full.height()) {
                return Ok(full);
            }
            let mut scaled = vec![0u8; VideoFrame::i420_len(width, height)];
            self.scaler.scale_into(&full, width, height, &mut scaled)?;
            VideoFrame::from_i420(width, height, scaled, full.capture_us)
        }
    }
}

/// Where there is no capture yet: opening says so.
#[cfg(not(target_os = "linux"))]
pub struct ScreenSource;

#[cfg(not(target_os = "linux"))]
impl ScreenSource {
    pub fn open(target: &ScreenTarget, _fps: u32) -> Result<Self, MediaError> {
        Err(MediaError::Screen {
            what: format!("{target:?}"),
            reason: "screen sharing is built only for X11 on Linux so far".into(),
        })
    }
}

#[cfg(not(target_os = "linux"))]
impl VideoSource for ScreenSource {
    fn format(&self) -> VideoFormat {
        VideoFormat {
            width: 2,
            height: 2,
            fps: 1,
        }
    }

    fn read(&mut self) -> Result<VideoFrame, MediaError> {
        Err(MediaError::Screen {
            what: "the screen".into(),
            reason: "not built here".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_displays_or_window_ids() {
        assert_eq!(
            ScreenTarget::parse("").ok(),
            Some(ScreenTarget::Display(None))
        );
        assert_eq!(
            ScreenTarget::parse(":99").ok(),
            Some(ScreenTarget::Display(Some(":99".into())))
        );
        assert_eq!(
            ScreenTarget::parse("0x3a00007").ok(),
            Some(ScreenTarget::window(0x3a0_0007))
        );
        assert_eq!(
            ScreenTarget::parse("42").ok(),
            Some(ScreenTarget::window(42))
        );
        assert_eq!(
            ScreenTarget::parse(":5/0x40").ok(),
            Some(ScreenTarget::Window {
                display: Some(":5".into()),
                id: 0x40
            })
        );
        for target in [
            ScreenTarget::Display(None),
            ScreenTarget::Display(Some(":3".into())),
            ScreenTarget::window(0x3a0_0007),
            ScreenTarget::Window {
                display: Some(":3".into()),
                id: 7,
            },
        ] {
            assert_eq!(ScreenTarget::parse(&target.to_string()).ok(), Some(target));
        }
        let e = ScreenTarget::parse("my screen").unwrap_err().to_string();
        assert!(e.contains("neither an X display"), "{e}");
    }

    #[test]
    fn a_share_fits_1080p_and_keeps_its_shape() {
        assert_eq!(share_size(1280, 720), (1280, 720));
        assert_eq!(share_size(1920, 1080), (1920, 1080));
        assert_eq!(share_size(3840, 2160), (1920, 1080));
        assert_eq!(share_size(2560, 1600), (1728, 1080));
        assert_eq!(share_size(1001, 601), (1000, 600));
    }
}
