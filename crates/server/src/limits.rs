//! Rate limiting by token bucket, with time passed in so the logic is testable without sleeping.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A token bucket: `burst` tokens at most, refilled at `rate` per second.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    last: Instant,
    rate: f64,
    burst: f64,
}

impl TokenBucket {
    pub fn new(rate: f64, burst: f64, now: Instant) -> Self {
        Self {
            tokens: burst,
            last: now,
            rate,
            burst,
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
    }

    /// True when the bucket would be full at `now`: nothing to remember about this key.
    fn is_full(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * self.rate >= self.burst
    }
}

/// The key an address's limits are kept under: an IPv4 address as it is (an IPv4-mapped
/// IPv6 one as the IPv4 it maps), an IPv6 address by its /64, since one household or one
/// server is handed a whole /64 and can pick any address in it.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(std::net::Ipv6Addr::from(bits))
            }
        },
    }
}

/// Open connections per address key ([`address_key`]), capped.
#[derive(Debug, Default)]
pub struct ConnectionCounts {
    open: HashMap<IpAddr, usize>,
}

impl ConnectionCounts {
    /// Counts one more connection from `ip`'s key; false (and nothing counted) at `cap`.
    pub fn open(&mut self, ip: IpAddr, cap: usize) -> bool {
        let key = address_key(ip);
        if self.open.get(&key).copied().unwrap_or(0) >= cap {
            return false;
        }
        *self.open.entry(key).or_default() += 1;
        true
    }

    /// Counts one connection from `ip`'s key closed.
    pub fn close(&mut self, ip: IpAddr) {
        let key = address_key(ip);
        if let Some(count) = self.open.get_mut(&key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.open.remove(&key);
            }
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.open.len()
    }
}

/// Join attempts per address key ([`address_key`]): `per_minute` in a burst, refilled evenly
/// over a minute.
#[derive(Debug)]
pub struct JoinLimiter {
    per_minute: u32,
    buckets: HashMap<IpAddr, TokenBucket>,
    last_sweep: Instant,
}

impl JoinLimiter {
    pub fn new(per_minute: u32, now: Instant) -> Self {
        Self {
            per_minute,
            buckets: HashMap::new(),
            last_sweep: now,
        }
    }

    /// Counts one attempt from `ip`; false when it is over the limit.
    pub fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        self.sweep(now);
        let rate = f64::from(self.per_minute) / 60.0;
        let burst = f64::from(self.per_minute);
        self.buckets
            .entry(address_key(ip))
            .or_insert_with(|| TokenBucket::new(rate, burst, now))
            .try_take(now)
    }

    /// Forgets addresses whose bucket has refilled, so the map stays as small as the set of
    /// recently busy addresses.
    fn sweep(&mut self, now: Instant) {
        if now.saturating_duration_since(self.last_sweep) < Duration::from_secs(60) {
            return;
        }
        self.last_sweep = now;
        self.buckets.retain(|_, bucket| !bucket.is_full(now));
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 3.0, t0);
        assert!(bucket.try_take(t0));
        assert!(bucket.try_take(t0));
        assert!(bucket.try_take(t0));
        assert!(!bucket.try_take(t0));
        // 10 per second: one more token after 100 ms, not before.
        assert!(!bucket.try_take(t0 + Duration::from_millis(90)));
        assert!(bucket.try_take(t0 + Duration::from_millis(101)));
    }

    #[test]
    fn joins_are_limited_per_address() {
        let t0 = Instant::now();
        let mut limiter = JoinLimiter::new(5, t0);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..5 {
            assert!(limiter.allow(a, t0));
        }
        assert!(!limiter.allow(a, t0), "sixth attempt in the same minute");
        assert!(limiter.allow(b, t0), "another address is not affected");
        // One attempt comes back every 12 s.
        assert!(limiter.allow(a, t0 + Duration::from_secs(13)));
    }

    #[test]
    fn an_ipv6_64_is_one_address_and_mapped_ipv4_is_ipv4() {
        let key = |s: &str| address_key(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.7"), key("192.0.2.7"));
        assert_ne!(key("192.0.2.7"), key("192.0.2.8"));
        let t0 = Instant::now();
        let mut limiter = JoinLimiter::new(2, t0);
        assert!(limiter.allow("2001:db8::1".parse().unwrap(), t0));
        assert!(limiter.allow("2001:db8::2".parse().unwrap(), t0));
        assert!(
            !limiter.allow("2001:db8::3".parse().unwrap(), t0),
            "a third address of the same /64 shares the budget"
        );
    }

    #[test]
    fn connections_are_capped_per_address_and_counted_down() {
        let mut counts = ConnectionCounts::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(counts.open(a, 2));
        assert!(counts.open(a, 2));
        assert!(!counts.open(a, 2), "third from one address");
        assert!(counts.open(b, 2), "another address is not affected");
        counts.close(a);
        assert!(counts.open(a, 2), "a closed one makes room");
        for ip in [a, a, b] {
            counts.close(ip);
        }
        assert_eq!(
            counts.tracked(),
            0,
            "nothing kept for addresses with none open"
        );
        assert!(!counts.open(a, 0));
        assert_eq!(counts.tracked(), 0);
    }

    #[test]
    fn quiet_addresses_are_forgotten() {
        let t0 = Instant::now();
        let mut limiter = JoinLimiter::new(5, t0);
        for i in 0..100u8 {
            limiter.allow(IpAddr::from([192, 0, 2, i]), t0);
        }
        assert_eq!(limiter.tracked(), 100);
        limiter.allow(
            IpAddr::from([198, 51, 100, 1]),
            t0 + Duration::from_secs(120),
        );
        assert_eq!(limiter.tracked(), 1);
    }
}
