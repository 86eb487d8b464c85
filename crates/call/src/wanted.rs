//! How much of our camera each peer takes, from the size it shows it at: a peer that shows
//! us in a small tile (at most half our picture each way) gets half the frame rate — layer 0
//! of two temporal layers, which the encoder makes only while someone takes it — and one
//! that does not show us at all (`0x0`: a headless peer, a hidden tile) gets no video.
//! Sans IO: sizes in, decisions out (`send.rs` and the session act on them).

use std::sync::atomic::{AtomicU32, Ordering};

/// What a peer takes of our camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Every picture.
    All,
    /// Temporal layer 0 only: half the frame rate.
    HalfRate,
    /// Nothing.
    Nothing,
}

/// What a peer showing our camera at `shown` (device pixels) takes of pictures `sent` big.
pub fn take(shown: (u32, u32), sent: (u32, u32)) -> Take {
    match shown {
        (0, _) | (_, 0) => Take::Nothing,
        (w, h) if w.saturating_mul(2) <= sent.0 && h.saturating_mul(2) <= sent.1 => Take::HalfRate,
        _ => Take::All,
    }
}

/// The size a peer says it shows our camera at (`Signal::VideoWanted`), shared with the task
/// that sends it our video. Until it says, it takes everything.
#[derive(Debug)]
pub struct Shown {
    width: AtomicU32,
    height: AtomicU32,
}

impl Default for Shown {
    fn default() -> Self {
        Self {
            width: AtomicU32::new(u32::MAX),
            height: AtomicU32::new(u32::MAX),
        }
    }
}

impl Shown {
    pub fn set(&self, width: u32, height: u32) {
        self.width.store(width, Ordering::Relaxed);
        self.height.store(height, Ordering::Relaxed);
    }

    pub fn get(&self) -> (u32, u32) {
        (
            self.width.load(Ordering::Relaxed),
            self.height.load(Ordering::Relaxed),
        )
    }
}

/// The sizes we show each peer's camera at, told to them at most every tick and only when
/// changed (a window dragged bigger would otherwise send a signal per step).
#[derive(Debug, Default)]
pub struct Showing {
    /// What to tell, not yet told.
    pending: std::collections::HashMap<String, (u32, u32)>,
    /// What each peer was last told.
    told: std::collections::HashMap<String, (u32, u32)>,
}

impl Showing {
    /// We show `peer`'s camera at `size` now.
    pub fn shown(&mut self, peer: &str, size: (u32, u32)) {
        if self.told.get(peer) == Some(&size) {
            self.pending.remove(peer);
        } else {
            self.pending.insert(peer.to_owned(), size);
        }
    }

    /// What to tell now (each peer at most once a tick).
    pub fn due(&mut self) -> Vec<(String, (u32, u32))> {
        let due: Vec<_> = self.pending.drain().collect();
        for (peer, size) in &due {
            self.told.insert(peer.clone(), *size);
        }
        due
    }

    /// What `peer` was told, to tell it again on a new connection.
    pub fn told(&self, peer: &str) -> Option<(u32, u32)> {
        self.told.get(peer).copied()
    }

    pub fn forget(&mut self, peer: &str) {
        self.pending.remove(peer);
        self.told.remove(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_tile_takes_half_the_rate_and_none_takes_nothing() {
        let sent = (640, 360);
        assert_eq!(take((1060, 596), sent), Take::All);
        assert_eq!(take((640, 360), sent), Take::All);
        assert_eq!(take((400, 225), sent), Take::All);
        assert_eq!(take((320, 180), sent), Take::HalfRate);
        assert_eq!(take((200, 112), sent), Take::HalfRate);
        assert_eq!(take((0, 0), sent), Take::Nothing);
        // Until a peer says, it takes everything.
        assert_eq!(take(Shown::default().get(), sent), Take::All);
    }

    #[test]
    fn sizes_are_told_once_a_tick_and_only_when_changed() {
        let mut showing = Showing::default();
        showing.shown("ada", (320, 180));
        showing.shown("ada", (330, 186));
        showing.shown("bo", (640, 360));
        let mut due = showing.due();
        due.sort();
        assert_eq!(
            due,
            [
                ("ada".to_owned(), (330, 186)),
                ("bo".to_owned(), (640, 360))
            ]
        );
        assert!(showing.due().is_empty());
        showing.shown("ada", (330, 186));
        assert!(showing.due().is_empty(), "unchanged: nothing to tell");
        showing.shown("ada", (100, 56));
        showing.shown("ada", (330, 186));
        assert!(
            showing.due().is_empty(),
            "back where it was: nothing to tell"
        );
        assert_eq!(showing.told("ada"), Some((330, 186)));
        showing.forget("ada");
        assert_eq!(showing.told("ada"), None);
    }
}
