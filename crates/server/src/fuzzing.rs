//! What the fuzz targets run (tests/fuzz, docs/fuzzing.md), and what replays their committed
//! corpus in every test run (tests/tests/server/fuzz_corpus.rs): the server's message handling
//! without sockets. Up to four connections send frames (decoded as the server decodes them,
//! then carried out on the room registry the way a connection does), drop and come back, read
//! what they were sent or not, while the clock moves and the registry's timers fire.
//!
//! Codes, peer ids and resume tokens are random, so a fuzzer cannot guess them: a `room`,
//! `to` or `resume` of one digit `n` stands for the n-th code, id or token handed out so far.
//!
//! Properties checked: nothing panics; every frame the server queues for a client decodes as
//! a server message; nobody's queue holds more than the outbox's bound.

use std::time::{Duration, Instant};

use tincan_protocol::{decode_client, decode_server, ClientMessage, LeaveReason, PeerId};
use tokio::sync::mpsc;

use crate::rooms::{ConnId, Registry, RoomRules, Timer};
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

#[derive(Default)]
struct Connection {
    id: ConnId,
    phase: Phase,
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
    let mut now = Instant::now();
    let mut timers: Vec<Timer> = Vec::new();
    let mut codes = Vec::new();
    let mut ids: Vec<PeerId> = Vec::new();
    let mut tokens: Vec<String> = Vec::new();
    let mut next_conn: ConnId = 1;
    let mut conns: Vec<Connection> = (0..CONNECTIONS)
        .map(|_| {
            next_conn += 1;
            Connection {
                id: next_conn,
                ..Connection::default()
            }
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
                    _ => {}
                }
            }
            // The connection drops; a new one takes its place.
            4 => {
                let old = std::mem::take(&mut conns[c]);
                if let Phase::InRoom { peer, .. } = old.phase {
                    if let Some(t) = registry.connection_lost(&peer, old.id, now) {
                        timers.push(t);
                    }
                }
                next_conn += 1;
                conns[c].id = next_conn;
            }
            // The client reads what it was sent.
            5 => {
                if let Phase::InRoom { inbox, .. } = &mut conns[c].phase {
                    let mut queued = 0;
                    while let Ok(text) = inbox.try_recv() {
                        queued += 1;
                        assert!(decode_server(&text).is_ok(), "the server sent {text}");
                    }
                    assert!(queued <= OUTBOX, "{queued} frames queued");
                }
            }
            // The clock moves; due timers fire.
            _ => {
                let Some((&step, tail)) = rest.split_first() else {
                    break;
                };
                rest = tail;
                now += Duration::from_millis(u64::from(step) * 250);
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
