//! One WebSocket connection: handshake, limits, and dispatch of client messages.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use tincan_protocol::{
    decode_client, ClientMessage, ErrorCode, LeaveReason, PeerId, ServerMessage, FEATURE_RING,
    PROTOCOL_VERSION,
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

/// Most directory messages (rings, presence) queued for one connection.
const DIRECTORY_QUEUE: usize = 64;

/// A close frame to a client that is not reading waits at most this long.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Why the loop ended, which decides what the room is told.
enum End {
    /// The client closed or the socket failed: keep its place for a reconnect.
    Dropped,
    /// Silent past the idle timeout.
    Idle,
    /// No `hello` within the hello timeout.
    NoHello,
    /// It stopped reading: a send outlasted the send timeout, or its room's messages piled
    /// up. It leaves its room at once.
    CutOff,
}

/// Why a send to the client failed.
enum SendFailed {
    /// The socket is gone.
    Gone,
    /// The client did not take it within the send timeout.
    Stalled,
}

impl From<SendFailed> for End {
    fn from(failed: SendFailed) -> Self {
        match failed {
            SendFailed::Gone => End::Dropped,
            SendFailed::Stalled => End::CutOff,
        }
    }
}

pub async fn serve(hub: Arc<Hub>, socket: WebSocket, ip: IpAddr, host: Option<String>) {
    let slot = match hub.open_connection(ip) {
        Ok(slot) => slot,
        Err(refusal) => {
            refuse(&hub, socket, refusal).await;
            return;
        }
    };
    let (directory_outbox, directory_inbox) = mpsc::channel(DIRECTORY_QUEUE);
    let mut connection = Connection {
        host,
        nonce: None,
        directory_outbox,
        directory_inbox,
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

/// Tells a client why it cannot connect now, and closes (a client that does not read is
/// not waited for).
async fn refuse(hub: &Hub, mut socket: WebSocket, refusal: Refusal) {
    hub.metrics.error(refusal.code);
    let reason = match refusal.code {
        ErrorCode::ServerFull => "server full",
        _ => "too many connections from your address",
    };
    let message = ServerMessage::Error {
        code: refusal.code,
        message: refusal.message,
        request: None,
    };
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        socket.send(Message::Text(message.to_json().into())).await?;
        socket
            .send(Message::Close(Some(CloseFrame {
                code: CLOSE_TRY_LATER,
                reason: reason.into(),
            })))
            .await
    })
    .await;
}

struct Connection {
    hub: Arc<Hub>,
    ip: IpAddr,
    /// The `Host` the WebSocket was opened with.
    host: Option<String>,
    /// Sent in `welcome`; `register` signs it.
    nonce: Option<String>,
    /// Rings and presence for this connection, from the directory.
    directory_outbox: mpsc::Sender<String>,
    directory_inbox: mpsc::Receiver<String>,
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
        let hello_by = tokio::time::Instant::now() + self.hub.limits.hello_timeout;
        loop {
            let greeted = !matches!(self.phase, Phase::Handshake);
            tokio::select! {
                frame = self.socket.recv() => {
                    let Some(Ok(frame)) = frame else { return End::Dropped };
                    self.last_heard = Instant::now();
                    let handled = match frame {
                        Message::Text(text) => self.on_text(text.as_str()).await,
                        Message::Binary(_) => {
                            let refusal = Refusal::new(
                                ErrorCode::BadMessage,
                                "messages are JSON text frames, not binary",
                            );
                            self.send_error(refusal, None).await
                        }
                        Message::Close(_) => return End::Dropped,
                        Message::Ping(_) | Message::Pong(_) => Ok(()),
                    };
                    if let Err(failed) = handled {
                        return failed.into();
                    }
                }
                Some(text) = self.directory_inbox.recv() => {
                    if let Err(failed) = self.put(Message::Text(text.into())).await {
                        return failed.into();
                    }
                }
                outgoing = recv_room(&mut self.phase) => {
                    match outgoing {
                        Some(text) => {
                            if let Err(failed) = self.put(Message::Text(text.into())).await {
                                return failed.into();
                            }
                        }
                        None => return End::CutOff,
                    }
                }
                _ = tokio::time::sleep_until(hello_by), if !greeted => return End::NoHello,
                _ = ticks.tick() => {
                    if self.last_heard.elapsed() > self.hub.limits.idle_timeout {
                        return End::Idle;
                    }
                    if let Err(failed) = self.put(Message::Ping(Default::default())).await {
                        return failed.into();
                    }
                }
            }
        }
    }

    async fn finish(mut self, end: End) {
        self.hub.directory_gone(self.slot.id);
        if let Phase::InRoom { peer, .. } = &self.phase {
            let id = self.slot.id;
            match end {
                End::CutOff => {
                    tracing::info!(peer = %peer, "not reading; cut off and out of its room");
                    self.hub.leave(peer, id, LeaveReason::Timeout).await;
                }
                End::Idle => {
                    self.hub
                        .connection_lost(peer, id, LeaveReason::Timeout)
                        .await
                }
                End::Dropped | End::NoHello => {
                    self.hub
                        .connection_lost(peer, id, LeaveReason::Disconnected)
                        .await
                }
            }
        }
        let close = match end {
            End::Idle => Some((CLOSE_POLICY, "idle timeout")),
            End::NoHello => Some((CLOSE_POLICY, "no hello")),
            End::CutOff => Some((CLOSE_POLICY, "not reading messages")),
            End::Dropped => None,
        };
        if let Some((code, reason)) = close {
            let frame = Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            }));
            let _ = tokio::time::timeout(CLOSE_WAIT, self.socket.send(frame)).await;
        }
    }

    /// Handles one text frame. Err means the connection has to end.
    async fn on_text(&mut self, text: &str) -> Result<(), SendFailed> {
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
                let nonce = crate::rooms::random_hex(16)
                    .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))?;
                self.nonce = Some(nonce.clone());
                let limits = &self.hub.limits;
                Ok(Some(ServerMessage::Welcome {
                    version: PROTOCOL_VERSION,
                    server: concat!("tincan-server/", env!("CARGO_PKG_VERSION")).into(),
                    heartbeat_ms: limits.heartbeat.as_millis() as u64,
                    idle_timeout_ms: limits.idle_timeout.as_millis() as u64,
                    max_message_bytes: limits.max_message_bytes,
                    features: vec![FEATURE_RING.to_owned()],
                    nonce: Some(nonce),
                }))
            }
            (Phase::Handshake, _) => Err(Refusal::new(
                ErrorCode::HandshakeRequired,
                "send hello with the protocol version first",
            )),
            (_, ClientMessage::Hello { .. }) => Ok(None), // a repeated hello changes nothing
            (_, ClientMessage::Register { key, proof }) => {
                let nonce = self.nonce.clone().unwrap_or_default();
                // The proof names the server the client dialled; the key signed it.
                let proved = self
                    .hub
                    .names_for(self.host.as_deref())
                    .iter()
                    .any(|name| key.verify(name, &nonce, &proof).is_ok());
                if !proved {
                    return Err(Refusal::new(
                        ErrorCode::BadProof,
                        "the proof is not this key's signature of this connection's nonce for this \
                         server: sign the nonce of this connection's welcome, with the \
                         server's name as you reached it",
                    ));
                }
                let code = tincan_protocol::PersonalCode::of(&key);
                self.hub
                    .register(self.slot.id, &self.directory_outbox, code)?;
                tracing::debug!(ip = %self.ip, "registered a personal code");
                Ok(Some(ServerMessage::Registered { code }))
            }
            (_, ClientMessage::Watch { codes }) => {
                self.hub
                    .watch(self.slot.id, &self.directory_outbox, codes)?;
                Ok(None)
            }
            (_, ClientMessage::AnswerRing { ring, answer }) => {
                self.hub.answer_ring(self.slot.id, &ring, answer)?;
                Ok(None)
            }
            (_, ClientMessage::CancelRing { ring }) => {
                self.hub.cancel_ring(self.slot.id, &ring)?;
                Ok(None)
            }
            (_, ClientMessage::Ring { to, name, room }) => {
                let sent = self
                    .hub
                    .ring(self.ip, self.slot.id, to, &name, &room)
                    .await?;
                Ok(Some(sent))
            }
            (Phase::Lobby, ClientMessage::CreateRoom) => {
                let room = self.hub.create_room(self.ip).await?;
                tracing::info!(room = %tincan_protocol::lan::room_tag(&room), "room created");
                Ok(Some(ServerMessage::RoomCreated { room }))
            }
            (Phase::Lobby, ClientMessage::Join { room, name, resume }) => {
                // Sized so a resume can deliver every held message at once.
                let (outbox, inbox) = mpsc::channel(self.hub.limits.held_messages.max(64) * 2);
                let (peer, reply) = self
                    .hub
                    .join(
                        self.ip,
                        &room,
                        &name,
                        resume.as_deref(),
                        outbox,
                        self.slot.id,
                    )
                    .await?;
                tracing::info!(peer = %peer, "joined");
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
                self.hub.relay(peer, &to, signal).await?;
                Ok(None)
            }
            (Phase::InRoom { peer, .. }, ClientMessage::RefreshIce) => {
                Ok(Some(ServerMessage::IceServers {
                    ice_servers: self.hub.ice_servers(peer),
                }))
            }
            (Phase::InRoom { peer, .. }, ClientMessage::Leave) => {
                self.hub.leave(peer, self.slot.id, LeaveReason::Left).await;
                tracing::info!(peer = %peer, "left");
                self.phase = Phase::Lobby;
                Ok(Some(ServerMessage::Left))
            }
            (
                Phase::Lobby,
                ClientMessage::Signal { .. } | ClientMessage::Leave | ClientMessage::RefreshIce,
            ) => Err(Refusal::new(ErrorCode::NotInRoom, "join a room first")),
        }
    }

    async fn rate_limited(&mut self, now: Instant) -> Result<(), SendFailed> {
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
    ) -> Result<(), SendFailed> {
        self.hub.metrics.error(refusal.code);
        tracing::debug!(ip = %self.ip, code = %refusal.code, message = %refusal.message, "refused");
        let message = ServerMessage::Error {
            code: refusal.code,
            message: refusal.message,
            request,
        };
        self.send(&message).await
    }

    async fn send(&mut self, message: &ServerMessage) -> Result<(), SendFailed> {
        self.put(Message::Text(message.to_json().into())).await
    }

    /// Sends one frame, waiting at most the send timeout for the client to take it.
    async fn put(&mut self, frame: Message) -> Result<(), SendFailed> {
        match tokio::time::timeout(self.hub.limits.send_timeout, self.socket.send(frame)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(SendFailed::Gone),
            Err(_) => Err(SendFailed::Stalled),
        }
    }
}

/// The next room message, or pending forever outside a room.
async fn recv_room(phase: &mut Phase) -> Option<String> {
    match phase {
        Phase::InRoom { inbox, .. } => inbox.recv().await,
        _ => std::future::pending().await,
    }
}
