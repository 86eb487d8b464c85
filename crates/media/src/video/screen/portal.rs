//! Sharing through the desktop's ScreenCast portal (`org.freedesktop.portal.ScreenCast`,
//! xdg-desktop-portal), as a Wayland session does: the desktop asks the person what to share
//! in a dialog of its own, then hands over a PipeWire connection that carries the pictures.
//!
//! The portal is reached with `ashpd` (D-Bus through zbus, run on zbus's own executor: no
//! tokio runtime is needed or nested), the pictures with `pipewire` on a thread of their own.
//! That thread keeps the latest picture; [`PortalSource::read`] converts it to I420 when the
//! encoder asks (a still screen sends no new pictures, and the last one is sent again). The
//! share ends when the desktop ends it (its "stop sharing", the window closing, PipeWire
//! going away): `read` then fails, and the call ends the share as for a closed X window.

use std::os::fd::OwnedFd;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ashpd::desktop::screencast::{CursorMode, Screencast, SelectSourcesOptions, SourceType};
use ashpd::desktop::{PersistMode, ResponseError, Session};
use pipewire as pw;
use pw::spa;
use spa::param::video::{VideoFormat as PwFormat, VideoInfoRaw};

use crate::now_us;
use crate::video::convert::{bgrx_to_i420, rgbx_to_i420};
use crate::{MediaError, VideoFrame};

/// How long the first picture may take once the person has picked what to share.
const FIRST_PICTURE: Duration = Duration::from_secs(10);

/// What the portal path is called in errors.
const WHAT: &str = "the screen (desktop portal)";

fn failed(reason: impl Into<String>) -> MediaError {
    MediaError::Screen {
        what: WHAT.into(),
        reason: reason.into(),
    }
}

/// What the PipeWire thread leaves for `read`.
#[derive(Default)]
struct Latest {
    picture: Option<Picture>,
    /// Why the share ended, once it has.
    ended: Option<String>,
}

/// One picture as PipeWire delivered it, rows packed (4 bytes a pixel, no padding).
struct Picture {
    bytes: Vec<u8>,
    width: u32,
    height: u32,
    /// Blue first (BGRx, BGRA) or red first (RGBx, RGBA).
    blue_first: bool,
    capture_us: u64,
}

#[derive(Default)]
struct Shared {
    latest: Mutex<Latest>,
    changed: Condvar,
}

impl Shared {
    fn end(&self, why: String) {
        let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        latest.ended.get_or_insert(why);
        self.changed.notify_all();
    }
}

/// A screen or window the person picked in the desktop's dialog.
pub struct PortalSource {
    /// The first picture's size.
    size: (u32, u32),
    shared: Arc<Shared>,
    stop: Option<pw::channel::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// The portal session, closed when the share stops.
    session: Option<(Screencast, Session<Screencast>)>,
}

impl PortalSource {
    /// Asks the desktop what to share (its dialog), then waits for the first picture.
    pub fn open(fps: u32) -> Result<Self, MediaError> {
        let fps = fps.max(1);
        let (proxy, session, node, fd) = zbus::block_on(ask_the_desktop())?;
        let shared = Arc::new(Shared::default());
        let (stop, stopped) = pw::channel::channel();
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("tincan-screencast".into())
                .spawn(move || {
                    let why = match receive(fd, node, fps, &shared, stopped) {
                        Ok(()) => "the share was stopped".to_owned(),
                        Err(e) => format!("PipeWire failed: {e}"),
                    };
                    shared.end(why);
                })
                .map_err(|e| failed(format!("cannot start its thread: {e}")))?
        };
        let mut source = Self {
            size: (2, 2),
            shared,
            stop: Some(stop),
            thread: Some(thread),
            session: Some((proxy, session)),
        };
        source.size = source.first_picture()?;
        Ok(source)
    }

    /// The size of the first picture (later ones may differ: a window resized).
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// The latest picture, at its own size; an error once the share has ended.
    pub fn grab(&mut self) -> Result<VideoFrame, MediaError> {
        let latest = self.shared.latest.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(why) = &latest.ended {
            return Err(failed(why.clone()));
        }
        let p = latest
            .picture
            .as_ref()
            .ok_or_else(|| failed("no picture yet"))?;
        let convert = if p.blue_first {
            bgrx_to_i420
        } else {
            rgbx_to_i420
        };
        convert(&p.bytes, p.width & !1, p.height & !1, p.capture_us)
    }

    /// The size of the first picture, once it has come.
    fn first_picture(&self) -> Result<(u32, u32), MediaError> {
        let latest = self.shared.latest.lock().unwrap_or_else(|p| p.into_inner());
        let (latest, timeout) = self
            .shared
            .changed
            .wait_timeout_while(latest, FIRST_PICTURE, |l| {
                l.picture.is_none() && l.ended.is_none()
            })
            .unwrap_or_else(|p| p.into_inner());
        if let Some(why) = &latest.ended {
            return Err(failed(why.clone()));
        }
        match &latest.picture {
            Some(p) => Ok((p.width, p.height)),
            None if timeout.timed_out() => Err(failed(format!(
                "the desktop sent no picture within {} s",
                FIRST_PICTURE.as_secs()
            ))),
            None => Err(failed("the desktop sent no picture")),
        }
    }
}

impl Drop for PortalSource {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some((_proxy, session)) = self.session.take() {
            // The desktop also ends it when our D-Bus connection goes.
            let _ = zbus::block_on(session.close());
        }
    }
}

/// The portal's conversation: a session, what to share (the desktop's dialog), start, and
/// the PipeWire connection. Returns the PipeWire node of the one stream picked.
async fn ask_the_desktop() -> Result<(Screencast, Session<Screencast>, u32, OwnedFd), MediaError> {
    let portal_error = |e: ashpd::Error| match e {
        ashpd::Error::Response(ResponseError::Cancelled) => {
            failed("the desktop's dialog was closed without picking a screen or window")
        }
        ashpd::Error::PortalNotFound(_) => failed(
            "this desktop has no ScreenCast portal (install xdg-desktop-portal and the \
             desktop's own backend: -gnome, -kde or -wlr)",
        ),
        ashpd::Error::Zbus(e) => failed(format!(
            "cannot reach the desktop portal over D-Bus ({e}); is this a desktop session?"
        )),
        e => failed(format!("the desktop portal refused: {e}")),
    };
    let proxy = Screencast::new().await.map_err(portal_error)?;
    let cursor = match proxy.available_cursor_modes().await {
        Ok(modes) if modes.contains(CursorMode::Embedded) => CursorMode::Embedded,
        _ => CursorMode::Hidden,
    };
    let session = proxy
        .create_session(Default::default())
        .await
        .map_err(portal_error)?;
    proxy
        .select_sources(
            &session,
            SelectSourcesOptions::default()
                .set_cursor_mode(cursor)
                .set_sources(SourceType::Monitor | SourceType::Window)
                .set_multiple(false)
                .set_persist_mode(PersistMode::DoNot),
        )
        .await
        .map_err(portal_error)?
        .response()
        .map_err(portal_error)?;
    let streams = proxy
        .start(&session, None, Default::default())
        .await
        .map_err(portal_error)?
        .response()
        .map_err(portal_error)?;
    let node = streams
        .streams()
        .first()
        .map(|s| s.pipe_wire_node_id())
        .ok_or_else(|| failed("the desktop started a share of nothing"))?;
    let fd = proxy
        .open_pipe_wire_remote(&session, Default::default())
        .await
        .map_err(portal_error)?;
    Ok((proxy, session, node, fd))
}

/// Runs on the PipeWire thread until `stopped` says stop or the stream ends: connects to
/// `node` through the portal's `fd` and keeps each picture in `shared`.
fn receive(
    fd: OwnedFd,
    node: u32,
    fps: u32,
    shared: &Arc<Shared>,
    stopped: pw::channel::Receiver<()>,
) -> Result<(), pw::Error> {
    pw::init();
    let main_loop = pw::main_loop::MainLoopRc::new(None)?;
    let context = pw::context::ContextBox::new(main_loop.loop_(), None)?;
    let core = context.connect_fd(fd, None)?;
    let stream = pw::stream::StreamBox::new(
        &core,
        "tincan-screen-share",
        pw::properties::properties! {
            *pw::keys::MEDIA_TYPE => "Video",
            *pw::keys::MEDIA_CATEGORY => "Capture",
            *pw::keys::MEDIA_ROLE => "Screen",
        },
    )?;
    let ended = shared.clone();
    let quit = main_loop.clone();
    let got = shared.clone();
    let _listener = stream
        .add_local_listener_with_user_data(VideoInfoRaw::default())
        .state_changed(move |_, _, old, new| {
            use pw::stream::StreamState::{Error, Unconnected};
            let why = match (&old, &new) {
                (_, Error(e)) => format!("the desktop's stream failed: {e}"),
                (Unconnected, Unconnected) => return,
                (_, Unconnected) => "the desktop ended the share".to_owned(),
                _ => return,
            };
            ended.end(why);
            quit.quit();
        })
        .param_changed(|_, format, id, param| {
            if id != spa::param::ParamType::Format.as_raw() {
                return;
            }
            if let Some(param) = param {
                let _ = format.parse(param);
            }
        })
        .process(move |stream, format| {
            let Some(mut buffer) = stream.dequeue_buffer() else {
                return;
            };
            let blue_first = match format.format() {
                PwFormat::BGRx | PwFormat::BGRA => true,
                PwFormat::RGBx | PwFormat::RGBA => false,
                _ => return,
            };
            let size = format.size();
            let Some(data) = buffer.datas_mut().first_mut() else {
                return;
            };
            let (offset, stride) = (data.chunk().offset() as usize, data.chunk().stride());
            let Some(bytes) = data.data() else { return };
            keep(
                &got,
                bytes,
                offset,
                usize::try_from(stride).unwrap_or(0),
                (size.width, size.height),
                blue_first,
            );
        })
        .register()?;

    let wanted = formats_wanted(fps);
    let mut params = [spa::pod::Pod::from_bytes(&wanted).ok_or(pw::Error::CreationFailed)?];
    stream.connect(
        spa::utils::Direction::Input,
        Some(node),
        pw::stream::StreamFlags::AUTOCONNECT | pw::stream::StreamFlags::MAP_BUFFERS,
        &mut params,
    )?;
    // The desktop removes the stream's node when the share ends on its side (the window
    // closed, its own "stop sharing"); the stream itself only pauses.
    let registry = core.get_registry()?;
    let (gone, quit) = (shared.clone(), main_loop.clone());
    let _watch = registry
        .add_listener_local()
        .global_remove(move |id| {
            if id == node {
                gone.end("the desktop ended the share".into());
                quit.quit();
            }
        })
        .register();
    let quit = main_loop.clone();
    let _stopper = stopped.attach(main_loop.loop_(), move |()| quit.quit());
    main_loop.run();
    let _ = stream.disconnect();
    Ok(())
}

/// Keeps one picture (rows of `stride` bytes from `offset`, `width`×`height` at 4 bytes a
/// pixel) as the latest, in place of the one before. Pictures that do not fit their buffer
/// are skipped: the producer is another process.
fn keep(
    shared: &Shared,
    bytes: &[u8],
    offset: usize,
    stride: usize,
    (width, height): (u32, u32),
    blue_first: bool,
) {
    let row = width as usize * 4;
    let stride = if stride == 0 { row } else { stride };
    let need = offset + stride * (height as usize).saturating_sub(1) + row;
    if width < 2 || height < 2 || stride < row || bytes.len() < need {
        return;
    }
    let mut latest = shared.latest.lock().unwrap_or_else(|p| p.into_inner());
    let picture = latest.picture.get_or_insert_with(|| Picture {
        bytes: Vec::new(),
        width,
        height,
        blue_first,
        capture_us: 0,
    });
    picture.bytes.clear();
    for y in 0..height as usize {
        let start = offset + y * stride;
        picture.bytes.extend_from_slice(&bytes[start..start + row]);
    }
    picture.width = width;
    picture.height = height;
    picture.blue_first = blue_first;
    picture.capture_us = now_us();
    shared.changed.notify_all();
}

/// The formats asked of the desktop: 32-bit RGB in either order, any size, best at `fps`.
fn formats_wanted(fps: u32) -> Vec<u8> {
    use spa::param::format::{FormatProperties, MediaSubtype, MediaType};
    use spa::pod::{property, serialize::PodSerializer, Value};
    use spa::utils::{Fraction, Rectangle, SpaTypes};
    let object = spa::pod::object!(
        SpaTypes::ObjectParamFormat,
        spa::param::ParamType::EnumFormat,
        property!(FormatProperties::MediaType, Id, MediaType::Video),
        property!(FormatProperties::MediaSubtype, Id, MediaSubtype::Raw),
        property!(
            FormatProperties::VideoFormat,
            Choice,
            Enum,
            Id,
            PwFormat::BGRx,
            PwFormat::BGRx,
            PwFormat::BGRA,
            PwFormat::RGBx,
            PwFormat::RGBA
        ),
        property!(
            FormatProperties::VideoSize,
            Choice,
            Range,
            Rectangle,
            Rectangle {
                width: 1920,
                height: 1080
            },
            Rectangle {
                width: 2,
                height: 2
            },
            Rectangle {
                width: 8192,
                height: 8192
            }
        ),
        property!(
            FormatProperties::VideoFramerate,
            Choice,
            Range,
            Fraction,
            Fraction { num: fps, denom: 1 },
            Fraction { num: 0, denom: 1 },
            // A desktop may offer only its display's rate: any is taken (read paces).
            Fraction {
                num: 1000,
                denom: 1
            }
        ),
    );
    PodSerializer::serialize(std::io::Cursor::new(Vec::new()), &Value::Object(object))
        .map(|(cursor, _)| cursor.into_inner())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_picture_is_kept_without_its_row_padding_and_bad_ones_are_skipped() {
        let shared = Shared::default();
        // 2x2 pixels, rows of 12 bytes (4 of padding), from offset 3.
        let mut bytes = vec![0u8; 3 + 12 + 8];
        bytes[3..11].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        bytes[15..23].copy_from_slice(&[9, 10, 11, 12, 13, 14, 15, 16]);
        keep(&shared, &bytes, 3, 12, (2, 2), true);
        {
            let latest = shared.latest.lock().unwrap();
            let p = latest.picture.as_ref().expect("kept");
            assert_eq!(p.bytes, (1..=16).collect::<Vec<u8>>());
            assert!(p.blue_first);
        }
        // Too short for its size: the one before stays.
        keep(&shared, &bytes[..20], 3, 12, (2, 2), false);
        let latest = shared.latest.lock().unwrap();
        assert!(latest.picture.as_ref().unwrap().blue_first);
    }

    #[test]
    fn the_formats_asked_for_are_a_valid_pod() {
        let bytes = formats_wanted(15);
        assert!(spa::pod::Pod::from_bytes(&bytes).is_some());
    }
}
