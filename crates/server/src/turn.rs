//! Time-limited TURN credentials in coturn's `use-auth-secret` scheme (the "TURN REST API"
//! draft): the username is `<expiry unix time>:<label>` and the password is
//! `base64(HMAC-SHA1(secret, username))`. coturn recomputes the same HMAC with its
//! `static-auth-secret`, so the secret never leaves the two servers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// A username and password a peer hands to its TURN client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnCredential {
    pub username: String,
    pub password: String,
}

/// Credentials for `label` valid for `ttl` from `now`.
pub fn credential(secret: &str, label: &str, ttl: Duration, now: SystemTime) -> TurnCredential {
    let expiry = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_add(ttl)
        .as_secs();
    let username = format!("{expiry}:{label}");
    let password = password_for(secret, &username);
    TurnCredential { username, password }
}

/// The password coturn expects for `username` under `secret`.
pub fn password_for(secret: &str, username: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_known_coturn_credential() {
        // Computed independently with:
        //   printf '%s' 1700000000:ada | openssl dgst -sha1 -hmac north -binary | base64
        assert_eq!(
            password_for("north", "1700000000:ada"),
            "ndZ88ryT1whVxdkcRLepT9D1MpM="
        );
    }

    #[test]
    fn username_carries_the_expiry() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let c = credential("s", "p1", Duration::from_secs(3600), now);
        assert_eq!(c.username, "1700003600:p1");
        assert_eq!(c.password, password_for("s", "1700003600:p1"));
    }
}
