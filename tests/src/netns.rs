//! A second host for tests: a network namespace joined to this one by a veth pair, with a
//! token bucket on the host side for a slow link, or an nftables rule inside it for loss, so
//! what this host sends to the other crosses that link. Needs root, iproute2 and nftables
//! (scripts/install-deps installs them; CI runs as root).

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static MADE: AtomicU32 = AtomicU32::new(0);

/// Somewhere a test runs programs: a network namespace.
pub trait Namespace: Sync {
    /// The command prefix that runs a program inside it.
    fn exec_prefix(&self) -> Vec<String>;
}

impl Namespace for Netns {
    fn exec_prefix(&self) -> Vec<String> {
        Netns::exec_prefix(self)
    }
}

pub struct Netns {
    name: String,
    host_if: String,
    ns_if: String,
    /// This host's address on the link, and the namespace's.
    pub host_ip: String,
    pub ns_ip: String,
}

/// Runs a command the link setup needs; panics with its output when it fails.
pub(crate) fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?} (is iproute2 installed?): {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed (the network tests need root): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What [`Netns::with_uplink`]'s token bucket lets through at once on top of its rate, in
/// bytes: over one second the link may carry its rate plus this.
pub const UPLINK_BURST_BYTES: u32 = 20 * 1024;

impl Netns {
    /// A namespace whose link from this host carries at most `kbit` kbit/s, queueing up to
    /// 200 ms before dropping (a typical home uplink's buffer).
    pub fn with_uplink(kbit: u32) -> Self {
        let rate = format!("{kbit}kbit");
        let burst = UPLINK_BURST_BYTES.to_string();
        Self::with_qdisc(&["tbf", "rate", &rate, "burst", &burst, "latency", "200ms"])
    }

    /// A namespace that drops `permille` ‰ of the UDP packets reaching it, at random (an
    /// nftables rule inside it: this kernel has no netem).
    pub fn with_loss(permille: u32) -> Self {
        let netns = Self::with_qdisc(&["pfifo"]);
        netns.drop_udp("input", permille);
        netns
    }

    /// A namespace whose link is free both ways (until shaped).
    pub fn plain() -> Self {
        Self::with_qdisc(&["pfifo"])
    }

    /// Drops `permille` ‰ of the UDP packets the namespace sends, at random.
    pub fn drop_outgoing(&self, permille: u32) {
        self.drop_udp("output", permille);
    }

    /// Drops every UDP packet the namespace sends that is longer than `bytes` (IP length):
    /// with 400, most video packets go and audio and ICE checks stay, so video is lost
    /// without the connection looking dead to either end.
    pub fn drop_outgoing_over(&self, bytes: u32) {
        let over = bytes.to_string();
        self.drop_udp_where("output", &["meta", "length", ">", &over]);
    }

    /// Blocks every UDP packet between the namespace and this host except those to and from
    /// `port` on the host (a TURN server's): no direct media path is left, only the relay.
    pub fn block_udp_except(&self, port: u16) {
        let nft = |args: &[&str]| {
            let mut all = vec!["ip", "netns", "exec", &self.name, "nft"];
            all.extend_from_slice(args);
            run(&all);
        };
        let port = port.to_string();
        nft(&["add", "table", "inet", "tincan_block"]);
        for (hook, addr, dir) in [("output", "daddr", "dport"), ("input", "saddr", "sport")] {
            let chain = format!("{{ type filter hook {hook} priority 0; }}");
            nft(&["add", "chain", "inet", "tincan_block", hook, &chain]);
            nft(&[
                "add",
                "rule",
                "inet",
                "tincan_block",
                hook,
                "ip",
                addr,
                &self.host_ip,
                "udp",
                dir,
                "!=",
                &port,
                "drop",
            ]);
        }
    }

    /// Stops dropping what the namespace sends (undoes [`Netns::drop_outgoing`]).
    pub fn heal_outgoing(&self) {
        run(&[
            "ip", "netns", "exec", &self.name, "nft", "flush", "chain", "inet", "tincan", "output",
        ]);
    }

    /// Sends what leaves the namespace through `qdisc` (tc's words) too.
    pub fn shape_outgoing(&self, qdisc: &[&str]) {
        let mut tc = vec![
            "ip", "netns", "exec", &self.name, "tc", "qdisc", "add", "dev",
        ];
        tc.extend_from_slice(&[&self.ns_if, "root"]);
        tc.extend_from_slice(qdisc);
        run(&tc);
    }

    fn drop_udp(&self, hook: &str, permille: u32) {
        let threshold = permille.min(999).to_string();
        let mut sample = Vec::new();
        if permille < 1000 {
            sample.extend_from_slice(&["numgen", "random", "mod", "1000", "<", &threshold]);
        }
        self.drop_udp_where(hook, &sample);
    }

    /// An nftables rule inside the namespace dropping the UDP packets at `hook` (input or
    /// output) that meet `conditions` (nft's words; none: every one).
    fn drop_udp_where(&self, hook: &str, conditions: &[&str]) {
        let nft = |args: &[&str]| {
            let mut all = vec!["ip", "netns", "exec", &self.name, "nft"];
            all.extend_from_slice(args);
            run(&all);
        };
        let _ = Command::new("ip")
            .args([
                "netns", "exec", &self.name, "nft", "add", "table", "inet", "tincan",
            ])
            .output();
        let chain = format!("{{ type filter hook {hook} priority 0; }}");
        nft(&["add", "chain", "inet", "tincan", hook, &chain]);
        let mut rule = vec![
            "add", "rule", "inet", "tincan", hook, "meta", "l4proto", "udp",
        ];
        rule.extend_from_slice(conditions);
        rule.push("drop");
        nft(&rule);
    }

    /// A namespace behind a link whose host side sends through `qdisc` (tc's words).
    pub fn with_qdisc(qdisc: &[&str]) -> Self {
        let n = (std::process::id() + MADE.fetch_add(1, Ordering::Relaxed)) % 250 + 1;
        let tag = format!(
            "{}{}",
            std::process::id() % 10_000,
            MADE.load(Ordering::Relaxed)
        );
        let (name, host_if, ns_if) = (
            format!("tincan{tag}"),
            format!("tch{tag}"),
            format!("tcn{tag}"),
        );
        let (host_ip, ns_ip) = (format!("10.77.{n}.1"), format!("10.77.{n}.2"));
        let netns = Self {
            name: name.clone(),
            host_if: host_if.clone(),
            ns_if: ns_if.clone(),
            host_ip: host_ip.clone(),
            ns_ip: ns_ip.clone(),
        };
        let inside = |args: &[&str]| {
            let mut all = vec!["ip", "netns", "exec", &name];
            all.extend_from_slice(args);
            run(&all);
        };
        run(&["ip", "netns", "add", &name]);
        run(&[
            "ip", "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
        ]);
        run(&["ip", "link", "set", &ns_if, "netns", &name]);
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{host_ip}/24"),
            "dev",
            &host_if,
        ]);
        run(&["ip", "link", "set", &host_if, "up"]);
        inside(&["ip", "addr", "add", &format!("{ns_ip}/24"), "dev", &ns_if]);
        inside(&["ip", "link", "set", &ns_if, "up"]);
        inside(&["ip", "link", "set", "lo", "up"]);
        // No default route, on purpose: everything the tests reach is on the link, and a
        // machine without one (a LAN with no internet) must call all the same.
        let mut tc = vec!["tc", "qdisc", "add", "dev", &host_if, "root"];
        tc.extend_from_slice(qdisc);
        run(&tc);
        netns
    }

    /// Moves the namespace's end of the link to another address on the same network (as when
    /// a laptop changes networks): the new one comes, then the old one goes. Returns the new
    /// address; [`Netns::ns_ip`] keeps the old one.
    pub fn move_address(&self) -> String {
        let (prefix, _) = self.ns_ip.rsplit_once('.').expect("an IPv4 address");
        let new_ip = format!("{prefix}.3");
        let inside = |args: &[&str]| {
            let mut all = vec!["ip", "netns", "exec", &self.name];
            all.extend_from_slice(args);
            run(&all);
        };
        // Without this, deleting the first address of a subnet deletes the others with it.
        let promote = format!("net.ipv4.conf.{}.promote_secondaries=1", self.ns_if);
        inside(&["sysctl", "-qw", &promote]);
        inside(&[
            "ip",
            "addr",
            "add",
            &format!("{new_ip}/24"),
            "dev",
            &self.ns_if,
        ]);
        inside(&[
            "ip",
            "addr",
            "del",
            &format!("{}/24", self.ns_ip),
            "dev",
            &self.ns_if,
        ]);
        inside(&["ip", "route", "replace", "default", "via", &self.host_ip]);
        new_ip
    }

    /// The namespace's name (as `ip netns` knows it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The command prefix that runs a program inside the namespace.
    pub fn exec_prefix(&self) -> Vec<String> {
        ["ip", "netns", "exec", &self.name]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting one end of a veth pair deletes both.
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
