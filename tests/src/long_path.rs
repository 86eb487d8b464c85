//! A long, lossy path between this host and a network namespace, made in user space: this
//! kernel has no `netem`, so delay and jitter cannot come from a qdisc.
//!
//! Each side has a TUN device holding one address of the path (`10.78.N.1` here, `10.78.N.2`
//! in the namespace) and a route to the other address through it. A forwarder thread per
//! direction reads every IP packet that enters one TUN device and writes it into the other
//! after [`Impairment`] has decided its fate: dropped at random, queued behind a rate limit,
//! delayed by a set time with jitter. The namespace also keeps the plain veth link of
//! [`Netns`], so signaling can go the short way while media bound to the TUN addresses takes
//! the long one.
//!
//! Deterministic enough to be fair: the random drops and the jitter come from a seeded
//! generator per direction, so the same seed drops the same share of the same packet
//! sequence. Packets leave in the order they came (jitter moves a packet's release, never
//! past the one before it), as on a real path with one queue.
//!
//! Needs root (TUN devices, `setns`) and iproute2. Linux only.

use std::collections::VecDeque;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::netns::run;
use crate::{CliPeer, Netns, Place, ServerProcess};

/// What one direction of the path does to the packets that cross it.
#[derive(Debug, Clone)]
pub struct Impairment {
    /// One-way delay.
    pub delay: Duration,
    /// Each packet's delay is `delay` ± up to this, uniformly (but never ahead of the packet
    /// before it).
    pub jitter: Duration,
    /// Share of packets dropped at random, 0.0 to 1.0.
    pub loss: f64,
    /// A link rate in kbit/s, with a queue of [`QUEUE_LIMIT`] in front of it (tail drop).
    pub rate_kbit: Option<u32>,
    /// Holds back every transport-wide congestion control feedback packet (RTCP RTPFB,
    /// FMT 15) for this long after the first one is seen, then sends them all at once: a
    /// receiver whose first feedback comes late and in a burst.
    pub hold_first_twcc: Option<Duration>,
    /// Seed of the drops and jitter.
    pub seed: u64,
}

impl Impairment {
    /// A path of `delay_ms` each way with ±10 ms of jitter and `loss_percent` % random loss.
    pub fn delay_loss(delay_ms: u64, loss_percent: f64) -> Self {
        Self {
            delay: Duration::from_millis(delay_ms),
            jitter: Duration::from_millis(if delay_ms > 0 { 10 } else { 0 }),
            loss: loss_percent / 100.0,
            rate_kbit: None,
            hold_first_twcc: None,
            seed: 0x7a11_ca11,
        }
    }

    /// A clean path.
    pub fn clean() -> Self {
        Self::delay_loss(0, 0.0)
    }
}

/// Queueing delay a rate-limited direction holds before it drops (a home router's buffer).
pub const QUEUE_LIMIT: Duration = Duration::from_millis(200);

/// What a direction did, counted by the forwarder.
#[derive(Debug, Default)]
pub struct Counts {
    pub forwarded: AtomicU64,
    /// The forwarded packets' bytes (whole IP packets, as the rate limit counts them).
    pub forwarded_bytes: AtomicU64,
    pub dropped: AtomicU64,
    /// Transport-wide feedback packets held back by [`Impairment::hold_first_twcc`].
    pub twcc_held: AtomicU64,
}

/// A host–namespace pair joined by an impaired path (see the module's documentation).
pub struct LongPath {
    /// The namespace, with its plain veth link (for signaling).
    pub netns: Netns,
    /// This host's end of the long path, and the namespace's.
    pub host_ip: String,
    pub ns_ip: String,
    /// To the namespace, and back.
    pub outbound: Arc<Counts>,
    pub inbound: Arc<Counts>,
    host_tun: String,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl LongPath {
    /// A path that does `outbound` to what this host sends the namespace and `inbound` to
    /// what comes back.
    pub fn new(outbound: Impairment, inbound: Impairment) -> Self {
        let netns = Netns::plain();
        let name = netns.name().to_owned();
        // The veth link's third octet, so two paths in one test run do not collide.
        let n = netns.host_ip.split('.').nth(2).unwrap_or("1").to_owned();
        let (host_ip, ns_ip) = (format!("10.78.{n}.1"), format!("10.78.{n}.2"));
        let host_tun = format!("tph{}", &name["tincan".len()..]);
        let ns_tun = format!("tpn{}", &name["tincan".len()..]);
        run(&["ip", "tuntap", "add", "dev", &host_tun, "mode", "tun"]);
        let inside = |args: &[&str]| {
            let mut all = vec!["ip", "netns", "exec", &name];
            all.extend_from_slice(args);
            run(&all);
        };
        inside(&["ip", "tuntap", "add", "dev", &ns_tun, "mode", "tun"]);
        let host_fd = open_tun(&host_tun, None);
        let ns_fd = open_tun(&ns_tun, Some(&name));
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{host_ip}/32"),
            "dev",
            &host_tun,
        ]);
        run(&["ip", "link", "set", &host_tun, "up"]);
        run(&[
            "ip",
            "route",
            "add",
            &format!("{ns_ip}/32"),
            "dev",
            &host_tun,
        ]);
        inside(&["ip", "addr", "add", &format!("{ns_ip}/32"), "dev", &ns_tun]);
        inside(&["ip", "link", "set", &ns_tun, "up"]);
        inside(&[
            "ip",
            "route",
            "add",
            &format!("{host_ip}/32"),
            "dev",
            &ns_tun,
        ]);

        let stop = Arc::new(AtomicBool::new(false));
        let (out_counts, in_counts) = (Arc::new(Counts::default()), Arc::new(Counts::default()));
        let host_fd = Arc::new(host_fd);
        let ns_fd = Arc::new(ns_fd);
        let mut inbound = inbound;
        inbound.seed ^= 0x5eed_0f_ba_c4;
        let threads = vec![
            forward(
                "path-out",
                Arc::clone(&host_fd),
                Arc::clone(&ns_fd),
                outbound,
                Arc::clone(&out_counts),
                Arc::clone(&stop),
            ),
            forward(
                "path-in",
                ns_fd,
                host_fd,
                inbound,
                Arc::clone(&in_counts),
                Arc::clone(&stop),
            ),
        ];
        Self {
            netns,
            host_ip,
            ns_ip,
            outbound: out_counts,
            inbound: in_counts,
            host_tun,
            stop,
            threads,
        }
    }
}

impl Drop for LongPath {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        // The namespace's TUN device goes with the namespace (Netns's drop).
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_tun])
            .output();
    }
}

/// A `tincan-cli` call of `seconds` between `a` on this host and `b` in the path's namespace:
/// media over the long path, signaling over the short one (a server on the namespace's veth
/// link). Returns both summaries and both peer ids.
pub async fn call_over(
    path: &LongPath,
    seconds: u32,
    a_flags: &[&str],
    b_flags: &[&str],
) -> (Value, Value, String, String) {
    let server = ServerProcess::start_on(&format!("{}:0", path.netns.host_ip), &[]).await;
    let dir = std::env::temp_dir().join(format!("tincan-long-path-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let (a_bind, b_bind) = (format!("{}:0", path.host_ip), format!("{}:0", path.ns_ip));
    let (a_secs, b_secs) = ((seconds + 1).to_string(), seconds.to_string());
    let a_args = [&["--duration", &a_secs][..], a_flags].concat();
    let b_args = [&["--duration", &b_secs][..], b_flags].concat();
    let a_place = Place {
        bind: Some(&a_bind),
        netns: None,
        env: &[],
    };
    let a = CliPeer::start_at(&server, &a_place, &dir, "a", None, &a_args).await;
    let b_place = Place {
        bind: Some(&b_bind),
        netns: Some(&path.netns),
        env: &[],
    };
    let b = CliPeer::start_at(&server, &b_place, &dir, "b", Some(&a.room), &b_args).await;
    let (a_id, b_id) = (a.id.clone(), b.id.clone());
    let (a_summary, b_summary) = tokio::join!(a.finish(), b.finish());
    server.stop().await;
    (a_summary, b_summary, a_id, b_id)
}

/// `struct ifreq` as TUNSETIFF reads it: a name, the flags, and padding to 40 bytes.
#[repr(C)]
struct IfReq {
    name: [u8; 16],
    flags: libc::c_short,
    _pad: [u8; 22],
}

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

/// Attaches to the TUN device `dev` (made by `ip tuntap`), in the network namespace `netns`
/// when given: a device is found by name in the caller's namespace, so a short-lived thread
/// moves into that namespace to open it. The descriptor keeps working from any thread.
fn open_tun(dev: &str, netns: Option<&str>) -> OwnedFd {
    let dev = dev.to_owned();
    let netns = netns.map(|n| format!("/run/netns/{n}"));
    std::thread::spawn(move || {
        if let Some(path) = netns {
            let file =
                std::fs::File::open(&path).unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
            // SAFETY: setns on this thread only, with a namespace file descriptor we own.
            let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(
                r,
                0,
                "setns into {path}: {}",
                std::io::Error::last_os_error()
            );
        }
        let tun = CString::new("/dev/net/tun").expect("no NUL");
        // SAFETY: a plain open of a NUL-terminated path.
        let fd = unsafe {
            libc::open(
                tun.as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        assert!(
            fd >= 0,
            "open /dev/net/tun: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: fd was just opened and is owned here alone.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut req = IfReq {
            name: [0; 16],
            flags: (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short,
            _pad: [0; 22],
        };
        req.name[..dev.len()].copy_from_slice(dev.as_bytes());
        // SAFETY: TUNSETIFF reads a struct ifreq, which IfReq lays out.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, &mut req) };
        assert_eq!(r, 0, "TUNSETIFF {dev}: {}", std::io::Error::last_os_error());
        fd
    })
    .join()
    .expect("the TUN opener thread")
}

/// A small seeded generator (xorshift64*): the same seed gives the same drops.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Whether an IPv4 packet is UDP carrying RTCP transport-wide feedback (RTPFB, FMT 15). The
/// first RTCP header of an SRTCP packet is not encrypted (RFC 3711 §3.4).
fn is_twcc_feedback(ip: &[u8]) -> bool {
    if ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != 17 {
        return false;
    }
    let udp = usize::from(ip[0] & 0x0f) * 4;
    let Some(rtcp) = ip.get(udp + 8..udp + 10) else {
        return false;
    };
    (128..=191).contains(&rtcp[0]) && rtcp[0] & 0x1f == 15 && rtcp[1] == 205
}

/// The fate of the packets of one direction, decided as they arrive (time passed in).
struct Shaper {
    impairment: Impairment,
    rng: Rng,
    /// Packets waiting, with when each leaves; in order of leaving.
    queue: VecDeque<(Instant, Vec<u8>)>,
    /// When the rate-limited link is free again.
    link_free: Option<Instant>,
    /// When the first transport-wide feedback was seen, and what is held since.
    twcc_since: Option<Instant>,
    held: Vec<Vec<u8>>,
}

impl Shaper {
    fn new(impairment: Impairment) -> Self {
        Self {
            rng: Rng(impairment.seed | 1),
            impairment,
            queue: VecDeque::new(),
            link_free: None,
            twcc_since: None,
            held: Vec::new(),
        }
    }

    /// Takes a packet that arrived at `now`; false when it is dropped.
    fn arrive(&mut self, now: Instant, packet: Vec<u8>, counts: &Counts) -> bool {
        if let Some(hold) = self.impairment.hold_first_twcc {
            let twcc = is_twcc_feedback(&packet);
            let since = match self.twcc_since {
                Some(since) => since,
                None if twcc => *self.twcc_since.insert(now),
                None => now,
            };
            if twcc && now.saturating_duration_since(since) < hold {
                counts.twcc_held.fetch_add(1, Ordering::Relaxed);
                self.held.push(packet);
                return true;
            }
        }
        if self.rng.next_f64() < self.impairment.loss {
            return false;
        }
        let mut leaves = now;
        if let Some(kbit) = self.impairment.rate_kbit {
            let free = self.link_free.map_or(now, |f| f.max(now));
            if free.saturating_duration_since(now) > QUEUE_LIMIT {
                return false;
            }
            let sending =
                Duration::from_secs_f64(packet.len() as f64 * 8.0 / (f64::from(kbit) * 1000.0));
            self.link_free = Some(free + sending);
            leaves = free + sending;
        }
        let jitter = self.impairment.jitter.as_secs_f64();
        let offset =
            self.impairment.delay.as_secs_f64() + (self.rng.next_f64() * 2.0 - 1.0) * jitter;
        leaves += Duration::from_secs_f64(offset.max(0.0));
        if let Some((last, _)) = self.queue.back() {
            leaves = leaves.max(*last);
        }
        self.queue.push_back((leaves, packet));
        true
    }

    /// Packets due by `now` (held feedback included once its hold is over).
    fn due(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        if let (Some(hold), Some(since)) = (self.impairment.hold_first_twcc, self.twcc_since) {
            if now.saturating_duration_since(since) >= hold {
                out.append(&mut self.held);
            }
        }
        while self.queue.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, packet)) = self.queue.pop_front() {
                out.push(packet);
            }
        }
        out
    }

    fn next_due(&self) -> Option<Instant> {
        self.queue.front().map(|(at, _)| *at)
    }
}

fn forward(
    name: &str,
    from: Arc<OwnedFd>,
    to: Arc<OwnedFd>,
    impairment: Impairment,
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let mut shaper = Shaper::new(impairment);
            let mut buf = vec![0u8; 65_536];
            while !stop.load(Ordering::Relaxed) {
                let now = Instant::now();
                let wait = shaper
                    .next_due()
                    .map_or(Duration::from_millis(20), |at| {
                        at.saturating_duration_since(now)
                    })
                    .min(Duration::from_millis(20));
                let mut poll = libc::pollfd {
                    fd: from.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // Millisecond resolution, rounded up so a due packet is not spun on.
                let ms = wait.as_micros().div_ceil(1000) as libc::c_int;
                // SAFETY: one pollfd, valid for the call.
                unsafe { libc::poll(&mut poll, 1, ms) };
                loop {
                    // SAFETY: reads into a buffer we own, of its length.
                    let n =
                        unsafe { libc::read(from.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                    if n <= 0 {
                        break;
                    }
                    let packet = buf[..n as usize].to_vec();
                    if !shaper.arrive(Instant::now(), packet, &counts) {
                        counts.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                for packet in shaper.due(Instant::now()) {
                    // SAFETY: writes a buffer we own, of its length.
                    let n = unsafe {
                        libc::write(to.as_raw_fd(), packet.as_ptr().cast(), packet.len())
                    };
                    if n > 0 {
                        counts.forwarded.fetch_add(1, Ordering::Relaxed);
                        counts
                            .forwarded_bytes
                            .fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
            }
        })
        .expect("a forwarder thread")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp_rtcp(pt: u8, fmt: u8) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x45;
        p[9] = 17;
        p[28] = 0x80 | fmt;
        p[29] = pt;
        p
    }

    #[test]
    fn drops_the_share_asked_for_and_keeps_order() {
        let counts = Counts::default();
        let mut shaper = Shaper::new(Impairment::delay_loss(100, 5.0));
        let start = Instant::now();
        let mut kept = 0;
        for i in 0..20_000u32 {
            let at = start + Duration::from_micros(u64::from(i) * 500);
            if shaper.arrive(at, i.to_be_bytes().to_vec(), &counts) {
                kept += 1;
            }
        }
        let lost = 1.0 - f64::from(kept) / 20_000.0;
        assert!((0.045..0.055).contains(&lost), "lost {lost}");
        let out = shaper.due(start + Duration::from_secs(60));
        assert_eq!(out.len(), kept as usize);
        let numbers: Vec<u32> = out
            .iter()
            .map(|p| u32::from_be_bytes([p[0], p[1], p[2], p[3]]))
            .collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "reordered");
    }

    #[test]
    fn delays_by_the_delay_give_or_take_the_jitter() {
        let counts = Counts::default();
        let mut shaper = Shaper::new(Impairment::delay_loss(100, 0.0));
        let start = Instant::now();
        shaper.arrive(start, vec![1], &counts);
        assert!(shaper.due(start + Duration::from_millis(89)).is_empty());
        assert_eq!(shaper.due(start + Duration::from_millis(111)).len(), 1);
    }

    #[test]
    fn a_rate_limit_spaces_packets_and_drops_past_its_queue() {
        let counts = Counts::default();
        let mut impairment = Impairment::clean();
        impairment.rate_kbit = Some(800); // 1000 bytes take 10 ms
        let mut shaper = Shaper::new(impairment);
        let start = Instant::now();
        let kept = (0..40)
            .filter(|_| shaper.arrive(start, vec![0; 1000], &counts))
            .count();
        // 200 ms of queue is 20 packets (the first goes at once).
        assert_eq!(kept, 21);
        assert_eq!(shaper.due(start + Duration::from_millis(55)).len(), 5);
    }

    #[test]
    fn transport_feedback_is_held_then_sent_at_once() {
        let counts = Counts::default();
        let mut impairment = Impairment::clean();
        impairment.hold_first_twcc = Some(Duration::from_millis(1200));
        let mut shaper = Shaper::new(impairment);
        let start = Instant::now();
        for i in 0..10 {
            let at = start + Duration::from_millis(i * 100);
            shaper.arrive(at, udp_rtcp(205, 15), &counts);
            shaper.arrive(at, udp_rtcp(201, 0), &counts); // a receiver report passes
            assert_eq!(shaper.due(at).len(), 1);
        }
        assert_eq!(counts.twcc_held.load(Ordering::Relaxed), 10);
        assert_eq!(shaper.due(start + Duration::from_millis(1200)).len(), 10);
        let later = start + Duration::from_millis(1300);
        shaper.arrive(later, udp_rtcp(205, 15), &counts);
        assert_eq!(shaper.due(later).len(), 1);
    }
}
