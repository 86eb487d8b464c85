//! The `tincan-server` binary: flags to [`tincan_server::Config`], logs, and a clean stop on
//! Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tincan_server::{Config, KeyError, Limits, RoomKey, TlsFiles, TurnConfig};

/// Tincan's signaling server: rooms by code, SDP and ICE relay, TURN credentials.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on. The default only accepts this machine; use 0.0.0.0:PORT (with
    /// TLS) to serve the internet.
    #[arg(long, default_value = "127.0.0.1:8787", env = "TINCAN_LISTEN")]
    listen: String,
    /// PEM certificate chain: serve HTTPS and WSS.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// STUN server handed to peers (repeatable), e.g. stun:turn.example.org:3478.
    #[arg(long = "stun")]
    stun: Vec<String>,
    /// TURN server handed to peers (repeatable), e.g. turn:turn.example.org:3478.
    #[arg(long = "turn", requires = "turn_secret")]
    turn: Vec<String>,
    /// coturn's static-auth-secret, to mint time-limited TURN credentials.
    #[arg(long, env = "TINCAN_TURN_SECRET", hide_env_values = true)]
    turn_secret: Option<String>,
    /// How long TURN credentials stay valid.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    turn_ttl: Duration,
    /// Most people in one room.
    #[arg(long, default_value_t = Limits::default().room_capacity)]
    room_capacity: usize,
    /// Largest message accepted, in bytes.
    #[arg(long, default_value_t = Limits::default().max_message_bytes)]
    max_message_bytes: usize,
    /// Sustained messages per second per connection.
    #[arg(long, default_value_t = Limits::default().messages_per_second)]
    messages_per_second: f64,
    /// Messages allowed in a burst above that rate.
    #[arg(long, default_value_t = Limits::default().message_burst)]
    message_burst: f64,
    /// Room creations and join attempts per IP address per minute.
    #[arg(long, default_value_t = Limits::default().joins_per_minute)]
    joins_per_minute: u32,
    /// Most open connections.
    #[arg(long, default_value_t = Limits::default().max_connections)]
    max_connections: usize,
    /// Most open connections from one IPv4 address or one IPv6 /64.
    #[arg(long, default_value_t = Limits::default().max_connections_per_address)]
    max_connections_per_address: usize,
    /// A connection that has not said hello this long after opening is closed.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    hello_timeout: Duration,
    /// A client that has not taken a message this long has stopped reading: its connection
    /// ends and its room is told it left.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    send_timeout: Duration,
    /// An HTTP request's headers must all arrive within this long, or the connection is
    /// dropped.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    header_timeout: Duration,
    /// How often the server pings each connection.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    heartbeat: Duration,
    /// A connection silent this long is closed.
    #[arg(long, default_value = "45s", value_parser = humantime::parse_duration)]
    idle_timeout: Duration,
    /// An empty room lives this long.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    room_grace: Duration,
    /// A dropped peer keeps its place this long.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    reconnect_grace: Duration,
    /// A ring nobody answers ends this long after it started.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    ring_timeout: Duration,
    /// Rings per IP address per minute.
    #[arg(long, default_value_t = Limits::default().rings_per_minute)]
    rings_per_minute: u32,
    /// A name clients reach this server by (host or host:port, as in its URL; repeat for
    /// more). Registrations must be signed for one of them. Without it, for the Host header
    /// each connection sends.
    #[arg(long = "public-host")]
    public_host: Vec<String>,
    /// Where the room key is kept (made on first start). Calls outlive a restart of the
    /// server when it finds the same key again. Default: $STATE_DIRECTORY/room-key, else
    /// $XDG_STATE_HOME/tincan-server/room-key, else ~/.local/state/tincan-server/room-key;
    /// on Windows %LOCALAPPDATA%\tincan-server\room-key.
    #[arg(long, env = "TINCAN_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Answer LAN lookups (GET /lan/lookup: apps on the network asking whether a room is
    /// here, without saying its code). The app and `tincan-cli --host` turn this on for the
    /// server they run; a server on the internet does not need it.
    #[arg(long)]
    lan_lookup: bool,
    /// A web origin whose pages may connect besides this server's own (repeat for more),
    /// e.g. https://meet.example.org for a page of yours that embeds calls.
    #[arg(long = "allow-origin")]
    allow_origin: Vec<String>,
    /// Where GET /metrics is served (plain HTTP), apart from the public address: loopback
    /// by default; `none` serves no metrics.
    #[arg(long, default_value = "127.0.0.1:9787", env = "TINCAN_METRICS_LISTEN")]
    metrics_listen: String,
    /// Share rooms with other tincan-servers through this Redis (redis://host:6379/), so
    /// several servers behind one load balancer serve the same rooms, and a client of a
    /// server that died resumes on another (docs/deploy.md, "Several servers"). Without it
    /// rooms live in this process's memory.
    #[arg(long, env = "TINCAN_REDIS")]
    redis: Option<String>,
    /// Log format: text or json.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

impl Args {
    fn config(&self) -> Result<Config, KeyError> {
        Ok(Config {
            lan_lookup: self.lan_lookup,
            allowed_origins: self.allow_origin.clone(),
            public_hosts: self.public_host.clone(),
            redis: self.redis.clone(),
            metrics_listen: (self.metrics_listen != "none").then(|| self.metrics_listen.clone()),
            room_key: self.room_key()?,
            limits: Limits {
                room_capacity: self.room_capacity,
                max_message_bytes: self.max_message_bytes,
                messages_per_second: self.messages_per_second,
                message_burst: self.message_burst,
                joins_per_minute: self.joins_per_minute,
                max_connections: self.max_connections,
                max_connections_per_address: self.max_connections_per_address,
                hello_timeout: self.hello_timeout,
                send_timeout: self.send_timeout,
                header_timeout: self.header_timeout,
                heartbeat: self.heartbeat,
                idle_timeout: self.idle_timeout,
                room_grace: self.room_grace,
                reconnect_grace: self.reconnect_grace,
                ring_timeout: self.ring_timeout,
                rings_per_minute: self.rings_per_minute,
                ..Limits::default()
            },
            stun_urls: self.stun.clone(),
            turn: match (&self.turn_secret, self.turn.is_empty()) {
                (Some(secret), false) => Some(TurnConfig {
                    urls: self.turn.clone(),
                    secret: secret.clone(),
                    ttl: self.turn_ttl,
                }),
                _ => None,
            },
            tls: match (&self.tls_cert, &self.tls_key) {
                (Some(cert), Some(key)) => Some(TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                }),
                _ => None,
            },
        })
    }

    /// The key from --key-file or the default place; a random one (rooms then do not outlive
    /// this run, and the log says so) when neither can be used.
    fn room_key(&self) -> Result<Option<RoomKey>, KeyError> {
        let Some(path) = self.key_file.clone().or_else(RoomKey::default_path) else {
            return Ok(None);
        };
        match RoomKey::load_or_create(&path) {
            Ok(key) => Ok(Some(key)),
            Err(e) if self.key_file.is_some() => Err(e),
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "rooms will not outlive a restart of this server; set --key-file to a \
                     writable place"
                );
                Ok(None)
            }
        }
    }
}

fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    init_logs(&args.log_format);
    let config = match args.config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("tincan-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let server = match tincan_server::bind_and_start(config, &args.listen).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("tincan-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let scheme = if args.tls_cert.is_some() { "wss" } else { "ws" };
    println!(
        "tincan-server listening: {scheme}://{}/ws",
        server.local_addr()
    );
    if let Some(metrics) = server.metrics_addr() {
        println!("tincan-server metrics: http://{metrics}/metrics");
    }
    if let Err(e) = stop_signal().await {
        eprintln!("tincan-server: cannot watch for stop signals: {e}");
    }
    tracing::info!("stopping");
    match server.shutdown(Duration::from_secs(5)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tincan-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn stop_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
