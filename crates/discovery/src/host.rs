//! The signaling server an app or `tincan-cli` runs for itself when no server is configured.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tincan_protocol::RoomCode;
use tincan_server::{Config, RunningServer};

use crate::advertise::Advertiser;
use crate::{addresses, DiscoveryError};

/// Who can reach a hosted server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// This computer only (127.0.0.1): nobody on the network can connect.
    ThisComputer,
    /// Everyone on the networks this computer is on: it listens on every interface, answers
    /// lookups and is advertised over DNS-SD.
    Lan,
}

/// A running built-in server (and its advertisement, when it serves the LAN). The server's
/// limits are `tincan-server`'s defaults: connection cap, join and lookup rate limits per
/// address, message size and rate.
pub struct Host {
    server: RunningServer,
    reach: Reach,
    _advertiser: Option<Advertiser>,
}

impl Host {
    /// Starts a server reachable as `reach` says, on `port` (0: the system picks one).
    pub async fn start(reach: Reach, port: u16) -> Result<Self, DiscoveryError> {
        let ip = match reach {
            Reach::ThisComputer => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Reach::Lan => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        };
        let config = Config {
            lan_lookup: reach == Reach::Lan,
            ..Config::default()
        };
        let server =
            tincan_server::bind_and_start(config, &SocketAddr::new(ip, port).to_string()).await?;
        let advertiser = match reach {
            Reach::Lan => Some(Advertiser::start(server.local_addr().port())?),
            Reach::ThisComputer => None,
        };
        Ok(Self {
            server,
            reach,
            _advertiser: advertiser,
        })
    }

    pub fn reach(&self) -> Reach {
        self.reach
    }

    pub fn port(&self) -> u16 {
        self.server.local_addr().port()
    }

    /// What this computer's own calls connect to: `ws://127.0.0.1:PORT/ws`.
    pub fn local_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port())
    }

    /// Where people on the network connect (`ws://192.168.1.20:PORT/ws`); None when the
    /// server is for this computer only or the computer has no network.
    pub fn lan_url(&self) -> Option<String> {
        self.lan_addr().map(|addr| format!("ws://{addr}/ws"))
    }

    /// `http://192.168.1.20:PORT` (guest pages and links for the network), or None as for
    /// [`Host::lan_url`].
    pub fn lan_base(&self) -> Option<String> {
        self.lan_addr().map(|addr| format!("http://{addr}"))
    }

    fn lan_addr(&self) -> Option<SocketAddr> {
        if self.reach != Reach::Lan {
            return None;
        }
        let ip = addresses::best_lan_address()?;
        Some(SocketAddr::new(ip, self.port()))
    }

    /// Whether a room with this code is open here.
    pub fn hosts(&self, code: &str) -> bool {
        RoomCode::parse(code).is_ok_and(|code| self.server.hosts_room(&code))
    }

    /// Stops the server (calls on it end) and withdraws the advertisement.
    pub async fn stop(self) {
        let _ = self.server.shutdown(Duration::from_secs(1)).await;
    }
}
