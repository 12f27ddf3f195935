//! Per-address token buckets for code look-ups.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;

use tokio::time::Instant;

/// Largest number of addresses tracked at once. Beyond it, buckets that have refilled
/// completely are forgotten first (they carry no information), then the least recently used.
const MAX_TRACKED: usize = 65_536;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// What one bucket stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grouping {
    /// One host: an IPv4 address, an IPv6 /64 (one host usually owns a whole /64).
    Host,
    /// One site or provider block: an IPv4 /24, an IPv6 /48 (65,536 /64s).
    Prefix,
}

/// Token-bucket limiter keyed by client address, grouped as [`Grouping`] says.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    burst: f64,
    refill_secs: f64,
    max_tracked: usize,
    grouping: Grouping,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    /// `burst` tokens at most per host, one token back every `refill_secs` seconds.
    pub(crate) fn new(burst: u32, refill_secs: f64) -> Self {
        Self::with_capacity(burst, refill_secs, MAX_TRACKED)
    }

    /// As [`Self::new`], one bucket per `grouping`.
    pub(crate) fn grouped(burst: u32, refill_secs: f64, grouping: Grouping) -> Self {
        Self {
            grouping,
            ..Self::new(burst, refill_secs)
        }
    }

    fn with_capacity(burst: u32, refill_secs: f64, max_tracked: usize) -> Self {
        Self {
            grouping: Grouping::Host,
            burst: f64::from(burst.max(1)),
            refill_secs: if refill_secs.is_finite() && refill_secs > 0.0 {
                refill_secs
            } else {
                1.0
            },
            max_tracked: max_tracked.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `addr`. `Err(secs)` says how many whole seconds (at least 1) to wait
    /// before the next token is available.
    pub(crate) fn check(&self, addr: IpAddr) -> Result<(), u64> {
        self.check_at(addr, Instant::now())
    }

    pub(crate) fn check_at(&self, addr: IpAddr, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = self.bucket(&mut buckets, addr, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) * self.refill_secs;
            // `as` saturates for floats; the value is small and positive here.
            Err((wait.ceil() as u64).max(1))
        }
    }

    /// Takes `cost` tokens for `addr` whatever is left (the bucket may go below zero, down to
    /// `-burst`, which makes the next token take longer): for charging what already happened.
    pub(crate) fn charge_at(&self, addr: IpAddr, cost: f64, now: Instant) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let burst = self.burst;
        let bucket = self.bucket(&mut buckets, addr, now);
        bucket.tokens = (bucket.tokens - cost).max(-burst);
    }

    /// Gives `amount` tokens back to `addr` (a look-up that turned out not to count), up to the
    /// burst.
    pub(crate) fn refund_at(&self, addr: IpAddr, amount: f64, now: Instant) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let burst = self.burst;
        let bucket = self.bucket(&mut buckets, addr, now);
        bucket.tokens = (bucket.tokens + amount).min(burst);
    }

    /// The bucket of `addr`, refilled up to `now` (created full, evicting if needed).
    fn bucket<'a>(
        &self,
        buckets: &'a mut HashMap<IpAddr, Bucket>,
        addr: IpAddr,
        now: Instant,
    ) -> &'a mut Bucket {
        let key = bucket_key(addr, self.grouping);
        if !buckets.contains_key(&key) && buckets.len() >= self.max_tracked {
            self.evict(buckets, now);
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        bucket.tokens = self.refilled(bucket, now);
        bucket.updated = now;
        bucket
    }

    /// Whether `addr` has a token now, without taking it (`Err(secs)` as for [`Self::check`]).
    pub(crate) fn peek(&self, addr: IpAddr) -> Result<(), u64> {
        self.peek_at(addr, Instant::now())
    }

    pub(crate) fn peek_at(&self, addr: IpAddr, now: Instant) -> Result<(), u64> {
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        match buckets.get(&bucket_key(addr, self.grouping)) {
            Some(bucket) => {
                let tokens = self.refilled(bucket, now);
                if tokens >= 1.0 {
                    Ok(())
                } else {
                    Err((((1.0 - tokens) * self.refill_secs).ceil() as u64).max(1))
                }
            }
            None => Ok(()),
        }
    }

    fn refilled(&self, bucket: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        (bucket.tokens + elapsed / self.refill_secs).min(self.burst)
    }

    /// Forgets every bucket that is full again; if that frees nothing, the least recently used.
    fn evict(&self, buckets: &mut HashMap<IpAddr, Bucket>, now: Instant) {
        buckets.retain(|_, b| self.refilled(b, now) < self.burst);
        if buckets.len() >= self.max_tracked {
            let oldest = buckets
                .iter()
                .min_by_key(|(_, b)| b.updated)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                buckets.remove(&k);
            }
        }
    }

    /// Forgets buckets that have refilled completely. Called periodically.
    pub(crate) fn prune(&self) {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets.retain(|_, b| self.refilled(b, now) < self.burst);
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.buckets.lock().map(|b| b.len()).unwrap_or(0)
    }
}

/// The bucket an address falls in: IPv4 /32 or /24, IPv6 /64 or /48 (IPv4-mapped IPv6 as IPv4).
pub(crate) fn bucket_key(addr: IpAddr, grouping: Grouping) -> IpAddr {
    let v4 = match addr {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    };
    match (v4, addr, grouping) {
        (Some(v4), _, Grouping::Host) => IpAddr::V4(v4),
        (Some(v4), _, Grouping::Prefix) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, 0))
        }
        (None, IpAddr::V6(v6), grouping) => {
            let s = v6.segments();
            let fourth = if grouping == Grouping::Host { s[3] } else { 0 };
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], fourth, 0, 0, 0, 0))
        }
        (None, IpAddr::V4(v4), _) => IpAddr::V4(v4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let rl = RateLimiter::new(3, 2.0);
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(rl.check_at(ip, t0), Ok(()));
        }
        assert_eq!(rl.check_at(ip, t0), Err(2));
        assert_eq!(rl.check_at(ip, t0 + Duration::from_millis(1500)), Err(1));
        assert_eq!(rl.check_at(ip, t0 + Duration::from_millis(2100)), Ok(()));
        // Another address is not affected.
        assert_eq!(
            rl.check_at(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), t0),
            Ok(())
        );
    }

    #[test]
    fn ipv6_grouped_by_prefix() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().expect("ip");
        assert_eq!(bucket_key(a, Grouping::Host), bucket_key(b, Grouping::Host));
        assert_eq!(
            bucket_key(mapped, Grouping::Host),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))
        );
        // Prefixes: a /48 holds many /64s, a /24 many IPv4 hosts.
        let other64: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_ne!(
            bucket_key(a, Grouping::Host),
            bucket_key(other64, Grouping::Host)
        );
        assert_eq!(
            bucket_key(a, Grouping::Prefix),
            bucket_key(other64, Grouping::Prefix)
        );
        assert_eq!(
            bucket_key(mapped, Grouping::Prefix),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0))
        );
    }

    #[test]
    fn memory_is_bounded() {
        let rl = RateLimiter::with_capacity(2, 1.0, 100);
        let t0 = Instant::now();
        for i in 0..1_000u32 {
            let ip = IpAddr::V4(Ipv4Addr::from(i));
            let _ = rl.check_at(ip, t0);
            let _ = rl.check_at(ip, t0);
        }
        assert!(rl.tracked() <= 100);
        rl.prune();
    }
}
