//! What a person can pick to share: the whole display and its windows, each with its name
//! and size (a picker shows them with a thumbnail, [`thumbnail`]). On X11 they are listed
//! here; in a Wayland session only the desktop may list them, so the one choice is its own
//! dialog ([`ScreenTarget::Portal`]), without a thumbnail.

#[cfg(target_os = "linux")]
use super::screen::in_wayland_session;
use super::{ScreenSource, ScreenTarget, VideoSource};
use crate::{MediaError, VideoFrame};

/// A display or a window one can share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shareable {
    pub target: ScreenTarget,
    /// "Entire screen", or the window's title.
    pub name: String,
    pub width: u32,
    pub height: u32,
}

/// At most this many windows are offered (a picker of hundreds helps nobody).
pub const MAX_WINDOWS: usize = 16;

/// Windows smaller than this (either way) are not offered: docks, tray icons, handles.
#[cfg(target_os = "linux")]
const SMALLEST: u32 = 64;

/// One picture of `target`, as sharing it would send now (at most 1920x1080). None for the
/// portal: taking one would ask the person, with the desktop's dialog, before they chose to
/// share.
pub fn thumbnail(target: &ScreenTarget) -> Result<VideoFrame, MediaError> {
    if target.through_portal() {
        return Err(MediaError::Screen {
            what: target.to_string(),
            reason: "the desktop shows its own pictures when asked".into(),
        });
    }
    ScreenSource::open(target, 1)?.read()
}

/// What can be shared: in a Wayland session the desktop's dialog, else the X display and
/// its windows.
#[cfg(target_os = "linux")]
pub fn shareable() -> Result<Vec<Shareable>, MediaError> {
    if in_wayland_session() {
        return Ok(vec![Shareable {
            target: ScreenTarget::Portal,
            name: "A screen or window (the desktop asks which)".into(),
            width: 0,
            height: 0,
        }]);
    }
    x11::shareable()
}

#[cfg(target_os = "linux")]
mod x11 {
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{AtomEnum, ConnectionExt, MapState, Window};
    use x11rb::rust_connection::RustConnection;

    use super::*;

    /// The display in `$DISPLAY` ("Entire screen"), then its named windows on view, in the
    /// window manager's order (`_NET_CLIENT_LIST`) or, without one, the stacking order.
    pub(super) fn shareable() -> Result<Vec<Shareable>, MediaError> {
        let shown = std::env::var("DISPLAY").unwrap_or_else(|_| "(no $DISPLAY)".into());
        let failed = |reason: String| MediaError::Screen {
            what: shown.clone(),
            reason,
        };
        let x = |e: &dyn std::fmt::Display| failed(format!("the display went away: {e}"));
        let (conn, screen) = RustConnection::connect(None)
            .map_err(|e| failed(format!("cannot connect to the X display: {e}")))?;
        let root = conn
            .setup()
            .roots
            .get(screen)
            .ok_or_else(|| failed(format!("the display has no screen {screen}")))?;
        let mut found = vec![Shareable {
            target: ScreenTarget::Display(None),
            name: "Entire screen".into(),
            width: u32::from(root.width_in_pixels),
            height: u32::from(root.height_in_pixels),
        }];
        let atom = |name: &[u8]| -> Result<u32, MediaError> {
            Ok(conn
                .intern_atom(false, name)
                .map_err(|e| x(&e))?
                .reply()
                .map_err(|e| x(&e))?
                .atom)
        };
        let (client_list, net_name, utf8) = (
            atom(b"_NET_CLIENT_LIST")?,
            atom(b"_NET_WM_NAME")?,
            atom(b"UTF8_STRING")?,
        );
        let listed: Vec<Window> = conn
            .get_property(false, root.root, client_list, AtomEnum::WINDOW, 0, 4096)
            .map_err(|e| x(&e))?
            .reply()
            .ok()
            .and_then(|p| p.value32().map(Iterator::collect))
            .unwrap_or_default();
        let windows = if listed.is_empty() {
            conn.query_tree(root.root)
                .map_err(|e| x(&e))?
                .reply()
                .map_err(|e| x(&e))?
                .children
        } else {
            listed
        };
        let text = |window: Window, property: u32, kind: u32| -> Option<String> {
            let reply = conn
                .get_property(false, window, property, kind, 0, 256)
                .ok()?
                .reply()
                .ok()?;
            let name = String::from_utf8_lossy(&reply.value).trim().to_owned();
            (!name.is_empty()).then_some(name)
        };
        for window in windows {
            if found.len() > MAX_WINDOWS {
                break;
            }
            // Menus and tooltips (override-redirect) and hidden windows are not offered.
            let Some(attributes) = conn
                .get_window_attributes(window)
                .ok()
                .and_then(|c| c.reply().ok())
            else {
                continue;
            };
            if attributes.override_redirect || attributes.map_state != MapState::VIEWABLE {
                continue;
            }
            let Some(geometry) = conn.get_geometry(window).ok().and_then(|c| c.reply().ok()) else {
                continue;
            };
            let (width, height) = (u32::from(geometry.width), u32::from(geometry.height));
            if width < SMALLEST || height < SMALLEST {
                continue;
            }
            let name = text(window, net_name, utf8)
                .or_else(|| text(window, AtomEnum::WM_NAME.into(), AtomEnum::STRING.into()));
            let Some(name) = name else { continue };
            found.push(Shareable {
                target: ScreenTarget::window(window),
                name: name.chars().take(200).collect(),
                width,
                height,
            });
        }
        Ok(found)
    }
}

/// Where there is no capture yet: listing says so.
#[cfg(not(target_os = "linux"))]
pub fn shareable() -> Result<Vec<Shareable>, MediaError> {
    Err(MediaError::Screen {
        what: "the screen".into(),
        reason: "screen sharing is built only for Linux (X11 and Wayland) so far".into(),
    })
}
