//! The shared store's background work: the subscription to this server's channel, and once
//! a [`TICK`] the heartbeat, the expiries that came due, servers that stopped answering,
//! and, when Redis comes back or lost its state, putting this server's members back.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use futures_util::StreamExt;
use tincan_protocol::{LeaveReason, PeerId, RoomCode, ServerMessage};

use super::keys::{self, DUE, EPOCH, KEY, SERVERS};
use super::{now_ms, reason_from, SharedRooms, StoreError, COMMAND_TIMEOUT, KEY_TTL};
use crate::room_key::RoomKey;
use crate::rooms::ConnId;

const TICK: Duration = Duration::from_secs(1);

/// A server whose heartbeat is this old is taken for dead: its members are away (and
/// leave when the reconnect grace runs out, unless they resume on another server).
const DEAD_AFTER: Duration = Duration::from_secs(5);

/// The TTLs of the rooms with members here are renewed once in this many ticks (a minute),
/// a slice of the rooms each tick: all at once was a burst of 10,000 commands that held
/// Redis up for every server's signals.
const TOUCH_SLICES: u64 = 60;

/// Members put back into Redis at once.
const RESTORE_BATCH: usize = 256;

/// Due entries handled per tick at most.
const DUE_BATCH: usize = 256;

pub fn spawn(shared: &Arc<SharedRooms>) {
    tokio::spawn(subscribe(Arc::downgrade(shared)));
    tokio::spawn(tend(Arc::downgrade(shared)));
}

/// Reads this server's channel for as long as the store lives, subscribing again whenever
/// the connection breaks.
async fn subscribe(weak: Weak<SharedRooms>) {
    loop {
        let Some(shared) = weak.upgrade() else { return };
        let client = shared.client.clone();
        let channel = keys::channel(&shared.server);
        drop(shared);
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match tokio::time::timeout(COMMAND_TIMEOUT, subscribed).await {
            Ok(Ok(pubsub)) => {
                if let Some(shared) = weak.upgrade() {
                    shared.subscribed.store(true, Ordering::Relaxed);
                }
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    let Some(shared) = weak.upgrade() else { return };
                    shared.on_frame(message.get_payload_bytes());
                }
                let Some(shared) = weak.upgrade() else { return };
                shared.subscribed.store(false, Ordering::Relaxed);
                shared.failed("the subscription to this server's channel ended".into());
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "cannot subscribe yet"),
            Err(_) => tracing::debug!("subscribing timed out"),
        }
        tokio::time::sleep(TICK / 2).await;
    }
}

/// What the last tick knew.
struct Tending {
    /// Redis's `tincan:epoch` when this server last put its members there: a different
    /// one (or none) means Redis lost its state since.
    epoch: Option<String>,
    /// When Redis last came back: dead servers are not judged until every server had time
    /// to send a heartbeat again.
    back_at: Instant,
    /// Ticks so far: which slice of the rooms to touch.
    ticks: u64,
}

async fn tend(weak: Weak<SharedRooms>) {
    let mut state = Tending {
        epoch: None,
        back_at: Instant::now(),
        ticks: 0,
    };
    loop {
        tokio::time::sleep(TICK).await;
        let Some(shared) = weak.upgrade() else { return };
        // A failure is counted and logged where it happened; the next tick tries again.
        if let Err(e) = tick(&shared, &mut state).await {
            tracing::debug!(error = %e, "room store upkeep");
        }
    }
}

async fn tick(shared: &SharedRooms, state: &mut Tending) -> Result<(), StoreError> {
    let now = now_ms();
    let epoch = heartbeat(shared, now).await?;
    let lost_state = epoch.is_none() || epoch != state.epoch;
    if !shared.is_up() || lost_state {
        if !shared.subscribed.load(Ordering::Relaxed) {
            return Ok(()); // not yet: messages for our members would be missed
        }
        let restored = recover(shared, state).await?;
        shared.up.store(true, Ordering::Relaxed);
        shared.metrics.up.set(1);
        state.back_at = Instant::now();
        tracing::warn!(
            server = %shared.server,
            members = restored,
            "Redis reachable: joins are taken again (this server's members put back)"
        );
    }
    expire_due(shared, now).await?;
    if state.back_at.elapsed() > DEAD_AFTER {
        reap(shared, now).await?;
    }
    touch_rooms(shared, state.ticks % TOUCH_SLICES).await?;
    state.ticks += 1;
    Ok(())
}

/// Says this server is alive; returns Redis's epoch.
async fn heartbeat(shared: &SharedRooms, now: u64) -> Result<Option<String>, StoreError> {
    let ttl = KEY_TTL.as_secs();
    let mut pipe = redis::pipe();
    pipe.zadd(SERVERS, &shared.server, now)
        .ignore()
        .expire(SERVERS, ttl as i64)
        .ignore()
        .expire(keys::on(&shared.server), ttl as i64)
        .ignore()
        .expire(KEY, ttl as i64)
        .ignore()
        .expire(EPOCH, ttl as i64)
        .ignore()
        .get(EPOCH);
    let (epoch,): (Option<String>,) = shared.query(&pipe).await?;
    Ok(epoch)
}

/// Shares the room key, marks the epoch, and puts this server's members back; returns how
/// many it holds.
async fn recover(shared: &SharedRooms, state: &mut Tending) -> Result<usize, StoreError> {
    let mine = shared
        .key
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .to_bytes();
    let fresh_epoch = super::random_hex(8)
        .map_err(|e| StoreError::Unreachable(format!("no random source: {e}")))?;
    let ttl = KEY_TTL.as_secs();
    let mut pipe = redis::pipe();
    pipe.set_options(
        KEY,
        mine,
        redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::EX(ttl)),
    )
    .ignore()
    .get(KEY)
    .set_options(
        EPOCH,
        fresh_epoch,
        redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::EX(ttl)),
    )
    .ignore()
    .get(EPOCH)
    .smembers(keys::on(&shared.server));
    let (key, epoch, listed): (Vec<u8>, Option<String>, Vec<String>) = shared.query(&pipe).await?;
    match RoomKey::from_bytes(&key) {
        Some(key) => *shared.key.write().unwrap_or_else(|p| p.into_inner()) = key,
        None => tracing::error!(
            "the room key in Redis is not a key; resume tokens use this server's own"
        ),
    }

    let members: Vec<(PeerId, RoomCode, String, u64)> = shared
        .local()
        .peers()
        .map(|(id, p)| (id.clone(), p.room.clone(), p.name.clone(), p.conn))
        .collect();
    let here: HashSet<String> = members
        .iter()
        .map(|(id, room, _, _)| format!("{room} {}", id.0))
        .collect();
    // Many at once: they share the one connection, so Redis gets them back to back.
    for chunk in members.chunks(RESTORE_BATCH) {
        let restored = chunk
            .iter()
            .map(|(id, room, name, conn)| restore(shared, id, room, name, *conn));
        for (status, (id, _, _, conn)) in join_all(restored).await.into_iter().zip(chunk) {
            if status? == "taken" {
                // Another connection has its place (or it left meanwhile): this one ends, and
                // the client comes back with its token.
                shared.local().remove(id, Some(*conn));
            }
        }
    }
    // Listed as here, but whose connections ended while Redis was away: away now.
    for entry in listed.iter().filter(|e| !here.contains(*e)) {
        let Some((room, peer)) = entry.split_once(' ') else {
            continue;
        };
        let Ok(room) = RoomCode::parse(room) else {
            continue;
        };
        let _ = shared
            .mark_lost(
                &room,
                &PeerId(peer.to_owned()),
                &shared.server,
                "",
                LeaveReason::Disconnected,
            )
            .await;
    }
    state.epoch = epoch;
    Ok(members.len())
}

/// Puts one member connected here back into Redis: `kept`, `back` or `taken`.
async fn restore(
    shared: &SharedRooms,
    id: &PeerId,
    room: &RoomCode,
    name: &str,
    conn: ConnId,
) -> Result<String, StoreError> {
    let back = ServerMessage::PeerJoined {
        peer: tincan_protocol::PeerInfo {
            id: id.clone(),
            name: name.to_owned(),
        },
    }
    .to_json();
    shared
        .run(
            shared
                .scripts
                .restore
                .prepare_invoke()
                .arg(room.to_string())
                .arg(&id.0)
                .arg(name)
                .arg(&shared.server)
                .arg(shared.conn_name(conn))
                .arg(&back)
                .arg(shared.rules.held_messages)
                .arg(KEY_TTL.as_secs()),
        )
        .await
}

/// Ends the rooms and places whose time ran out, whichever server they were on.
async fn expire_due(shared: &SharedRooms, now: u64) -> Result<(), StoreError> {
    let mut pipe = redis::pipe();
    pipe.cmd("ZRANGEBYSCORE")
        .arg(DUE)
        .arg("-inf")
        .arg(now)
        .arg("LIMIT")
        .arg(0)
        .arg(DUE_BATCH);
    let (due,): (Vec<String>,) = shared.query(&pipe).await?;
    for entry in due {
        // 'p <code> <peer> <since> <reason>' tells its room the peer left, for that reason.
        let left = match entry.split(' ').collect::<Vec<_>>()[..] {
            ["p", _, peer, _, reason] => ServerMessage::PeerLeft {
                peer_id: PeerId(peer.to_owned()),
                reason: reason_from(reason),
            }
            .to_json(),
            _ => String::new(),
        };
        let ended: i64 = shared
            .run(
                shared
                    .scripts
                    .expire
                    .prepare_invoke()
                    .arg(&entry)
                    .arg(&left)
                    .arg(now)
                    .arg(shared.rules.room_grace.as_millis() as u64)
                    .arg(shared.rules.held_messages)
                    .arg(KEY_TTL.as_secs()),
            )
            .await?;
        if ended == 1 {
            tracing::debug!(entry = %entry, "expired");
        }
    }
    Ok(())
}

/// Servers that stopped sending heartbeats: one live server claims each, and its members
/// become away (they may resume anywhere within the reconnect grace).
async fn reap(shared: &SharedRooms, now: u64) -> Result<(), StoreError> {
    let before = now.saturating_sub(DEAD_AFTER.as_millis() as u64);
    let mut pipe = redis::pipe();
    pipe.cmd("ZRANGEBYSCORE")
        .arg(SERVERS)
        .arg("-inf")
        .arg(before);
    let (dead,): (Vec<String>,) = shared.query(&pipe).await?;
    for server in dead.iter().filter(|s| **s != shared.server) {
        let on = keys::on(server);
        let mut claim = redis::pipe();
        claim
            .atomic()
            .zrem(SERVERS, server)
            .smembers(&on)
            .del(&on)
            .ignore();
        let (claimed, members): (i64, Vec<String>) = shared.query(&claim).await?;
        if claimed == 0 {
            continue; // another server took it
        }
        tracing::warn!(server = %server, members = members.len(), "a server stopped answering; its members are away");
        for entry in members {
            let Some((room, peer)) = entry.split_once(' ') else {
                continue;
            };
            let Ok(room) = RoomCode::parse(room) else {
                continue;
            };
            let peer = PeerId(peer.to_owned());
            let _ = shared
                .mark_lost(&room, &peer, server, "", LeaveReason::Disconnected)
                .await;
        }
    }
    Ok(())
}

/// Renews the TTLs of the rooms with members here.
async fn touch_rooms(shared: &SharedRooms, slice: u64) -> Result<(), StoreError> {
    let rooms: Vec<RoomCode> = shared
        .local()
        .rooms()
        .into_iter()
        .filter(|room| slice_of(room) == slice)
        .collect();
    if rooms.is_empty() {
        return Ok(());
    }
    let ttl = KEY_TTL.as_secs() as i64;
    let mut pipe = redis::pipe();
    for room in &rooms {
        pipe.expire(keys::room(room), ttl)
            .ignore()
            .expire(keys::gone(room), ttl)
            .ignore();
    }
    shared.query::<()>(&pipe).await
}

/// Which of the [`TOUCH_SLICES`] a room's TTL is renewed in.
fn slice_of(room: &RoomCode) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(room, &mut hasher);
    std::hash::Hasher::finish(&hasher) % TOUCH_SLICES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_spread_over_the_slices() {
        let mut counts = [0u32; TOUCH_SLICES as usize];
        for _ in 0..6000 {
            let room = RoomCode::generate().unwrap();
            counts[slice_of(&room) as usize] += 1;
        }
        // 100 a slice on average; none is a burst of many times that.
        assert!(counts.iter().all(|&c| (40..250).contains(&c)), "{counts:?}");
    }
}
