//! The signaling server inside the app, for calls with no setup: with no server configured,
//! the app runs tincan-server on this computer's loopback, so a second window or a
//! `tincan-cli` peer on the same machine can call it. Calls across the internet need a
//! deployed server (README, "Calling across the internet").

use tincan_server::{Config, RunningServer};

use crate::error::AppError;

/// Where the built-in server listens; the port is picked by the system.
const LISTEN: &str = "127.0.0.1:0";

pub struct BuiltInServer {
    running: RunningServer,
}

impl BuiltInServer {
    pub async fn start() -> Result<Self, AppError> {
        let running = tincan_server::bind_and_start(Config::default(), LISTEN)
            .await
            .map_err(|e| {
                AppError::ServerUnreachable(format!("the built-in server did not start: {e}"))
            })?;
        Ok(Self { running })
    }

    /// `127.0.0.1:PORT`: what the call engine and `tincan-cli --server` take.
    pub fn address(&self) -> String {
        self.running.local_addr().to_string()
    }
}
