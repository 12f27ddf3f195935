//! A test-only fault hook: with the `fault-hook` feature, `inject_panic("join")` makes the next
//! call of that entry point panic inside the core, so the Kotlin, Swift and Python tests can
//! prove that no panic reaches the app. Phone builds do not enable the feature; without it
//! `hit` is empty and the export does not exist.

#[cfg(feature = "fault-hook")]
mod armed {
    use std::sync::Mutex;

    static ARMED: Mutex<Vec<String>> = Mutex::new(Vec::new());

    fn armed() -> std::sync::MutexGuard<'static, Vec<String>> {
        ARMED.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the next call of `entry` (a method's Rust name, e.g. `join`, `pull_audio`) panic.
    #[uniffi::export]
    pub fn inject_panic(entry: String) {
        armed().push(entry);
    }

    pub(crate) fn hit(entry: &str) {
        let fire = {
            let mut armed = armed();
            let found = armed.iter().position(|e| e == entry);
            found.map(|i| armed.remove(i)).is_some()
        };
        if fire {
            panic!("fault injected into {entry}");
        }
    }
}

#[cfg(feature = "fault-hook")]
pub(crate) use armed::hit;

#[cfg(not(feature = "fault-hook"))]
#[inline(always)]
pub(crate) fn hit(_entry: &str) {}
