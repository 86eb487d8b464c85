//! TURN credentials run out (`tincan-server --turn-ttl`, an hour by default), and a relay
//! allocation cannot be refreshed with expired ones: coturn refuses, and the relayed path dies
//! minutes later. So before they expire the session asks the server for fresh ones
//! (`refresh_ice`), gives them to every connection, and restarts ICE on the relayed paths so
//! they move to allocations made with the new credentials (docs/calls.md, "When things
//! break"). Decided here without clocks: the caller passes the time.

use std::time::Duration;

use tincan_protocol::IceServer;

/// Fresh credentials are asked for this long before the old ones expire, at most...
const AHEAD_AT_MOST: Duration = Duration::from_secs(300);

/// ...and never sooner than this after the last ask (a server that hands out credentials
/// already near their end must not be asked in a loop).
pub(crate) const RENEW_AT_MOST_EVERY: Duration = Duration::from_secs(2);

/// When the TURN credentials among `ice` expire, in Unix seconds: the earliest expiry in a
/// TURN server's username (`<expiry>:<label>`, coturn's REST API scheme). None when there is
/// no TURN server, or none with time-limited credentials.
pub(crate) fn credentials_expire(ice: &[IceServer]) -> Option<u64> {
    ice.iter()
        .filter(|s| {
            s.urls
                .iter()
                .any(|u| u.starts_with("turn:") || u.starts_with("turns:"))
        })
        .filter_map(|s| {
            s.username
                .as_deref()?
                .split(':')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .min()
}

/// How long after `now` (Unix seconds) to ask for fresh credentials that expire at
/// `expires`: a quarter of what is left before they expire, and at most five minutes before.
pub(crate) fn renew_in(expires: u64, now: u64) -> Duration {
    let left = Duration::from_secs(expires.saturating_sub(now));
    let ahead = (left / 4).min(AHEAD_AT_MOST);
    left.saturating_sub(ahead).max(RENEW_AT_MOST_EVERY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(username: &str) -> IceServer {
        IceServer {
            urls: vec!["turn:relay.example:3478?transport=udp".into()],
            username: Some(username.into()),
            credential: Some("x".into()),
        }
    }

    #[test]
    fn the_earliest_turn_expiry_counts_and_stun_has_none() {
        let stun = IceServer {
            urls: vec!["stun:relay.example:3478".into()],
            username: None,
            credential: None,
        };
        assert_eq!(credentials_expire(&[stun.clone()]), None);
        assert_eq!(
            credentials_expire(&[stun, turn("2000:p1"), turn("1500:p1")]),
            Some(1500)
        );
        assert_eq!(credentials_expire(&[turn("static-user")]), None);
    }

    #[test]
    fn renewal_comes_before_expiry_by_a_quarter_at_most_five_minutes() {
        // An hour's credentials: renewed five minutes before the end.
        assert_eq!(renew_in(10_000 + 3600, 10_000), Duration::from_secs(3300));
        // Eight seconds' (a test's): at six.
        assert_eq!(renew_in(108, 100), Duration::from_secs(6));
        // Already expired, or nearly: soon, but not in a loop.
        assert_eq!(renew_in(90, 100), RENEW_AT_MOST_EVERY);
        assert_eq!(renew_in(101, 100), RENEW_AT_MOST_EVERY);
    }
}
