//! Log lines that clients can cause, bounded (issue 17, "logs fill the disk"): a client that
//! floods one path gets a few lines per interval written, the rest counted; the next line
//! written says how many were left out. Whatever clients do, a call site writes at most
//! `per_interval` lines per interval.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One call site's budget (a `static`).
pub struct LogBudget {
    per_interval: u32,
    interval: Duration,
    state: Mutex<State>,
}

struct State {
    window: Option<Instant>,
    used: u32,
    left_out: u64,
}

impl LogBudget {
    /// At most `per_interval` lines every `interval_secs` seconds.
    pub const fn new(per_interval: u32, interval_secs: u64) -> Self {
        Self {
            per_interval,
            interval: Duration::from_secs(interval_secs),
            state: Mutex::new(State {
                window: None,
                used: 0,
                left_out: 0,
            }),
        }
    }

    /// `Some(n)`: write the line now, saying `n` earlier ones were left out; `None`: leave it
    /// out (counted).
    pub fn allow(&self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    /// [`LogBudget::allow`] at `now` (tests).
    pub fn allow_at(&self, now: Instant) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = s
            .window
            .is_none_or(|start| now.saturating_duration_since(start) >= self.interval);
        if fresh {
            s.window = Some(now);
            s.used = 0;
        }
        if s.used < self.per_interval {
            s.used += 1;
            Some(std::mem::take(&mut s.left_out))
        } else {
            s.left_out += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_writes_a_few_lines_per_interval_and_then_says_how_many_were_left_out() {
        let b = LogBudget::new(3, 60);
        let t0 = Instant::now();
        let written: Vec<_> = (0..1000).filter_map(|_| b.allow_at(t0)).collect();
        assert_eq!(written, vec![0, 0, 0]);
        // Still the same minute: nothing.
        assert_eq!(b.allow_at(t0 + Duration::from_secs(59)), None);
        // The next minute: the first line says how many were left out.
        assert_eq!(b.allow_at(t0 + Duration::from_secs(60)), Some(998));
        assert_eq!(b.allow_at(t0 + Duration::from_secs(61)), Some(0));
    }
}
