//! Notices this machine's network changing (an address gone or added: Wi-Fi to Ethernet, a
//! VPN coming up, a laptop waking on another network), so the session can restart its paths
//! at once rather than after ICE notices the silence.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use rtc::shared::ifaces::ifaces;
use tokio::sync::mpsc;

/// How often the addresses are read.
const EVERY: Duration = Duration::from_secs(1);

/// The addresses a peer could be reached on: not loopback, not link-local.
fn addresses() -> Option<BTreeSet<IpAddr>> {
    let interfaces = ifaces().ok()?;
    Some(
        interfaces
            .into_iter()
            .filter_map(|i| i.addr.map(|a| a.ip()))
            .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
            .filter(|ip| match ip {
                IpAddr::V4(v4) => !v4.is_link_local(),
                IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
            })
            .collect(),
    )
}

/// A change of addresses arrives as `()`; the watch ends when the receiver is dropped.
pub(super) fn watch() -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let mut known = addresses();
        let mut ticks = tokio::time::interval(EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if tx.is_closed() {
                return;
            }
            let now = addresses();
            if now.is_some() && now != known {
                tracing::debug!(before = ?known, after = ?now, "network addresses changed");
                known = now;
                // One pending change is enough: the session restarts everything anyway.
                let _ = tx.try_send(());
            }
        }
    });
    rx
}
