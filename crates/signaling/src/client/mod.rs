//! The signaling client: a handle for requests ([`Signaling`]) and a background task that owns
//! the socket ([`task`]); how it connects and retries is in [`options`].

mod options;
mod task;

pub use options::{ClientOptions, ReconnectPolicy};

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tincan_protocol::{
    ClientMessage, ErrorCode, IceServer, LeaveReason, PeerId, PeerInfo, PersonalCode, PersonalKey,
    RingAnswer, RingEnd, RingId, RoomCode, ServerMessage, Signal, FEATURE_RING,
};
use tokio::sync::{mpsc, oneshot};

use crate::{tls, websocket_url, SignalingError};
use task::{open, Task};

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

/// What happens to the people side of the connection: rings and presence (apart from the
/// room's [`Event`]s, so a call engine and a ringing app can share one connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryEvent {
    /// Someone rings: answer with [`Signaling::answer_ring`]; on accepting, join `room`.
    Ringing {
        ring: RingId,
        /// The caller's personal code, as the server checked it.
        from: PersonalCode,
        name: String,
        room: RoomCode,
    },
    /// A ring (made or received) is over.
    RingEnded { ring: RingId, reason: RingEnd },
    /// A watched person came online or went offline on this server.
    Presence { code: PersonalCode, online: bool },
    /// Registered again after a reconnect (or refused: `code` None and why).
    Registered {
        code: Option<PersonalCode>,
        error: Option<String>,
    },
}

pub(crate) enum Command {
    Request {
        message: ClientMessage,
        reply: oneshot::Sender<Result<ServerMessage, SignalingError>>,
    },
    Send(ClientMessage),
    /// Register with this key now and after every reconnect.
    Register {
        key: PersonalKey,
        reply: oneshot::Sender<Result<ServerMessage, SignalingError>>,
    },
    /// Watch these codes now and after every reconnect.
    Watch(Vec<PersonalCode>),
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
    /// What the server said it does beyond rooms (`welcome.features`).
    features: Arc<Vec<String>>,
    directory_events: Arc<Mutex<Option<mpsc::Receiver<DirectoryEvent>>>>,
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
    let (directory_tx, directory_rx) = mpsc::channel(256);
    let request_timeout = options.request_timeout;
    let features = Arc::new(welcome.features.clone());
    let task = Task::new(
        url,
        tls,
        options,
        commands_rx,
        events_tx,
        directory_tx,
        welcome,
    );
    tokio::spawn(task.run(socket));
    Ok((
        Signaling {
            commands: commands_tx,
            request_timeout,
            features,
            directory_events: Arc::new(Mutex::new(Some(directory_rx))),
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

    /// Fresh ICE servers for the room we are in: the same servers, with TURN credentials
    /// minted now (for a call that outlasts the ones `join` gave).
    pub async fn refresh_ice(&self) -> Result<Vec<IceServer>, SignalingError> {
        match self.request(ClientMessage::RefreshIce).await? {
            ServerMessage::IceServers { ice_servers } => Ok(ice_servers),
            other => Err(unexpected("ice_servers", &other)),
        }
    }

    /// Whether the server takes personal codes, rings and presence.
    pub fn rings_people(&self) -> bool {
        self.features.iter().any(|f| f == FEATURE_RING)
    }

    /// The stream of rings and presence, once (None after the first call).
    pub fn directory_events(&self) -> Option<mpsc::Receiver<DirectoryEvent>> {
        self.directory_events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Makes this connection reachable by `key`'s personal code (and again after each
    /// reconnect). Returns the code the server registered.
    pub async fn register(&self, key: &PersonalKey) -> Result<PersonalCode, SignalingError> {
        self.needs_ringing()?;
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Register {
                key: key.clone(),
                reply,
            })
            .await
            .map_err(|_| SignalingError::Closed)?;
        match self.wait(answer).await? {
            ServerMessage::Registered { code } => Ok(code),
            other => Err(unexpected("registered", &other)),
        }
    }

    /// Rings `to`, asking them to join `room` (which must exist). The ring's end comes as
    /// [`DirectoryEvent::RingEnded`].
    pub async fn ring(
        &self,
        to: PersonalCode,
        name: &str,
        room: &RoomCode,
    ) -> Result<RingId, SignalingError> {
        self.needs_ringing()?;
        let message = ClientMessage::Ring {
            to,
            name: name.to_owned(),
            room: room.clone(),
        };
        match self.request(message).await? {
            ServerMessage::RingSent { ring, .. } => Ok(ring),
            other => Err(unexpected("ring_sent", &other)),
        }
    }

    /// Answers a ring this connection received.
    pub async fn answer_ring(
        &self,
        ring: RingId,
        answer: RingAnswer,
    ) -> Result<(), SignalingError> {
        self.send(ClientMessage::AnswerRing { ring, answer }).await
    }

    /// Hangs up a ring this connection made, before it is answered.
    pub async fn cancel_ring(&self, ring: RingId) -> Result<(), SignalingError> {
        self.send(ClientMessage::CancelRing { ring }).await
    }

    /// Watches these people's presence (replacing the list before; again after reconnects).
    pub async fn watch(&self, codes: Vec<PersonalCode>) -> Result<(), SignalingError> {
        self.needs_ringing()?;
        self.commands
            .send(Command::Watch(codes))
            .await
            .map_err(|_| SignalingError::Closed)
    }

    fn needs_ringing(&self) -> Result<(), SignalingError> {
        if self.rings_people() {
            Ok(())
        } else {
            Err(SignalingError::Refused {
                code: ErrorCode::UnknownType,
                message: "this server does not take personal codes or rings; it needs a newer \
                          tincan-server"
                    .into(),
            })
        }
    }

    async fn send(&self, message: ClientMessage) -> Result<(), SignalingError> {
        self.commands
            .send(Command::Send(message))
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
        self.wait(answer).await
    }

    async fn wait(
        &self,
        answer: oneshot::Receiver<Result<ServerMessage, SignalingError>>,
    ) -> Result<ServerMessage, SignalingError> {
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

pub(crate) fn joined_from(message: ServerMessage) -> Option<Joined> {
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
