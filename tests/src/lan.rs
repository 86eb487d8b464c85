//! A LAN for tests: several network namespaces ("computers") plugged into one bridge (the
//! "switch", in a namespace of its own), so multicast (DNS-SD) passes between them as on a
//! real LAN and nothing reaches this host. Needs root and iproute2.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::netns::{run, Namespace};

static MADE: AtomicU32 = AtomicU32::new(0);

pub struct Lan {
    switch: String,
    pub computers: Vec<Computer>,
}

/// One computer on the LAN.
pub struct Computer {
    name: String,
    /// Its address on the LAN.
    pub ip: String,
}

impl Namespace for Computer {
    fn exec_prefix(&self) -> Vec<String> {
        ["ip", "netns", "exec", &self.name]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
}

impl Computer {
    /// Runs `args` inside this computer and returns its output.
    pub fn output(&self, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {args:?} in {}: {e}", self.name))
    }

    /// The namespace's name (as `ip netns` knows it).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Lan {
    /// `count` computers on one switch, at 10.78.N.1, 10.78.N.2, …
    pub fn new(count: usize) -> Self {
        let made = MADE.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}{made}", std::process::id() % 10_000);
        let n = (std::process::id() + made) % 250 + 1;
        let switch = format!("tlsw{tag}");
        run(&["ip", "netns", "add", &switch]);
        let lan = |args: &[&str]| {
            let mut all = vec!["ip", "-n", &switch];
            all.extend_from_slice(args);
            run(&all);
        };
        lan(&["link", "add", "br0", "type", "bridge"]);
        lan(&["link", "set", "br0", "up"]);
        let mut computers = Vec::new();
        for i in 1..=count {
            let name = format!("tl{tag}c{i}");
            let (port, nic) = (format!("tlp{tag}c{i}"), format!("tln{tag}c{i}"));
            let ip = format!("10.78.{n}.{i}");
            run(&["ip", "netns", "add", &name]);
            run(&[
                "ip", "link", "add", &nic, "type", "veth", "peer", "name", &port,
            ]);
            run(&["ip", "link", "set", &nic, "netns", &name]);
            run(&["ip", "link", "set", &port, "netns", &switch]);
            lan(&["link", "set", &port, "master", "br0"]);
            lan(&["link", "set", &port, "up"]);
            let inside = |args: &[&str]| {
                let mut all = vec!["ip", "-n", &name];
                all.extend_from_slice(args);
                run(&all);
            };
            inside(&["addr", "add", &format!("{ip}/24"), "dev", &nic]);
            inside(&["link", "set", &nic, "up"]);
            inside(&["link", "set", "lo", "up"]);
            computers.push(Computer { name, ip });
        }
        Self { switch, computers }
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        // Deleting a namespace deletes the links in it, and so both ends of each veth.
        for name in self
            .computers
            .iter()
            .map(|c| c.name.as_str())
            .chain([self.switch.as_str()])
        {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}
