//! The futex behind Atomics.wait / notify / waitAsync, shared by every
//! engine: a notify from one agent (of any engine) wakes a waiter in any
//! other. Waiters queue per (memory, byte offset), first in, first out.
//!
//! The rules (ECMA-262 DoWait / Atomics.notify, and HOSTILE.md 41):
//! - the value check and the enqueue happen under the queue lock, the lock
//!   notify takes too: a wake-up cannot be lost between them;
//! - a waiter is completed exactly once, by whoever removes it from its
//!   queue under that lock: notify (`Ok`), its timeout (`TimedOut`) or a
//!   cancellation (`Cancelled`, for terminate);
//! - notify returns how many waiters it woke; a waiter sees `Ok` only if a
//!   notify counted it (no spurious "ok").
//!
//! The futex is a value the runtime owns and passes by `Arc` (no global).

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use crate::sync::{Arc, Condvar, Mutex, lock};

/// Where a waiter waits: the shared memory's identity (its data address)
/// and the byte offset in it.
pub type FutexKey = (usize, usize);

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitResult {
    /// A notify woke it (`"ok"`).
    Ok,
    /// The value was not the expected one (`"not-equal"`).
    NotEqual,
    /// The timeout passed (`"timed-out"`).
    TimedOut,
    /// The waiting agent is being terminated.
    Cancelled,
}

impl WaitResult {
    /// What `Atomics.wait` / `waitAsync` report for this result: `"ok"`,
    /// `"not-equal"` or `"timed-out"`; `None` for `Cancelled`, which no JS
    /// sees (its agent is being terminated).
    pub fn as_js_str(self) -> Option<&'static str> {
        match self {
            WaitResult::Ok => Some("ok"),
            WaitResult::NotEqual => Some("not-equal"),
            WaitResult::TimedOut => Some("timed-out"),
            WaitResult::Cancelled => None,
        }
    }
}

type OnWake = Box<dyn FnOnce(WaitResult) + Send>;

#[derive(Default)]
struct WaitState {
    result: Option<WaitResult>,
    /// The blocked thread sleeps on the condvar (else it is spinning or
    /// running, and completing it needs no OS wake-up).
    sleeping: bool,
}

/// One waiting agent (blocked, or an async waiter's ticket).
pub struct Waiter {
    key: FutexKey,
    state: Mutex<WaitState>,
    cv: Condvar,
    on_wake: Mutex<Option<OnWake>>,
    /// Set once completed: what the spin before sleeping watches.
    done: std::sync::atomic::AtomicBool,
}

impl Waiter {
    fn new(key: FutexKey, on_wake: Option<OnWake>) -> Arc<Self> {
        Arc::new(Waiter {
            key,
            state: Mutex::new(WaitState::default()),
            cv: Condvar::new(),
            on_wake: Mutex::new(on_wake),
            done: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Records the result and wakes the blocked thread; returns the async
    /// callback to run once the queue lock is released.
    fn complete(&self, r: WaitResult) -> Option<OnWake> {
        let sleeping = {
            let mut s = lock(&self.state);
            s.result = Some(r);
            s.sleeping
        };
        self.done.store(true, std::sync::atomic::Ordering::Release);
        if sleeping {
            self.cv.notify_one();
        }
        lock(&self.on_wake).take()
    }
}

/// Lets another thread end a blocking [`Futex::wait`] with
/// [`WaitResult::Cancelled`] (an agent's terminate), whether it comes before,
/// during or after the wait. Once cancelled, every later wait through the
/// slot returns `Cancelled` at once.
#[derive(Default)]
pub struct WaitSlot {
    /// (cancelled, the waiter blocked now)
    state: Mutex<(bool, Option<Arc<Waiter>>)>,
}

impl WaitSlot {
    /// A slot nobody has cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels the wait blocked through this slot (if any) and all later ones.
    pub fn cancel(&self, futex: &Futex) {
        let w = {
            let mut s = lock(&self.state);
            s.0 = true;
            s.1.take()
        };
        if let Some(w) = w {
            futex.cancel(&w, WaitResult::Cancelled);
        }
    }
}

/// The futex: wait queues by key.
#[derive(Default)]
pub struct Futex {
    queues: Mutex<HashMap<FutexKey, VecDeque<Arc<Waiter>>>>,
}

impl Futex {
    /// A futex with no waiters.
    pub fn new() -> Arc<Self> {
        Arc::new(Futex::default())
    }

    /// Enqueues a waiter if `still_expected()` (evaluated under the queue
    /// lock) holds; else `None` (the caller reports "not-equal").
    fn enqueue(
        &self,
        key: FutexKey,
        still_expected: impl FnOnce() -> bool,
        on_wake: Option<OnWake>,
    ) -> Option<Arc<Waiter>> {
        let mut queues = lock(&self.queues);
        if !still_expected() {
            return None;
        }
        let w = Waiter::new(key, on_wake);
        queues.entry(key).or_default().push_back(w.clone());
        Some(w)
    }

    /// Blocks the calling thread until notified, timed out (at `deadline`)
    /// or cancelled through `slot` (terminate). The thread first spins for a
    /// few microseconds (a notify that comes that soon costs no OS wake-up),
    /// then calls `before_park` (where a scheduler hands its other work to
    /// another thread) and sleeps.
    pub fn wait(
        &self,
        key: FutexKey,
        still_expected: impl FnOnce() -> bool,
        deadline: Option<Instant>,
        slot: &WaitSlot,
        before_park: impl FnOnce(),
    ) -> WaitResult {
        if lock(&slot.state).0 {
            return WaitResult::Cancelled;
        }
        let Some(w) = self.enqueue(key, still_expected, None) else { return WaitResult::NotEqual };
        // Terminate may have come between the check above and the enqueue:
        // registering under the slot lock and re-checking there means either
        // the canceller sees the waiter or the waiter sees the cancellation.
        let cancelled = {
            let mut s = lock(&slot.state);
            if !s.0 {
                s.1 = Some(w.clone());
            }
            s.0
        };
        if cancelled {
            self.cancel(&w, WaitResult::Cancelled);
        }
        let r = self.block(&w, deadline, before_park);
        lock(&slot.state).1 = None;
        r
    }

    fn block(&self, w: &Arc<Waiter>, deadline: Option<Instant>, before_park: impl FnOnce()) -> WaitResult {
        #[cfg(not(hz_loom))]
        spin(w, deadline);
        before_park();
        let mut state = lock(&w.state);
        loop {
            if let Some(r) = state.result {
                return r;
            }
            // Read by `complete` under the same lock: it notifies the
            // condvar only if this is set, and this thread only sleeps
            // after setting it, so the wake-up cannot be missed.
            state.sleeping = true;
            match deadline {
                None => {
                    state = match w.cv.wait(state) {
                        Ok(g) => g,
                        Err(p) => p.into_inner(),
                    }
                }
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        drop(state);
                        return self.cancel(w, WaitResult::TimedOut).unwrap_or_else(|| {
                            lock(&w.state).result.expect("a waiter removed by someone else was completed")
                        });
                    }
                    state = wait_timeout(&w.cv, state, d - now);
                }
            }
        }
    }

    /// Registers an async waiter (`Atomics.waitAsync`): `on_wake` runs once
    /// with the result, on the thread that completes it. `None` if the value
    /// was not the expected one (the caller resolves "not-equal" itself).
    pub fn wait_async(
        &self,
        key: FutexKey,
        still_expected: impl FnOnce() -> bool,
        on_wake: impl FnOnce(WaitResult) + Send + 'static,
    ) -> Option<Arc<Waiter>> {
        self.enqueue(key, still_expected, Some(Box::new(on_wake)))
    }

    /// Wakes up to `count` waiters on `key`, oldest first; returns how many.
    pub fn notify(&self, key: FutexKey, count: usize) -> usize {
        let mut callbacks = Vec::new();
        let woken = {
            let mut queues = lock(&self.queues);
            let Some(q) = queues.get_mut(&key) else { return 0 };
            let n = count.min(q.len());
            for w in q.drain(..n) {
                callbacks.extend(w.complete(WaitResult::Ok));
            }
            if q.is_empty() {
                queues.remove(&key);
            }
            n
        };
        for cb in callbacks {
            cb(WaitResult::Ok);
        }
        woken
    }

    /// Ends a waiter that is still queued with `result` (a timeout or a
    /// cancellation); `None` if a notify (or another cancel) got there first.
    pub fn cancel(&self, w: &Arc<Waiter>, result: WaitResult) -> Option<WaitResult> {
        let callback = {
            let mut queues = lock(&self.queues);
            let q = queues.get_mut(&w.key)?;
            let i = q.iter().position(|x| Arc::ptr_eq(x, w))?;
            q.remove(i);
            if q.is_empty() {
                queues.remove(&w.key);
            }
            w.complete(result)
        };
        if let Some(cb) = callback {
            cb(result);
        }
        Some(result)
    }

    /// Waiters queued on `key` (for tests and diagnostics).
    pub fn waiting(&self, key: FutexKey) -> usize {
        lock(&self.queues).get(&key).map_or(0, VecDeque::len)
    }
}

/// How long a blocking waiter spins before it sleeps: about the cost of
/// one OS wake-up, so a prompt notify is seen without one.
#[cfg(not(hz_loom))]
const SPIN: std::time::Duration = std::time::Duration::from_micros(20);

/// How long a blocking waiter spins before it also yields its CPU on each
/// look at the clock.
#[cfg(not(hz_loom))]
const SPIN_ALONE: std::time::Duration = std::time::Duration::from_micros(1);

/// Spins until `w` is completed, `SPIN` has passed or the deadline has.
///
/// Past [`SPIN_ALONE`] it yields between looks: the thread that will
/// notify may be waiting for this very CPU (more threads than CPUs), and a
/// spin that never yields makes each wait last the whole spin and an OS
/// wake-up. Measured when hz-core still kept a blocked agent's thread on
/// its worker's CPU, shared with the spare that took the worker over
/// (about one run in three here): a QuickJS `Atomics.wait`/`notify`
/// ping-pong took about 62 µs a round trip, 22 µs yielding, and 7 µs when
/// the two threads had a CPU each, as they now do (hz-core lets a thread
/// that gives its worker away run on any CPU).
#[cfg(not(hz_loom))]
fn spin(w: &Waiter, deadline: Option<Instant>) {
    let start = Instant::now();
    let until = deadline.map_or(start + SPIN, |d| d.min(start + SPIN));
    let alone = start + SPIN_ALONE;
    let mut i = 0u32;
    while !w.done.load(std::sync::atomic::Ordering::Acquire) {
        i = i.wrapping_add(1);
        if i.is_multiple_of(32) {
            let now = Instant::now();
            if now >= until {
                return;
            }
            if now >= alone {
                std::thread::yield_now();
                continue;
            }
        }
        std::hint::spin_loop();
    }
}

#[cfg(not(hz_loom))]
fn wait_timeout<'a, T>(
    cv: &Condvar,
    g: std::sync::MutexGuard<'a, T>,
    d: std::time::Duration,
) -> std::sync::MutexGuard<'a, T> {
    match cv.wait_timeout(g, d) {
        Ok((g, _)) => g,
        Err(p) => p.into_inner().0,
    }
}

#[cfg(hz_loom)]
fn wait_timeout<'a, T>(
    cv: &Condvar,
    g: loom::sync::MutexGuard<'a, T>,
    _d: std::time::Duration,
) -> loom::sync::MutexGuard<'a, T> {
    // loom has no clock: a timed wait is modelled as a wait that may end
    // at any point (then the deadline check above decides).
    match cv.wait(g) {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}
