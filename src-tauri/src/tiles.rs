//! Pictures to the page, per tile (a remote peer, or "self"): by the frame socket
//! ([`crate::frame_socket`], the default) or a binary Tauri channel (when the socket cannot be
//! used). Neither has backpressure of its own (docs/traps.md, trap 6: sending faster than the
//! page draws grew the app to 3.4 GiB in 10 s), so each tile has at most [`IN_FLIGHT`] (three)
//! pictures in flight: the page says when it has drawn one ([`Tiles::shown`]), and pictures
//! arriving meanwhile replace each other — the page always gets the newest. Pictures larger than the tile are scaled down to
//! fit it (the page shows them whole, `object-fit: contain`): fewer bytes through the webview
//! and fewer pixels for its GL to upload, draw and composite (BENCHMARKS.md, "Desktop app").
//!
//! Wire format (little-endian): width u32, height u32, then the I420 planes.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;
use tauri::ipc::{Channel, InvokeResponseBody};
use tincan_media::video::scale::Scaler;
use tincan_media::VideoFrame;

/// Per tile, what went to the page: a benchmark reads these.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct TileCounts {
    pub sent: u64,
    /// Replaced by a newer picture before the page was ready for it.
    pub skipped: u64,
}

/// How a tile's pictures reach the page.
pub enum Sink {
    /// A binary Tauri channel, through the webview's IPC.
    Channel(Channel<InvokeResponseBody>),
    /// A WebSocket on 127.0.0.1 ([`crate::frame_socket`]); its connection sends them.
    Socket(tokio::sync::mpsc::UnboundedSender<Vec<u8>>),
}

impl Sink {
    /// False when the page is gone (reloaded, or the tile was watched anew).
    fn send(&self, message: Vec<u8>) -> bool {
        match self {
            Sink::Channel(c) => c.send(InvokeResponseBody::Raw(message)).is_ok(),
            Sink::Socket(s) => s.send(message).is_ok(),
        }
    }
}

struct Tile {
    sink: Sink,
    /// The size the page shows this tile at, in device pixels.
    shown_size: (u32, u32),
    /// Sent and not yet drawn.
    in_flight: u32,
    waiting: Option<VideoFrame>,
    counts: TileCounts,
    scaler: Scaler,
}

/// Pictures a tile may have on their way to the page. One would leave the pipe empty while
/// the page acknowledges (a round trip per picture held 720p to 15 drawn a second); a few
/// keep it full and still bound memory to a few pictures per tile.
pub(crate) const IN_FLIGHT: u32 = 3;

#[derive(Default)]
pub struct Tiles {
    tiles: Mutex<HashMap<String, Tile>>,
}

impl Tiles {
    /// The page wants `tile`'s pictures through `sink` (replacing an earlier one).
    pub fn watch(&self, tile: &str, sink: Sink, width: u32, height: u32) {
        let mut tiles = self.lock();
        tiles.insert(
            tile.to_owned(),
            Tile {
                sink,
                shown_size: (width.max(1), height.max(1)),
                in_flight: 0,
                waiting: None,
                counts: TileCounts::default(),
                scaler: Scaler::default(),
            },
        );
    }

    /// The tile is shown at a new size (the window or layout changed).
    pub fn resize(&self, tile: &str, width: u32, height: u32) {
        if let Some(t) = self.lock().get_mut(tile) {
            t.shown_size = (width.max(1), height.max(1));
        }
    }

    pub fn forget(&self, tile: &str) {
        self.lock().remove(tile);
    }

    /// A new picture for `tile`: sent now if the page is ready, else kept as the next one.
    /// Pictures for tiles the page does not show are dropped.
    pub fn offer(&self, tile: &str, frame: VideoFrame) {
        let mut tiles = self.lock();
        let Some(t) = tiles.get_mut(tile) else {
            return;
        };
        if t.in_flight >= IN_FLIGHT {
            if t.waiting.replace(frame).is_some() {
                t.counts.skipped += 1;
            }
            return;
        }
        send(t, &frame);
    }

    /// The page drew `tile`'s last picture: send the one that waited, if any.
    pub fn shown(&self, tile: &str) {
        let mut tiles = self.lock();
        let Some(t) = tiles.get_mut(tile) else {
            return;
        };
        t.in_flight = t.in_flight.saturating_sub(1);
        if let Some(frame) = t.waiting.take() {
            send(t, &frame);
        }
    }

    pub fn counts(&self) -> HashMap<String, TileCounts> {
        self.lock()
            .iter()
            .map(|(id, t)| (id.clone(), t.counts))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Tile>> {
        self.tiles.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn send(t: &mut Tile, frame: &VideoFrame) {
    let message = encode(&mut t.scaler, frame, t.shown_size);
    // A closed channel (the page reloaded) is not an error: the page asks again.
    if t.sink.send(message) {
        t.in_flight += 1;
        t.counts.sent += 1;
    }
}

/// The wire form of `frame`, scaled down to fit inside `shown` if it is larger.
pub fn encode(scaler: &mut Scaler, frame: &VideoFrame, shown: (u32, u32)) -> Vec<u8> {
    let (width, height) = fitted_size((frame.width(), frame.height()), shown);
    let mut out = Vec::with_capacity(8 + VideoFrame::i420_len(width, height));
    if (width, height) != (frame.width(), frame.height()) {
        out.extend_from_slice(&width.to_le_bytes());
        out.extend_from_slice(&height.to_le_bytes());
        out.resize(8 + VideoFrame::i420_len(width, height), 0);
        match scaler.scale_into(frame, width, height, &mut out[8..]) {
            Ok(()) => return out,
            // Cannot happen for sizes fitted_size gives; the picture goes as it is.
            Err(e) => tracing::warn!("tile picture not scaled: {e}"),
        }
        out.clear();
    }
    out.extend_from_slice(&frame.width().to_le_bytes());
    out.extend_from_slice(&frame.height().to_le_bytes());
    out.extend_from_slice(frame.data());
    out
}

/// The largest even size with `picture`'s shape that fits inside `shown`; `picture` itself
/// when it already fits (pictures are never enlarged: the page's GL does that for free).
fn fitted_size(picture: (u32, u32), shown: (u32, u32)) -> (u32, u32) {
    let (w, h) = picture;
    let ratio = (f64::from(shown.0) / f64::from(w)).min(f64::from(shown.1) / f64::from(h));
    if ratio >= 1.0 {
        return picture;
    }
    let even = |x: f64| ((x as u32) & !1).max(2);
    (even(f64::from(w) * ratio), even(f64::from(h) * ratio))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(message: &[u8]) -> (u32, u32) {
        let w = u32::from_le_bytes(message[0..4].try_into().unwrap());
        let h = u32::from_le_bytes(message[4..8].try_into().unwrap());
        (w, h)
    }

    #[test]
    fn a_few_pictures_in_flight_per_tile_and_the_newest_waits() {
        use std::sync::{Arc, Mutex};
        let delivered: Arc<Mutex<Vec<u32>>> = Arc::default();
        let seen = Arc::clone(&delivered);
        let channel = Channel::new(move |body| {
            if let InvokeResponseBody::Raw(bytes) = body {
                seen.lock().unwrap().push(header(&bytes).0);
            }
            Ok(())
        });
        let tiles = Tiles::default();
        tiles.watch("peer", Sink::Channel(channel), 1280, 720);
        // Told apart by width; two more than may be in flight.
        let widths: Vec<u32> = (0..IN_FLIGHT + 2).map(|i| 64 + 16 * i).collect();
        for &width in &widths {
            tiles.offer("peer", VideoFrame::black(width, 32).unwrap());
        }
        tiles.offer("nobody", VideoFrame::black(16, 16).unwrap());
        let in_flight = IN_FLIGHT as usize;
        assert_eq!(*delivered.lock().unwrap(), widths[..in_flight]);
        tiles.shown("peer");
        // The newest went; the one before it was replaced while it waited.
        let mut expect = widths[..in_flight].to_vec();
        expect.push(widths[in_flight + 1]);
        assert_eq!(*delivered.lock().unwrap(), expect);
        for _ in 0..IN_FLIGHT {
            tiles.shown("peer");
        }
        assert_eq!(*delivered.lock().unwrap(), expect, "nothing more waited");
        assert_eq!(
            tiles.counts()["peer"],
            TileCounts {
                sent: IN_FLIGHT as u64 + 1,
                skipped: 1
            }
        );
        tiles.forget("peer");
        tiles.offer("peer", VideoFrame::black(64, 32).unwrap());
        assert_eq!(delivered.lock().unwrap().len(), in_flight + 1);
    }

    #[test]
    fn pictures_shrink_to_fit_the_tile_and_are_never_enlarged() {
        let frame = VideoFrame::black(1280, 720).unwrap();
        let mut scaler = Scaler::default();
        for (shown, expect) in [
            ((1280, 720), (1280, 720)),
            ((1920, 1080), (1280, 720)),
            ((1060, 596), (1058, 596)),
            ((640, 360), (640, 360)),
            // A tall tile: the width decides.
            ((320, 600), (320, 180)),
            // A wide one: the height does.
            ((1000, 90), (160, 90)),
            ((1, 1), (2, 2)),
        ] {
            let message = encode(&mut scaler, &frame, shown);
            assert_eq!(header(&message), expect, "shown at {shown:?}");
            assert_eq!(message.len(), 8 + VideoFrame::i420_len(expect.0, expect.1));
        }
    }
}
