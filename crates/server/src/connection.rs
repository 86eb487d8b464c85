//! One WebSocket connection: handshake, limits, and dispatch of client messages.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use tincan_protocol::{
    decode_client, ClientMessage, ErrorCode, LeaveReason, PeerId, ServerMessage, PROTOCOL_VERSION,
};
use tokio::sync::mpsc;

use crate::hub::{ConnectionSlot, Hub, Refusal};
use crate::limits::TokenBucket;

/// Close codes (RFC 6455 section 7.4).
const CLOSE_POLICY: u16 = 1008;
const CLOSE_TRY_LATER: u16 = 1013;

enum Phase {
    /// Waiting for `hello`.
    Handshake,
    /// Greeted, in no room.
    Lobby,
    /// In a room; room traffic arrives on `inbox`.
    InRoom {
        peer: PeerId,
        inbox: mpsc::Receiver<String>,
    },
}

/// Why the loop ended, which decides what the room is told.
enum End {
    /// The client closed or the socket failed: keep its place for a reconnect.
    Dropped,
    /// Silent past the idle timeout.
    Idle,
    /// The server cut it off (fell too far behind).
    CutOff,
}

pub async fn serve(hub: Arc<Hub>, socket: WebSocket, ip: IpAddr) {
    let Some(slot) = hub.open_connection() else {
        refuse_full(&hub, socket).await;
        return;
    };
    let mut connection = Connection {
        bucket: TokenBucket::new(
            hub.limits.messages_per_second,
            hub.limits.message_burst,
            Instant::now(),
        ),
        hub,
        ip,
        slot,
        socket,
        phase: Phase::Handshake,
        last_heard: Instant::now(),
        last_rate_error: None,
    };
    let end = connection.run().await;
    connection.finish(end).await;
}

async fn refuse_full(hub: &Hub, mut socket: WebSocket) {
    hub.metrics.error(ErrorCode::ServerFull);
    let message = ServerMessage::Error {
        code: ErrorCode::ServerFull,
        message: "the server is at its connection limit; try again in a minute".into(),
        request: None,
    };
    let _ = socket.send(Message::Text(message.to_json().into())).await;
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: CLOSE_TRY_LATER,
            reason: "server full".into(),
        })))
        .await;
}

struct Connection {
    hub: Arc<Hub>,
    ip: IpAddr,
    slot: ConnectionSlot,
    socket: WebSocket,
    phase: Phase,
    bucket: TokenBucket,
    last_heard: Instant,
    last_rate_error: Option<Instant>,
}

impl Connection {
    async fn run(&mut self) -> End {
        let heartbeat = self.hub.limits.heartbeat;
        let mut ticks =
            tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
        loop {
            tokio::select! {
                frame = self.socket.recv() => {
                    let Some(Ok(frame)) = frame else { return End::Dropped };
                    self.last_heard = Instant::now();
                    match frame {
                        Message::Text(text) => {
                            if self.on_text(text.as_str()).await.is_err() {
                                return End::Dropped;
                            }
                        }
                        Message::Binary(_) => {
                            let refusal = Refusal::new(
                                ErrorCode::BadMessage,
                                "messages are JSON text frames, not binary",
                            );
                            if self.send_error(refusal, None).await.is_err() {
                                return End::Dropped;
                            }
                        }
                        Message::Close(_) => return End::Dropped,
                        Message::Ping(_) | Message::Pong(_) => {}
                    }
                }
                outgoing = recv_room(&mut self.phase) => {
                    match outgoing {
                        Some(text) => {
                            if self.socket.send(Message::Text(text.into())).await.is_err() {
                                return End::Dropped;
                            }
                        }
                        None => return End::CutOff,
                    }
                }
                _ = ticks.tick() => {
                    if self.last_heard.elapsed() > self.hub.limits.idle_timeout {
                        return End::Idle;
                    }
                    if self.socket.send(Message::Ping(Default::default())).await.is_err() {
                        return End::Dropped;
                    }
                }
            }
        }
    }

    async fn finish(mut self, end: End) {
        if let Phase::InRoom { peer, .. } = &self.phase {
            let reason = match end {
                End::Idle => LeaveReason::Timeout,
                End::Dropped | End::CutOff => LeaveReason::Disconnected,
            };
            tracing::info!(peer = %peer, ?reason, "connection lost; place kept for a reconnect");
            self.hub.connection_lost(peer, self.slot.id, reason);
        }
        let close = match end {
            End::Idle => Some((CLOSE_POLICY, "idle timeout")),
            End::CutOff => Some((CLOSE_POLICY, "not reading messages")),
            End::Dropped => None,
        };
        if let Some((code, reason)) = close {
            let _ = self
                .socket
                .send(Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                })))
                .await;
        }
    }

    /// Handles one text frame. Err means the socket is gone.
    async fn on_text(&mut self, text: &str) -> Result<(), axum::Error> {
        let now = Instant::now();
        if !self.bucket.try_take(now) {
            return self.rate_limited(now).await;
        }
        if text.len() > self.hub.limits.max_message_bytes {
            let refusal = Refusal::new(
                ErrorCode::TooLarge,
                format!(
                    "message of {} bytes is over the {}-byte limit",
                    text.len(),
                    self.hub.limits.max_message_bytes
                ),
            );
            return self.send_error(refusal, None).await;
        }
        let message = match decode_client(text) {
            Ok(message) => message,
            Err(e) => {
                let request = e.kind().map(str::to_owned);
                return self
                    .send_error(Refusal::new(e.code(), e.to_string()), request)
                    .await;
            }
        };
        let request = message.type_name();
        match self.dispatch(message).await {
            Ok(Some(reply)) => self.send(&reply).await,
            Ok(None) => Ok(()),
            Err(refusal) => self.send_error(refusal, Some(request.to_owned())).await,
        }
    }

    /// Carries out one message; the reply, if any, goes back to the sender.
    async fn dispatch(&mut self, message: ClientMessage) -> Result<Option<ServerMessage>, Refusal> {
        match (&self.phase, message) {
            (_, ClientMessage::Ping { nonce }) => Ok(Some(ServerMessage::Pong { nonce })),
            (Phase::Handshake, ClientMessage::Hello { version, client }) => {
                if version != PROTOCOL_VERSION {
                    return Err(Refusal::new(
                        ErrorCode::UnsupportedVersion,
                        format!(
                            "this server speaks protocol version {PROTOCOL_VERSION}, not \
                             {version}; update the app or use a matching server"
                        ),
                    ));
                }
                tracing::debug!(ip = %self.ip, client = client.as_deref().unwrap_or("?"), "hello");
                self.phase = Phase::Lobby;
                let limits = &self.hub.limits;
                Ok(Some(ServerMessage::Welcome {
                    version: PROTOCOL_VERSION,
                    server: concat!("tincan-server/", env!("CARGO_PKG_VERSION")).into(),
                    heartbeat_ms: limits.heartbeat.as_millis() as u64,
                    idle_timeout_ms: limits.idle_timeout.as_millis() as u64,
                    max_message_bytes: limits.max_message_bytes,
                }))
            }
            (Phase::Handshake, _) => Err(Refusal::new(
                ErrorCode::HandshakeRequired,
                "send hello with the protocol version first",
            )),
            (_, ClientMessage::Hello { .. }) => Ok(None), // a repeated hello changes nothing
            (Phase::Lobby, ClientMessage::CreateRoom) => {
                let room = self.hub.create_room(self.ip)?;
                tracing::info!(room = %room, "room created");
                Ok(Some(ServerMessage::RoomCreated { room }))
            }
            (Phase::Lobby, ClientMessage::Join { room, name, resume }) => {
                // Sized so a resume can deliver every held message at once.
                let (outbox, inbox) = mpsc::channel(self.hub.limits.held_messages.max(64) * 2);
                let (peer, reply) = self.hub.join(
                    self.ip,
                    &room,
                    &name,
                    resume.as_deref(),
                    outbox,
                    self.slot.id,
                )?;
                tracing::info!(peer = %peer, room = %room, "joined");
                self.phase = Phase::InRoom { peer, inbox };
                Ok(Some(reply))
            }
            (Phase::InRoom { .. }, ClientMessage::CreateRoom | ClientMessage::Join { .. }) => {
                Err(Refusal::new(
                    ErrorCode::AlreadyInRoom,
                    "you are already in a room; leave it first",
                ))
            }
            (Phase::InRoom { peer, .. }, ClientMessage::Signal { to, signal }) => {
                self.hub.relay(peer, &to, signal)?;
                Ok(None)
            }
            (Phase::InRoom { peer, .. }, ClientMessage::Leave) => {
                self.hub.leave(peer, self.slot.id);
                tracing::info!(peer = %peer, "left");
                self.phase = Phase::Lobby;
                Ok(Some(ServerMessage::Left))
            }
            (Phase::Lobby, ClientMessage::Signal { .. } | ClientMessage::Leave) => {
                Err(Refusal::new(ErrorCode::NotInRoom, "join a room first"))
            }
        }
    }

    async fn rate_limited(&mut self, now: Instant) -> Result<(), axum::Error> {
        // One error a second is enough to tell a flooding client; more would add to the flood.
        if self
            .last_rate_error
            .is_some_and(|at| now.duration_since(at).as_secs() < 1)
        {
            self.hub.metrics.error(ErrorCode::RateLimited);
            return Ok(());
        }
        self.last_rate_error = Some(now);
        let refusal = Refusal::new(
            ErrorCode::RateLimited,
            format!(
                "more than {} messages a second; this one was dropped",
                self.hub.limits.messages_per_second
            ),
        );
        self.send_error(refusal, None).await
    }

    async fn send_error(
        &mut self,
        refusal: Refusal,
        request: Option<String>,
    ) -> Result<(), axum::Error> {
        self.hub.metrics.error(refusal.code);
        tracing::debug!(ip = %self.ip, code = %refusal.code, message = %refusal.message, "refused");
        let message = ServerMessage::Error {
            code: refusal.code,
            message: refusal.message,
            request,
        };
        self.send(&message).await
    }

    async fn send(&mut self, message: &ServerMessage) -> Result<(), axum::Error> {
        self.socket
            .send(Message::Text(message.to_json().into()))
            .await
    }
}

/// The next room message, or pending forever outside a room.
async fn recv_room(phase: &mut Phase) -> Option<String> {
    match phase {
        Phase::InRoom { inbox, .. } => inbox.recv().await,
        _ => std::future::pending().await,
    }
}
