//! `tincan-server`: people find each other here by room code, and their apps exchange SDP
//! offers, answers and ICE candidates through it. It never sees media.
//!
//! Rooms live in this process's memory, or with [`Config::redis`] in a Redis shared by
//! several servers behind one load balancer (`shared`).
//!
//! The protocol is in `docs/protocol.md`; running it on the internet is in `docs/deploy.md`.
//! [`start`] runs a server on a listener you bind (tests bind port 0); the `tincan-server`
//! binary wraps it with flags.

mod accept;
pub mod config;
mod connection;
mod directory;
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod hub;
mod limits;
mod metrics;
pub mod room_key;
mod rooms;
mod shared;
pub mod turn;
mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use config::{Config, Limits, TlsFiles, TurnConfig};
pub use room_key::{KeyError, RoomKey};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source} (is another server using the port?)")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot load the TLS certificate {cert} and key {key}: {source}")]
    Tls {
        cert: String,
        key: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("cannot use the Redis at that URL: {0} (it looks like redis://host:6379/)")]
    Redis(#[from] redis::RedisError),
    #[error("server stopped with an error: {0}")]
    Io(#[from] std::io::Error),
}

/// A running server. Dropping it does not stop it; call [`RunningServer::shutdown`].
pub struct RunningServer {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    handle: axum_server::Handle<SocketAddr>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    hub: Arc<hub::Hub>,
}

impl RunningServer {
    /// The address it listens on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `GET /metrics` is served, when it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Whether a room with this code is open on this server.
    pub fn hosts_room(&self, code: &tincan_protocol::RoomCode) -> bool {
        self.hub.hosts_room(code)
    }

    /// Rooms and peers right now.
    pub fn counts(&self) -> (usize, usize) {
        self.hub.counts()
    }

    /// Stops accepting, gives open connections `grace` to close, then ends.
    pub async fn shutdown(self, grace: Duration) -> Result<(), ServerError> {
        self.handle.graceful_shutdown(Some(grace));
        self.wait().await
    }

    /// Runs until the server stops.
    pub async fn wait(self) -> Result<(), ServerError> {
        match self.task.await {
            Ok(result) => result.map_err(ServerError::Io),
            Err(join) => Err(ServerError::Io(std::io::Error::other(join))),
        }
    }
}

/// Starts a server on `listener`. With `config.tls` set it speaks HTTPS/WSS.
pub async fn start(
    config: Config,
    listener: std::net::TcpListener,
) -> Result<RunningServer, ServerError> {
    // rustls needs its crypto provider chosen once per process; a second call is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let key = match &config.room_key {
        Some(key) => key.clone(),
        None => RoomKey::generate()?,
    };
    let hub = hub::Hub::new(&config, key)?;
    let metrics_addr = match &config.metrics_listen {
        Some(at) => Some(serve_metrics(at, Arc::clone(&hub)).await?),
        None => None,
    };
    let app = http::router(Arc::clone(&hub)).into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    // TCP connections per address: twice the WebSockets it may hold, for its page loads and
    // upgrades in progress.
    let tcp_cap = config.limits.max_connections_per_address.saturating_mul(2);
    let task = match &config.tls {
        Some(files) => {
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&files.cert, &files.key)
                .await
                .map_err(|source| ServerError::Tls {
                    cert: files.cert.display().to_string(),
                    key: files.key.display().to_string(),
                    source,
                })?;
            let mut server = axum_server::from_tcp_rustls(listener, tls)?
                .handle(handle.clone())
                .map(|tls| {
                    let within = config.limits.header_timeout;
                    accept::Admission::new(tls.handshake_timeout(within), within, tcp_cap)
                });
            headers_within(server.http_builder(), config.limits.header_timeout);
            tokio::spawn(server.serve(app))
        }
        None => {
            let mut server = axum_server::from_tcp(listener)?
                .handle(handle.clone())
                .acceptor(accept::Admission::new(
                    axum_server::accept::DefaultAcceptor::new(),
                    config.limits.header_timeout,
                    tcp_cap,
                ));
            headers_within(server.http_builder(), config.limits.header_timeout);
            tokio::spawn(server.serve(app))
        }
    };
    tracing::info!(%addr, tls = config.tls.is_some(), "tincan-server listening");
    Ok(RunningServer {
        addr,
        metrics_addr,
        handle,
        task,
        hub,
    })
}

/// Drops a connection whose request headers have not all arrived within `timeout` once its
/// first bytes are in (a request sent a byte at a time); silence before them is
/// [`accept::Admission`]'s. Hyper keeps that time only when given a timer, which
/// axum-server does not give it.
fn headers_within(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    timeout: std::time::Duration,
) {
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(timeout);
}

/// Serves the metrics on `at` (plain HTTP: keep it on loopback or a private network).
async fn serve_metrics(at: &str, hub: Arc<hub::Hub>) -> Result<SocketAddr, ServerError> {
    let listener = tokio::net::TcpListener::bind(at)
        .await
        .map_err(|source| ServerError::Bind {
            addr: at.to_owned(),
            source,
        })?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, http::metrics_router(hub)).await {
            tracing::warn!(error = %e, "metrics listener stopped");
        }
    });
    Ok(addr)
}

/// Binds `addr` and starts a server on it.
pub async fn bind_and_start(config: Config, addr: &str) -> Result<RunningServer, ServerError> {
    let listener = std::net::TcpListener::bind(addr).map_err(|source| ServerError::Bind {
        addr: addr.to_owned(),
        source,
    })?;
    start(config, listener).await
}
