//! The screen as a video source, converted to I420 at most 1920x1080: on X11 a display's
//! root window or one window on it ([`x11`]); in a Wayland session (or wherever asked for
//! `portal`) whatever the person picks in the desktop's own dialog, through the ScreenCast
//! portal and PipeWire ([`portal`]).
//!
//! Built and tested: X11 (Xvfb in the tests) and the portal path (the real
//! xdg-desktop-portal, PipeWire and WirePlumber in the tests, with a stand-in for the
//! compositor's half of the portal: docs/media.md, "Screen sharing"). Not built: Windows and
//! macOS capture; `open` says so there. GetImage copies each picture through the X socket
//! (8 MB for 1080p); the shared-memory extension would save that copy and is the next step
//! when the CPU figure asks for it (BENCHMARKS.md, "Screen sharing").

#[cfg(target_os = "linux")]
mod portal;
#[cfg(target_os = "linux")]
mod x11;

#[cfg(target_os = "linux")]
use super::scale::Scaler;
use super::{VideoFormat, VideoSource};
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
    /// Whatever the person picks in the desktop's own dialog (the ScreenCast portal): how a
    /// Wayland session shares. `Display(None)` means this too in a Wayland session.
    Portal,
}

impl ScreenTarget {
    /// One window on `$DISPLAY`, by id.
    pub fn window(id: u32) -> Self {
        Self::Window { display: None, id }
    }

    /// Whether sharing this goes through the desktop's portal: asked for, or the whole
    /// screen in a Wayland session ([`in_wayland_session`]).
    pub fn through_portal(&self) -> bool {
        match self {
            Self::Portal => true,
            Self::Display(None) => in_wayland_session(),
            _ => false,
        }
    }

    /// `:0`, `:1.0` and the like are displays; a decimal or `0x…` number is a window id on
    /// `$DISPLAY`, and `:1/0x…` one on that display; `portal` asks the desktop.
    pub fn parse(text: &str) -> Result<Self, MediaError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Self::Display(None));
        }
        if text == "portal" {
            return Ok(Self::Portal);
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
                "'{text}' is neither an X display (like :0), a window id (like 0x3a00007) \
                 nor `portal`"
            ))
        })
    }
}

/// The form [`ScreenTarget::parse`] reads: the display's name (empty for `$DISPLAY`), the
/// window's id in hex, or `portal`.
impl std::fmt::Display for ScreenTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Display(name) => f.write_str(name.as_deref().unwrap_or("")),
            Self::Window { display: None, id } => write!(f, "{id:#x}"),
            Self::Window {
                display: Some(display),
                id,
            } => write!(f, "{display}/{id:#x}"),
            Self::Portal => f.write_str("portal"),
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

/// Whether the desktop session is Wayland, from its environment (`XDG_SESSION_TYPE`, else
/// `WAYLAND_DISPLAY`): there an X display, if any, is XWayland's and shows only the X
/// windows, so the whole screen is shared through the portal.
pub fn is_wayland_session(session_type: Option<&str>, wayland_display: Option<&str>) -> bool {
    match session_type {
        Some("wayland") => true,
        Some("x11") => false,
        _ => wayland_display.is_some_and(|d| !d.is_empty()),
    }
}

/// [`is_wayland_session`] of this process's environment.
pub fn in_wayland_session() -> bool {
    let var = |name| std::env::var(name).ok();
    is_wayland_session(
        var("XDG_SESSION_TYPE").as_deref(),
        var("WAYLAND_DISPLAY").as_deref(),
    )
}

/// Where the pictures come from.
#[cfg(target_os = "linux")]
enum Capture {
    X11(x11::X11Source),
    Portal(portal::PortalSource),
}

/// Pictures of what is shared, at [`share_size`] of what it was when opened. `read` returns
/// at once (the latest picture); the caller paces it at `format().fps`.
#[cfg(target_os = "linux")]
pub struct ScreenSource {
    capture: Capture,
    format: VideoFormat,
    scaler: Scaler,
}

#[cfg(target_os = "linux")]
impl ScreenSource {
    /// Opens `target` at up to `fps` pictures a second. The portal asks the person (the
    /// desktop's dialog) and may take as long as they do.
    pub fn open(target: &ScreenTarget, fps: u32) -> Result<Self, MediaError> {
        let fps = fps.max(1);
        let capture = match (target, target.through_portal()) {
            (ScreenTarget::Portal, _) | (_, true) => {
                Capture::Portal(portal::PortalSource::open(fps)?)
            }
            (ScreenTarget::Display(display), false) => {
                Capture::X11(x11::X11Source::open(display.as_deref(), None)?)
            }
            (ScreenTarget::Window { display, id }, false) => {
                Capture::X11(x11::X11Source::open(display.as_deref(), Some(*id))?)
            }
        };
        let (width, height) = match &capture {
            Capture::X11(source) => source.size(),
            Capture::Portal(source) => source.size(),
        };
        let (width, height) = share_size(width, height);
        Ok(Self {
            capture,
            format: VideoFormat { width, height, fps },
            scaler: Scaler::default(),
        })
    }
}

#[cfg(target_os = "linux")]
impl VideoSource for ScreenSource {
    fn format(&self) -> VideoFormat {
        self.format
    }

    fn is_screen(&self) -> bool {
        true
    }

    fn read(&mut self) -> Result<VideoFrame, MediaError> {
        let full = match &mut self.capture {
            Capture::X11(source) => source.grab()?,
            Capture::Portal(source) => source.grab()?,
        };
        let VideoFormat { width, height, .. } = self.format;
        if (width, height) == (full.width(), full.height()) {
            return Ok(full);
        }
        let mut scaled = vec![0u8; VideoFrame::i420_len(width, height)];
        self.scaler.scale_into(&full, width, height, &mut scaled)?;
        VideoFrame::from_i420(width, height, scaled, full.capture_us)
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
            reason: "screen sharing is built only for Linux (X11 and Wayland) so far".into(),
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
            ScreenTarget::Portal,
        ] {
            assert_eq!(ScreenTarget::parse(&target.to_string()).ok(), Some(target));
        }
        let e = ScreenTarget::parse("my screen").unwrap_err().to_string();
        assert!(e.contains("neither an X display"), "{e}");
        // Whatever the session: the portal when asked, X for a named display or window.
        assert!(ScreenTarget::Portal.through_portal());
        assert!(!ScreenTarget::window(7).through_portal());
        assert!(!ScreenTarget::Display(Some(":3".into())).through_portal());
    }

    #[test]
    fn a_wayland_session_is_told_by_its_type_then_by_its_display() {
        assert!(is_wayland_session(Some("wayland"), None));
        assert!(!is_wayland_session(Some("x11"), Some("wayland-0")));
        assert!(is_wayland_session(None, Some("wayland-0")));
        assert!(is_wayland_session(Some("tty"), Some("wayland-1")));
        assert!(!is_wayland_session(None, Some("")));
        assert!(!is_wayland_session(None, None));
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
