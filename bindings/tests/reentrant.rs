//! The shells' observer may call back into `Samtale` from its callbacks: `join()`, `leave()`
//! and `shutdown()` from inside `on_screen`, and nothing deadlocks (issue 12). Before states
//! were delivered on their own thread, the first state of a call was delivered inside
//! `join()` while it held the core's runtime lock, so a `join()` from that callback (a
//! double tap) waited for itself forever.

use samtale_e2e::TestServer;
use samtale_ffi::{
    AppConfig, CallObserver, EndKind, LogLevel, RemoteVideoFrame, Samtale, Screen, UiState,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

/// Long enough that only a deadlock reaches it.
const STUCK: Duration = Duration::from_secs(30);

/// Once armed: joins again at the next state (a double tap), leaves at the first `InCall`,
/// joins again at the `Ended` that follows, and shuts the core down at the next `InCall`.
/// Every one of these calls is made from inside `on_screen`.
struct Reentrant {
    samtale: OnceLock<Weak<Samtale>>,
    code: String,
    armed: AtomicBool,
    step: Mutex<u32>,
    steps: Mutex<mpsc::Sender<(u32, UiState)>>,
}

impl CallObserver for Reentrant {
    fn on_screen(&self, screen: Screen) {
        let state = screen.state;
        let Some(samtale) = self.samtale.get().and_then(Weak::upgrade) else {
            return;
        };
        if !self.armed.load(Ordering::SeqCst) {
            return;
        }
        let mut step = self.step.lock().expect("step");
        let next = match (*step, &state) {
            (0, _) => {
                samtale.join(self.code.clone());
                1
            }
            (1, UiState::InCall) => {
                samtale.leave();
                2
            }
            (
                2,
                UiState::Ended {
                    reason: EndKind::YouLeft,
                },
            ) => {
                samtale.join(self.code.clone());
                3
            }
            (3, UiState::InCall) => {
                samtale.shutdown();
                4
            }
            (s, _) => s,
        };
        if next != *step {
            *step = next;
            let _ = self.steps.lock().expect("steps").send((next, state));
        }
    }

    fn on_remote_video(&self, _frame: RemoteVideoFrame) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_may_join_leave_and_shut_down_from_its_callbacks() {
    let server = TestServer::start().await;
    let (meeting, staff) = server.host().await;
    let storage = tempfile::tempdir().expect("tmp");
    let (tx, rx) = mpsc::channel();
    let observer = Arc::new(Reentrant {
        samtale: OnceLock::new(),
        code: meeting.code.clone(),
        armed: AtomicBool::new(false),
        step: Mutex::new(0),
        steps: Mutex::new(tx),
    });
    let samtale = Samtale::new(
        AppConfig {
            server_url: server.url(),
            brand_id: "test".into(),
            storage_dir: storage.path().to_string_lossy().into_owned(),
            log_level: LogLevel::Warn,
            extra_ca_pem: None,
            brand_toml: include_str!("../../brands/eksempel/brand.toml").into(),
            language: None,
        },
        Arc::clone(&observer) as Arc<dyn CallObserver>,
        None,
    )
    .expect("core");
    let _ = observer.samtale.set(Arc::downgrade(&samtale));
    observer.armed.store(true, Ordering::SeqCst);
    // On a thread of its own, so that a deadlock fails the test instead of hanging it.
    let joiner = Arc::clone(&samtale);
    let code = meeting.code.clone();
    std::thread::spawn(move || joiner.join(code));

    // Everything else happens in the callbacks; the test only watches.
    let watched = tokio::task::spawn_blocking(move || {
        let mut steps = Vec::new();
        while let Ok(step) = rx.recv_timeout(STUCK) {
            let done = step.0 == 4;
            steps.push(step);
            if done {
                return Ok(steps);
            }
        }
        Err(steps)
    })
    .await
    .expect("watcher");
    let steps = watched.unwrap_or_else(|s| panic!("stuck after the steps {s:?}"));
    assert_eq!(steps.len(), 4, "{steps:?}");
    // Step 4 is reported after shutdown() returned inside the callback: it is done.
    assert!(
        samtale.is_shut_down(),
        "shutdown from a callback did not finish"
    );
    staff.leave();
    staff.closed().await;
}
