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
#[derive(Clone)]
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

    /// Starts `body` on a thread inside this computer, with a tokio runtime of its own: the
    /// sockets it opens and the processes it starts (an X server, a browser, the app) are on
    /// the LAN, and its loopback is this computer's. The thread has a 32 MiB stack
    /// (docs/traps.md, 15).
    pub fn spawn_inside<T, F>(
        &self,
        body: impl FnOnce() -> F + Send + 'static,
    ) -> std::thread::JoinHandle<T>
    where
        T: Send + 'static,
        F: std::future::Future<Output = T>,
    {
        let path = format!("/run/netns/{}", self.name);
        std::thread::Builder::new()
            .name(format!("in-{}", self.name))
            .stack_size(32 << 20)
            .spawn(move || {
                let file = std::fs::File::open(&path)
                    .unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
                // SAFETY: setns on this thread only, with a namespace file we own.
                let r = unsafe {
                    libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET)
                };
                assert_eq!(
                    r,
                    0,
                    "setns into {path}: {}",
                    std::io::Error::last_os_error()
                );
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a runtime")
                    .block_on(Box::pin(body()))
            })
            .expect("a thread")
    }
}

/// Waits for a thread started by [`Computer::spawn_inside`]; its panic is resumed here.
pub fn join<T>(thread: std::thread::JoinHandle<T>) -> T {
    match thread.join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
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
