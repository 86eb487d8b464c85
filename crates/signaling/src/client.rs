//! The signaling client: a handle for requests and a background task that owns the socket.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::CertificateDer;
use tincan_protocol::{
    decode_server, ClientMessage, DecodeError, ErrorCode, IceServer, LeaveReason, PeerId, PeerInfo,
    RoomCode, ServerMessage, Signal, PROTOCOL_VERSION,
};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{tls, websocket_url, SignalingError};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How the client retries after its connection drops.
#[derive(Debug, Clone)]
pub struct ReconnectPolicy {
    /// Wait before the first retry.
    pub first_delay: Duration,
    /// The wait doubles up to this.
    pub max_delay: Duration,
    /// Stop trying after this long and report [`Event::Disconnected`] — unless the client
    /// is in a room: then it keeps trying (at `max_delay`) until the handle closes, since a
    /// call's media does not need the server and the room should come back when it does.
    pub give_up_after: Duration,
}

impl ReconnectPolicy {
    pub const FIRST_DELAY: Duration = Duration::from_millis(250);
    pub const MAX_DELAY: Duration = Duration::from_secs(5);
    /// Longer than the server's default reconnect grace (20 s), so a client that comes back
    /// late still gets into the room, as a new peer.
    pub const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

    /// The wait before retry number `attempt` (from 1): exponential, with up to 25 % random
    /// jitter so that clients dropped together do not return together.
    fn delay(&self, attempt: u32) -> Duration {
        let base = self
            .first_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        let jitter = RandomState::new().hash_one(attempt) % 1000;
        base + base.mul_f64(jitter as f64 / 4000.0)
    }
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            first_delay: Self::FIRST_DELAY,
            max_delay: Self::MAX_DELAY,
            give_up_after: Self::GIVE_UP_AFTER,
        }
    }
}

/// Settings for [`connect`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Names the client in the server's logs (`tincan-cli/0.1.0`).
    pub client_label: String,
    pub reconnect: ReconnectPolicy,
    /// Roots to trust besides the system's, for a server with a private CA.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// How long connecting plus the hello/welcome exchange may take.
    pub handshake_timeout: Duration,
    /// How long a request (create, join, leave) waits for its answer.
    pub request_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            client_label: concat!("tincan-signaling/", env!("CARGO_PKG_VERSION")).into(),
            reconnect: ReconnectPolicy::default(),
            extra_roots: Vec::new(),
            handshake_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl ClientOptions {
    /// Adds PEM-encoded root certificates to trust.
    pub fn trust_pem(mut self, pem: &[u8]) -> Result<Self, SignalingError> {
        self.extra_roots.extend(tls::certificates_from_pem(pem)?);
        Ok(self)
    }
}

/// The answer to a join: who you are, who is there, and which ICE servers to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub room: RoomCode,
    pub peer_id: PeerId,
    pub peers: Vec<PeerInfo>,
    pub ice_servers: Vec<IceServer>,
    pub capacity: usize,
    /// True when this took back an earlier place (same peer id) after a reconnect.
    pub resumed: bool,
}

/// What happens on the signaling connection, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    PeerJoined(PeerInfo),
    PeerLeft {
        peer_id: PeerId,
        reason: LeaveReason,
    },
    /// A peer's connection to the server dropped; it may come back (a `PeerJoined` with the
    /// same id) or leave when its grace ends.
    PeerAway {
        peer_id: PeerId,
    },
    Signal {
        from: PeerId,
        signal: Signal,
    },
    /// An error the server sent that answers no request of this handle (a refused signal,
    /// rate limiting).
    Error {
        code: ErrorCode,
        message: String,
    },
    /// The connection dropped; retry number `attempt` is under way.
    Reconnecting {
        attempt: u32,
        reason: String,
    },
    /// Connected again. `joined` is the room rejoined, if the client was in one:
    /// `joined.resumed` says whether it kept its place (same peer id) or came back as a new
    /// peer, in which case every peer connection must be set up again.
    Reconnected {
        joined: Option<Joined>,
    },
    /// Reconnecting failed for longer than the policy allows; the handle no longer works.
    Disconnected {
        reason: String,
    },
}

enum Command {
    Request {
        message: ClientMessage,
        reply: oneshot::Sender<Result<ServerMessage, SignalingError>>,
    },
    Send(ClientMessage),
    /// Drop the connection and make a new one now (the network changed under it).
    Reconnect,
    Close,
}

/// The handle to a signaling connection. Clone it freely; the connection closes when every
/// clone is dropped or [`Signaling::close`] is called.
#[derive(Clone)]
pub struct Signaling {
    commands: mpsc::Sender<Command>,
    request_timeout: Duration,
}

/// Connects to a tincan-server (`ws://`, `wss://`, `http(s)://` or a bare `host:port`) and
/// completes the protocol handshake.
pub async fn connect(
    server: &str,
    options: ClientOptions,
) -> Result<(Signaling, mpsc::Receiver<Event>), SignalingError> {
    let url = websocket_url(server)?;
    let tls = if url.scheme() == "wss" {
        Some(tls::client_config(&options.extra_roots)?)
    } else {
        None
    };
    let (socket, welcome) = open(&url, tls.clone(), &options).await?;
    let (commands_tx, commands_rx) = mpsc::channel(256);
    let (events_tx, events_rx) = mpsc::channel(1024);
    let request_timeout = options.request_timeout;
    let task = Task {
        url,
        tls,
        options,
        commands: commands_rx,
        events: events_tx,
        pending: HashMap::new(),
        room: None,
        joining_as: None,
        welcome,
        queued: VecDeque::new(),
        hurry: false,
    };
    tokio::spawn(task.run(socket));
    Ok((
        Signaling {
            commands: commands_tx,
            request_timeout,
        },
        events_rx,
    ))
}

impl Signaling {
    /// Asks the server for a new room and returns its code. You are not in it until you join.
    pub async fn create_room(&self) -> Result<RoomCode, SignalingError> {
        match self.request(ClientMessage::CreateRoom).await? {
            ServerMessage::RoomCreated { room } => Ok(room),
            other => Err(unexpected("room_created", &other)),
        }
    }

    /// Joins a room by its code as a person typed it.
    pub async fn join(&self, room: &str, name: &str) -> Result<Joined, SignalingError> {
        let message = ClientMessage::Join {
            room: room.to_owned(),
            name: name.to_owned(),
            resume: None,
        };
        match self.request(message).await? {
            reply @ ServerMessage::Joined { .. } => {
                joined_from(reply).ok_or_else(|| SignalingError::Protocol("bad joined".into()))
            }
            other => Err(unexpected("joined", &other)),
        }
    }

    /// Sends a signal to a peer in the room. Refusals arrive as [`Event::Error`]. While the
    /// client is reconnecting, signals wait and go out once it has resumed its place.
    pub async fn send_signal(&self, to: PeerId, signal: Signal) -> Result<(), SignalingError> {
        self.commands
            .send(Command::Send(ClientMessage::Signal { to, signal }))
            .await
            .map_err(|_| SignalingError::Closed)
    }

    /// Leaves the room; the connection stays open for another join.
    pub async fn leave(&self) -> Result<(), SignalingError> {
        match self.request(ClientMessage::Leave).await? {
            ServerMessage::Left => Ok(()),
            other => Err(unexpected("left", &other)),
        }
    }

    /// Drops the connection and makes a new one at once, taking back the same place: for when
    /// the network changed and the old connection may be bound to an address that is gone (it
    /// would only be noticed at the idle timeout). Signals sent meanwhile wait for the new one.
    pub async fn reconnect(&self) {
        let _ = self.commands.send(Command::Reconnect).await;
    }

    /// Leaves the room (if in one) and closes the connection.
    pub async fn close(&self) {
        let _ = self.commands.send(Command::Close).await;
    }

    async fn request(&self, message: ClientMessage) -> Result<ServerMessage, SignalingError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Request { message, reply })
            .await
            .map_err(|_| SignalingError::Closed)?;
        match tokio::time::timeout(self.request_timeout, answer).await {
            Err(_) => Err(SignalingError::NoAnswer {
                seconds: self.request_timeout.as_secs(),
            }),
            Ok(Err(_)) => Err(SignalingError::ConnectionLost),
            Ok(Ok(result)) => result,
        }
    }
}

fn unexpected(wanted: &str, got: &ServerMessage) -> SignalingError {
    SignalingError::Protocol(format!("expected {wanted}, got {got:?}"))
}

fn joined_from(message: ServerMessage) -> Option<Joined> {
    match message {
        ServerMessage::Joined {
            room,
            peer_id,
            peers,
            ice_servers,
            resumed,
            capacity,
            ..
        } => Some(Joined {
            room,
            peer_id,
            peers,
            ice_servers,
            capacity,
            resumed,
        }),
        _ => None,
    }
}

/// What the server said in its welcome.
#[derive(Debug, Clone, Copy)]
struct Welcome {
    heartbeat: Duration,
    idle_timeout: Duration,
}

/// Opens the socket and completes hello/welcome.
async fn open(
    url: &url::Url,
    tls: Option<Arc<rustls::ClientConfig>>,
    options: &ClientOptions,
) -> Result<(Socket, Welcome), SignalingError> {
    let timeout = options.handshake_timeout;
    let handshake = async {
        let connector = tls.map(tokio_tungstenite::Connector::Rustls);
        let (mut socket, _) =
            tokio_tungstenite::connect_async_tls_with_config(url.as_str(), None, false, connector)
                .await
                .map_err(|e| SignalingError::Unreachable {
                    url: url.to_string(),
                    reason: e.to_string(),
                })?;
        let hello = ClientMessage::Hello {
            version: PROTOCOL_VERSION,
            client: Some(options.client_label.clone()),
        };
        socket
            .send(Message::Text(hello.to_json().into()))
            .await
            .map_err(|_| SignalingError::ConnectionLost)?;
        loop {
            match next_message(&mut socket).await? {
                ServerMessage::Welcome {
                    heartbeat_ms,
                    idle_timeout_ms,
                    ..
                } => {
                    let welcome = Welcome {
                        heartbeat: Duration::from_millis(heartbeat_ms.max(100)),
                        idle_timeout: Duration::from_millis(idle_timeout_ms.max(1000)),
                    };
                    return Ok((socket, welcome));
                }
                ServerMessage::Error { code, message, .. } => {
                    return Err(SignalingError::Refused { code, message })
                }
                _ => continue,
            }
        }
    };
    tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| SignalingError::HandshakeTimeout {
            url: url.to_string(),
            seconds: timeout.as_secs(),
        })?
}

/// Reads the next protocol message, skipping control frames and types from newer servers.
async fn next_message(socket: &mut Socket) -> Result<ServerMessage, SignalingError> {
    loop {
        let frame = socket
            .next()
            .await
            .ok_or(SignalingError::ConnectionLost)?
            .map_err(|_| SignalingError::ConnectionLost)?;
        let Message::Text(text) = frame else {
            if let Message::Close(_) = frame {
                return Err(SignalingError::ConnectionLost);
            }
            continue;
        };
        match decode_server(text.as_str()) {
            Ok(message) => return Ok(message),
            Err(DecodeError::UnknownType(kind)) => {
                tracing::debug!(%kind, "skipping a message type from a newer server");
            }
            Err(e) => return Err(SignalingError::Protocol(e.to_string())),
        }
    }
}

/// Where the client stands in a room, to rejoin after a drop.
struct RoomPlace {
    code: RoomCode,
    name: String,
    resume_token: String,
}

/// How a connected stretch ended.
enum Ended {
    /// Closed on purpose (by the handle, or every handle dropped).
    Closed,
    Lost(String),
}

struct Task {
    url: url::Url,
    tls: Option<Arc<rustls::ClientConfig>>,
    options: ClientOptions,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    /// Requests waiting for their answer, by the request's type name. The server answers in
    /// order, and errors name the request type, so this routes every answer.
    pending:
        HashMap<&'static str, VecDeque<oneshot::Sender<Result<ServerMessage, SignalingError>>>>,
    room: Option<RoomPlace>,
    /// The name of the join under way, kept for the place it will give.
    joining_as: Option<String>,
    welcome: Welcome,
    /// Signals sent while reconnecting.
    queued: VecDeque<ClientMessage>,
    /// The next reconnect tries at once (asked for, not a failure).
    hurry: bool,
}

/// Most signals kept while reconnecting; older ones are dropped first.
const QUEUED_SIGNALS: usize = 256;

impl Task {
    async fn run(mut self, mut socket: Socket) {
        loop {
            let reason = match self.pump(&mut socket).await {
                Ended::Closed => {
                    let _ = socket.close(None).await;
                    return;
                }
                Ended::Lost(reason) => reason,
            };
            self.fail_pending();
            match self.reconnect(reason).await {
                Some(fresh) => socket = fresh,
                None => return,
            }
        }
    }

    /// Carries messages both ways until the connection ends.
    async fn pump(&mut self, socket: &mut Socket) -> Ended {
        let heartbeat = self.welcome.heartbeat;
        let mut ticks =
            tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
        let mut last_heard = Instant::now();
        while let Some(message) = self.queued.pop_front() {
            if send(socket, &message).await.is_err() {
                return Ended::Lost("send failed".into());
            }
        }
        loop {
            tokio::select! {
                frame = socket.next() => {
                    last_heard = Instant::now();
                    match frame {
                        Some(Ok(Message::Text(text))) => self.on_message(text.as_str()).await,
                        Some(Ok(Message::Close(frame))) => {
                            let why = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                            return Ended::Lost(format!("server closed the connection {why}"));
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => return Ended::Lost(e.to_string()),
                        None => return Ended::Lost("connection closed".into()),
                    }
                }
                command = self.commands.recv() => {
                    let Some(command) = command else {
                        self.say_goodbye(socket).await;
                        return Ended::Closed;
                    };
                    match command {
                        Command::Request { message, reply } => {
                            if let ClientMessage::Join { name, .. } = &message {
                                self.joining_as = Some(name.clone());
                            }
                            let kind = message.type_name();
                            if send(socket, &message).await.is_err() {
                                let _ = reply.send(Err(SignalingError::ConnectionLost));
                                return Ended::Lost("send failed".into());
                            }
                            self.pending.entry(kind).or_default().push_back(reply);
                        }
                        Command::Send(message) => {
                            if send(socket, &message).await.is_err() {
                                self.queue(message);
                                return Ended::Lost("send failed".into());
                            }
                        }
                        Command::Reconnect => {
                            self.hurry = true;
                            return Ended::Lost("the network changed".into());
                        }
                        Command::Close => {
                            self.say_goodbye(socket).await;
                            return Ended::Closed;
                        }
                    }
                }
                _ = ticks.tick() => {
                    if last_heard.elapsed() > self.welcome.idle_timeout {
                        return Ended::Lost("the server stopped answering".into());
                    }
                    if send(socket, &ClientMessage::Ping { nonce: None }).await.is_err() {
                        return Ended::Lost("send failed".into());
                    }
                }
            }
        }
    }

    async fn say_goodbye(&mut self, socket: &mut Socket) {
        if self.room.take().is_some() {
            let _ = send(socket, &ClientMessage::Leave).await;
        }
    }

    async fn on_message(&mut self, text: &str) {
        let message = match decode_server(text) {
            Ok(message) => message,
            Err(DecodeError::UnknownType(kind)) => {
                tracing::debug!(%kind, "skipping a message type from a newer server");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "unreadable message from the server");
                return;
            }
        };
        let event = match message {
            ServerMessage::PeerJoined { peer } => Event::PeerJoined(peer),
            ServerMessage::PeerLeft { peer_id, reason } => Event::PeerLeft { peer_id, reason },
            ServerMessage::PeerAway { peer_id } => Event::PeerAway { peer_id },
            ServerMessage::Signal { from, signal } => Event::Signal { from, signal },
            ServerMessage::Welcome { .. } | ServerMessage::Pong { .. } => return,
            ServerMessage::RoomCreated { .. } => return self.answer("create_room", Ok(message)),
            ServerMessage::Joined {
                ref room,
                ref resume_token,
                ..
            } => {
                self.room = Some(RoomPlace {
                    code: room.clone(),
                    name: self.joining_as.take().unwrap_or_default(),
                    resume_token: resume_token.clone(),
                });
                return self.answer("join", Ok(message));
            }
            ServerMessage::Left => {
                self.room = None;
                return self.answer("leave", Ok(message));
            }
            ServerMessage::Error {
                code,
                message,
                request,
            } => {
                let waiting = request
                    .as_deref()
                    .and_then(|r| self.pending.get(r))
                    .is_some_and(|q| !q.is_empty());
                if let (true, Some(request)) = (waiting, request) {
                    let error = SignalingError::Refused { code, message };
                    if let Some(kind) = ClientMessage::TYPE_NAMES.iter().find(|k| **k == request) {
                        return self.answer(kind, Err(error));
                    }
                    return;
                }
                Event::Error { code, message }
            }
        };
        // A receiver that stopped listening is the caller's choice; keep serving requests.
        let _ = self.events.send(event).await;
    }

    fn answer(&mut self, kind: &str, result: Result<ServerMessage, SignalingError>) {
        if let Some(reply) = self.pending.get_mut(kind).and_then(VecDeque::pop_front) {
            let _ = reply.send(result);
        }
    }

    fn fail_pending(&mut self) {
        for (_, queue) in self.pending.drain() {
            for reply in queue {
                let _ = reply.send(Err(SignalingError::ConnectionLost));
            }
        }
    }

    fn queue(&mut self, message: ClientMessage) {
        if self.queued.len() >= QUEUED_SIGNALS {
            self.queued.pop_front();
        }
        self.queued.push_back(message);
    }

    /// Retries with backoff until connected (and back in the room) or the policy gives up.
    async fn reconnect(&mut self, reason: String) -> Option<Socket> {
        let started = Instant::now();
        let policy = self.options.reconnect.clone();
        let mut last_error = reason.clone();
        for attempt in 1.. {
            if started.elapsed() > policy.give_up_after && self.room.is_none() {
                break;
            }
            tracing::info!(attempt, reason = %last_error, "signaling connection lost; reconnecting");
            let _ = self
                .events
                .send(Event::Reconnecting {
                    attempt,
                    reason: last_error.clone(),
                })
                .await;
            let delay = if std::mem::take(&mut self.hurry) {
                Duration::ZERO
            } else {
                policy.delay(attempt)
            };
            if !self.wait(delay).await {
                return None; // closed while waiting
            }
            match self.try_rejoin().await {
                Ok(socket) => return Some(socket),
                Err(SignalingError::Refused {
                    code: ErrorCode::UnsupportedVersion,
                    message,
                }) => {
                    last_error = message;
                    break;
                }
                Err(e) => last_error = e.to_string(),
            }
        }
        let _ = self
            .events
            .send(Event::Disconnected {
                reason: format!("gave up reconnecting: {last_error}"),
            })
            .await;
        None
    }

    /// Sleeps, serving commands meanwhile: requests fail at once, signals wait. False when the
    /// handle closed.
    async fn wait(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return true,
                command = self.commands.recv() => match command {
                    None | Some(Command::Close) => return false,
                    Some(Command::Send(message)) => self.queue(message),
                    Some(Command::Reconnect) => return true,
                    Some(Command::Request { reply, .. }) => {
                        let _ = reply.send(Err(SignalingError::ConnectionLost));
                    }
                },
            }
        }
    }

    async fn try_rejoin(&mut self) -> Result<Socket, SignalingError> {
        let (mut socket, welcome) = open(&self.url, self.tls.clone(), &self.options).await?;
        self.welcome = welcome;
        let Some(place) = &self.room else {
            let _ = self.events.send(Event::Reconnected { joined: None }).await;
            return Ok(socket);
        };
        let join = ClientMessage::Join {
            room: place.code.to_string(),
            name: place.name.clone(),
            resume: Some(place.resume_token.clone()),
        };
        send(&mut socket, &join)
            .await
            .map_err(|_| SignalingError::ConnectionLost)?;
        let answer = tokio::time::timeout(self.options.request_timeout, async {
            loop {
                match next_message(&mut socket).await? {
                    reply @ ServerMessage::Joined { .. } => return Ok(reply),
                    ServerMessage::Error { code, message, .. } => {
                        return Err(SignalingError::Refused { code, message })
                    }
                    _ => continue,
                }
            }
        })
        .await
        .map_err(|_| SignalingError::NoAnswer {
            seconds: self.options.request_timeout.as_secs(),
        })?;
        match answer {
            Ok(reply) => {
                let joined = joined_from(reply.clone());
                if let (Some(place), ServerMessage::Joined { resume_token, .. }) =
                    (self.room.as_mut(), &reply)
                {
                    place.resume_token = resume_token.clone();
                }
                if !joined.as_ref().is_some_and(|j| j.resumed) {
                    // A new peer id: signals meant for the old session are meaningless.
                    self.queued.clear();
                }
                let _ = self.events.send(Event::Reconnected { joined }).await;
                Ok(socket)
            }
            Err(SignalingError::Refused {
                code: code @ (ErrorCode::RoomNotFound | ErrorCode::RoomFull),
                message,
            }) => {
                // The room ended (or filled) while we were away: connected, but in no room.
                self.room = None;
                self.queued.clear();
                let _ = self.events.send(Event::Error { code, message }).await;
                let _ = self.events.send(Event::Reconnected { joined: None }).await;
                Ok(socket)
            }
            Err(e) => Err(e),
        }
    }
}

async fn send(
    socket: &mut Socket,
    message: &ClientMessage,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    socket.send(Message::Text(message.to_json().into())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_bounded_jitter() {
        let policy = ReconnectPolicy::default();
        let d1 = policy.delay(1);
        assert!(
            d1 >= Duration::from_millis(250) && d1 <= Duration::from_millis(313),
            "{d1:?}"
        );
        let d3 = policy.delay(3);
        assert!(
            d3 >= Duration::from_millis(1000) && d3 <= Duration::from_millis(1250),
            "{d3:?}"
        );
        let d20 = policy.delay(20);
        assert!(
            d20 >= Duration::from_secs(5) && d20 <= Duration::from_millis(6250),
            "{d20:?}"
        );
    }
}
