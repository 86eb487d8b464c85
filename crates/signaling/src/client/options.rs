//! How the client connects and retries: [`ClientOptions`] and its [`ReconnectPolicy`].

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use rustls::pki_types::CertificateDer;

use crate::{tls, SignalingError};

/// How the client retries after its connection drops.
#[derive(Debug, Clone)]
pub struct ReconnectPolicy {
    /// Wait before the first retry.
    pub first_delay: Duration,
    /// The wait doubles up to this.
    pub max_delay: Duration,
    /// Stop trying after this long and report [`Event::Disconnected`] — unless the client
    /// is in a room: then it keeps trying (at `max_delay`) until the handle closes, since a
    /// call's media does not need the server and the room should come back when it does.
    pub give_up_after: Duration,
}

impl ReconnectPolicy {
    pub const FIRST_DELAY: Duration = Duration::from_millis(250);
    pub const MAX_DELAY: Duration = Duration::from_secs(5);
    /// Longer than the server's default reconnect grace (20 s), so a client that comes back
    /// late still gets into the room, as a new peer.
    pub const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

    /// The wait before retry number `attempt` (from 1): exponential, with up to 25 % random
    /// jitter so that clients dropped together do not return together.
    pub(super) fn delay(&self, attempt: u32) -> Duration {
        let base = self
            .first_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        let jitter = RandomState::new().hash_one(attempt) % 1000;
        base + base.mul_f64(jitter as f64 / 4000.0)
    }
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            first_delay: Self::FIRST_DELAY,
            max_delay: Self::MAX_DELAY,
            give_up_after: Self::GIVE_UP_AFTER,
        }
    }
}

/// Settings for [`connect`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Names the client in the server's logs (`tincan-cli/0.1.0`).
    pub client_label: String,
    pub reconnect: ReconnectPolicy,
    /// Roots to trust besides the system's, for a server with a private CA.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// How long connecting plus the hello/welcome exchange may take.
    pub handshake_timeout: Duration,
    /// How long a request (create, join, leave) waits for its answer.
    pub request_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            client_label: concat!("tincan-signaling/", env!("CARGO_PKG_VERSION")).into(),
            reconnect: ReconnectPolicy::default(),
            extra_roots: Vec::new(),
            handshake_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl ClientOptions {
    /// Adds PEM-encoded root certificates to trust.
    pub fn trust_pem(mut self, pem: &[u8]) -> Result<Self, SignalingError> {
        self.extra_roots.extend(tls::certificates_from_pem(pem)?);
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_bounded_jitter() {
        let policy = ReconnectPolicy::default();
        let d1 = policy.delay(1);
        assert!(
            d1 >= Duration::from_millis(250) && d1 <= Duration::from_millis(313),
            "{d1:?}"
        );
        let d3 = policy.delay(3);
        assert!(
            d3 >= Duration::from_millis(1000) && d3 <= Duration::from_millis(1250),
            "{d3:?}"
        );
        let d20 = policy.delay(20);
        assert!(
            d20 >= Duration::from_secs(5) && d20 <= Duration::from_millis(6250),
            "{d20:?}"
        );
    }
}
