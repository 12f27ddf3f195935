//! What the bindings' integration tests share: an observer that keeps every screen and waits
//! for one (with a deadline; no sleeping).
#![allow(dead_code)]

use samtale_ffi::{AppConfig, CallObserver, LogLevel, RemoteVideoFrame, Screen};
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

/// The app's configuration for a test: the example brand, warnings only.
pub fn app_config(
    server_url: String,
    storage: &std::path::Path,
    language: Option<&str>,
) -> AppConfig {
    AppConfig {
        server_url,
        brand_id: "test".into(),
        storage_dir: storage.to_string_lossy().into_owned(),
        log_level: LogLevel::Warn,
        extra_ca_pem: None,
        brand_toml: include_str!("../../../brands/eksempel/brand.toml").into(),
        language: language.map(str::to_owned),
    }
}
