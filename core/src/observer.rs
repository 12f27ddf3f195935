//! Observable values and event streams, delivered off the caller's thread.
//!
//! Every subscription has its own delivery thread (`call-notify`, or the name the stream
//! gives) and a bounded mailbox. Setting a value or emitting an event only puts it in the
//! mailboxes and returns: the call's actor never waits for an app's callback, and a callback
//! may call back into the call (leave, join, even drop its own subscription) without a
//! deadlock, because no lock is held while it runs. Observers get the current value first,
//! then every change in order; one that falls behind by more than its mailbox holds loses the
//! oldest pending values, so the latest always arrives (and a slow video renderer drops
//! frames instead of growing memory or latency). The [`Subscription`] handle cancels on drop
//! (the matrix-sdk-ffi pattern); a callback already running finishes first.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Pending values a state observer may fall behind by before the oldest are dropped.
pub const STATE_MAILBOX: usize = 16;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking observer must not poison the call: recover the guard.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Slots<T> {
    queue: VecDeque<T>,
    closed: bool,
    /// Values dropped because the observer fell behind.
    dropped: u64,
}

/// One subscription's bounded, drop-oldest queue and the thread that empties it.
struct Mailbox<T> {
    slots: Mutex<Slots<T>>,
    ready: Condvar,
    capacity: usize,
}

impl<T: Send + 'static> Mailbox<T> {
    fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            slots: Mutex::new(Slots {
                queue: VecDeque::with_capacity(capacity.min(64)),
                closed: false,
                dropped: 0,
            }),
            ready: Condvar::new(),
            capacity: capacity.max(1),
        })
    }

    fn post(&self, value: T) {
        let mut slots = lock(&self.slots);
        if slots.closed {
            return;
        }
        if slots.queue.len() == self.capacity {
            slots.queue.pop_front();
            slots.dropped += 1;
        }
        slots.queue.push_back(value);
        drop(slots);
        self.ready.notify_one();
    }

    fn close(&self) {
        let mut slots = lock(&self.slots);
        slots.closed = true;
        slots.queue.clear();
        drop(slots);
        self.ready.notify_one();
    }

    /// Waits for the next value; `None` once closed.
    fn next(&self) -> Option<T> {
        let mut slots = lock(&self.slots);
        loop {
            if slots.closed {
                return None;
            }
            if let Some(v) = slots.queue.pop_front() {
                return Some(v);
            }
            slots = self
                .ready
                .wait(slots)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// Starts the delivery thread, which calls `f` for every value until closed.
    fn start<V: ?Sized + 'static>(
        self: &Arc<Self>,
        name: &str,
        f: impl Fn(&V) + Send + 'static,
        view: fn(&T) -> &V,
    ) {
        let mailbox = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while let Some(v) = mailbox.next() {
                    call(&f, view(&v));
                }
                let dropped = lock(&mailbox.slots).dropped;
                if dropped > 0 {
                    log::debug!("an observer fell behind: {dropped} values were dropped");
                }
            });
        if let Err(e) = spawned {
            log::error!("cannot start an observer's delivery thread: {e}");
        }
    }
}

fn same<T>(v: &T) -> &T {
    v
}

struct Inner<T> {
    current: T,
    next_id: u64,
    observers: Vec<(u64, Arc<Mailbox<T>>)>,
}

/// A value with observers. Cloning shares the value.
pub struct Observable<T> {
    inner: Arc<Mutex<Inner<T>>>,
}

impl<T> Clone for Observable<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T: Clone + PartialEq + Send + 'static> Observable<T> {
    /// A new observable holding `initial`.
    pub fn new(initial: T) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                current: initial,
                next_id: 0,
                observers: Vec::new(),
            })),
        }
    }

    /// The current value.
    pub fn get(&self) -> T {
        lock(&self.inner).current.clone()
    }

    /// Sets the value; if it changed, queues it for every observer and returns at once.
    pub fn set(&self, value: T) {
        let mut inner = lock(&self.inner);
        if inner.current == value {
            return;
        }
        inner.current = value.clone();
        for (_, mailbox) in &inner.observers {
            mailbox.post(value.clone());
        }
    }

    /// Calls `f` on its own `call-notify` thread with the current value, then with every
    /// change, until the returned [`Subscription`] is dropped.
    pub fn subscribe(&self, f: impl Fn(&T) + Send + Sync + 'static) -> Subscription {
        let mailbox = Mailbox::new(STATE_MAILBOX);
        let id = {
            let mut inner = lock(&self.inner);
            let id = inner.next_id;
            inner.next_id += 1;
            mailbox.post(inner.current.clone());
            inner.observers.push((id, Arc::clone(&mailbox)));
            id
        };
        mailbox.start("call-notify", f, same);
        let weak = Arc::downgrade(&self.inner);
        Subscription {
            cancel: Some(Box::new(move || {
                if let Some(inner) = weak.upgrade() {
                    lock(&inner).observers.retain(|(i, _)| *i != id);
                }
                mailbox.close();
            })),
        }
    }
}

/// Registered listeners and the next id to hand out.
type ListenerList<T> = Arc<Mutex<(u64, Vec<(u64, Arc<Mailbox<Arc<T>>>)>)>>;

/// Observers of a stream of events (no current value: e.g. decoded video frames). Each
/// listener has a mailbox of `capacity` events; a listener that falls behind loses the oldest.
pub struct Listeners<T> {
    inner: ListenerList<T>,
    capacity: usize,
    thread_name: &'static str,
}

impl<T: Send + Sync + 'static> Listeners<T> {
    /// No listeners yet; each will get a mailbox of `capacity` events and a delivery thread
    /// named `thread_name`.
    pub fn new(capacity: usize, thread_name: &'static str) -> Self {
        Self {
            inner: Arc::new(Mutex::new((0, Vec::new()))),
            capacity,
            thread_name,
        }
    }

    /// Calls `f` (on the listener's own thread) for every event until the returned
    /// [`Subscription`] is dropped.
    pub fn subscribe(&self, f: impl Fn(&T) + Send + Sync + 'static) -> Subscription {
        let mailbox = Mailbox::new(self.capacity);
        let id = {
            let mut inner = lock(&self.inner);
            let id = inner.0;
            inner.0 += 1;
            inner.1.push((id, Arc::clone(&mailbox)));
            id
        };
        mailbox.start(self.thread_name, f, |v: &Arc<T>| v.as_ref());
        let weak = Arc::downgrade(&self.inner);
        Subscription {
            cancel: Some(Box::new(move || {
                if let Some(inner) = weak.upgrade() {
                    lock(&inner).1.retain(|(i, _)| *i != id);
                }
                mailbox.close();
            })),
        }
    }

    /// Queues `event` for every listener and returns at once (no copy: they share it).
    pub fn emit(&self, event: T) {
        let inner = lock(&self.inner);
        if inner.1.is_empty() {
            return;
        }
        let event = Arc::new(event);
        for (_, mailbox) in &inner.1 {
            mailbox.post(Arc::clone(&event));
        }
    }

    /// Whether anyone listens.
    pub fn is_empty(&self) -> bool {
        lock(&self.inner).1.is_empty()
    }
}

/// Calls an observer; a panicking observer is logged and does not take the caller down.
fn call<V: ?Sized>(f: &impl Fn(&V), value: &V) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(value))).is_err() {
        log::error!("an observer panicked; the call goes on");
    }
}

/// Keeps an observer registered; dropping it unregisters the observer.
#[must_use = "dropping the subscription cancels it"]
pub struct Subscription {
    cancel: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(cancel) = self.cancel.take() {
            cancel();
        }
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subscription")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Long enough that only a deadlock or a blocked caller reaches it.
    const STUCK: Duration = Duration::from_secs(10);

    /// Values an observer saw, sent to the test as they arrive.
    fn recorder<T: Clone + Send + 'static>() -> (impl Fn(&T) + Send + Sync, mpsc::Receiver<T>) {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        (
            move |v: &T| {
                let _ = lock(&tx).send(v.clone());
            },
            rx,
        )
    }

    fn take<T>(rx: &mpsc::Receiver<T>, n: usize) -> Vec<T> {
        (0..n)
            .map(|_| rx.recv_timeout(STUCK).expect("a value in time"))
            .collect()
    }

    #[test]
    fn current_value_first_then_changes_until_dropped() {
        let obs = Observable::new(1);
        let (f, rx) = recorder();
        let sub = obs.subscribe(f);
        obs.set(2);
        obs.set(2); // unchanged: no call
        obs.set(3);
        assert_eq!(take(&rx, 3), vec![1, 2, 3]);
        drop(sub);
        obs.set(4);
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        assert_eq!(obs.get(), 4);
    }

    #[test]
    fn a_panicking_observer_does_not_poison_others() {
        let obs = Observable::new(0);
        let _bad = obs.subscribe(|v| assert!(*v < 1, "observer bug"));
        let (f, rx) = recorder();
        let _good = obs.subscribe(f);
        obs.set(1);
        obs.set(2);
        assert_eq!(take(&rx, 3), vec![0, 1, 2]);
    }

    #[test]
    fn set_never_waits_for_a_blocked_observer() {
        let obs = Observable::new(0);
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let (entered_tx, entered_rx) = mpsc::channel();
        let entered_tx = Mutex::new(entered_tx);
        let _sub = obs.subscribe(move |v: &i32| {
            let _ = lock(&entered_tx).send(*v);
            let _ = lock(&release_rx).recv_timeout(STUCK);
        });
        assert_eq!(entered_rx.recv_timeout(STUCK), Ok(0));
        // The observer is stuck in its first callback; setting must still return, many times.
        let (done_tx, done_rx) = mpsc::channel();
        let setter = obs.clone();
        std::thread::spawn(move || {
            for v in 1..=100 {
                setter.set(v);
            }
            let _ = done_tx.send(());
        });
        assert!(
            done_rx.recv_timeout(STUCK).is_ok(),
            "set() waited for the observer"
        );
        // Released, it skips what it fell behind on and ends on the latest value.
        for _ in 0..=STATE_MAILBOX {
            let _ = release_tx.send(());
        }
        let seen = take(&entered_rx, STATE_MAILBOX);
        assert_eq!(seen.last(), Some(&100), "{seen:?}");
        assert_eq!(seen[0], 100 - STATE_MAILBOX as i32 + 1, "{seen:?}");
    }

    #[test]
    fn an_observer_may_call_back_in_and_drop_itself() {
        let obs = Observable::new(0);
        let slot: Arc<Mutex<Option<Subscription>>> = Arc::new(Mutex::new(None));
        let (f, rx) = recorder();
        let (inner_obs, inner_slot) = (obs.clone(), Arc::clone(&slot));
        let sub = obs.subscribe(move |v: &i32| {
            f(v);
            match *v {
                // Re-entrant set and subscribe from inside a callback.
                0 => {
                    let nested = inner_obs.subscribe(|_| {});
                    drop(nested);
                    inner_obs.set(1);
                }
                // Cancels its own subscription from inside its callback.
                1 => drop(lock(&inner_slot).take()),
                _ => {}
            }
        });
        *lock(&slot) = Some(sub);
        assert_eq!(take(&rx, 2), vec![0, 1]);
        obs.set(2);
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
    }

    #[test]
    fn a_slow_listener_gets_the_latest_events_and_memory_stays_bounded() {
        let frames: Listeners<Vec<u8>> = Listeners::new(2, "test-video");
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let (seen_tx, seen_rx) = mpsc::channel();
        let seen_tx = Mutex::new(seen_tx);
        let _sub = frames.subscribe(move |f: &Vec<u8>| {
            let _ = lock(&seen_tx).send(f[0]);
            let _ = lock(&release_rx).recv_timeout(STUCK);
        });
        frames.emit(vec![0; 1 << 20]);
        assert_eq!(seen_rx.recv_timeout(STUCK), Ok(0));
        // A renderer stuck on one frame: 200 MiB of frames arrive, two are kept.
        for i in 1..=200u8 {
            frames.emit(vec![i; 1 << 20]);
        }
        {
            let inner = lock(&frames.inner);
            let slots = lock(&inner.1[0].1.slots);
            assert_eq!(slots.queue.len(), 2);
            assert_eq!(slots.dropped, 198);
        }
        for _ in 0..3 {
            let _ = release_tx.send(());
        }
        assert_eq!(take(&seen_rx, 2), vec![199, 200]);
    }
}
