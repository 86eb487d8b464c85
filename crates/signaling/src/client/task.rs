//! The background task that owns the socket: it carries requests and signals out, routes
//! what comes back, keeps the connection alive, and reconnects (resuming the room place).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tincan_protocol::{
    decode_server, ClientMessage, DecodeError, ErrorCode, PersonalCode, PersonalKey, RoomCode,
    ServerMessage, PROTOCOL_VERSION,
};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{joined_from, ClientOptions, Command, DirectoryEvent, Event};
use crate::SignalingError;

pub(super) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What the server said in its welcome.
#[derive(Debug, Clone)]
pub(super) struct Welcome {
    heartbeat: Duration,
    idle_timeout: Duration,
    pub(super) features: Vec<String>,
    /// What a registration on this connection signs.
    nonce: String,
}

/// Opens the socket and completes hello/welcome.
pub(super) async fn open(
    url: &url::Url,
    tls: Option<Arc<rustls::ClientConfig>>,
    options: &ClientOptions,
) -> Result<(Socket, Welcome), SignalingError> {
    let timeout = options.handshake_timeout;
    let handshake = async {
        let connector = tls.map(tokio_tungstenite::Connector::Rustls);
        // Nagle off (`true`): a signal sent right after another must not wait for the first
        // one's delayed ACK.
        let (mut socket, _) =
            tokio_tungstenite::connect_async_tls_with_config(url.as_str(), None, true, connector)
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
                    features,
                    nonce,
                    ..
                } => {
                    let welcome = Welcome {
                        heartbeat: Duration::from_millis(heartbeat_ms.max(100)),
                        idle_timeout: Duration::from_millis(idle_timeout_ms.max(1000)),
                        features,
                        nonce: nonce.unwrap_or_default(),
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

pub(super) struct Task {
    url: url::Url,
    tls: Option<Arc<rustls::ClientConfig>>,
    options: ClientOptions,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    directory: mpsc::Sender<DirectoryEvent>,
    /// The key this connection registers with, again after each reconnect.
    identity: Option<PersonalKey>,
    /// The codes it watches, again after each reconnect.
    watching: Vec<PersonalCode>,
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
    pub(super) fn new(
        url: url::Url,
        tls: Option<Arc<rustls::ClientConfig>>,
        options: ClientOptions,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<Event>,
        directory: mpsc::Sender<DirectoryEvent>,
        welcome: Welcome,
    ) -> Self {
        Self {
            url,
            tls,
            options,
            commands,
            events,
            directory,
            identity: None,
            watching: Vec::new(),
            pending: HashMap::new(),
            room: None,
            joining_as: None,
            welcome,
            queued: VecDeque::new(),
            hurry: false,
        }
    }

    pub(super) async fn run(mut self, mut socket: Socket) {
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
            if self.restore_directory(&mut socket).await.is_err() {
                tracing::info!("lost the new connection while registering again");
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
                        Command::Register { key, reply } => {
                            let message = self.registration(&key);
                            self.identity = Some(key);
                            if send(socket, &message).await.is_err() {
                                let _ = reply.send(Err(SignalingError::ConnectionLost));
                                return Ended::Lost("send failed".into());
                            }
                            self.pending.entry("register").or_default().push_back(reply);
                        }
                        Command::Watch(codes) => {
                            self.watching = codes.clone();
                            let message = ClientMessage::Watch { codes };
                            if send(socket, &message).await.is_err() {
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

    /// `register` for `key`, signed for this connection's nonce and the server as dialled.
    fn registration(&self, key: &PersonalKey) -> ClientMessage {
        let host = match (self.url.host_str(), self.url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => String::new(),
        };
        ClientMessage::Register {
            key: key.public(),
            proof: key.prove(&host, &self.welcome.nonce),
        }
    }

    /// After a reconnect: registered and watching again, as before the drop.
    async fn restore_directory(&mut self, socket: &mut Socket) -> Result<(), ()> {
        if let Some(key) = &self.identity {
            let message = self.registration(key);
            send(socket, &message).await.map_err(|_| ())?;
        }
        if !self.watching.is_empty() {
            let message = ClientMessage::Watch {
                codes: self.watching.clone(),
            };
            send(socket, &message).await.map_err(|_| ())?;
        }
        Ok(())
    }

    async fn tell_directory(&self, event: DirectoryEvent) {
        // A receiver that stopped listening is the caller's choice.
        let _ = self.directory.send(event).await;
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
            ServerMessage::IceServers { .. } => return self.answer("refresh_ice", Ok(message)),
            ServerMessage::RingSent { .. } => return self.answer("ring", Ok(message)),
            ServerMessage::Registered { code } => {
                if self.waiting_for("register") {
                    return self.answer("register", Ok(message));
                }
                let event = DirectoryEvent::Registered {
                    code: Some(code),
                    error: None,
                };
                return self.tell_directory(event).await;
            }
            ServerMessage::Ringing {
                ring,
                from,
                name,
                room,
            } => {
                let event = DirectoryEvent::Ringing {
                    ring,
                    from,
                    name,
                    room,
                };
                return self.tell_directory(event).await;
            }
            ServerMessage::RingEnded { ring, reason } => {
                return self
                    .tell_directory(DirectoryEvent::RingEnded { ring, reason })
                    .await;
            }
            ServerMessage::Presence { code, online } => {
                return self
                    .tell_directory(DirectoryEvent::Presence { code, online })
                    .await;
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
                let waiting = request.as_deref().is_some_and(|r| self.waiting_for(r));
                if request.as_deref() == Some("register") && !waiting {
                    // The registration made again after a reconnect was refused.
                    let event = DirectoryEvent::Registered {
                        code: None,
                        error: Some(message),
                    };
                    return self.tell_directory(event).await;
                }
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

    fn waiting_for(&self, kind: &str) -> bool {
        self.pending.get(kind).is_some_and(|q| !q.is_empty())
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
                    Some(Command::Register { key, reply }) => {
                        // Registered once connected again.
                        self.identity = Some(key);
                        let _ = reply.send(Err(SignalingError::ConnectionLost));
                    }
                    Some(Command::Watch(codes)) => self.watching = codes,
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
