//! Our screen share as the session sees it: telling the peers when it starts and stops
//! (`Signal::Sharing`), ending it when its window goes, hearing theirs, and splitting the
//! video bitrate between the camera and the share.

use std::sync::atomic::Ordering;

use tincan_protocol::{PeerId, Signal};

use super::{Session, MIN_VIDEO_KBPS};
use crate::events::CallEvent;

/// While we share, the camera keeps at least this much (kbit/s) when the network is short;
/// the rest goes to the share first: text must stay readable, a face can be small.
const CAMERA_WHILE_SHARING_KBPS: u32 = 150;

/// The share's part of the video bitrate: `Some(most it may send)` while sharing.
pub(super) type SharePlan = Option<u32>;

/// Splits `budget` kbit/s of video into the camera's and the share's parts. Without a share
/// the camera has it all (up to what was asked); with one, the share takes what it can use
/// but leaves the camera [`CAMERA_WHILE_SHARING_KBPS`], and neither goes below the floor.
pub(super) fn split_video(budget: u32, camera_asked: u32, share: SharePlan) -> (u32, u32) {
    let Some(share_asked) = share else {
        return (budget.min(camera_asked), 0);
    };
    let share = budget
        .saturating_sub(CAMERA_WHILE_SHARING_KBPS.min(camera_asked))
        .clamp(MIN_VIDEO_KBPS.min(share_asked), share_asked);
    let camera = budget
        .saturating_sub(share)
        .clamp(MIN_VIDEO_KBPS.min(camera_asked), camera_asked);
    (camera, share)
}

impl Session {
    pub(super) fn share_plan(&self) -> SharePlan {
        self.sharing.then_some(self.share_kbps)
    }

    /// What all our video may use at most: the camera's ask, and the share's while sharing.
    pub(super) fn video_asked_kbps(&self) -> u32 {
        self.video_kbps + self.share_plan().unwrap_or(0)
    }

    /// We started or stopped sharing: every peer hears it.
    pub(super) async fn set_sharing(&mut self, on: bool) {
        if self.sharing == on {
            return;
        }
        if on {
            if let Err(e) = self.media.start_share() {
                self.emit(CallEvent::Error {
                    message: format!("the screen cannot be shared: {e}"),
                })
                .await;
                return;
            }
        }
        self.sharing = on;
        tracing::info!(on, "screen share");
        let ids: Vec<PeerId> = self.peers.keys().cloned().collect();
        for id in ids {
            self.tell_sharing(id, on).await;
        }
        self.follow_estimates();
    }

    /// A shared window that closed (its capture failed) ends the share.
    pub(super) async fn end_a_lost_share(&mut self) {
        if self
            .media
            .share_controls
            .source_lost
            .swap(false, Ordering::Relaxed)
        {
            self.set_sharing(false).await;
        }
    }

    /// Every description we send is followed by whether we share, so a peer that starts
    /// over (a new connection, a restart) hears it again.
    pub(super) async fn tell_sharing_if_on(&self, to: PeerId) {
        if self.sharing {
            self.tell_sharing(to, true).await;
        }
    }

    async fn tell_sharing(&self, to: PeerId, on: bool) {
        if let Err(e) = self.signaling.send_signal(to, Signal::Sharing { on }).await {
            tracing::debug!(error = %e, "could not tell a peer about our share");
        }
    }

    /// A peer says it started or stopped sharing: the app shows or hides its share.
    pub(super) async fn on_remote_sharing(&mut self, from: PeerId, on: bool) {
        let Some(peer) = self.peers.get_mut(&from) else {
            return;
        };
        if peer.share.remote_on == on {
            return;
        }
        peer.share.remote_on = on;
        self.emit(CallEvent::Sharing { peer: from, on }).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_share_the_camera_has_the_budget() {
        assert_eq!(split_video(600, 800, None), (600, 0));
        assert_eq!(split_video(2000, 800, None), (800, 0));
    }

    #[test]
    fn a_share_goes_first_but_leaves_the_camera_something() {
        // Plenty: both get what they asked.
        assert_eq!(split_video(2000, 800, Some(1200)), (800, 1200));
        // Short: the share keeps its ask, the camera has the rest.
        assert_eq!(split_video(1500, 800, Some(1200)), (300, 1200));
        // Very short: the camera keeps its 150, the share the rest.
        assert_eq!(split_video(700, 800, Some(1200)), (150, 550));
        // Starved: both at the floor.
        assert_eq!(
            split_video(60, 800, Some(1200)),
            (MIN_VIDEO_KBPS, MIN_VIDEO_KBPS)
        );
    }
}
