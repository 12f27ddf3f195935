//! Presence for standing rooms and meetings: a paired citizen's app asks whether someone from
//! the municipality is in its room (a long poll that answers at once when the answer differs
//! from what the app shows, else when it changes or the hold time passes), and the caseworker's
//! list shows whether the citizen's app is open (it asked recently).
//!
//! Privacy: the answer holds only `staff_present` and the `display_name` the caseworker chose;
//! no label, owner, code, participant or time. Which apps are open is kept in memory only, by
//! meeting id, and forgotten after the window.

use governor::{DefaultKeyedRateLimiter, Quota};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
struct App {
    seen: Option<Instant>,
    closed: Option<Instant>,
}

/// Presence bookkeeping of one server.
#[derive(Debug)]
pub(crate) struct PresenceBook {
    /// When a citizen's app last asked, and last said it closed, by meeting id.
    apps: Mutex<HashMap<String, App>>,
    /// How long a question is held while nothing changes.
    pub(crate) hold: Duration,
    /// An app counts as open for this long after its last question.
    window: Duration,
    /// Per pairing token (hashed): a held question every few seconds at most.
    limiter: DefaultKeyedRateLimiter<[u8; 32]>,
}

impl PresenceBook {
    /// `hold`: the long poll's hold time; an app is open until `hold + 10 s` after it asked.
    pub(crate) fn new(hold: Duration) -> Self {
        // A burst of 5 (an app that comes to the front, a network change), then one every 2 s;
        // an open app asks once per `hold` when nothing changes.
        let quota = Quota::with_period(Duration::from_secs(2))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN));
        Self {
            apps: Mutex::new(HashMap::new()),
            hold,
            window: hold + Duration::from_secs(10),
            limiter: DefaultKeyedRateLimiter::keyed(quota),
        }
    }

    /// Takes one question from this pairing's budget; `Err(secs)` to wait.
    pub(crate) fn charge(&self, pairing_hash: &[u8; 32]) -> Result<(), u64> {
        self.limiter.check_key(pairing_hash).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            wait.as_secs().max(1)
        })
    }

    /// The citizen's app of `meeting_id` is asking: a question that arrived at `asked` is
    /// being answered now. A question older than the app's last "closing" (a held one the app
    /// gave up on) does not reopen it.
    pub(crate) fn app_seen(&self, meeting_id: &str, asked: Instant) {
        let mut apps = self.apps.lock().unwrap_or_else(|e| e.into_inner());
        let app = apps.entry(meeting_id.to_owned()).or_insert(App {
            seen: None,
            closed: None,
        });
        if app.closed.is_none_or(|closed| asked > closed) {
            app.seen = Some(Instant::now());
        }
    }

    /// Whether the citizen's app of `meeting_id` is open (asked within the window, and has not
    /// said it closed since).
    pub(crate) fn app_open(&self, meeting_id: &str) -> bool {
        let apps = self.apps.lock().unwrap_or_else(|e| e.into_inner());
        apps.get(meeting_id).is_some_and(|a| {
            a.seen.is_some_and(|seen| {
                seen.elapsed() <= self.window && a.closed.is_none_or(|closed| seen > closed)
            })
        })
    }

    /// The app of `meeting_id` said it closes (or the room closed): not open from now.
    pub(crate) fn app_gone(&self, meeting_id: &str) {
        let mut apps = self.apps.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        apps.insert(
            meeting_id.to_owned(),
            App {
                seen: None,
                closed: Some(now),
            },
        );
    }

    /// Forgets apps not heard from within the window and refilled rate-limit buckets.
    pub(crate) fn prune(&self) {
        let window = self.window;
        let mut apps = self.apps.lock().unwrap_or_else(|e| e.into_inner());
        apps.retain(|_, a| a.seen.or(a.closed).is_some_and(|t| t.elapsed() <= window));
        drop(apps);
        self.limiter.retain_recent();
    }
}
