//! Who can be rung here: personal codes registered by live connections, the rings under way
//! between them, and who watches whose presence. Synchronous and socket-free like the room
//! registry: callers pass the time in and schedule the ring timeouts this returns.
//!
//! Nothing here outlives the connections: the server keeps no contact lists, only, for each
//! connection, the codes it registered and the codes it asked to watch.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use tincan_protocol::{
    ErrorCode, PersonalCode, RingAnswer, RingEnd, RingId, RoomCode, ServerMessage,
};

use crate::hub::Refusal;
use crate::rooms::{ConnId, Outbox};

/// How far the directory lets one person or connection go.
#[derive(Debug, Clone)]
pub struct DirectoryRules {
    /// How long a ring waits for an answer before it ends with `no_answer`.
    pub ring_timeout: Duration,
    /// Most connections one personal code may be registered from (a person's computers).
    pub devices_per_code: usize,
    /// Most codes one connection may watch.
    pub watched_per_connection: usize,
    /// Most rings waiting on one person at once: more get `rate_limited`.
    pub rings_per_callee: usize,
}

impl Default for DirectoryRules {
    fn default() -> Self {
        Self {
            ring_timeout: Duration::from_secs(30),
            devices_per_code: 8,
            watched_per_connection: 256,
            rings_per_callee: 4,
        }
    }
}

/// A connection the directory knows: it registered a code, watches codes, or rings.
struct Client {
    outbox: Outbox,
    code: Option<PersonalCode>,
    watching: Vec<PersonalCode>,
}

struct Ring {
    caller: ConnId,
    to: PersonalCode,
    /// The callee's connections still ringing.
    callees: Vec<ConnId>,
    expires: Instant,
}

#[derive(Default)]
pub struct Directory {
    rules: DirectoryRules,
    clients: HashMap<ConnId, Client>,
    registered: HashMap<PersonalCode, Vec<ConnId>>,
    watchers: HashMap<PersonalCode, HashSet<ConnId>>,
    rings: HashMap<RingId, Ring>,
    next_ring: u64,
}

impl Directory {
    pub fn new(rules: DirectoryRules) -> Self {
        Self {
            rules,
            ..Self::default()
        }
    }

    /// Rings to `code` reach `conn` from now on (its earlier code, if another, no longer).
    pub fn register(
        &mut self,
        conn: ConnId,
        outbox: &Outbox,
        code: PersonalCode,
    ) -> Result<(), Refusal> {
        let devices = self.registered.get(&code).map_or(0, Vec::len);
        let already = self.clients.get(&conn).and_then(|c| c.code) == Some(code);
        if already {
            return Ok(());
        }
        if devices >= self.rules.devices_per_code {
            return Err(Refusal::new(
                ErrorCode::RateLimited,
                format!(
                    "code {code} is registered from {devices} connections already; close one \
                     of them first"
                ),
            ));
        }
        self.unregister(conn);
        self.client(conn, outbox).code = Some(code);
        let devices = self.registered.entry(code).or_default();
        devices.push(conn);
        if devices.len() == 1 {
            self.tell_watchers(code, true);
        }
        Ok(())
    }

    /// Watches `codes` (replacing what `conn` watched before); their presence is sent now.
    pub fn watch(
        &mut self,
        conn: ConnId,
        outbox: &Outbox,
        codes: Vec<PersonalCode>,
    ) -> Result<(), Refusal> {
        if codes.len() > self.rules.watched_per_connection {
            return Err(Refusal::new(
                ErrorCode::BadMessage,
                format!(
                    "watch at most {} codes at once",
                    self.rules.watched_per_connection
                ),
            ));
        }
        self.unwatch(conn);
        let mut codes = codes;
        codes.sort_unstable();
        codes.dedup();
        for code in &codes {
            self.watchers.entry(*code).or_default().insert(conn);
            let online = self.registered.contains_key(code);
            send(
                outbox,
                &ServerMessage::Presence {
                    code: *code,
                    online,
                },
            );
        }
        self.client(conn, outbox).watching = codes;
        Ok(())
    }

    /// `conn` (registered) rings `to` to join `room`. Returns the ring and when it times out.
    pub fn ring(
        &mut self,
        conn: ConnId,
        to: PersonalCode,
        name: &str,
        room: &RoomCode,
        now: Instant,
    ) -> Result<(RingId, Instant), Refusal> {
        let from = self
            .clients
            .get(&conn)
            .and_then(|c| c.code)
            .ok_or_else(|| {
                Refusal::new(
                    ErrorCode::NotRegistered,
                    "register your personal code before ringing someone",
                )
            })?;
        let callees: Vec<ConnId> = self
            .registered
            .get(&to)
            .map(|devices| devices.iter().copied().filter(|&c| c != conn).collect())
            .unwrap_or_default();
        if callees.is_empty() {
            return Err(Refusal::new(
                ErrorCode::Offline,
                format!("{to} is not reachable on this server now; try again later"),
            ));
        }
        let waiting = self.rings.values().filter(|r| r.to == to).count();
        if waiting >= self.rules.rings_per_callee {
            return Err(Refusal::new(
                ErrorCode::RateLimited,
                format!("{to} is being rung by others already; try again in a minute"),
            ));
        }
        self.next_ring += 1;
        let ring = RingId(format!("r{}", self.next_ring));
        let ringing = ServerMessage::Ringing {
            ring: ring.clone(),
            from,
            name: name.to_owned(),
            room: room.clone(),
        };
        for callee in &callees {
            self.tell(*callee, &ringing);
        }
        let expires = now + self.rules.ring_timeout;
        self.rings.insert(
            ring.clone(),
            Ring {
                caller: conn,
                to,
                callees,
                expires,
            },
        );
        Ok((ring, expires))
    }

    /// One of the callee's connections answers; the caller and every callee connection are
    /// told how the ring ended.
    pub fn answer(
        &mut self,
        conn: ConnId,
        ring: &RingId,
        answer: RingAnswer,
    ) -> Result<(), Refusal> {
        let ours = self
            .rings
            .get(ring)
            .is_some_and(|r| r.callees.contains(&conn));
        if !ours {
            return Err(not_found(ring));
        }
        let Some(found) = self.rings.remove(ring) else {
            return Err(not_found(ring));
        };
        let reason = RingEnd::of(answer);
        self.end(ring, found.caller, reason);
        for callee in found.callees {
            let theirs = if callee == conn {
                reason
            } else {
                RingEnd::AnsweredElsewhere
            };
            self.end(ring, callee, theirs);
        }
        Ok(())
    }

    /// The caller hangs up before an answer.
    pub fn cancel(&mut self, conn: ConnId, ring: &RingId) -> Result<(), Refusal> {
        if !self.rings.get(ring).is_some_and(|r| r.caller == conn) {
            return Err(not_found(ring));
        }
        self.finish(ring, RingEnd::Cancelled, RingEnd::Cancelled);
        Ok(())
    }

    /// A ring's timeout came: if it is still waiting, it ends with `no_answer` for both.
    pub fn expire(&mut self, ring: &RingId, now: Instant) {
        if self.rings.get(ring).is_some_and(|r| now >= r.expires) {
            self.finish(ring, RingEnd::NoAnswer, RingEnd::NoAnswer);
        }
    }

    /// `conn` is gone: its code, watches and rings go with it. False (and nothing looked
    /// through) for a connection that never registered, watched or rang: most of them.
    pub fn disconnect(&mut self, conn: ConnId) -> bool {
        // Callers and callees are registered, so they all have an entry here.
        if !self.clients.contains_key(&conn) {
            return false;
        }
        for ring in self.rings_by(conn) {
            // The caller is gone: the callee's side hears `gone`.
            self.finish(&ring, RingEnd::Gone, RingEnd::Gone);
        }
        let callee_of: Vec<RingId> = self
            .rings
            .iter()
            .filter(|(_, r)| r.callees.contains(&conn))
            .map(|(id, _)| id.clone())
            .collect();
        for id in callee_of {
            let Some(ring) = self.rings.get_mut(&id) else {
                continue;
            };
            ring.callees.retain(|&c| c != conn);
            if ring.callees.is_empty() {
                let caller = ring.caller;
                self.rings.remove(&id);
                self.end(&id, caller, RingEnd::Gone);
            }
        }
        self.unregister(conn);
        self.unwatch(conn);
        self.clients.remove(&conn);
        true
    }

    /// How many codes are registered and rings under way, for metrics.
    pub fn counts(&self) -> (usize, usize) {
        (self.registered.len(), self.rings.len())
    }

    fn rings_by(&self, conn: ConnId) -> Vec<RingId> {
        self.rings
            .iter()
            .filter(|(_, r)| r.caller == conn)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Ends a ring: the caller hears `caller_hears`, every callee connection `callees_hear`.
    fn finish(&mut self, ring: &RingId, caller_hears: RingEnd, callees_hear: RingEnd) {
        if let Some(found) = self.rings.remove(ring) {
            self.end(ring, found.caller, caller_hears);
            for callee in found.callees {
                self.end(ring, callee, callees_hear);
            }
        }
    }

    fn end(&self, ring: &RingId, conn: ConnId, reason: RingEnd) {
        self.tell(
            conn,
            &ServerMessage::RingEnded {
                ring: ring.clone(),
                reason,
            },
        );
    }

    fn unregister(&mut self, conn: ConnId) {
        let Some(code) = self.clients.get_mut(&conn).and_then(|c| c.code.take()) else {
            return;
        };
        let last = match self.registered.get_mut(&code) {
            Some(devices) => {
                devices.retain(|&c| c != conn);
                devices.is_empty()
            }
            None => false,
        };
        if last {
            self.registered.remove(&code);
            self.tell_watchers(code, false);
        }
    }

    fn unwatch(&mut self, conn: ConnId) {
        let watching = self
            .clients
            .get_mut(&conn)
            .map(|c| std::mem::take(&mut c.watching))
            .unwrap_or_default();
        for code in watching {
            if let Some(set) = self.watchers.get_mut(&code) {
                set.remove(&conn);
                if set.is_empty() {
                    self.watchers.remove(&code);
                }
            }
        }
    }

    fn tell_watchers(&self, code: PersonalCode, online: bool) {
        let Some(watchers) = self.watchers.get(&code) else {
            return;
        };
        let presence = ServerMessage::Presence { code, online };
        for conn in watchers {
            self.tell(*conn, &presence);
        }
    }

    fn tell(&self, conn: ConnId, message: &ServerMessage) {
        if let Some(client) = self.clients.get(&conn) {
            send(&client.outbox, message);
        }
    }

    fn client(&mut self, conn: ConnId, outbox: &Outbox) -> &mut Client {
        self.clients.entry(conn).or_insert_with(|| Client {
            outbox: outbox.clone(),
            code: None,
            watching: Vec::new(),
        })
    }
}

/// Queues a message for a connection. A connection whose queue is full has stopped reading
/// (its send timeout ends it); what it misses meanwhile is dropped.
fn send(outbox: &Outbox, message: &ServerMessage) {
    let _ = outbox.try_send(message.to_json());
}

fn not_found(ring: &RingId) -> Refusal {
    Refusal::new(
        ErrorCode::RingNotFound,
        format!("ring {ring} is over (answered, cancelled or timed out) or is not yours"),
    )
}

#[cfg(test)]
mod tests;
