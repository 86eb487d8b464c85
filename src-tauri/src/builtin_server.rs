//! The signaling server inside the app, for calls with no setup. With no server configured
//! the app hosts the rooms it creates itself: on the LAN when the person lets people on their
//! network join ("Let people on my network join my calls", asked once on first start), where
//! it listens on every interface and is advertised over DNS-SD; otherwise on 127.0.0.1, for
//! this computer only. tincan-discovery does the hosting; docs/discovery.md says what a
//! stranger on the LAN can learn.

use tincan_discovery::{Host, Reach};

use crate::error::AppError;

pub struct BuiltInServer {
    host: Host,
}

impl BuiltInServer {
    pub async fn start(reach: Reach) -> Result<Self, AppError> {
        let host = Host::start(reach, 0)
            .await
            .map_err(|e| AppError::ServerUnreachable(e.to_string()))?;
        Ok(Self { host })
    }

    pub fn reach(&self) -> Reach {
        self.host.reach()
    }

    /// `ws://127.0.0.1:PORT/ws`: what this computer's calls connect to.
    pub fn local_url(&self) -> String {
        self.host.local_url()
    }

    /// `ws://LAN-ADDRESS:PORT/ws` when people on the network can connect.
    pub fn lan_url(&self) -> Option<String> {
        self.host.lan_url()
    }

    /// Whether a room with this code is open here.
    pub fn hosts(&self, code: &str) -> bool {
        self.host.hosts(code)
    }

    /// What Settings says about it.
    pub fn describe(&self) -> String {
        match self.host.lan_url() {
            Some(url) => format!(
                "Running at {url}: people on your network can join your calls by their code."
            ),
            None if self.reach() == Reach::Lan => format!(
                "Running at {}: no network found, so only this computer can join.",
                self.local_url()
            ),
            None => format!(
                "Running at {}: only this computer (other windows, tincan-cli) can join.",
                self.local_url()
            ),
        }
    }

    pub async fn stop(self) {
        self.host.stop().await;
    }
}
