//! The Redis keys and channels the Rust side names (the Lua side's are in lua/prelude.lua
//! and lua/relay.lua, under the same `tincan:` prefix).

use tincan_protocol::RoomCode;

pub const SERVERS: &str = "tincan:servers";
pub const EPOCH: &str = "tincan:epoch";
pub const KEY: &str = "tincan:key";
pub const DUE: &str = "tincan:due";

/// A room's hash.
pub fn room(code: &RoomCode) -> String {
    format!("tincan:room:{code}")
}

/// The peers that left a room on this run.
pub fn gone(code: &RoomCode) -> String {
    format!("tincan:gone:{code}")
}

/// The members (`<code> <peer>`) connected to `server`.
pub fn on(server: &str) -> String {
    format!("tincan:on:{server}")
}

/// `server`'s pub/sub channel.
pub fn channel(server: &str) -> String {
    format!("tincan:to:{server}")
}

/// An address's join attempts this minute.
pub fn joins(address: std::net::IpAddr) -> String {
    format!("tincan:joins:{address}")
}
