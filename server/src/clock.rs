//! Wall-clock time for meeting and token expiry, replaceable by a manual clock in tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Source of the current Unix time (seconds).
///
/// The server uses it for everything that is stored or shown as a Unix time: meeting creation
/// and expiry, join-token expiry, seat bookkeeping. Real-time durations (resume grace, keep-alive,
/// rate limiting) use tokio's monotonic clock instead.
///
/// Cloning a manual clock shares it: advancing one clone advances all of them.
#[derive(Clone, Debug)]
pub struct Clock {
    inner: ClockInner,
}

#[derive(Clone, Debug)]
enum ClockInner {
    System,
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// The operating system's clock.
    pub fn system() -> Self {
        Self {
            inner: ClockInner::System,
        }
    }

    /// A clock that stands still at `start_unix_secs` until [`Clock::advance`] moves it.
    pub fn manual(start_unix_secs: i64) -> Self {
        Self {
            inner: ClockInner::Manual(Arc::new(AtomicI64::new(start_unix_secs))),
        }
    }

    /// Moves a manual clock forward by `secs` (backwards if negative). No effect on the system
    /// clock.
    pub fn advance(&self, secs: i64) {
        if let ClockInner::Manual(now) = &self.inner {
            now.fetch_add(secs, Ordering::SeqCst);
        }
    }

    /// Current Unix time in seconds.
    pub fn now_unix(&self) -> i64 {
        match &self.inner {
            ClockInner::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
                .unwrap_or(0),
            ClockInner::Manual(now) => now.load(Ordering::SeqCst),
        }
    }

    /// Whether this is a manual clock.
    pub fn is_manual(&self) -> bool {
        matches!(self.inner, ClockInner::Manual(_))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_advances_all_clones() {
        let c = Clock::manual(1_000);
        let c2 = c.clone();
        c.advance(60);
        assert_eq!(c2.now_unix(), 1_060);
        assert!(c.is_manual());
    }

    #[test]
    fn system_clock_is_recent() {
        let c = Clock::system();
        c.advance(1_000_000);
        assert!(c.now_unix() > 1_700_000_000);
        assert!(!c.is_manual());
    }
}
