//! What the fuzz targets run (tests/fuzz, docs/fuzzing.md), and what replays their committed
//! corpus in every test run (tests/tests/server/fuzz_corpus.rs): the server's message handling
//! without sockets. Up to four connections send frames (decoded as the server decodes them,
//! then carried out on the room registry the way a connection does), drop and come back, read
//! what they were sent or not, while the clock moves and the registry's timers fire.
//!
//! Codes, peer ids and resume tokens are random, so a fuzzer cannot guess them: a `room`,
//! `to` or `resume` of one digit `n` stands for the n-th code, id or token handed out so far;
//! a `ring` of one digit for the n-th ring. The people messages go to the directory: a
//! `register` is taken without its proof (signatures are unit-tested; a fuzzer cannot make
//! them), and a `ring`'s `to` and `room` stand for one of the personal codes registered and
//! one of the room codes handed out so far.
//!
//! Properties checked: nothing panics; every frame the server queues for a client decodes as
//! a server message; nobody's queue holds more than the outbox's bound.

use std::time::{Duration, Instant};

use tincan_protocol::{
    decode_client, decode_server, ClientMessage, LeaveReason, PeerId, PersonalCode, RingId,
};
use tokio::sync::mpsc;

use crate::directory::{Directory, DirectoryRules};
use crate::rooms::{ConnId, Outbox, Registry, RoomRules, Timer};
use crate::RoomKey;

const CONNECTIONS: usize = 4;
const OUTBOX: usize = 32;

#[derive(Default)]
enum Phase {
    #[default]
    Handshake,
    Lobby,
    InRoom {
        peer: PeerId,
        inbox: mpsc::Receiver<String>,
    },
}

struct Connection {
    id: ConnId,
    phase: Phase,
    /// Rings and presence from the directory.
    outbox: Outbox,
    inbox: mpsc::Receiver<String>,
}

impl Connection {
    fn new(id: ConnId) -> Self {
        let (outbox, inbox) = mpsc::channel(OUTBOX);
        Self {
            id,
            phase: Phase::default(),
            outbox,
            inbox,
        }
    }
}

/// Reads what a connection was sent: every frame decodes, and no more than the bound waited.
fn read_all(inbox: &mut mpsc::Receiver<String>) {
    let mut queued = 0;
    while let Ok(text) = inbox.try_recv() {
        queued += 1;
        assert!(decode_server(&text).is_ok(), "the server sent {text}");
    }
    assert!(queued <= OUTBOX, "{queued} frames queued");
}

/// Runs one script of frames, drops, reads and clock steps against a registry.
pub fn messages(data: &[u8]) {
    let Ok(key) = RoomKey::generate() else {
        return;
    };
    let rules = RoomRules {
        capacity: 3,
        room_grace: Duration::from_secs(60),
        reconnect_grace: Duration::from_secs(10),
        held_messages: 8,
    };
    let mut registry = Registry::new(rules, key);
    let mut directory = Directory::new(DirectoryRules {
        ring_timeout: Duration::from_secs(30),
        devices_per_code: 2,
        watched_per_connection: 8,
        rings_per_callee: 2,
    });
    let mut registered: Vec<PersonalCode> = Vec::new();
    let mut rings: Vec<RingId> = Vec::new();
    let mut ring_timers: Vec<(RingId, Instant)> = Vec::new();
    let mut now = Instant::now();
    let mut timers: Vec<Timer> = Vec::new();
    let mut codes = Vec::new();
    let mut ids: Vec<PeerId> = Vec::new();
    let mut tokens: Vec<String> = Vec::new();
    let mut next_conn: ConnId = 1;
    let mut conns: Vec<Connection> = (0..CONNECTIONS)
        .map(|_| {
            next_conn += 1;
            Connection::new(next_conn)
        })
        .collect();
    let pick = |list: &[String], text: &str| -> String {
        match text.parse::<usize>() {
            Ok(n) if text.len() == 1 => list.get(n).cloned().unwrap_or_default(),
            _ => text.to_owned(),
        }
    };

    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        let c = usize::from(op >> 6) % CONNECTIONS;
        match op & 7 {
            // A frame: a length byte, then that much text.
            0..=3 => {
                let Some((&len, tail)) = rest.split_first() else {
                    break;
                };
                let len = usize::from(len).min(tail.len());
                let (frame, tail) = tail.split_at(len);
                rest = tail;
                let Ok(text) = std::str::from_utf8(frame) else {
                    continue;
                };
                let Ok(message) = decode_client(text) else {
                    continue;
                };
                let conn = &mut conns[c];
                match (&conn.phase, message) {
                    (Phase::Handshake, ClientMessage::Hello { .. }) => conn.phase = Phase::Lobby,
                    (Phase::Lobby, ClientMessage::CreateRoom) => {
                        if let Ok((code, timer)) = registry.create_room(now) {
                            codes.push(code.to_string());
                            timers.push(timer);
                        }
                    }
                    (Phase::Lobby, ClientMessage::Join { room, name, resume }) => {
                        let room = pick(&codes, &room);
                        let resume = resume.map(|r| pick(&tokens, &r));
                        let Ok(code) = tincan_protocol::RoomCode::parse(&room) else {
                            continue;
                        };
                        let (outbox, inbox) = mpsc::channel(OUTBOX);
                        if let Ok(joined) =
                            registry.join(&code, &name, resume.as_deref(), outbox, conn.id)
                        {
                            ids.push(joined.peer_id.clone());
                            tokens.push(joined.resume_token);
                            conn.phase = Phase::InRoom {
                                peer: joined.peer_id,
                                inbox,
                            };
                        }
                    }
                    (Phase::InRoom { peer, .. }, ClientMessage::Signal { to, signal }) => {
                        let names: Vec<String> = ids.iter().map(|p| p.0.clone()).collect();
                        let to = PeerId(pick(&names, &to.0));
                        let _ = registry.relay(peer, &to, signal);
                    }
                    (Phase::InRoom { peer, .. }, ClientMessage::Leave) => {
                        let peer = peer.clone();
                        if let Some(t) =
                            registry.leave(&peer, Some(conn.id), LeaveReason::Left, now)
                        {
                            timers.push(t);
                        }
                        conn.phase = Phase::Lobby;
                    }
                    (Phase::Handshake, _) => {}
                    (_, ClientMessage::Register { key, .. }) => {
                        let code = PersonalCode::of(&key);
                        if directory.register(conn.id, &conn.outbox, code).is_ok() {
                            registered.push(code);
                        }
                    }
                    (_, ClientMessage::Watch { codes }) => {
                        let _ = directory.watch(conn.id, &conn.outbox, codes);
                    }
                    (_, ClientMessage::Ring { to, name, room }) => {
                        let to = match registered.len() {
                            0 => to,
                            n => {
                                registered
                                    [to.to_string().bytes().map(usize::from).sum::<usize>() % n]
                            }
                        };
                        // A room that exists: the one of the codes handed out so far that the
                        // ring's room code points at.
                        let room = match codes.len() {
                            0 => room,
                            n => {
                                tincan_protocol::RoomCode::parse(&codes[room.value() as usize % n])
                                    .unwrap_or(room)
                            }
                        };
                        if let Ok((ring, at)) = directory.ring(conn.id, to, &name, &room, now) {
                            rings.push(ring.clone());
                            ring_timers.push((ring, at));
                        }
                    }
                    (_, ClientMessage::AnswerRing { ring, answer }) => {
                        let names: Vec<String> = rings.iter().map(|r| r.0.clone()).collect();
                        let ring = RingId(pick(&names, &ring.0));
                        let _ = directory.answer(conn.id, &ring, answer);
                    }
                    (_, ClientMessage::CancelRing { ring }) => {
                        let names: Vec<String> = rings.iter().map(|r| r.0.clone()).collect();
                        let ring = RingId(pick(&names, &ring.0));
                        let _ = directory.cancel(conn.id, &ring);
                    }
                    _ => {}
                }
            }
            // The connection drops; a new one takes its place.
            4 => {
                next_conn += 1;
                let old = std::mem::replace(&mut conns[c], Connection::new(next_conn));
                directory.disconnect(old.id);
                if let Phase::InRoom { peer, .. } = old.phase {
                    if let Some(t) = registry.connection_lost(&peer, old.id, now) {
                        timers.push(t);
                    }
                }
            }
            // The client reads what it was sent.
            5 => {
                let conn = &mut conns[c];
                if let Phase::InRoom { inbox, .. } = &mut conn.phase {
                    read_all(inbox);
                }
                read_all(&mut conn.inbox);
            }
            // The clock moves; due timers fire.
            _ => {
                let Some((&step, tail)) = rest.split_first() else {
                    break;
                };
                rest = tail;
                now += Duration::from_millis(u64::from(step) * 250);
                ring_timers.retain(|(ring, at)| {
                    if *at <= now {
                        directory.expire(ring, now);
                    }
                    *at > now
                });
                let due: Vec<Timer> = {
                    let (due, later) = timers.drain(..).partition(|t| match t {
                        Timer::Room { at, .. } | Timer::Peer { at, .. } => *at <= now,
                    });
                    timers = later;
                    due
                };
                for timer in due {
                    match timer {
                        Timer::Room { code, .. } => {
                            registry.expire_room(&code, now);
                        }
                        Timer::Peer { id, since, .. } => {
                            if let Some(next) =
                                registry.expire_peer(&id, since, LeaveReason::Disconnected, now)
                            {
                                timers.push(next);
                            }
                        }
                    }
                }
            }
        }
    }
}
