//! Observable values: observers get the current value first, then every change; a subscription
//! is a handle that cancels on drop (the matrix-sdk-ffi pattern).

use std::sync::{Arc, Mutex, MutexGuard};

type Callback<T> = Arc<dyn Fn(&T) + Send + Sync>;

struct Inner<T> {
    current: T,
    next_id: u64,
    observers: Vec<(u64, Callback<T>)>,
}

/// A value with observers. Cloning shares the value.
pub struct Observable<T> {
    inner: Arc<Mutex<Inner<T>>>,
    /// Serialises deliveries so every observer sees changes in order, current value first.
    delivery: Arc<Mutex<()>>,
}

impl<T> Clone for Observable<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            delivery: Arc::clone(&self.delivery),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking observer must not poison the call: recover the guard.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
            delivery: Arc::new(Mutex::new(())),
        }
    }

    /// The current value.
    pub fn get(&self) -> T {
        lock(&self.inner).current.clone()
    }

    /// Sets the value and notifies observers if it changed. Observer callbacks run on the
    /// calling thread and must not call back into this observable.
    pub fn set(&self, value: T) {
        let _order = lock(&self.delivery);
        let observers: Vec<Callback<T>> = {
            let mut inner = lock(&self.inner);
            if inner.current == value {
                return;
            }
            inner.current = value.clone();
            inner.observers.iter().map(|(_, f)| Arc::clone(f)).collect()
        };
        for f in observers {
            call(&f, &value);
        }
    }

    /// Calls `f` with the current value now, then with every change until the returned
    /// [`Subscription`] is dropped.
    pub fn subscribe(&self, f: impl Fn(&T) + Send + Sync + 'static) -> Subscription {
        let _order = lock(&self.delivery);
        let f: Callback<T> = Arc::new(f);
        let (id, current) = {
            let mut inner = lock(&self.inner);
            let id = inner.next_id;
            inner.next_id += 1;
            inner.observers.push((id, Arc::clone(&f)));
            (id, inner.current.clone())
        };
        call(&f, &current);
        let weak = Arc::downgrade(&self.inner);
        Subscription {
            cancel: Some(Box::new(move || {
                if let Some(inner) = weak.upgrade() {
                    lock(&inner).observers.retain(|(i, _)| *i != id);
                }
            })),
        }
    }
}

/// Registered listeners and the next id to hand out.
type ListenerList<T> = Arc<Mutex<(u64, Vec<(u64, Callback<T>)>)>>;

/// Observers of a stream of events (no current value: e.g. decoded video frames).
pub struct Listeners<T> {
    inner: ListenerList<T>,
}

impl<T: 'static> Listeners<T> {
    /// No listeners yet.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new((0, Vec::new()))),
        }
    }

    /// Calls `f` for every event until the returned [`Subscription`] is dropped.
    pub fn subscribe(&self, f: impl Fn(&T) + Send + Sync + 'static) -> Subscription {
        let id = {
            let mut inner = lock(&self.inner);
            let id = inner.0;
            inner.0 += 1;
            inner.1.push((id, Arc::new(f)));
            id
        };
        let weak = Arc::downgrade(&self.inner);
        Subscription {
            cancel: Some(Box::new(move || {
                if let Some(inner) = weak.upgrade() {
                    lock(&inner).1.retain(|(i, _)| *i != id);
                }
            })),
        }
    }

    /// Delivers `event` to every listener, on the calling thread.
    pub fn emit(&self, event: &T) {
        let listeners: Vec<Callback<T>> = lock(&self.inner)
            .1
            .iter()
            .map(|(_, f)| Arc::clone(f))
            .collect();
        for f in listeners {
            call(&f, event);
        }
    }

    /// Whether anyone listens.
    pub fn is_empty(&self) -> bool {
        lock(&self.inner).1.is_empty()
    }
}

impl<T: 'static> Default for Listeners<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Calls an observer; a panicking observer is logged and does not take the caller down.
fn call<T>(f: &Callback<T>, value: &T) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(value))).is_err() {
        log::error!("an observer panicked; the call goes on");
    }
}

/// Keeps an observer registered; dropping it unregisters the observer.
#[must_use = "dropping the subscription cancels it"]
pub struct Subscription {
    cancel: Option<Box<dyn FnOnce() + Send>>,
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

    #[test]
    fn a_panicking_observer_does_not_poison_others() {
        let obs = Observable::new(0);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let _bad = obs.subscribe(|v| assert!(*v < 1, "observer bug"));
        let s = Arc::clone(&seen);
        let _good = obs.subscribe(move |v| lock(&s).push(*v));
        obs.set(1);
        obs.set(2);
        assert_eq!(*lock(&seen), vec![0, 1, 2]);
    }

    #[test]
    fn current_value_first_then_changes_until_dropped() {
        let obs = Observable::new(1);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let sub = obs.subscribe(move |v| lock(&s).push(*v));
        obs.set(2);
        obs.set(2); // unchanged: no call
        obs.set(3);
        drop(sub);
        obs.set(4);
        assert_eq!(*lock(&seen), vec![1, 2, 3]);
        assert_eq!(obs.get(), 4);
    }
}
