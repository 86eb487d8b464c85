//! The state every connection shares: rooms, the join limiter, ICE settings and metrics.
//! Locks are held only for the synchronous registry calls, never across an await.
//!
//! Rooms live in one of two stores: this process's memory ([`Registry`], the default: a
//! single server, the app's built-in one), or Redis, shared with other servers
//! ([`SharedRooms`], `--redis`).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use tincan_protocol::{ErrorCode, IceServer, LeaveReason, PeerId, RoomCode, ServerMessage, Signal};

use crate::config::{Config, Limits, TurnConfig};
use crate::directory::{Directory, DirectoryRules};
use crate::limits::{ConnectionCounts, JoinLimiter};
use crate::metrics::Metrics;
use crate::room_key::RoomKey;
use crate::rooms::{ConnId, Joined, Outbox, Registry, RoomRules, Timer};
use crate::shared::{SharedRooms, StoreError, StoreMetrics};
use crate::turn;

mod people;

/// A refusal: the code a client branches on and the words a person reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Where rooms live.
enum Rooms {
    Memory(Mutex<Registry>),
    Shared(Arc<SharedRooms>),
}

pub struct Hub {
    pub limits: Limits,
    pub metrics: Metrics,
    rooms: Rooms,
    directory: Mutex<Directory>,
    joins: Mutex<JoinLimiter>,
    rings: Mutex<JoinLimiter>,
    public_hosts: Vec<String>,
    per_address: Mutex<ConnectionCounts>,
    stun_urls: Vec<String>,
    turn: Option<TurnConfig>,
    lan_lookup: bool,
    allowed_origins: Vec<String>,
    next_conn: AtomicU64,
    open: AtomicUsize,
}

/// Counts an open connection for as long as it lives.
pub struct ConnectionSlot {
    hub: Arc<Hub>,
    pub id: ConnId,
    /// Set once the connection is counted against its address.
    address: Option<IpAddr>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.hub.open.fetch_sub(1, Ordering::Relaxed);
        self.hub.metrics.connections.dec();
        if let Some(ip) = self.address {
            self.hub
                .per_address
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .close(ip);
        }
    }
}

impl Hub {
    /// A hub with its rooms in memory, or in Redis when `config.redis` names one (a bad
    /// URL is the error; a Redis that does not answer yet is not).
    pub fn new(config: &Config, key: RoomKey) -> Result<Arc<Self>, redis::RedisError> {
        let limits = config.limits.clone();
        let rules = RoomRules {
            capacity: limits.room_capacity,
            room_grace: limits.room_grace,
            reconnect_grace: limits.reconnect_grace,
            held_messages: limits.held_messages,
        };
        let mut metrics = Metrics::new();
        let rooms = match &config.redis {
            Some(url) => {
                let store_metrics = StoreMetrics::default();
                metrics.register_store(&store_metrics);
                Rooms::Shared(SharedRooms::start(
                    url,
                    rules,
                    limits.joins_per_minute,
                    key,
                    store_metrics,
                )?)
            }
            None => Rooms::Memory(Mutex::new(Registry::new(rules, key))),
        };
        Ok(Arc::new(Self {
            rooms,
            directory: Mutex::new(Directory::new(DirectoryRules {
                ring_timeout: limits.ring_timeout,
                ..DirectoryRules::default()
            })),
            joins: Mutex::new(JoinLimiter::new(limits.joins_per_minute, Instant::now())),
            rings: Mutex::new(JoinLimiter::new(limits.rings_per_minute, Instant::now())),
            public_hosts: config
                .public_hosts
                .iter()
                .map(|h| tincan_protocol::canonical_host(h))
                .collect(),
            per_address: Mutex::default(),
            limits,
            metrics,
            stun_urls: config.stun_urls.clone(),
            turn: config.turn.clone(),
            lan_lookup: config.lan_lookup,
            allowed_origins: config
                .allowed_origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
            next_conn: AtomicU64::new(1),
            open: AtomicUsize::new(0),
        }))
    }

    /// A slot for a new connection from `ip`, or the refusal when the server is at its
    /// connection limit or that address (its /64 for IPv6) at its own.
    pub fn open_connection(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionSlot, Refusal> {
        let before = self.open.fetch_add(1, Ordering::Relaxed);
        self.metrics.connections.inc();
        let mut slot = ConnectionSlot {
            hub: Arc::clone(self),
            id: self.next_conn.fetch_add(1, Ordering::Relaxed),
            address: None,
        };
        // Refusals leave the slot's drop to undo the counts.
        if before >= self.limits.max_connections {
            return Err(Refusal::new(
                ErrorCode::ServerFull,
                "the server is at its connection limit; try again in a minute",
            ));
        }
        let cap = self.limits.max_connections_per_address;
        if !self
            .per_address
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .open(ip, cap)
        {
            return Err(Refusal::new(
                ErrorCode::RateLimited,
                format!(
                    "{cap} connections from your address are open already; close some and \
                     try again"
                ),
            ));
        }
        slot.address = Some(ip);
        self.metrics.connections_total.inc();
        Ok(slot)
    }

    pub async fn create_room(self: &Arc<Self>, ip: IpAddr) -> Result<RoomCode, Refusal> {
        let code = match &self.rooms {
            Rooms::Memory(registry) => {
                self.check_join_rate(ip)?;
                let (code, timer) = lock(registry)
                    .create_room(Instant::now())
                    .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))?;
                self.schedule(timer, LeaveReason::Disconnected);
                code
            }
            Rooms::Shared(shared) => shared
                .create_room(ip)
                .await
                .map_err(|e| self.store_refusal(e, None))?,
        };
        self.refresh_gauges();
        Ok(code)
    }

    /// Joins a room by the code as the person typed it; the reply is a `joined` message.
    pub async fn join(
        self: &Arc<Self>,
        ip: IpAddr,
        room: &str,
        name: &str,
        resume: Option<&str>,
        outbox: Outbox,
        conn: ConnId,
    ) -> Result<(PeerId, ServerMessage), Refusal> {
        let code = RoomCode::parse(room)
            .map_err(|e| Refusal::new(ErrorCode::InvalidRoomCode, e.to_string()))?;
        let name = valid_name(name)?;
        let joined: Result<Joined, ErrorCode> = match &self.rooms {
            Rooms::Memory(registry) => {
                self.check_join_rate(ip)?;
                lock(registry).join(&code, &name, resume, outbox, conn)
            }
            Rooms::Shared(shared) => {
                match shared.join(ip, &code, &name, resume, outbox, conn).await {
                    Ok(joined) => Ok(joined),
                    Err(StoreError::Refused(code)) => Err(code),
                    Err(e) => return Err(self.store_refusal(e, None)),
                }
            }
        };
        let joined = joined.map_err(|code_err| match code_err {
            ErrorCode::RoomNotFound => Refusal::new(
                code_err,
                format!(
                    "no room has the code {code}: check it with the person who sent it, \
                         or create a new room"
                ),
            ),
            ErrorCode::RoomFull => Refusal::new(
                code_err,
                format!(
                    "room {code} is full ({} people): ask someone to leave, or start \
                         another room",
                    self.limits.room_capacity
                ),
            ),
            other => Refusal::new(other, "could not join the room; try again"),
        })?;
        self.refresh_gauges();
        let reply = ServerMessage::Joined {
            ice_servers: self.ice_servers(&joined.peer_id),
            room: joined.room,
            peer_id: joined.peer_id.clone(),
            peers: joined.peers,
            resume_token: joined.resume_token,
            resumed: joined.resumed,
            capacity: self.limits.room_capacity,
        };
        Ok((joined.peer_id, reply))
    }

    pub async fn relay(&self, from: &PeerId, to: &PeerId, signal: Signal) -> Result<(), Refusal> {
        let not_here = |code| {
            Refusal::new(
                code,
                format!("peer {to} is not in your room (it may have left)"),
            )
        };
        match &self.rooms {
            Rooms::Memory(registry) => lock(registry).relay(from, to, signal).map_err(not_here)?,
            Rooms::Shared(shared) => match shared.relay(from, to, signal).await {
                Ok(()) => {}
                Err(StoreError::Refused(code)) => return Err(not_here(code)),
                Err(e) => return Err(self.store_refusal(e, Some(to))),
            },
        }
        self.metrics.relayed.inc();
        Ok(())
    }

    /// The peer leaves its room at once, and the room is told why: `left` when it said
    /// `leave`, `timeout` when its connection was cut for not reading (nothing reaches it).
    pub async fn leave(self: &Arc<Self>, peer: &PeerId, conn: ConnId, reason: LeaveReason) {
        match &self.rooms {
            Rooms::Memory(registry) => {
                let timer = lock(registry).leave(peer, Some(conn), reason, Instant::now());
                if let Some(timer) = timer {
                    self.schedule(timer, reason);
                }
            }
            Rooms::Shared(shared) => shared.leave(peer, conn, reason).await,
        }
        self.refresh_gauges();
    }

    /// The connection of a peer in a room ended without `leave`.
    pub async fn connection_lost(
        self: &Arc<Self>,
        peer: &PeerId,
        conn: ConnId,
        reason: LeaveReason,
    ) {
        tracing::info!(peer = %peer, ?reason, "connection lost; place kept for a reconnect");
        match &self.rooms {
            Rooms::Memory(registry) => {
                let timer = lock(registry).connection_lost(peer, conn, Instant::now());
                if let Some(timer) = timer {
                    self.schedule(timer, reason);
                }
            }
            Rooms::Shared(shared) => shared.connection_lost(peer, conn, reason).await,
        }
        self.refresh_gauges();
    }

    /// What a person is told when the room store failed them.
    fn store_refusal(&self, error: StoreError, to: Option<&PeerId>) -> Refusal {
        match (error, to) {
            (StoreError::Refused(code), _) => Refusal::new(code, "could not do that; try again"),
            (StoreError::RateLimited, _) => self.join_rate_refusal(),
            (StoreError::Unreachable(why), Some(to)) => Refusal::new(
                ErrorCode::Unavailable,
                format!(
                    "this server cannot reach peer {to} now ({why}); the signal was dropped, \
                     try again in a few seconds"
                ),
            ),
            (StoreError::Unreachable(why), None) => Refusal::new(
                ErrorCode::Unavailable,
                format!(
                    "this server cannot reach its room store now ({why}), so it cannot open \
                     or join rooms; calls in progress go on. Try again in a minute"
                ),
            ),
        }
    }

    /// Whether rooms can be opened and joined now: None when they can, else why not.
    pub fn unhealthy(&self) -> Option<&'static str> {
        match &self.rooms {
            Rooms::Shared(shared) if !shared.is_up() => Some("redis unreachable"),
            _ => None,
        }
    }

    fn schedule(self: &Arc<Self>, timer: Timer, reason: LeaveReason) {
        let hub = Arc::clone(self);
        let at = match &timer {
            Timer::Room { at, .. } | Timer::Peer { at, .. } => *at,
        };
        tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            let now = Instant::now();
            let next = match timer {
                Timer::Room { code, .. } => {
                    if hub
                        .registry()
                        .is_some_and(|mut r| r.expire_room(&code, now))
                    {
                        tracing::info!(room = %tincan_protocol::lan::room_tag(&code), "room ended");
                    }
                    None
                }
                Timer::Peer { id, since, .. } => hub
                    .registry()
                    .and_then(|mut r| r.expire_peer(&id, since, reason, now)),
            };
            if let Some(next) = next {
                hub.schedule(next, reason);
            }
            hub.refresh_gauges();
        });
    }

    /// The names a registration may be signed for (the server as the client dialled it):
    /// this server's public names, or without those, the `Host` the connection came with.
    pub fn names_for(&self, host_header: Option<&str>) -> Vec<String> {
        if self.public_hosts.is_empty() {
            host_header.map(str::to_owned).into_iter().collect()
        } else {
            self.public_hosts.clone()
        }
    }

    /// Whether a browser page from `origin` may use this server, asked at `host` (the
    /// request's Host header): its own pages, the desktop app's page, and the listed origins.
    pub fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        let own = host.is_some_and(|host| {
            let host = host.to_ascii_lowercase();
            origin == format!("http://{host}") || origin == format!("https://{host}")
        });
        own || tincan_protocol::APP_ORIGINS.contains(&origin.as_str())
            || self.allowed_origins.iter().any(|o| *o == origin)
    }

    /// Answers a LAN lookup (`tincan_protocol::lan`): the proof for the hosted room whose
    /// tag is `tag`, or None. Counts against `ip`'s join budget like a join. Tag and nonce
    /// are checked by the caller.
    pub fn lookup(&self, ip: IpAddr, tag: &str, nonce: &str) -> Result<Option<String>, Refusal> {
        if !self.lan_lookup {
            return Ok(None);
        }
        // A shared store's servers are public ones: they answer no LAN lookups.
        if self.registry().is_none() {
            return Ok(None);
        }
        self.check_join_rate(ip)?;
        let Some(registry) = self.registry() else {
            return Ok(None);
        };
        let found = registry
            .codes()
            .find(|code| tincan_protocol::lan::room_tag(code) == tag);
        Ok(found.map(|code| tincan_protocol::lan::proof(code, nonce)))
    }

    /// Whether a room with `code` is open here (with a shared store: has a member here).
    pub fn hosts_room(&self, code: &RoomCode) -> bool {
        match &self.rooms {
            Rooms::Memory(registry) => lock(registry).has_room(code),
            Rooms::Shared(shared) => shared.has_local_room(code),
        }
    }

    fn check_join_rate(&self, ip: IpAddr) -> Result<(), Refusal> {
        let allowed = self
            .joins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allow(ip, Instant::now());
        if allowed {
            Ok(())
        } else {
            Err(self.join_rate_refusal())
        }
    }

    fn join_rate_refusal(&self) -> Refusal {
        Refusal::new(
            ErrorCode::RateLimited,
            format!(
                "too many room attempts from your address (limit {} a minute); wait a minute \
                 and try again",
                self.limits.joins_per_minute
            ),
        )
    }

    pub fn ice_servers(&self, peer: &PeerId) -> Vec<IceServer> {
        let mut servers = Vec::new();
        if !self.stun_urls.is_empty() {
            servers.push(IceServer {
                urls: self.stun_urls.clone(),
                username: None,
                credential: None,
            });
        }
        if let Some(turn) = &self.turn {
            let c = turn::credential(&turn.secret, &peer.0, turn.ttl, SystemTime::now());
            servers.push(IceServer {
                urls: turn.urls.clone(),
                username: Some(c.username),
                credential: Some(c.password),
            });
        }
        servers
    }

    fn refresh_gauges(&self) {
        let (rooms, peers) = self.counts();
        self.metrics.rooms.set(rooms as i64);
        self.metrics.peers.set(peers as i64);
    }

    /// Rooms and peers, for tests and health output (with a shared store: the rooms with a
    /// member on this server, and those members).
    pub fn counts(&self) -> (usize, usize) {
        match &self.rooms {
            Rooms::Memory(registry) => {
                let reg = lock(registry);
                (reg.room_count(), reg.peer_count())
            }
            Rooms::Shared(shared) => shared.counts(),
        }
    }

    /// The in-memory registry, when rooms are kept in memory.
    fn registry(&self) -> Option<MutexGuard<'_, Registry>> {
        match &self.rooms {
            Rooms::Memory(registry) => Some(lock(registry)),
            Rooms::Shared(_) => None,
        }
    }
}

fn lock(registry: &Mutex<Registry>) -> MutexGuard<'_, Registry> {
    // A panic while holding the lock leaves the registry consistent (every method finishes
    // its edits before it can fail), so a poisoned lock is still usable.
    registry.lock().unwrap_or_else(|p| p.into_inner())
}

/// A display name: trimmed, 1 to 64 characters, no control characters.
fn valid_name(name: &str) -> Result<String, Refusal> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > tincan_protocol::MAX_NAME_CHARS {
        return Err(Refusal::new(
            ErrorCode::BadMessage,
            format!(
                "a display name has 1 to {} characters",
                tincan_protocol::MAX_NAME_CHARS
            ),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Refusal::new(
            ErrorCode::BadMessage,
            "a display name cannot contain control characters",
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|&c| tincan_protocol::is_hidden_formatting(c))
    {
        return Err(Refusal::new(
            ErrorCode::BadMessage,
            format!(
                "a display name cannot contain invisible formatting (U+{:04X}): it could make \
                 the name show as another",
                u32::from(c)
            ),
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn names_with_hidden_formatting_are_refused_and_emoji_sequences_kept() {
        for bad in [
            "Ada\u{202E}reversed",
            "A\u{200B}da",
            "\u{2066}Bo\u{2069}",
            "\u{FEFF}Cy",
            "Di\u{E0041}",
        ] {
            let refusal = valid_name(bad).expect_err(bad);
            assert!(
                refusal.message.contains("invisible formatting"),
                "{}",
                refusal.message
            );
        }
        for good in ["Ada", "Zoë", "محمد", "👩\u{200D}💻 Ada", "می\u{200C}خواهم"] {
            assert_eq!(valid_name(good).as_deref(), Ok(good), "{good:?}");
        }
    }
}
