//! The core logs through the `log` facade; here it goes to the platform's log.

use crate::LogLevel;
use std::sync::Once;

static INIT: Once = Once::new();

fn filter(level: LogLevel) -> log::LevelFilter {
    match level {
        LogLevel::Off => log::LevelFilter::Off,
        LogLevel::Error => log::LevelFilter::Error,
        LogLevel::Warn => log::LevelFilter::Warn,
        LogLevel::Info => log::LevelFilter::Info,
        LogLevel::Debug => log::LevelFilter::Debug,
    }
}

/// Installs the platform logger once per process (later calls only change the level), and a
/// panic hook that reports where a panic happened to that log. On a phone stderr goes
/// nowhere, so without it a caught panic (see `guarded`) would leave no trace. The panic's
/// message is left out: it could carry anything, and log lines carry no codes or names.
pub(crate) fn init(level: LogLevel) {
    INIT.call_once(|| {
        install();
        std::panic::set_hook(Box::new(|info| {
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_else(|| "an unknown place".into());
            let thread = std::thread::current();
            log::error!(
                "panic at {location} on thread {}",
                thread.name().unwrap_or("unnamed")
            );
        }));
    });
    log::set_max_level(filter(level));
}

#[cfg(target_os = "android")]
fn install() {
    android_logger::init_once(
        android_logger::Config::default()
            .with_max_level(log::LevelFilter::Debug)
            .with_tag("samtale"),
    );
}

#[cfg(target_os = "ios")]
fn install() {
    let _ = oslog::OsLogger::new("dk.samtale.core")
        .level_filter(log::LevelFilter::Debug)
        .init();
}

#[cfg(not(any(target_os = "android", target_os = "ios")))]
fn install() {
    /// Plain stderr (desktop JVM, Python, tests).
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata<'_>) -> bool {
            m.level() <= log::max_level() && m.target().starts_with("samtale")
        }
        fn log(&self, r: &log::Record<'_>) {
            if self.enabled(r.metadata()) {
                eprintln!("[{} {}] {}", r.level(), r.target(), r.args());
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: Stderr = Stderr;
    let _ = log::set_logger(&LOGGER);
}
