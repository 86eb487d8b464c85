//! Lip sync in the app: a remote picture waits until the engine's `show_at` (the audio
//! captured with it waits in the jitter buffer and the speaker's queue as long), then goes
//! to its tile. Decides only: the session's event loop passes the time in and sleeps until
//! [`HeldPictures::next_due`].

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use tincan_media::VideoFrame;

/// The longest a picture is held, whatever `show_at` says: beyond this the audio is so far
/// behind that a frozen picture would be worse than a late-synced one.
pub const MAX_HOLD: Duration = Duration::from_millis(400);

/// Pictures held per tile at most (a second at 30 fps); beyond it the oldest goes at once.
pub const MAX_HELD_PER_TILE: usize = 30;

#[derive(Default)]
pub struct HeldPictures {
    tiles: HashMap<String, VecDeque<(Instant, VideoFrame)>>,
}

impl HeldPictures {
    /// A picture for `tile` to show at `show_at`. What is to be shown now comes back: this
    /// one if its time has come and nothing of its tile waits before it, or an older one
    /// pushed out by the bound.
    pub fn hold(
        &mut self,
        tile: &str,
        frame: VideoFrame,
        show_at: Instant,
        now: Instant,
    ) -> Vec<VideoFrame> {
        let queue = self.tiles.entry(tile.to_owned()).or_default();
        if show_at <= now && queue.is_empty() {
            return vec![frame];
        }
        queue.push_back((show_at.min(now + MAX_HOLD), frame));
        let mut out = Vec::new();
        while queue.len() > MAX_HELD_PER_TILE {
            out.extend(queue.pop_front().map(|(_, f)| f));
        }
        out
    }

    /// The pictures whose time has come, in order per tile.
    pub fn due(&mut self, now: Instant) -> Vec<(String, VideoFrame)> {
        let mut out = Vec::new();
        for (tile, queue) in &mut self.tiles {
            // In arrival order: a picture never overtakes an older one of its tile.
            while queue.front().is_some_and(|(at, _)| *at <= now) {
                if let Some((_, frame)) = queue.pop_front() {
                    out.push((tile.clone(), frame));
                }
            }
        }
        self.tiles.retain(|_, queue| !queue.is_empty());
        out
    }

    /// When the next picture is due, if any waits.
    pub fn next_due(&self) -> Option<Instant> {
        self.tiles
            .values()
            .filter_map(|queue| queue.front().map(|(at, _)| *at))
            .min()
    }

    /// The tile went away (its peer left, its share ended): its pictures with it.
    pub fn forget(&mut self, tile: &str) {
        self.tiles.remove(tile);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(width: u32) -> VideoFrame {
        VideoFrame::black(width, 16).unwrap()
    }

    fn widths(frames: &[(String, VideoFrame)]) -> Vec<(&str, u32)> {
        frames
            .iter()
            .map(|(t, f)| (t.as_str(), f.width()))
            .collect()
    }

    #[test]
    fn pictures_wait_for_their_time_in_order() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut held = HeldPictures::default();
        // Due already, nothing before it: shown at once.
        assert_eq!(held.hold("a", picture(16), t0, t0).len(), 1);
        assert!(held.hold("a", picture(32), t0 + ms(60), t0).is_empty());
        assert!(held.hold("b", picture(48), t0 + ms(40), t0).is_empty());
        // Its time passed already, but an older picture of its tile waits: it waits behind.
        assert!(held
            .hold("a", picture(64), t0 + ms(10), t0 + ms(5))
            .is_empty());
        assert_eq!(held.next_due(), Some(t0 + ms(40)));
        assert!(held.due(t0 + ms(39)).is_empty());
        assert_eq!(widths(&held.due(t0 + ms(40))), [("b", 48)]);
        assert_eq!(held.next_due(), Some(t0 + ms(60)));
        assert_eq!(widths(&held.due(t0 + ms(61))), [("a", 32), ("a", 64)]);
        assert_eq!(held.next_due(), None);
    }

    #[test]
    fn holding_is_bounded_in_time_and_count() {
        let t0 = Instant::now();
        let mut held = HeldPictures::default();
        assert!(held
            .hold("a", picture(16), t0 + Duration::from_secs(5), t0)
            .is_empty());
        assert_eq!(held.next_due(), Some(t0 + MAX_HOLD));
        let mut pushed_out = Vec::new();
        for i in 0..MAX_HELD_PER_TILE as u32 {
            pushed_out.extend(held.hold("a", picture(32 + 2 * i), t0 + MAX_HOLD, t0));
        }
        assert_eq!(pushed_out.len(), 1);
        assert_eq!(pushed_out[0].width(), 16, "the oldest goes first");
        held.forget("a");
        assert_eq!(held.next_due(), None);
    }
}
