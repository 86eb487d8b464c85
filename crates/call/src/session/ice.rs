//! Keeping TURN credentials fresh for a long call ([`crate::ice_renewal`] decides when).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tincan_protocol::IceServer;

use super::Session;
use crate::engine;
use crate::events::CallEvent;
use crate::ice_renewal::{credentials_expire, renew_in, RENEW_AT_MOST_EVERY};
use crate::peer::PeerInput;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Session {
    /// Sets when to ask for fresh credentials, from those in use (none: never).
    pub(super) fn schedule_ice_renewal(&mut self) {
        self.ice_renew_at = credentials_expire(&self.ice)
            .map(|expires| Instant::now() + renew_in(expires, unix_now()));
    }

    /// Asks the server for fresh ICE servers when it is time; the answer comes back as
    /// [`PeerInput::IceServers`].
    pub(super) fn renew_ice_if_due(&mut self) {
        let due = self.ice_renew_at.is_some_and(|at| Instant::now() >= at);
        if !due || self.ice_renewing {
            return;
        }
        self.ice_renewing = true;
        let signaling = self.signaling.clone();
        let back = self.inputs_tx.clone();
        tokio::spawn(async move {
            let fresh = signaling.refresh_ice().await.map_err(|e| e.to_string());
            let _ = back.send(PeerInput::IceServers(fresh));
        });
    }

    /// The server's answer to a renewal.
    pub(super) async fn on_fresh_ice(&mut self, fresh: Result<Vec<IceServer>, String>) {
        self.ice_renewing = false;
        match fresh {
            Ok(servers) => self.use_ice(servers, true).await,
            Err(e) => {
                tracing::warn!(error = %e, "fresh TURN credentials refused; asking again soon");
                self.ice_renew_at = Some(Instant::now() + 5 * RENEW_AT_MOST_EVERY);
            }
        }
    }

    /// Uses `servers` from now on: every connection's next gathering takes them, and with
    /// `restart_relayed` the paths through a relay allocation of ours restart at once (its
    /// credentials are about to expire).
    pub(super) async fn use_ice(&mut self, servers: Vec<IceServer>, restart_relayed: bool) {
        self.ice = servers;
        self.schedule_ice_renewal();
        let mut relayed = Vec::new();
        let configuration = engine::configuration(&self.ice, self.relay_only, None);
        for (id, peer) in &self.peers {
            if let Err(e) = peer.pc.set_configuration(configuration.clone()).await {
                tracing::warn!(peer = %id, error = %e, "cannot give the connection fresh ICE servers");
                continue;
            }
            // Only our own allocation is ours to move: a path through the far end's relay
            // is moved by the far end, when its own credentials are renewed (two restarts
            // at once would collide and stop media for longer).
            let through_our_relay = peer.path.local_candidate.as_deref() == Some("relay");
            if restart_relayed && through_our_relay {
                relayed.push(id.clone());
            }
        }
        if !restart_relayed {
            return;
        }
        for id in &relayed {
            if let Err(e) = self.restart_ice(id).await {
                tracing::info!(peer = %id, error = %e, "restart onto fresh credentials failed");
            }
        }
        tracing::info!(restarted = relayed.len(), "fresh TURN credentials in use");
        self.emit(CallEvent::IceRenewed { restarted: relayed })
            .await;
    }
}
