//! This computer's addresses on its networks: where people on the LAN reach its server.

use std::net::IpAddr;

/// The IPv4 addresses of the interfaces that are up, loopback and link-local left out,
/// private ranges (home and office LANs) first.
pub fn lan_addresses() -> Vec<IpAddr> {
    let mut found: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|iface| iface.ip())
        .filter(|ip| match ip {
            IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_link_local() && !v4.is_unspecified(),
            IpAddr::V6(_) => false,
        })
        .collect();
    found.sort_by_key(|ip| match ip {
        IpAddr::V4(v4) if v4.is_private() => 0,
        _ => 1,
    });
    found.dedup();
    found
}

/// The address to put in links for people on the network: the first of
/// [`lan_addresses`], or None on a computer with no network.
pub fn best_lan_address() -> Option<IpAddr> {
    lan_addresses().into_iter().next()
}
