//! Who is in the call and what to do about each of them, decided without sockets or clocks:
//! the session feeds in what the signaling server and the peer connections report (with the
//! time) and carries out the [`Step`]s that come back.
//!
//! The rules (docs/calls.md, "When things break"):
//! - The newcomer offers: someone already in the room when we join is offered to; someone who
//!   joins after us offers to us. A place taken back after a server restart counts as joining
//!   for anyone we have no connection to.
//! - The server going away ends nothing: media does not pass through it. When we are back in
//!   the room with the same place, anyone new is offered to, and any connection that went down
//!   meanwhile is set up afresh (the far end may have given up on it).
//! - Coming back as a new peer (the place was given up): every connection ends and starts again.
//! - A peer is gone when the server says so (`peer_left`), or as soon as both its connection to
//!   the server (`peer_away`) and its media are down: a crashed app, noticed in seconds.
//! - A media path that goes down is restarted (an ICE restart: new credentials, candidates
//!   gathered again) by the impolite side of the pair at once and every few seconds while it
//!   stays down; the polite side waits, and only joins in if it stays down long. When this
//!   machine's network changes, every path is restarted at once by us, whatever our side.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tincan_protocol::{PeerId, PeerInfo};

/// What a peer connection says about its media path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Media {
    /// Not connected yet.
    Connecting,
    Connected,
    /// Was connected (or tried), now disconnected or failed, since then.
    Down {
        since: Instant,
    },
}

/// What the session must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Set up a connection to this peer and send it an offer. `announce`: tell the app
    /// someone is there ([`crate::CallEvent::PeerJoined`]).
    Offer { peer: PeerInfo, announce: bool },
    /// Set up a connection to this peer and wait for its offer.
    Await { peer: PeerInfo, announce: bool },
    /// Close the connection and tell the app the peer left.
    Remove { peer: PeerId },
    /// Close the connection and set it up again with an offer: the far end may have lost its
    /// side of it.
    Redo { peer: PeerId },
    /// Restart ICE on the connection: a new offer with new credentials.
    RestartIce { peer: PeerId },
}

/// While a path stays down, the impolite side restarts it again this often.
const RESTART_EVERY: Duration = Duration::from_secs(4);

/// A path down this long gets restarts from the polite side too (the impolite one may have
/// lost its way to the server).
const POLITE_JOINS_AFTER: Duration = Duration::from_secs(6);

/// Peers whose offer came before the server announced them, at most at once: each costs a
/// peer connection, and only a broken or hostile server sends many.
const MAX_STRANGERS: usize = 4;

/// Peer connections at most (a mesh call of this many is past what any machine sends).
const MAX_PEERS: usize = 16;

#[derive(Debug)]
struct Entry {
    info: PeerInfo,
    media: Media,
    /// The server said its connection dropped, and it has not come back since.
    away: bool,
    /// When we last restarted its path, while it is down.
    restarted: Option<Instant>,
    /// It offered before the server announced it, and has not been announced since.
    stranger: bool,
}

/// Everyone we have (or are setting up) a connection with.
#[derive(Debug)]
pub(crate) struct Roster {
    /// Our id: of a pair, the peer with the smaller id is the polite one.
    me: PeerId,
    peers: BTreeMap<PeerId, Entry>,
}

impl Roster {
    pub fn new(me: PeerId) -> Self {
        Self {
            me,
            peers: BTreeMap::new(),
        }
    }

    /// In the room for the first time: offer to everyone already there (the `Joined` event
    /// lists them, so no announcements).
    pub fn joined(&mut self, peers: Vec<PeerInfo>) -> Vec<Step> {
        peers
            .into_iter()
            .filter_map(|peer| self.add(peer, true, false))
            .collect()
    }

    /// The server says someone joined, or came back.
    pub fn peer_joined(&mut self, peer: PeerInfo) -> Vec<Step> {
        if let Some(entry) = self.peers.get_mut(&peer.id) {
            // Back after `peer_away`: the connection we have goes on (or gets redone by it).
            entry.away = false;
            entry.stranger = false;
            entry.info.name = peer.name;
            return Vec::new();
        }
        self.add(peer, false, true).into_iter().collect()
    }

    /// An offer came from someone we have no connection with (its `peer_joined` is still on
    /// its way, or we removed it and it came back): answer it.
    /// Past [`MAX_STRANGERS`] unannounced ones at once, or [`MAX_PEERS`] in all, the offer is
    /// ignored.
    pub fn offer_from_stranger(&mut self, peer: PeerInfo) -> Vec<Step> {
        let strangers = self.peers.values().filter(|e| e.stranger).count();
        if strangers >= MAX_STRANGERS || self.peers.len() >= MAX_PEERS {
            tracing::warn!(peer = %peer.id, strangers, peers = self.peers.len(), "offer from a peer the server never announced ignored");
            return Vec::new();
        }
        let id = peer.id.clone();
        let step = self.add(peer, false, true);
        if step.is_some() {
            if let Some(entry) = self.peers.get_mut(&id) {
                entry.stranger = true;
            }
        }
        step.into_iter().collect()
    }

    pub fn peer_left(&mut self, peer: &PeerId) -> Vec<Step> {
        self.remove(peer)
    }

    /// The server lost its connection to `peer`: gone if its media is down too.
    pub fn peer_away(&mut self, peer: &PeerId) -> Vec<Step> {
        let Some(entry) = self.peers.get_mut(peer) else {
            return Vec::new();
        };
        entry.away = true;
        if entry.media == Media::Connected {
            return Vec::new();
        }
        self.remove(peer)
    }

    /// A peer connection's media path changed.
    pub fn media(&mut self, peer: &PeerId, up: bool, now: Instant) -> Vec<Step> {
        let Some(entry) = self.peers.get_mut(peer) else {
            return Vec::new();
        };
        let was_down = matches!(entry.media, Media::Down { .. });
        entry.media = match (up, entry.media) {
            (true, _) => Media::Connected,
            (false, Media::Down { since }) => Media::Down { since },
            (false, _) => Media::Down { since: now },
        };
        if up {
            entry.restarted = None;
            return Vec::new();
        }
        if entry.away {
            return self.remove(peer);
        }
        if !was_down && self.me > *peer {
            // Impolite: restart at once.
            if let Some(entry) = self.peers.get_mut(peer) {
                entry.restarted = Some(now);
            }
            return vec![Step::RestartIce { peer: peer.clone() }];
        }
        Vec::new()
    }

    /// Once a second: restarts again the paths that stay down.
    pub fn tick(&mut self, now: Instant) -> Vec<Step> {
        let me = &self.me;
        let mut steps = Vec::new();
        for (id, entry) in &mut self.peers {
            let Media::Down { since } = entry.media else {
                continue;
            };
            let ours = me > id || now.saturating_duration_since(since) >= POLITE_JOINS_AFTER;
            let due = entry
                .restarted
                .is_none_or(|at| now.saturating_duration_since(at) >= RESTART_EVERY);
            if ours && due {
                entry.restarted = Some(now);
                steps.push(Step::RestartIce { peer: id.clone() });
            }
        }
        steps
    }

    /// This machine's network interfaces changed: every path may be broken, so restart each
    /// now, whichever side we are.
    pub fn network_changed(&mut self, now: Instant) -> Vec<Step> {
        self.peers
            .iter_mut()
            .filter(|(_, e)| e.media != Media::Connecting)
            .map(|(id, entry)| {
                entry.restarted = Some(now);
                Step::RestartIce { peer: id.clone() }
            })
            .collect()
    }

    /// Back in the room with the same place (after a dropped connection, or a server
    /// restart): `peers` is who the server has in the room now.
    pub fn resumed(&mut self, peers: Vec<PeerInfo>) -> Vec<Step> {
        let mut steps = Vec::new();
        for entry in self.peers.values_mut() {
            if matches!(entry.media, Media::Down { .. }) {
                entry.media = Media::Connecting;
                steps.push(Step::Redo {
                    peer: entry.info.id.clone(),
                });
            }
        }
        for peer in peers {
            if let Some(entry) = self.peers.get_mut(&peer.id) {
                entry.away = false;
            } else {
                steps.extend(self.add(peer, true, true));
            }
        }
        steps
    }

    /// Back in the room as `me`, a new peer: everyone we had is gone for the app, and everyone
    /// there now is offered to (the new `Joined` event lists them).
    pub fn rejoined_as_new(&mut self, me: PeerId, peers: Vec<PeerInfo>) -> Vec<Step> {
        self.me = me;
        let ids: Vec<PeerId> = self.peers.keys().cloned().collect();
        let mut steps: Vec<Step> = ids.iter().flat_map(|id| self.remove(id)).collect();
        steps.extend(self.joined(peers));
        steps
    }

    /// Whether any connection carries media now.
    pub fn any_connected(&self) -> bool {
        self.peers.values().any(|e| e.media == Media::Connected)
    }

    pub fn contains(&self, peer: &PeerId) -> bool {
        self.peers.contains_key(peer)
    }

    /// Forgets a peer whose connection could not be set up.
    pub fn forget(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
    }

    fn add(&mut self, peer: PeerInfo, offer: bool, announce: bool) -> Option<Step> {
        if self.peers.contains_key(&peer.id) {
            return None;
        }
        self.peers.insert(
            peer.id.clone(),
            Entry {
                info: peer.clone(),
                media: Media::Connecting,
                away: false,
                restarted: None,
                stranger: false,
            },
        );
        Some(if offer {
            Step::Offer { peer, announce }
        } else {
            Step::Await { peer, announce }
        })
    }

    fn remove(&mut self, peer: &PeerId) -> Vec<Step> {
        match self.peers.remove(peer) {
            Some(_) => vec![Step::Remove { peer: peer.clone() }],
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn info(id: &str) -> PeerInfo {
        PeerInfo {
            id: PeerId(id.into()),
            name: id.to_uppercase(),
        }
    }

    fn id(s: &str) -> PeerId {
        PeerId(s.into())
    }

    #[test]
    fn the_newcomer_offers_and_later_arrivals_offer_to_us() {
        let mut roster = Roster::new(id("m"));
        assert_eq!(
            roster.joined(vec![info("a")]),
            vec![Step::Offer {
                peer: info("a"),
                announce: false
            }]
        );
        assert_eq!(
            roster.peer_joined(info("b")),
            vec![Step::Await {
                peer: info("b"),
                announce: true
            }]
        );
        // Told twice (a resume after `peer_away`): nothing new.
        assert_eq!(roster.peer_joined(info("b")), vec![]);
        assert_eq!(roster.offer_from_stranger(info("b")), vec![]);
    }

    #[test]
    fn a_crashed_peer_goes_when_both_its_server_connection_and_media_are_down() {
        let t = Instant::now();
        // Polite toward both (the smaller id), so a path going down asks nothing of us.
        let mut roster = Roster::new(id("0"));
        roster.joined(vec![info("a"), info("b")]);
        roster.media(&id("a"), true, t);
        roster.media(&id("b"), true, t);
        // Media first, then the server: gone at the second.
        assert_eq!(roster.media(&id("a"), false, t), vec![]);
        assert_eq!(
            roster.peer_away(&id("a")),
            vec![Step::Remove { peer: id("a") }]
        );
        // The server first (a network blip that media rides out): nothing.
        assert_eq!(roster.peer_away(&id("b")), vec![]);
        assert_eq!(roster.peer_joined(info("b")), vec![]);
        // Once back, media trouble alone removes nobody.
        assert_eq!(roster.media(&id("b"), false, t), vec![]);
        assert!(roster.contains(&id("b")));
        // Away while media is down: removed.
        assert_eq!(
            roster.peer_away(&id("b")),
            vec![Step::Remove { peer: id("b") }]
        );
        assert!(!roster.any_connected());
        // The server's `peer_left` for someone already removed: nothing twice.
        assert_eq!(roster.peer_left(&id("b")), vec![]);
    }

    #[test]
    fn a_removed_peer_that_comes_back_is_expected_again() {
        let t = Instant::now();
        let mut roster = Roster::new(id("m"));
        roster.joined(vec![info("a")]);
        roster.media(&id("a"), false, t);
        roster.peer_away(&id("a"));
        assert_eq!(
            roster.peer_joined(info("a")),
            vec![Step::Await {
                peer: info("a"),
                announce: true
            }]
        );
    }

    #[test]
    fn after_a_server_restart_new_people_are_offered_to_and_broken_links_redone() {
        let t = Instant::now();
        let mut roster = Roster::new(id("m"));
        roster.joined(vec![info("a"), info("b")]);
        roster.media(&id("a"), true, t);
        roster.media(&id("b"), true, t);
        roster.media(&id("b"), false, t + Duration::from_secs(1));
        // The restarted server has a (and a newcomer c); b has not come back yet.
        let steps = roster.resumed(vec![info("a"), info("c")]);
        assert_eq!(
            steps,
            vec![
                Step::Redo { peer: id("b") },
                Step::Offer {
                    peer: info("c"),
                    announce: true
                }
            ]
        );
        // b, missing from the list, is kept: it may still be reconnecting.
        assert!(roster.contains(&id("b")));
        assert!(roster.any_connected());
        // A second resume with the same state changes nothing for a or c.
        roster.media(&id("b"), true, t);
        assert_eq!(roster.resumed(vec![info("a"), info("c")]), vec![]);
    }

    #[test]
    fn coming_back_as_a_new_peer_removes_everyone_and_offers_to_whoever_is_there() {
        let mut roster = Roster::new(id("m"));
        roster.joined(vec![info("a"), info("b")]);
        let steps = roster.rejoined_as_new(id("n"), vec![info("b"), info("c")]);
        assert_eq!(
            steps,
            vec![
                Step::Remove { peer: id("a") },
                Step::Remove { peer: id("b") },
                Step::Offer {
                    peer: info("b"),
                    announce: false
                },
                Step::Offer {
                    peer: info("c"),
                    announce: false
                },
            ]
        );
    }

    #[test]
    fn the_impolite_side_restarts_a_path_that_goes_down_and_retries_while_it_stays_down() {
        let t = Instant::now();
        let s = Duration::from_secs;
        // We are "m": impolite toward "a" (a < m), polite toward "z".
        let mut roster = Roster::new(id("m"));
        roster.joined(vec![info("a"), info("z")]);
        roster.media(&id("a"), true, t);
        roster.media(&id("z"), true, t);
        assert_eq!(
            roster.media(&id("a"), false, t),
            vec![Step::RestartIce { peer: id("a") }]
        );
        assert_eq!(roster.media(&id("z"), false, t), vec![]);
        // Still down: the impolite side retries every few seconds; the polite joins in late.
        assert_eq!(roster.tick(t + s(1)), vec![]);
        assert_eq!(
            roster.tick(t + RESTART_EVERY),
            vec![Step::RestartIce { peer: id("a") }]
        );
        assert_eq!(
            roster.tick(t + POLITE_JOINS_AFTER),
            vec![Step::RestartIce { peer: id("z") }]
        );
        // Back up: nothing more.
        roster.media(&id("a"), true, t + s(7));
        roster.media(&id("z"), true, t + s(7));
        assert_eq!(roster.tick(t + s(20)), vec![]);
        // A network change restarts every path that was set up, whichever side we are.
        roster.peer_joined(info("b"));
        assert_eq!(
            roster.network_changed(t + s(21)),
            vec![
                Step::RestartIce { peer: id("a") },
                Step::RestartIce { peer: id("z") }
            ]
        );
    }

    #[test]
    fn offers_from_unannounced_peers_are_bounded() {
        let mut roster = Roster::new(PeerId("m".into()));
        let info = |id: &str| PeerInfo {
            id: PeerId(id.into()),
            name: id.into(),
        };
        for id in ["s1", "s2", "s3", "s4"] {
            assert_eq!(roster.offer_from_stranger(info(id)).len(), 1, "{id}");
        }
        assert!(
            roster.offer_from_stranger(info("s5")).is_empty(),
            "a fifth stranger"
        );
        // Announced, one is no stranger any more: room for another.
        roster.peer_joined(info("s1"));
        assert_eq!(roster.offer_from_stranger(info("s5")).len(), 1);
        for i in 0..11 {
            roster.peer_joined(info(&format!("p{i}")));
        }
        assert_eq!(roster.peers.len(), 16);
        roster.peer_joined(info("s2"));
        assert!(
            roster.offer_from_stranger(info("s6")).is_empty(),
            "past 16 peers"
        );
    }
}
