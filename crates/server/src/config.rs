//! Server settings. Every limit has a default fit for a public server on a small machine.

use std::path::PathBuf;
use std::time::Duration;

use crate::room_key::RoomKey;

/// Everything the server needs to run; `tincan-server --help` sets these from flags.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub limits: Limits,
    /// STUN server URLs handed to every peer (`stun:stun.example.org:3478`).
    pub stun_urls: Vec<String>,
    /// TURN relay and the secret it shares with this server.
    pub turn: Option<TurnConfig>,
    /// PEM certificate chain and key; without them the server speaks plain HTTP/WS.
    pub tls: Option<TlsFiles>,
    /// The key resume tokens are made with. Kept across restarts (`--key-file`), it lets
    /// rooms outlive one; without it a random key is made at start.
    pub room_key: Option<RoomKey>,
    /// Answer `GET /lan/lookup` (an app on the LAN looking for a room by its tag,
    /// `tincan_protocol::lan`). On in servers the app and `tincan-cli --host` run on a LAN;
    /// off by default, so a public server is not a room oracle.
    pub lan_lookup: bool,
    /// Web origins, besides the server's own pages and the app, whose pages may open a
    /// WebSocket here (`https://meet.example.org`). Clients that send no `Origin` (the app's
    /// engine, tincan-cli) are not browsers and are let in.
    pub allowed_origins: Vec<String>,
    /// Where `GET /metrics` is served, apart from the public address (loopback by default
    /// in `tincan-server`); None serves no metrics.
    pub metrics_listen: Option<String>,
    /// The names (`host[:port]`) clients reach this server by. A registration's proof must
    /// name one of them, so a server a person connected to cannot pass their proof on to
    /// this one. Empty: the `Host` the connection came with (docs/protocol.md, "Ringing
    /// people", says what that does not stop).
    pub public_hosts: Vec<String>,
    /// Redis (`redis://host:6379/`) holding the rooms this server shares with others behind
    /// one load balancer (docs/deploy.md, "Several servers"); None keeps rooms in memory.
    pub redis: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TurnConfig {
    /// TURN URLs (`turn:turn.example.org:3478?transport=udp`, `turns:…`).
    pub urls: Vec<String>,
    /// coturn's `static-auth-secret`.
    pub secret: String,
    /// How long handed-out credentials stay valid.
    pub ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Limits that keep one client, or one address, from hurting the others.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most peers in one room (calls are a mesh, so this stays small: eight is measured to
    /// hold on an ordinary 2-core computer, BENCHMARKS.md "Rooms of two to eight").
    pub room_capacity: usize,
    /// Largest message accepted; larger ones get `too_large` and the connection stays.
    pub max_message_bytes: usize,
    /// Sustained messages per second per connection.
    pub messages_per_second: f64,
    /// Burst of messages above the sustained rate (an offer plus a flurry of candidates).
    pub message_burst: f64,
    /// Join attempts per IP address per minute: stops guessing room codes.
    pub joins_per_minute: u32,
    /// Most open WebSocket connections.
    pub max_connections: usize,
    /// Most open WebSocket connections from one IPv4 address or one IPv6 /64, so one
    /// machine cannot fill the server. TCP connections in any state are capped at twice this.
    pub max_connections_per_address: usize,
    /// A connection that has not sent `hello` this long after opening is closed.
    pub hello_timeout: Duration,
    /// A message the client has not taken within this long ends its connection: it has
    /// stopped reading, and its room is told it left.
    pub send_timeout: Duration,
    /// An HTTP request whose headers have not all arrived this long after the connection
    /// opened (or after the previous request) is dropped, connection and all.
    pub header_timeout: Duration,
    /// The server pings this often; clients should send something this often.
    pub heartbeat: Duration,
    /// A connection that sends nothing (not even a pong) for this long is dropped.
    pub idle_timeout: Duration,
    /// An empty room lives this long before its code stops working.
    pub room_grace: Duration,
    /// A dropped peer keeps its place this long, so a reconnect resumes it.
    pub reconnect_grace: Duration,
    /// Most messages held for a peer while it is reconnecting.
    pub held_messages: usize,
    /// A ring nobody answers ends (`no_answer`) after this long.
    pub ring_timeout: Duration,
    /// Rings per IP address per minute.
    pub rings_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            room_capacity: 8,
            max_message_bytes: 64 * 1024,
            messages_per_second: 20.0,
            message_burst: 60.0,
            joins_per_minute: 30,
            max_connections: 20_000,
            max_connections_per_address: 100,
            hello_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            heartbeat: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(45),
            room_grace: Duration::from_secs(60),
            reconnect_grace: Duration::from_secs(20),
            held_messages: 64,
            ring_timeout: Duration::from_secs(30),
            rings_per_minute: 20,
        }
    }
}
