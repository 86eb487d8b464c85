//! The client side of Tincan's signaling: connect to a `tincan-server`, create or join a room
//! by code, exchange signals with the other peers, and ride out brief drops.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tincan_signaling::SignalingError> {
//! use tincan_signaling::{connect, ClientOptions, Event};
//! let (client, mut events) = connect("ws://127.0.0.1:8787", ClientOptions::default()).await?;
//! let room = client.create_room().await?;
//! let joined = client.join(&room.to_string(), "Ada").await?;
//! while let Some(event) = events.recv().await {
//!     if let Event::Signal { from, signal } = event { /* hand to the peer connection */ }
//! }
//! # Ok(()) }
//! ```
//!
//! [`connect`] returns a [`Signaling`] handle and a stream of [`Event`]s. A background task
//! owns the socket; when it drops, the task reconnects with backoff ([`ReconnectPolicy`]) and
//! rejoins with the server's resume token, so the peer keeps its id and its place.

mod client;
mod error;
pub mod identity;
mod tls;
mod url;

pub use client::{
    connect, ClientOptions, DirectoryEvent, Event, Joined, ReconnectPolicy, Signaling,
};
pub use error::SignalingError;
pub use url::websocket_url;

pub use tincan_protocol as protocol;
