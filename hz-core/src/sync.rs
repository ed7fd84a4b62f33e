//! The one place hz-core takes its concurrency primitives from: `std`
//! normally, `loom` under `--cfg hz_loom` so the models check the real code.

// The shim exports the whole set; under loom only the modelled modules
// (the channel) are compiled, so some go unused there.
#[cfg(hz_loom)]
#[allow(unused_imports)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(hz_loom)]
pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};

#[cfg(not(hz_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(hz_loom))]
pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// An `Arc` of a value whose type is unsized from a `std` one (loom's
/// `Arc` cannot coerce).
#[cfg(hz_loom)]
pub(crate) fn arc_from_std<T: ?Sized>(a: std::sync::Arc<T>) -> Arc<T> {
    Arc::from_std(a)
}
#[cfg(not(hz_loom))]
pub(crate) fn arc_from_std<T: ?Sized>(a: std::sync::Arc<T>) -> Arc<T> {
    a
}

/// Locks a mutex, ignoring poisoning: hz never leaves shared state half
/// updated across a panic point, and a panic in one agent must not wedge
/// every other agent that touches the same channel.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Waits on `cv` (whose mutex `guard` holds) once, for at most `timeout`,
/// ignoring poisoning; the guard again, and whether the time ran out.
#[cfg(not(hz_loom))]
pub(crate) fn wait_for<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: std::time::Duration,
) -> (MutexGuard<'a, T>, bool) {
    let (guard, result) = match cv.wait_timeout(guard, timeout) {
        Ok(r) => r,
        Err(p) => p.into_inner(),
    };
    (guard, result.timed_out())
}

/// Waits on `cv` (whose mutex `guard` holds) until `done` holds or
/// `timeout` passes; true if `done` held.
#[cfg(not(hz_loom))]
pub(crate) fn wait_until<T>(
    cv: &Condvar,
    mut guard: MutexGuard<'_, T>,
    timeout: std::time::Duration,
    mut done: impl FnMut(&T) -> bool,
) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while !done(&guard) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        guard = wait_for(cv, guard, left).0;
    }
    true
}

/// A one-shot signal a thread can block on (Rust-side blocking channel ops).
/// Under loom only the models use it.
#[cfg_attr(hz_loom, allow(dead_code))]
pub(crate) struct Signal {
    set: Mutex<bool>,
    cv: Condvar,
}

#[cfg_attr(hz_loom, allow(dead_code))]
impl Signal {
    pub(crate) fn new() -> Self {
        Signal { set: Mutex::new(false), cv: Condvar::new() }
    }
    pub(crate) fn notify(&self) {
        *lock(&self.set) = true;
        self.cv.notify_one();
    }
    /// Waits at most `timeout`; true if notified.
    #[cfg(not(hz_loom))]
    pub(crate) fn wait_timeout(&self, timeout: std::time::Duration) -> bool {
        wait_until(&self.cv, lock(&self.set), timeout, |set| *set)
    }

    pub(crate) fn wait(&self) {
        let mut g = lock(&self.set);
        while !*g {
            g = match self.cv.wait(g) {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
        }
    }
}
