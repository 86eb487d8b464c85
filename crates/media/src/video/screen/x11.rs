//! An X11 display's root window, or one window on it, read with the X protocol's GetImage
//! (x11rb, no Xlib).

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, ImageFormat, ImageOrder};
use x11rb::rust_connection::RustConnection;

use crate::now_us;
use crate::video::convert::bgrx_to_i420;
use crate::{MediaError, VideoFrame};

/// Pictures of a display or a window, read when asked.
pub struct X11Source {
    conn: RustConnection,
    drawable: u32,
    /// What is read (the window's size when it was opened, made even).
    width: u32,
    height: u32,
}

impl X11Source {
    /// The display `display` (None: `$DISPLAY`), or the window `window` on it.
    pub fn open(display: Option<&str>, window: Option<u32>) -> Result<Self, MediaError> {
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
        Ok(Self {
            conn,
            drawable,
            width,
            height,
        })
    }

    /// The size pictures are read at.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// One picture at the screen's own size.
    pub fn grab(&mut self) -> Result<VideoFrame, MediaError> {
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
