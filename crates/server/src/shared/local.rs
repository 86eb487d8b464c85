//! The members connected to this server, as the shared store's server keeps them: where
//! their room traffic goes, and what it puts back into Redis when Redis lost it. Synchronous
//! and clock-free; the store drives it.

use std::collections::{HashMap, HashSet};

use tincan_protocol::{PeerId, RoomCode};
use tokio::sync::mpsc;

use crate::rooms::{ConnId, Outbox};

/// A member whose connection is on this server.
#[derive(Debug, Clone)]
pub struct LocalPeer {
    pub room: RoomCode,
    pub name: String,
    pub conn: ConnId,
    /// None once it was cut off for not reading (its connection is ending).
    pub outbox: Option<Outbox>,
}

/// What became of a message for a local member.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivered {
    Sent,
    /// Not connected here (it left, or moved to another server, just now): dropped.
    NotHere,
    /// Its queue was full: it stopped reading, and is cut off (its connection ends).
    CutOff,
}

#[derive(Default)]
pub struct Local {
    peers: HashMap<PeerId, LocalPeer>,
}

impl Local {
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Rooms with a member here.
    pub fn rooms(&self) -> HashSet<RoomCode> {
        self.peers.values().map(|p| p.room.clone()).collect()
    }

    pub fn get(&self, peer: &PeerId) -> Option<&LocalPeer> {
        self.peers.get(peer)
    }

    pub fn peers(&self) -> impl Iterator<Item = (&PeerId, &LocalPeer)> {
        self.peers.iter()
    }

    /// Puts `peer` here, returning whoever was under that id before.
    pub fn insert(&mut self, peer: PeerId, local: LocalPeer) -> Option<LocalPeer> {
        self.peers.insert(peer, local)
    }

    /// Takes `peer` away if `conn` (or any connection, for None) is the one it is on.
    pub fn remove(&mut self, peer: &PeerId, conn: Option<ConnId>) -> Option<LocalPeer> {
        match self.peers.get(peer) {
            Some(local) if conn.is_none_or(|c| c == local.conn) => self.peers.remove(peer),
            _ => None,
        }
    }

    /// Puts back what [`Local::insert`] replaced (or nothing).
    pub fn restore(&mut self, peer: &PeerId, before: Option<LocalPeer>, conn: ConnId) {
        self.remove(peer, Some(conn));
        if let Some(before) = before {
            self.peers.insert(peer.clone(), before);
        }
    }

    pub fn deliver(&mut self, peer: &PeerId, text: String) -> Delivered {
        let Some(local) = self.peers.get_mut(peer) else {
            return Delivered::NotHere;
        };
        let Some(outbox) = &local.outbox else {
            return Delivered::NotHere;
        };
        match outbox.try_send(text) {
            Ok(()) => Delivered::Sent,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(peer = %peer, "peer is not reading; disconnecting it");
                local.outbox = None;
                Delivered::CutOff
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                local.outbox = None;
                Delivered::NotHere
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(room: &RoomCode, conn: ConnId, outbox: Outbox) -> LocalPeer {
        LocalPeer {
            room: room.clone(),
            name: "Ada".into(),
            conn,
            outbox: Some(outbox),
        }
    }

    #[test]
    fn messages_reach_the_member_and_a_full_queue_cuts_it_off() {
        let room = RoomCode::generate().unwrap();
        let (tx, mut rx) = mpsc::channel(2);
        let mut local = Local::default();
        local.insert(PeerId("a".into()), peer(&room, 1, tx));
        assert_eq!(
            local.deliver(&PeerId("a".into()), "1".into()),
            Delivered::Sent
        );
        assert_eq!(
            local.deliver(&PeerId("a".into()), "2".into()),
            Delivered::Sent
        );
        assert_eq!(
            local.deliver(&PeerId("a".into()), "3".into()),
            Delivered::CutOff
        );
        assert_eq!(
            local.deliver(&PeerId("a".into()), "4".into()),
            Delivered::NotHere
        );
        assert_eq!(
            local.deliver(&PeerId("b".into()), "5".into()),
            Delivered::NotHere
        );
        assert_eq!(rx.try_recv().unwrap(), "1");
        assert_eq!(rx.try_recv().unwrap(), "2");
        // The sender is gone: the connection reads the end of its room traffic.
        local.remove(&PeerId("a".into()), None);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn only_the_connection_that_holds_a_place_removes_it() {
        let room = RoomCode::generate().unwrap();
        let (tx, _rx) = mpsc::channel(2);
        let mut local = Local::default();
        let id = PeerId("a".into());
        local.insert(id.clone(), peer(&room, 1, tx.clone()));
        // Resumed on connection 2: the old connection 1 cannot take it away.
        let before = local.insert(id.clone(), peer(&room, 2, tx.clone()));
        assert_eq!(before.map(|p| p.conn), Some(1));
        assert!(local.remove(&id, Some(1)).is_none());
        assert_eq!(local.get(&id).map(|p| p.conn), Some(2));
        // A failed join puts back what was there.
        let before = local.insert(id.clone(), peer(&room, 3, tx));
        local.restore(&id, before, 3);
        assert_eq!(local.get(&id).map(|p| p.conn), Some(2));
        assert_eq!(local.rooms().len(), 1);
        assert!(local.remove(&id, None).is_some());
        assert_eq!(local.len(), 0);
    }
}
