//! Rooms shared by several servers through Redis (`tincan-server --redis URL`).
//!
//! Rooms, members, held messages, departed peers, join rate limits, due expiries and the
//! room key live in Redis, every key with a TTL ([`KEY_TTL`]) so nothing outlives the
//! servers that use it. Each step on a room is one Lua script (lua/), so steps from
//! different servers never interleave. A message for a member goes to the channel of the
//! server its connection is on (`tincan:to:<server id>`), one subscription per server, and
//! that server puts it in the member's outbox ([`local`]). Every message to a member passes
//! through Redis in the order the scripts ran, so what one peer sends another arrives in
//! order, whichever servers they are on.
//!
//! Redis unreachable: joins and new rooms are refused (`unavailable`), signals between two
//! members on this server still go through, and [`upkeep`] notices Redis is back and puts
//! this server's members back into it (Redis may have lost everything) without a restart.
//! The design, and what it does not do, is in docs/deploy.md ("Several servers").

mod keys;
mod local;
mod scripts;
mod upkeep;
mod wire;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::FromRedisValue;
use tincan_protocol::{ErrorCode, LeaveReason, PeerId, PeerInfo, RoomCode, ServerMessage, Signal};

use crate::room_key::RoomKey;
use crate::rooms::{random_hex, ConnId, Joined, Outbox, RoomRules};
use local::{Delivered, Local, LocalPeer};
use scripts::Scripts;

/// Every key's time to live, refreshed while a server has members in the room: when every
/// server is gone, their rooms are gone from Redis this long after.
pub const KEY_TTL: Duration = Duration::from_secs(600);

/// A Redis command that takes longer than this counts as Redis being unreachable.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a shared-store step failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The room's rules said no (room full, not found, …).
    #[error("{0}")]
    Refused(ErrorCode),
    #[error("too many room attempts from this address")]
    RateLimited,
    #[error("the room store (Redis) is unreachable: {0}")]
    Unreachable(String),
}

/// Metrics the store keeps up to date.
#[derive(Clone, Default)]
pub struct StoreMetrics {
    /// 1 while Redis answers, 0 while it does not.
    pub up: Gauge,
    /// Redis commands that failed or timed out.
    pub errors: Counter,
    /// Signals relayed within this server while Redis was unreachable.
    pub relayed_locally: Counter,
}

pub struct SharedRooms {
    /// This process's id among the servers: its channel is `tincan:to:<id>`.
    server: String,
    client: redis::Client,
    redis: ConnectionManager,
    scripts: Scripts,
    rules: RoomRules,
    joins_per_minute: u32,
    local: Mutex<Local>,
    /// Resume tokens' key: the one in Redis (the first server's), so a token from any
    /// server is good at every other.
    key: RwLock<RoomKey>,
    /// Commands and the subscription both work.
    up: AtomicBool,
    /// This server's channel is subscribed to.
    subscribed: AtomicBool,
    metrics: StoreMetrics,
}

/// Milliseconds since the Unix epoch: the clock every server shares (keep them in NTP).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl SharedRooms {
    /// Connects (lazily: a server starts while Redis is down, and says so) and starts the
    /// subscription and the upkeep in the background.
    pub fn start(
        url: &str,
        rules: RoomRules,
        joins_per_minute: u32,
        key: RoomKey,
        metrics: StoreMetrics,
    ) -> Result<Arc<Self>, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let redis = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        let server = random_hex(6).map_err(|e| {
            redis::RedisError::from(std::io::Error::other(format!("no random source: {e}")))
        })?;
        let shared = Arc::new(Self {
            server,
            client,
            redis,
            scripts: Scripts::new(),
            rules,
            joins_per_minute,
            local: Mutex::default(),
            key: RwLock::new(key),
            up: AtomicBool::new(false),
            subscribed: AtomicBool::new(false),
            metrics,
        });
        tracing::info!(server = %shared.server, "rooms shared through Redis");
        upkeep::spawn(&shared);
        Ok(shared)
    }

    /// Whether Redis answers now (for /healthz).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Rooms with members on this server, and those members.
    pub fn counts(&self) -> (usize, usize) {
        let local = self.local();
        (local.rooms().len(), local.len())
    }

    /// Whether a member on this server is in `code`.
    pub fn has_local_room(&self, code: &RoomCode) -> bool {
        self.local().peers().any(|(_, p)| &p.room == code)
    }

    fn local(&self) -> MutexGuard<'_, Local> {
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn conn_name(&self, conn: ConnId) -> String {
        format!("{}:{conn}", self.server)
    }

    fn check_up(&self) -> Result<(), StoreError> {
        if self.is_up() {
            Ok(())
        } else {
            Err(StoreError::Unreachable("no answer".into()))
        }
    }

    /// Runs one script invocation with the command timeout; a failure marks Redis down
    /// until the upkeep sees it answer again.
    async fn run<T: FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut redis = self.redis.clone();
        let result = tokio::time::timeout(COMMAND_TIMEOUT, invocation.invoke_async(&mut redis));
        match result.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.failed(e.to_string())),
            Err(_) => Err(self.failed("timed out".into())),
        }
    }

    /// Runs a pipeline (or a single command) with the command timeout, as [`Self::run`].
    async fn query<T: FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T, StoreError> {
        let mut redis = self.redis.clone();
        match tokio::time::timeout(COMMAND_TIMEOUT, pipe.query_async(&mut redis)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.failed(e.to_string())),
            Err(_) => Err(self.failed("timed out".into())),
        }
    }

    /// Counts a failed command; marks Redis down when the failure is about reaching it.
    fn failed(&self, why: String) -> StoreError {
        self.metrics.errors.inc();
        if self.up.swap(false, Ordering::Relaxed) {
            tracing::error!(error = %why, "Redis unreachable: new joins are refused until it is back");
            self.metrics.up.set(0);
        }
        StoreError::Unreachable(why)
    }

    async fn check_join_rate(&self, ip: IpAddr) -> Result<(), StoreError> {
        let key = keys::joins(crate::limits::address_key(ip));
        let mut pipe = redis::pipe();
        pipe.incr(&key, 1)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(60)
            .arg("NX")
            .ignore();
        let (count,): (u32,) = self.query(&pipe).await?;
        if count > self.joins_per_minute {
            return Err(StoreError::RateLimited);
        }
        Ok(())
    }

    pub async fn create_room(&self, ip: IpAddr) -> Result<RoomCode, StoreError> {
        self.check_up()?;
        self.check_join_rate(ip).await?;
        loop {
            let code = RoomCode::generate()
                .map_err(|e| StoreError::Unreachable(format!("no random source: {e}")))?;
            let created: i64 = self
                .run(
                    self.scripts
                        .create
                        .prepare_invoke()
                        .arg(code.to_string())
                        .arg(now_ms())
                        .arg(self.rules.room_grace.as_millis() as u64)
                        .arg(KEY_TTL.as_secs()),
                )
                .await?;
            // 60 bits make a taken code vanishingly rare; trying again costs nothing.
            if created == 1 {
                return Ok(code);
            }
        }
    }

    /// Joins `code`, or takes the place back that `resume` names.
    pub async fn join(
        &self,
        ip: IpAddr,
        code: &RoomCode,
        name: &str,
        resume: Option<&str>,
        outbox: Outbox,
        conn: ConnId,
    ) -> Result<Joined, StoreError> {
        self.check_up()?;
        self.check_join_rate(ip).await?;
        let key = self.key.read().unwrap_or_else(|p| p.into_inner()).clone();
        let returning = resume.and_then(|token| key.verify(code, token));
        let fresh = PeerId(
            random_hex(8).map_err(|e| StoreError::Unreachable(format!("no random source: {e}")))?,
        );
        let joined_text = |id: &PeerId| {
            ServerMessage::PeerJoined {
                peer: PeerInfo {
                    id: id.clone(),
                    name: name.to_owned(),
                },
            }
            .to_json()
        };
        // Here before Redis knows, so nothing sent to it right after can miss it.
        let candidates: Vec<PeerId> = returning.iter().cloned().chain([fresh.clone()]).collect();
        let staged: Vec<(PeerId, Option<LocalPeer>)> = {
            let mut local = self.local();
            candidates
                .iter()
                .map(|id| {
                    let peer = LocalPeer {
                        room: code.clone(),
                        name: name.to_owned(),
                        conn,
                        outbox: Some(outbox.clone()),
                    };
                    (id.clone(), local.insert(id.clone(), peer))
                })
                .collect()
        };
        let unstage = |keep: Option<&PeerId>| {
            let mut local = self.local();
            for (id, before) in &staged {
                if Some(id) != keep {
                    local.restore(id, before.clone(), conn);
                }
            }
        };
        let reply: Result<Vec<String>, StoreError> = self
            .run(
                self.scripts
                    .join
                    .prepare_invoke()
                    .arg(code.to_string())
                    .arg(returning.as_ref().map_or("", |p| p.0.as_str()))
                    .arg(&fresh.0)
                    .arg(name)
                    .arg(&self.server)
                    .arg(self.conn_name(conn))
                    .arg(self.rules.capacity)
                    .arg(self.rules.held_messages)
                    .arg(KEY_TTL.as_secs())
                    .arg(returning.as_ref().map(joined_text).unwrap_or_default())
                    .arg(joined_text(&fresh)),
            )
            .await;
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) => {
                unstage(None);
                return Err(e);
            }
        };
        let parsed = parse_joined(&reply);
        let Some((status, peer_id, peers)) = parsed else {
            unstage(None);
            let code = match reply.first().map(String::as_str) {
                Some("room_not_found") => ErrorCode::RoomNotFound,
                Some("room_full") => ErrorCode::RoomFull,
                _ => ErrorCode::Internal,
            };
            return Err(StoreError::Refused(code));
        };
        unstage(Some(&peer_id));
        Ok(Joined {
            room: code.clone(),
            resume_token: key.resume_token(code, &peer_id),
            peer_id,
            peers,
            resumed: status != "joined",
        })
    }

    /// Relays `signal` from a member here to another member of its room, wherever it is.
    pub async fn relay(
        &self,
        from: &PeerId,
        to: &PeerId,
        signal: Signal,
    ) -> Result<(), StoreError> {
        let Some(room) = self.local().get(from).map(|p| p.room.clone()) else {
            return Err(StoreError::Refused(ErrorCode::NotInRoom));
        };
        let text = ServerMessage::Signal {
            from: from.clone(),
            signal,
        }
        .to_json();
        if !self.is_up() {
            return self.relay_here(&room, to, text);
        }
        let outcome: String = self
            .run(
                self.scripts
                    .relay
                    .prepare_invoke()
                    .arg(room.to_string())
                    .arg(&from.0)
                    .arg(&to.0)
                    .arg(&text)
                    .arg(self.rules.held_messages)
                    .arg(KEY_TTL.as_secs()),
            )
            .await?;
        match outcome.as_str() {
            "ok" => Ok(()),
            "not_in_room" => Err(StoreError::Refused(ErrorCode::NotInRoom)),
            _ => Err(StoreError::Refused(ErrorCode::PeerNotFound)),
        }
    }

    /// Without Redis: to a member of the same room on this server, or not at all.
    fn relay_here(&self, room: &RoomCode, to: &PeerId, text: String) -> Result<(), StoreError> {
        let mut local = self.local();
        if local.get(to).is_none_or(|p| &p.room != room) {
            return Err(StoreError::Unreachable(
                "the peer is on another server".into(),
            ));
        }
        if local.deliver(to, text) == Delivered::NotHere {
            return Err(StoreError::Refused(ErrorCode::PeerNotFound));
        }
        self.metrics.relayed_locally.inc();
        Ok(())
    }

    /// The member leaves its room (it said `leave`, or was cut off for not reading).
    pub async fn leave(&self, peer: &PeerId, conn: ConnId, reason: LeaveReason) {
        let Some(gone) = self.local().remove(peer, Some(conn)) else {
            return; // resumed on another connection since
        };
        let text = ServerMessage::PeerLeft {
            peer_id: peer.clone(),
            reason,
        }
        .to_json();
        // Redis unreachable: the upkeep finds it gone when Redis is back (it is away, then
        // left, for the others).
        let _ = self
            .run::<i64>(
                self.scripts
                    .leave
                    .prepare_invoke()
                    .arg(gone.room.to_string())
                    .arg(&peer.0)
                    .arg(self.conn_name(conn))
                    .arg(&text)
                    .arg(now_ms())
                    .arg(self.rules.room_grace.as_millis() as u64)
                    .arg(self.rules.held_messages)
                    .arg(KEY_TTL.as_secs()),
            )
            .await;
    }

    /// The member's connection ended without `leave`: its place waits the reconnect grace.
    pub async fn connection_lost(&self, peer: &PeerId, conn: ConnId, reason: LeaveReason) {
        let Some(gone) = self.local().remove(peer, Some(conn)) else {
            return;
        };
        let conn = self.conn_name(conn);
        let _ = self
            .mark_lost(&gone.room, peer, &self.server, &conn, reason)
            .await;
    }

    /// Marks `peer` away if its connection is `conn` on `server` (any, for ""), with the
    /// grace running out into `peer_left` with `reason`.
    async fn mark_lost(
        &self,
        room: &RoomCode,
        peer: &PeerId,
        server: &str,
        conn: &str,
        reason: LeaveReason,
    ) -> Result<bool, StoreError> {
        let away = ServerMessage::PeerAway {
            peer_id: peer.clone(),
        }
        .to_json();
        let marked: i64 = self
            .run(
                self.scripts
                    .lost
                    .prepare_invoke()
                    .arg(room.to_string())
                    .arg(&peer.0)
                    .arg(server)
                    .arg(conn)
                    .arg(&away)
                    .arg(now_ms())
                    .arg(self.rules.reconnect_grace.as_millis() as u64)
                    .arg(reason_name(reason))
                    .arg(self.rules.held_messages)
                    .arg(KEY_TTL.as_secs()),
            )
            .await?;
        Ok(marked == 1)
    }

    /// Whether a room with `code` exists on any server.
    pub async fn has_room(&self, code: &RoomCode) -> bool {
        if self.has_local_room(code) {
            return true;
        }
        let mut pipe = redis::pipe();
        pipe.exists(keys::room(code));
        matches!(self.query::<(bool,)>(&pipe).await, Ok((true,)))
    }

    /// A message from this server's channel.
    fn on_frame(&self, payload: &[u8]) {
        match wire::Frame::parse(payload) {
            Some(wire::Frame::Deliver { peer, text }) => {
                self.local()
                    .deliver(&PeerId(peer.to_owned()), text.to_owned());
            }
            Some(wire::Frame::Superseded { peer, conn }) => {
                let mine = conn
                    .strip_prefix(&self.server)
                    .and_then(|rest| rest.strip_prefix(':'))
                    .and_then(|n| n.parse::<ConnId>().ok());
                if let Some(conn) = mine {
                    // Dropping its outbox ends that connection (as cut off; its leave then
                    // finds the place held by the new connection and does nothing).
                    if self
                        .local()
                        .remove(&PeerId(peer.to_owned()), Some(conn))
                        .is_some()
                    {
                        tracing::info!(peer = %peer, "resumed on another connection; this one ends");
                    }
                }
            }
            None => tracing::debug!("skipped an unreadable message on this server's channel"),
        }
    }
}

/// The reason's wire name (the protocol's), as a due entry keeps it.
fn reason_name(reason: LeaveReason) -> String {
    match serde_json::to_value(reason) {
        Ok(serde_json::Value::String(name)) => name,
        _ => "disconnected".to_owned(),
    }
}

/// The reason a due entry names; one this build does not know reads as `disconnected`.
fn reason_from(name: &str) -> LeaveReason {
    match serde_json::from_value(serde_json::Value::String(name.to_owned())) {
        Ok(LeaveReason::Other) | Err(_) => LeaveReason::Disconnected,
        Ok(reason) => reason,
    }
}

/// The join script's reply: status, peer id and the others (id, name) in join order; None
/// for a refusal.
fn parse_joined(reply: &[String]) -> Option<(String, PeerId, Vec<PeerInfo>)> {
    let [status, peer, count, rest @ ..] = reply else {
        return None;
    };
    let count: usize = count.parse().ok()?;
    if rest.len() != count * 2 {
        return None;
    }
    let peers = rest
        .chunks_exact(2)
        .map(|pair| PeerInfo {
            id: PeerId(pair[0].clone()),
            name: pair[1].clone(),
        })
        .collect();
    Some((status.clone(), PeerId(peer.clone()), peers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_join_reply_reads_back_and_refusals_are_none() {
        let reply: Vec<String> = ["joined", "p2", "1", "p1", "Ada"]
            .map(String::from)
            .to_vec();
        let (status, id, peers) = parse_joined(&reply).unwrap();
        assert_eq!((status.as_str(), id.0.as_str()), ("joined", "p2"));
        assert_eq!(peers.len(), 1);
        assert_eq!(
            (peers[0].id.0.as_str(), peers[0].name.as_str()),
            ("p1", "Ada")
        );
        assert!(parse_joined(&["room_full".to_owned()]).is_none());
        let short: Vec<String> = ["joined", "p2", "2", "p1", "Ada"]
            .map(String::from)
            .to_vec();
        assert!(parse_joined(&short).is_none());
    }

    #[test]
    fn reasons_survive_a_due_entry() {
        for reason in [
            LeaveReason::Left,
            LeaveReason::Timeout,
            LeaveReason::Disconnected,
        ] {
            assert_eq!(reason_from(&reason_name(reason)), reason);
        }
    }
}
