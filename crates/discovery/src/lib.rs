//! Calls with no setup. Two people on one network call each other by room code alone:
//!
//! - [`Host`] runs `tincan-server` inside the app (or `tincan-cli --host`): on loopback only,
//!   or on the LAN, where it answers lookups and is advertised over DNS-SD as
//!   `_tincan._tcp` ([`advertise`]).
//! - [`find_room`] looks for a code among the servers the network advertises, asking each
//!   without revealing the code (`tincan_protocol::lan`), and says where the room is.
//!
//! What a stranger on the LAN can learn, and the limits that protect a hosting computer, are
//! in docs/discovery.md.

pub mod addresses;
pub mod advertise;
mod find;
mod host;
mod lookup;

use std::net::SocketAddr;

pub use find::{find_room, FoundRoom, SEARCH_TIME};
pub use host::{Host, Reach};

/// Why hosting or finding a room on the LAN did not work.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("no call with this code on your network: check the code, and that the other person's Tincan lets people on the network join (their Settings → Signaling server)")]
    NotFound,
    #[error("{0} is not a room code (codes look like k7wq-2m9x-d4tp)")]
    BadCode(String),
    #[error("cannot look for calls on your network: {0}")]
    Mdns(String),
    #[error("the built-in server did not start: {0}")]
    Server(#[from] tincan_server::ServerError),
    #[error("cannot make a random number: {0}")]
    Random(String),
    #[error("the server at {addr} answered the lookup badly: {reason}")]
    BadAnswer { addr: SocketAddr, reason: String },
}
