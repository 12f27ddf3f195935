//! What the bindings' integration tests share: an observer that keeps every screen and waits
//! for one (with a deadline; no sleeping).
#![allow(dead_code)]

use samtale_ffi::{CallObserver, RemoteVideoFrame, Screen};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Long enough that only a bug reaches it.
pub const WAIT: Duration = Duration::from_secs(30);

/// Every screen the core delivered, in order.
#[derive(Default)]
pub struct Screens {
    seen: Mutex<Vec<Screen>>,
    changed: Condvar,
}

impl CallObserver for Screens {
    fn on_screen(&self, screen: Screen) {
        self.seen.lock().expect("screens").push(screen);
        self.changed.notify_all();
    }
    fn on_remote_video(&self, _frame: RemoteVideoFrame) {}
}

impl Screens {
    /// Waits until the newest screen matches; fails after `limit` with the screens seen.
    pub fn until(&self, what: &str, limit: Duration, pred: impl Fn(&Screen) -> bool) -> Screen {
        let end = Instant::now() + limit;
        let mut seen = self.seen.lock().expect("screens");
        loop {
            if let Some(s) = seen.last().filter(|s| pred(s)) {
                return s.clone();
            }
            let left = end.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{what} not within {limit:?}; screens: {:?}",
                seen.iter()
                    .map(|s| format!("{}{}", s.id, if s.lit { " (lit)" } else { "" }))
                    .collect::<Vec<_>>()
            );
            seen = self.changed.wait_timeout(seen, left).expect("screens").0;
        }
    }
}
