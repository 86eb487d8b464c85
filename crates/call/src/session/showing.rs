//! Video sized to each receiver, as the session sees it: telling each peer how big we show
//! its camera (`Signal::VideoWanted`, coalesced to one signal a tick), and making our encoder
//! layer its pictures while some peer takes half the rate ([`crate::wanted`]).

use std::sync::atomic::Ordering;

use tincan_protocol::{PeerId, Signal};

use super::Session;
use crate::wanted::{take, Take};

impl Session {
    /// We show `peer`'s camera at `size` device pixels now (`0x0`: not at all).
    pub(super) fn show_video(&mut self, peer: &PeerId, size: (u32, u32)) {
        self.showing.shown(&peer.0, size);
    }

    /// Tells the peers the sizes that changed since the last tick, and layers our pictures if
    /// someone takes half of them.
    pub(super) async fn follow_sizes(&mut self) {
        for (peer, (width, height)) in self.showing.due() {
            self.tell_shown(PeerId(peer), width, height).await;
        }
        let sent = (
            self.media.controls.sent_width.load(Ordering::Relaxed),
            self.media.controls.sent_height.load(Ordering::Relaxed),
        );
        let layered = self
            .peers
            .values()
            .any(|p| take(p.shown.get(), sent) == Take::HalfRate);
        self.media
            .controls
            .temporal_layers
            .store(layered, Ordering::Relaxed);
    }

    /// A connection that starts (or starts over) hears the size again: the size we told the
    /// peer, else the one every peer is shown at (`CallOptions::show_video`).
    pub(super) async fn tell_shown_again(&self, to: PeerId) {
        if let Some((width, height)) = self.showing.told(&to.0).or(self.show_everyone) {
            self.tell_shown(to, width, height).await;
        }
    }

    async fn tell_shown(&self, to: PeerId, width: u32, height: u32) {
        if let Err(e) = self
            .signaling
            .send_signal(to, Signal::VideoWanted { width, height })
            .await
        {
            tracing::debug!(error = %e, "could not tell a peer how big we show it");
        }
    }
}
