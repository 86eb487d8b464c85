//! Rooms and the peers in them. Synchronous and socket-free: callers pass the time in and
//! schedule the timers this returns, so the rules are testable on their own.
//!
//! Each peer in a room has an outbox, the sending half of a bounded channel read by its
//! connection task. The registry holds the only sender, so dropping it (on leave, or when a
//! peer falls too far behind) ends that connection's reading of room traffic.

mod delivery;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use tincan_protocol::{
    ErrorCode, LeaveReason, PeerId, PeerInfo, RoomCode, RoomCodeError, ServerMessage, Signal,
};
use tokio::sync::mpsc;

use crate::room_key::RoomKey;
use delivery::{announce, broadcast, deliver, others};

/// Room traffic for one connection: pre-serialised JSON text frames.
pub type Outbox = mpsc::Sender<String>;

/// Identifies one WebSocket connection, so a stale connection cannot act for a peer that has
/// since resumed on a new one.
pub type ConnId = u64;

/// What the caller must schedule: call the matching `expire_*` at `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timer {
    Room {
        code: RoomCode,
        at: Instant,
    },
    Peer {
        id: PeerId,
        since: Instant,
        at: Instant,
    },
}

/// A successful join.
#[derive(Debug)]
pub struct Joined {
    pub room: RoomCode,
    pub peer_id: PeerId,
    pub peers: Vec<PeerInfo>,
    pub resume_token: String,
    pub resumed: bool,
}

struct Member {
    info: PeerInfo,
    /// None while the peer is disconnected (waiting to resume) or was dropped for falling behind.
    outbox: Option<Outbox>,
    conn: Option<ConnId>,
    /// Set when the connection dropped; the place is kept until `reconnect_grace` after it.
    dropped_at: Option<Instant>,
    /// Messages for the peer while it is reconnecting; delivered when it resumes.
    held: VecDeque<String>,
}

#[derive(Default)]
struct Room {
    members: Vec<Member>,
    /// Set while the room is empty; the room ends `room_grace` after it.
    empty_since: Option<Instant>,
    /// Peers that left on this run (newest last, at most [`DEPARTED_KEPT`]): their tokens
    /// no longer give their place back, since the others were told they left.
    departed: VecDeque<PeerId>,
}

/// Departed peers a room remembers; older ones fall off (a room holds a few people, so
/// these are the ones a token could still name).
const DEPARTED_KEPT: usize = 64;

/// Settings the registry enforces.
#[derive(Debug, Clone)]
pub struct RoomRules {
    pub capacity: usize,
    pub room_grace: Duration,
    pub reconnect_grace: Duration,
    pub held_messages: usize,
}

/// Every room on the server.
pub struct Registry {
    rules: RoomRules,
    key: RoomKey,
    rooms: HashMap<RoomCode, Room>,
    /// Which room each peer is in.
    peer_rooms: HashMap<PeerId, RoomCode>,
}

impl Registry {
    pub fn new(rules: RoomRules, key: RoomKey) -> Self {
        Self {
            rules,
            key,
            rooms: HashMap::new(),
            peer_rooms: HashMap::new(),
        }
    }

    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    pub fn peer_count(&self) -> usize {
        self.peer_rooms.len()
    }

    /// A new, empty room with a fresh random code.
    pub fn create_room(&mut self, now: Instant) -> Result<(RoomCode, Timer), RoomCodeError> {
        let code = loop {
            let code = RoomCode::generate()?;
            // 60 bits make a collision vanishingly rare; checking costs nothing.
            if !self.rooms.contains_key(&code) {
                break code;
            }
        };
        self.rooms.insert(
            code.clone(),
            Room {
                empty_since: Some(now),
                ..Room::default()
            },
        );
        let at = now + self.rules.room_grace;
        Ok((code.clone(), Timer::Room { code, at }))
    }

    /// Puts a peer in a room, or gives it back its place when `resume` is its token.
    ///
    /// A token names its peer id and is checked with the room key, not looked up, so it also
    /// works on a server that restarted and forgot the room: the room is re-created under the
    /// same code, and the peer keeps its id (`resumed`), so the others' connections to it go
    /// on. A token whose peer left the room (or ran out its grace) on this run joins afresh.
    pub fn join(
        &mut self,
        code: &RoomCode,
        name: &str,
        resume: Option<&str>,
        outbox: Outbox,
        conn: ConnId,
    ) -> Result<Joined, ErrorCode> {
        let returning = resume.and_then(|token| self.key.verify(code, token));
        if !self.rooms.contains_key(code) {
            // Only a former member can bring a room back: its token proves it.
            let Some(peer) = &returning else {
                return Err(ErrorCode::RoomNotFound);
            };
            if self.peer_rooms.contains_key(peer) {
                return Err(ErrorCode::RoomNotFound);
            }
            tracing::info!(room = %tincan_protocol::lan::room_tag(code), peer = %peer, "room re-created by a former member");
            self.rooms.insert(code.clone(), Room::default());
        }
        let room = self.rooms.get_mut(code).ok_or(ErrorCode::RoomNotFound)?;

        if let Some(peer_id) = returning {
            if let Some(member) = room.members.iter_mut().find(|m| m.info.id == peer_id) {
                for text in member.held.drain(..) {
                    // A fresh channel has room for `held_messages` (the caller sizes it so).
                    let _ = outbox.try_send(text);
                }
                let was_away = member.dropped_at.is_some() || member.outbox.is_none();
                member.outbox = Some(outbox);
                member.conn = Some(conn);
                member.dropped_at = None;
                member.info.name = name.to_owned();
                let info = member.info.clone();
                if was_away {
                    // The others were told it went away; now it is back.
                    announce(
                        &mut room.members,
                        &peer_id,
                        &ServerMessage::PeerJoined { peer: info },
                        self.rules.held_messages,
                    );
                }
                return Ok(Joined {
                    room: code.clone(),
                    peers: others(&room.members, &peer_id),
                    resume_token: self.key.resume_token(code, &peer_id),
                    peer_id,
                    resumed: true,
                });
            }
            let restorable = !room.departed.contains(&peer_id)
                && !self.peer_rooms.contains_key(&peer_id)
                && room.members.len() < self.rules.capacity;
            if restorable {
                // The server forgot the room (a restart): the peer takes its old id back.
                return Ok(self.admit(code, peer_id, name, outbox, conn, true));
            }
            // Its place is gone on this run: join afresh, as a new peer.
        }

        if room.members.len() >= self.rules.capacity {
            return Err(ErrorCode::RoomFull);
        }
        let peer_id = PeerId(random_hex(8).map_err(|_| ErrorCode::Internal)?);
        Ok(self.admit(code, peer_id, name, outbox, conn, false))
    }

    /// Adds a member to an existing room and tells the others.
    fn admit(
        &mut self,
        code: &RoomCode,
        peer_id: PeerId,
        name: &str,
        outbox: Outbox,
        conn: ConnId,
        resumed: bool,
    ) -> Joined {
        let info = PeerInfo {
            id: peer_id.clone(),
            name: name.to_owned(),
        };
        let mut peers = Vec::new();
        if let Some(room) = self.rooms.get_mut(code) {
            peers = others(&room.members, &peer_id);
            broadcast(
                &mut room.members,
                &ServerMessage::PeerJoined { peer: info.clone() },
                self.rules.held_messages,
            );
            room.members.push(Member {
                info,
                outbox: Some(outbox),
                conn: Some(conn),
                dropped_at: None,
                held: VecDeque::new(),
            });
            room.empty_since = None;
        }
        self.peer_rooms.insert(peer_id.clone(), code.clone());
        Joined {
            room: code.clone(),
            resume_token: self.key.resume_token(code, &peer_id),
            peer_id,
            peers,
            resumed,
        }
    }

    /// Relays a signal from one peer to another in the same room.
    pub fn relay(&mut self, from: &PeerId, to: &PeerId, signal: Signal) -> Result<(), ErrorCode> {
        let code = self.peer_rooms.get(from).ok_or(ErrorCode::NotInRoom)?;
        if from == to || self.peer_rooms.get(to) != Some(code) {
            return Err(ErrorCode::PeerNotFound);
        }
        let room = self.rooms.get_mut(code).ok_or(ErrorCode::Internal)?;
        let member = room
            .members
            .iter_mut()
            .find(|m| &m.info.id == to)
            .ok_or(ErrorCode::PeerNotFound)?;
        let text = ServerMessage::Signal {
            from: from.clone(),
            signal,
        }
        .to_json();
        deliver(member, text, self.rules.held_messages);
        Ok(())
    }

    /// Takes a peer out of its room and tells the others. Returns the timer for the room if
    /// it became empty. `conn` guards against a stale connection removing a resumed peer.
    pub fn leave(
        &mut self,
        peer: &PeerId,
        conn: Option<ConnId>,
        reason: LeaveReason,
        now: Instant,
    ) -> Option<Timer> {
        let code = self.peer_rooms.get(peer)?.clone();
        let room = self.rooms.get_mut(&code)?;
        let index = room.members.iter().position(|m| &m.info.id == peer)?;
        if conn.is_some() && room.members[index].conn != conn {
            return None;
        }
        room.members.remove(index);
        self.peer_rooms.remove(peer);
        if room.departed.len() >= DEPARTED_KEPT {
            room.departed.pop_front();
        }
        room.departed.push_back(peer.clone());
        broadcast(
            &mut room.members,
            &ServerMessage::PeerLeft {
                peer_id: peer.clone(),
                reason,
            },
            self.rules.held_messages,
        );
        if room.members.is_empty() {
            room.empty_since = Some(now);
            return Some(Timer::Room {
                code,
                at: now + self.rules.room_grace,
            });
        }
        None
    }

    /// The connection of a peer ended without `leave`: keep its place for the reconnect grace.
    pub fn connection_lost(&mut self, peer: &PeerId, conn: ConnId, now: Instant) -> Option<Timer> {
        let code = self.peer_rooms.get(peer)?;
        let room = self.rooms.get_mut(code)?;
        let member = room.members.iter_mut().find(|m| &m.info.id == peer)?;
        if member.conn != Some(conn) {
            return None; // already resumed elsewhere
        }
        member.outbox = None;
        member.conn = None;
        member.dropped_at = Some(now);
        let away = ServerMessage::PeerAway {
            peer_id: peer.clone(),
        };
        announce(&mut room.members, peer, &away, self.rules.held_messages);
        Some(Timer::Peer {
            id: peer.clone(),
            since: now,
            at: now + self.rules.reconnect_grace,
        })
    }

    /// The reconnect grace of a dropped peer ran out: if it has not resumed, it has left.
    pub fn expire_peer(
        &mut self,
        peer: &PeerId,
        since: Instant,
        reason: LeaveReason,
        now: Instant,
    ) -> Option<Timer> {
        let code = self.peer_rooms.get(peer)?;
        let room = self.rooms.get(code)?;
        let member = room.members.iter().find(|m| &m.info.id == peer)?;
        if member.dropped_at != Some(since) {
            return None;
        }
        self.leave(peer, None, reason, now)
    }

    /// The grace of an empty room ran out: if nobody came, the room ends.
    pub fn expire_room(&mut self, code: &RoomCode, now: Instant) -> bool {
        let ends = match self.rooms.get(code) {
            Some(room) => match room.empty_since {
                Some(since) => room.members.is_empty() && now >= since + self.rules.room_grace,
                None => false,
            },
            None => false,
        };
        if ends {
            self.rooms.remove(code);
        }
        ends
    }

    pub fn has_room(&self, code: &RoomCode) -> bool {
        self.rooms.contains_key(code)
    }

    /// The codes of the rooms open now.
    pub fn codes(&self) -> impl Iterator<Item = &RoomCode> {
        self.rooms.keys()
    }
}

/// `bytes` random bytes from the operating system's CSPRNG, in hex.
pub(crate) fn random_hex(bytes: usize) -> Result<String, getrandom::Error> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests;
