//! Finding a room by its code among the Tincan servers the LAN advertises.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mdns_sd::{ServiceDaemon, ServiceEvent};
use tincan_protocol::lan::SERVICE_TYPE;
use tincan_protocol::RoomCode;
use tokio::task::JoinSet;

use crate::{lookup, DiscoveryError};

/// How long a search lasts when no server has the room: DNS-SD answers on a LAN arrive in
/// tens of milliseconds (74 ms between namespaces here), so two seconds leave room for a slow
/// Wi-Fi and a wrong code is still told within 3 s.
pub const SEARCH_TIME: Duration = Duration::from_secs(2);
/// Most servers asked in one search: a network (or a hostile responder) advertising
/// thousands costs no more than this many small requests.
const MAX_SERVERS: usize = 32;

/// Where a room was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundRoom {
    /// The server's WebSocket URL (`ws://192.168.1.20:40123/ws`): what a call joins.
    pub server: String,
    pub addr: SocketAddr,
}

/// Looks for the room `code` (as a person typed it) on the LAN for at most `within`,
/// returning as soon as a server proves it hosts it. Servers that do not answer, answer
/// badly or cannot prove it are passed over (and logged).
pub async fn find_room(code: &str, within: Duration) -> Result<FoundRoom, DiscoveryError> {
    let code = RoomCode::parse(code).map_err(|_| DiscoveryError::BadCode(code.to_owned()))?;
    let mdns = |e: mdns_sd::Error| DiscoveryError::Mdns(e.to_string());
    let daemon = ServiceDaemon::new().map_err(mdns)?;
    let events = daemon.browse(SERVICE_TYPE).map_err(mdns)?;
    let deadline = tokio::time::Instant::now() + within;
    let mut asked: HashSet<SocketAddr> = HashSet::new();
    let mut lookups = JoinSet::new();
    let found = loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break None,
            event = events.recv_async() => {
                let Ok(event) = event else { break None };
                let ServiceEvent::ServiceResolved(service) = event else { continue };
                for ip in service.get_addresses().iter().map(|a| a.to_ip_addr()) {
                    let usable = match ip {
                        IpAddr::V4(v4) => !v4.is_unspecified(),
                        // Link-local IPv6 needs a scope a socket address cannot carry here.
                        IpAddr::V6(v6) => !v6.is_unicast_link_local() && !v6.is_unspecified(),
                    };
                    let addr = SocketAddr::new(ip, service.get_port());
                    if usable && asked.len() < MAX_SERVERS && asked.insert(addr) {
                        let code = code.clone();
                        lookups.spawn(async move { (addr, lookup::ask(addr, &code).await) });
                    }
                }
            }
            Some(done) = lookups.join_next(), if !lookups.is_empty() => {
                match done {
                    Ok((addr, Ok(true))) => break Some(addr),
                    Ok((_, Ok(false))) => {}
                    Ok((addr, Err(e))) => tracing::debug!(%addr, error = %e, "lookup failed"),
                    Err(e) => tracing::debug!(error = %e, "lookup task ended"),
                }
            }
        }
    };
    lookups.abort_all();
    let _ = daemon.stop_browse(SERVICE_TYPE);
    let _ = daemon.shutdown();
    tracing::info!(servers = asked.len(), found = ?found, "searched the LAN");
    let addr = found.ok_or(DiscoveryError::NotFound)?;
    Ok(FoundRoom {
        server: format!("ws://{addr}/ws"),
        addr,
    })
}
