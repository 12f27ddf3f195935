//! Layered limits on *failed* look-ups, so that nobody can find a live join code by trying
//! (issue 17, item 4). The arithmetic behind the defaults is in docs/architecture.md
//! ("Guessing a code").
//!
//! Every look-up first pays the per-address look-up bucket (`RateLimiter` in `http.rs`: a
//! typing citizen never notices it). A look-up that finds no open meeting is a *failure*, the
//! only thing a guesser produces in bulk; citizens hardly ever fail, as the check digit catches
//! typing errors before any request is sent. Failures are charged to three layers:
//! - the host (IPv4 address, IPv6 /64): [`FAILURE_BURST`], then one every
//!   [`FAILURE_REFILL_SECS`];
//! - its prefix (IPv4 /24, IPv6 /48: a site, or 65,536 /64s): [`PREFIX_FAILURE_BURST`], then
//!   one every [`PREFIX_FAILURE_REFILL_SECS`];
//! - everyone: failures in the last minute. Above the alarm rate
//!   (`ServerConfig::guess_alarm_per_minute`) an error line says someone may be guessing
//!   (at most once a minute), and each failure then costs [`BACK_OFF_COST`] tokens on the
//!   two layers above, so a botnet slows down tenfold while citizens, who do not fail, are
//!   not locked out.
//!
//! An address or prefix out of failure tokens is refused (429) before its look-up is made.

use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::time::Instant;

use crate::rate_limit::{Grouping, RateLimiter, bucket_key};

/// Failed look-ups a host may make at once.
pub const FAILURE_BURST: u32 = 5;
/// Seconds for a host to earn one more failed look-up.
pub const FAILURE_REFILL_SECS: f64 = 300.0;
/// Failed look-ups a prefix (IPv4 /24, IPv6 /48) may make at once.
pub const PREFIX_FAILURE_BURST: u32 = 20;
/// Seconds for a prefix to earn one more failed look-up.
pub const PREFIX_FAILURE_REFILL_SECS: f64 = 180.0;
/// What a failure costs while the alarm is on.
pub const BACK_OFF_COST: f64 = 10.0;
/// Default of `ServerConfig::guess_alarm_per_minute`.
pub const DEFAULT_ALARM_PER_MINUTE: u32 = 30;

/// Counters for operators (`GET /api/v1/stats`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct GuessStats {
    /// Look-ups (codes and pairing tokens) that found no open meeting.
    pub failed_lookups: u64,
    /// Look-ups refused because the host or prefix has failed too often.
    pub refused_lookups: u64,
    /// Times the failure rate crossed the alarm rate.
    pub alarms: u64,
    /// Failures in the last minute (sliding estimate).
    pub failures_last_minute: u64,
    /// Whether the alarm (and the back-off) is on now.
    pub alarm_on: bool,
}

#[derive(Debug)]
struct Window {
    /// Start of the current minute.
    start: Instant,
    current: u64,
    previous: u64,
    alarm_on: bool,
    /// When the alarm line was last written.
    last_alarm_line: Option<Instant>,
}

impl Window {
    fn roll(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.start);
        if elapsed >= Duration::from_secs(120) {
            self.previous = 0;
            self.current = 0;
            self.start = now;
        } else if elapsed >= Duration::from_secs(60) {
            self.previous = self.current;
            self.current = 0;
            self.start += Duration::from_secs(60);
        }
    }

    /// Failures in the 60 s before `now`: the current minute plus the part of the previous one
    /// that is still inside the window.
    fn last_minute(&self, now: Instant) -> u64 {
        let into = now.saturating_duration_since(self.start).as_secs_f64() / 60.0;
        let previous = self.previous as f64 * (1.0 - into.min(1.0));
        self.current + previous.round() as u64
    }
}

/// The three layers, with their counters.
#[derive(Debug)]
pub(crate) struct GuessGuard {
    hosts: RateLimiter,
    prefixes: RateLimiter,
    window: Mutex<Window>,
    alarm_per_minute: u64,
    /// Keys the hashed client group in log lines (random per process: lines of one run can be
    /// correlated, nothing can be looked up later).
    log_key: [u8; 32],
    failed: AtomicU64,
    refused: AtomicU64,
    alarms: AtomicU64,
}

impl GuessGuard {
    pub(crate) fn new(alarm_per_minute: u32) -> Self {
        Self {
            hosts: RateLimiter::grouped(FAILURE_BURST, FAILURE_REFILL_SECS, Grouping::Host),
            prefixes: RateLimiter::grouped(
                PREFIX_FAILURE_BURST,
                PREFIX_FAILURE_REFILL_SECS,
                Grouping::Prefix,
            ),
            window: Mutex::new(Window {
                start: Instant::now(),
                current: 0,
                previous: 0,
                alarm_on: false,
                last_alarm_line: None,
            }),
            alarm_per_minute: u64::from(alarm_per_minute.max(1)),
            log_key: rand::random(),
            failed: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            alarms: AtomicU64::new(0),
        }
    }

    /// Whether `ip` may look a code up now; `Err(secs)` to wait. A look-up let through holds
    /// one token of its host and of its prefix until it is settled by [`Self::found`] (given
    /// back) or [`Self::failed`] (kept, plus the back-off): taken here, at once, so that
    /// look-ups running at the same time cannot all pass on the same last token.
    pub(crate) fn admit(&self, ip: IpAddr) -> Result<(), u64> {
        self.admit_at(ip, Instant::now())
    }

    fn admit_at(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let verdict = match self.hosts.check_at(ip, now) {
            Err(wait) => Err(wait),
            Ok(()) => self.prefixes.check_at(ip, now).inspect_err(|_| {
                self.hosts.refund_at(ip, 1.0, now);
            }),
        };
        if verdict.is_err() {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        verdict
    }

    /// An admitted look-up by `ip` found its meeting (or failed for a reason that is no guess,
    /// a database error): its tokens go back.
    pub(crate) fn found(&self, ip: IpAddr) {
        let now = Instant::now();
        self.hosts.refund_at(ip, 1.0, now);
        self.prefixes.refund_at(ip, 1.0, now);
    }

    /// An admitted look-up by `ip` found nothing: it keeps the token it holds, and while the
    /// alarm is on pays the back-off on top.
    pub(crate) fn failed(&self, ip: IpAddr) {
        self.failed_at(ip, Instant::now());
    }

    fn failed_at(&self, ip: IpAddr, now: Instant) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let alarm_on = {
            let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
            w.roll(now);
            w.current += 1;
            let rate = w.last_minute(now);
            let was_on = w.alarm_on;
            w.alarm_on = rate >= self.alarm_per_minute;
            if w.alarm_on && !was_on {
                self.alarms.fetch_add(1, Ordering::Relaxed);
            }
            let line_due = w
                .last_alarm_line
                .is_none_or(|at| now.saturating_duration_since(at) >= Duration::from_secs(60));
            if w.alarm_on && line_due {
                w.last_alarm_line = Some(now);
                tracing::error!(
                    failures_last_minute = rate,
                    alarm_per_minute = self.alarm_per_minute,
                    client_group = %self.client_group(ip),
                    "ALARM: many look-ups find no meeting; someone may be guessing join codes \
                     (failed look-ups now cost {BACK_OFF_COST} times as much)"
                );
            }
            w.alarm_on
        };
        if alarm_on {
            // The admitted look-up already paid one token.
            self.hosts.charge_at(ip, BACK_OFF_COST - 1.0, now);
            self.prefixes.charge_at(ip, BACK_OFF_COST - 1.0, now);
        }
    }

    /// A keyed hash of the client's prefix (IPv4 /24, IPv6 /48) for log lines: lines about one
    /// network can be told apart without writing any address (domain.md: no personal data in
    /// logs).
    pub(crate) fn client_group(&self, ip: IpAddr) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.log_key).expect("any key length");
        mac.update(bucket_key(ip, Grouping::Prefix).to_string().as_bytes());
        let out = mac.finalize().into_bytes();
        out[..4].iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn stats(&self) -> GuessStats {
        let now = Instant::now();
        let (last_minute, alarm_on) = {
            let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
            w.roll(now);
            let rate = w.last_minute(now);
            (rate, w.alarm_on && rate >= self.alarm_per_minute)
        };
        GuessStats {
            failed_lookups: self.failed.load(Ordering::Relaxed),
            refused_lookups: self.refused.load(Ordering::Relaxed),
            alarms: self.alarms.load(Ordering::Relaxed),
            failures_last_minute: last_minute,
            alarm_on,
        }
    }

    /// Forgets buckets that have refilled (housekeeping).
    pub(crate) fn prune(&self) {
        self.hosts.prune();
        self.prefixes.prune();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn a_host_gets_a_few_failures_then_one_per_refill() {
        let g = GuessGuard::new(1_000);
        let t0 = Instant::now();
        let a = ip("198.51.100.7");
        for _ in 0..FAILURE_BURST {
            assert_eq!(g.admit_at(a, t0), Ok(()));
            g.failed_at(a, t0);
        }
        let wait = g.admit_at(a, t0).expect_err("out of failures");
        assert_eq!(wait, FAILURE_REFILL_SECS as u64);
        // Another host of the same /24 still may (the prefix has room).
        assert_eq!(g.admit_at(ip("198.51.100.8"), t0), Ok(()));
        let later = t0 + Duration::from_secs_f64(FAILURE_REFILL_SECS + 1.0);
        assert_eq!(g.admit_at(a, later), Ok(()));
        assert_eq!(g.stats().refused_lookups, 1);
        assert_eq!(g.stats().failed_lookups, u64::from(FAILURE_BURST));
    }

    #[test]
    fn a_prefix_is_one_bucket_however_many_hosts_it_has() {
        let g = GuessGuard::new(1_000);
        let t0 = Instant::now();
        // 20 different /64s of one /48: the /48 runs out although no /64 did.
        for i in 0..PREFIX_FAILURE_BURST {
            let host = ip(&format!("2001:db8:7:{i:x}::1"));
            assert_eq!(g.admit_at(host, t0), Ok(()));
            g.failed_at(host, t0);
        }
        assert!(g.admit_at(ip("2001:db8:7:ffff::1"), t0).is_err());
        assert_eq!(g.admit_at(ip("2001:db8:8::1"), t0), Ok(()), "another /48");
    }

    #[test]
    fn a_failure_rate_above_the_alarm_backs_everyone_off() {
        let g = GuessGuard::new(30);
        let t0 = Instant::now();
        // A botnet: one failure each from many networks, 40 in ten seconds.
        for i in 0..40u32 {
            let host = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + (i << 8)));
            let at = t0 + Duration::from_millis(250 * u64::from(i));
            assert_eq!(g.admit_at(host, at), Ok(()));
            g.failed_at(host, at);
        }
        let s = g.stats();
        assert!(s.alarm_on, "{s:?}");
        assert_eq!(s.alarms, 1, "one alarm for one episode");
        // Under the alarm one more failure empties a fresh host's whole burst.
        let fresh = ip("192.0.2.1");
        let t1 = t0 + Duration::from_secs(11);
        assert_eq!(g.admit_at(fresh, t1), Ok(()));
        g.failed_at(fresh, t1);
        assert!(g.admit_at(fresh, t1).is_err());
        // Two quiet minutes later the alarm is off.
        let t2 = t0 + Duration::from_secs(200);
        let mut w = g.window.lock().expect("lock");
        w.roll(t2);
        assert!(w.last_minute(t2) < 30);
    }

    #[test]
    fn look_ups_in_flight_hold_a_token_and_found_ones_give_it_back() {
        let g = GuessGuard::new(1_000);
        let t0 = Instant::now();
        let a = ip("198.51.100.9");
        // Five look-ups at once: all five tokens are taken before any is settled.
        for _ in 0..FAILURE_BURST {
            assert_eq!(g.admit_at(a, t0), Ok(()));
        }
        assert!(
            g.admit_at(a, t0).is_err(),
            "a sixth at the same time is refused"
        );
        // They all found their meetings: the tokens come back.
        for _ in 0..FAILURE_BURST {
            g.found(a);
        }
        assert_eq!(g.admit_at(a, Instant::now()), Ok(()));
        // Refused by the prefix: the host's token is given back.
        let g = GuessGuard::new(1_000);
        for i in 0..PREFIX_FAILURE_BURST {
            let host = ip(&format!("2001:db8:9:{i:x}::1"));
            assert_eq!(g.admit_at(host, t0), Ok(()));
            g.failed_at(host, t0);
        }
        let late = ip("2001:db8:9:ff::1");
        assert!(g.admit_at(late, t0).is_err());
        assert!(g.hosts.peek_at(late, t0).is_ok());
    }

    #[test]
    fn the_log_names_a_keyed_hash_of_the_prefix_never_the_address() {
        let g = GuessGuard::new(30);
        let a = g.client_group(ip("203.0.113.9"));
        assert_eq!(a, g.client_group(ip("203.0.113.200")), "same /24");
        assert_ne!(a, g.client_group(ip("203.0.114.9")));
        assert_eq!(a.len(), 8);
        assert!(!a.contains("203"));
        assert_ne!(
            a,
            GuessGuard::new(30).client_group(ip("203.0.113.9")),
            "keyed per process"
        );
    }
}
