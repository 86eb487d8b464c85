//! An X11 display's root window, or one window on it, read with the X protocol's GetImage
//! (x11rb, no Xlib).

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, ImageFormat, ImageOrder};
use x11rb::rust_connection::RustConnection;

use super::{share_size, VideoFormat, VideoSource};
use crate::now_us;
use crate::video::convert::bgrx_to_i420;
use crate::video::scale::Scaler;
use crate::{MediaError, VideoFrame};

/// Pictures of a display or a window. `read` returns at once; the caller paces it at
/// `format().fps`.
pub struct X11Source {
    conn: RustConnection,
    drawable: u32,
    /// What is read (the window's size when it was opened, made even).
    width: u32,
    height: u32,
    format: VideoFormat,
    scaler: Scaler,
}

impl X11Source {
    /// The display `display` (None: `$DISPLAY`), or the window `window` on it.
    pub fn open(display: Option<&str>, window: Option<u32>, fps: u32) -> Result<Self, MediaError> {
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
                "cannot connect to the X display ({e}); in a Wayland session, share \
                 through the desktop's portal (`portal`)"
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
        let drawable = window.unwrap_or(root.root);
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

impl VideoSource for X11Source {
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
