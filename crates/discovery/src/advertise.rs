//! Advertising a hosting server over DNS-SD / mDNS (`_tincan._tcp.local.`), through the
//! `mdns-sd` crate's responder.
//!
//! What is advertised: an instance name and a host name made of random hex (not the
//! computer's or the person's name), the server's port and addresses, and the TXT record
//! `v=1` (the lookup version). No room, code, tag or name is advertised.

use mdns_sd::{ServiceDaemon, ServiceInfo};
use tincan_protocol::lan::SERVICE_TYPE;

use crate::DiscoveryError;

/// Advertises while it lives; dropping it withdraws the advertisement (a goodbye packet).
pub struct Advertiser {
    daemon: ServiceDaemon,
    fullname: String,
}

impl Advertiser {
    /// Advertises a server listening on `port` on every LAN address of this computer (kept
    /// up to date when addresses come and go).
    pub fn start(port: u16) -> Result<Self, DiscoveryError> {
        let mdns = |e: mdns_sd::Error| DiscoveryError::Mdns(e.to_string());
        let mut id = [0u8; 4];
        getrandom::fill(&mut id).map_err(|e| DiscoveryError::Random(e.to_string()))?;
        let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let daemon = ServiceDaemon::new().map_err(mdns)?;
        let info = ServiceInfo::new(
            SERVICE_TYPE,
            &format!("tincan-{id}"),
            &format!("tincan-{id}.local."),
            "",
            port,
            &[("v", "1")][..],
        )
        .map_err(mdns)?
        .enable_addr_auto();
        let fullname = info.get_fullname().to_owned();
        daemon.register(info).map_err(mdns)?;
        tracing::info!(%fullname, port, "advertising on the LAN");
        Ok(Self { daemon, fullname })
    }
}

impl Drop for Advertiser {
    fn drop(&mut self) {
        let _ = self.daemon.unregister(&self.fullname);
        let _ = self.daemon.shutdown();
    }
}
